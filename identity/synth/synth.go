// Package synth generates a deterministic synthetic identity graph with
// ground truth, so that match quality and import speed can be measured
// without anyone's personal data.
//
// The graph is in the import format (API.md, "Identity graph import
// format"): people with realistic profiles (names, job titles, locations
// and employers from gofakeit's word lists, companies shared by several
// people) and a mix of identifiers each: one or two hashed emails (each a
// sha256/sha1/md5 triple), device and advertising ids, cookies, a home IP;
// and company-only records that list a company's office IPs. The ground
// truth is a list of page views (Visit), each with the identifiers it
// carries and who it must resolve to, or that it must not match a person.
//
// Every identifier is unique to its owner by construction (values are
// keyed bijections of the owner's index), so the truth holds for any
// size. The same Config gives byte-identical output: all randomness comes
// from Config.Seed, nothing from the clock.
package synth

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"

	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/internal/splitmix"
)

// Config says what to generate.
type Config struct {
	// People is the number of person records, p_0 to p_<People-1>.
	// Required: at least 1, at most MaxPeople.
	People int
	// Seed selects the graph: the same Config gives the same bytes. Any
	// value, 0 included, is a seed.
	Seed int64
	// CompanyIPs is the number of company-only records (c_0, c_1, …),
	// each listing one to four office IPs of a company. Zero means
	// People/50; negative means none.
	CompanyIPs int
	// Visits is the number of ground-truth visits. Zero means
	// min(People, 10000); negative means none.
	Visits int
}

// MaxPeople bounds Config.People: the IPv4 addresses are drawn without
// repetition from one 32-bit space shared by people, offices and visits.
const MaxPeople = 200_000_000

// The kinds of visit in the ground truth.
const (
	KindHEM       = "hem"        // one hashed email of a person → that person
	KindDevice    = "device"     // one device id of a person → that person
	KindMAID      = "maid"       // the advertising id of a person → that person
	KindCookie    = "cookie"     // one cookie of a person → that person
	KindIPCompany = "ip_company" // an office IP of a company-only record (with or without an unknown cookie) → that company, no person
	KindUnknown   = "unknown"    // identifiers the graph does not know, or a person's home IP alone → no match
	KindConflict  = "conflict"   // strong identifiers of two different people → no match rather than a wrong one
	KindMixed     = "mixed"      // several identifiers of one person → that person
)

// Visit is one ground-truth line: the identifiers a page view carries and
// who it must resolve to.
type Visit struct {
	Identifiers []identity.Identifier `json:"identifiers"`
	// PersonID is the person the visit must match; empty: it must not
	// match a person.
	PersonID string `json:"person_id,omitempty"`
	// CompanyDomain is set for ip_company visits: the company the visit
	// must name.
	CompanyDomain string `json:"company_domain,omitempty"`
	Kind          string `json:"kind"` // one of the Kind constants
}

// withDefaults returns cfg with its zero fields set, or an error.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.People < 1 || cfg.People > MaxPeople {
		return cfg, fmt.Errorf("synth: people %d: want 1 to %d", cfg.People, MaxPeople)
	}
	switch {
	case cfg.CompanyIPs == 0:
		cfg.CompanyIPs = cfg.People / 50
	case cfg.CompanyIPs < 0:
		cfg.CompanyIPs = 0
	}
	switch {
	case cfg.Visits == 0:
		cfg.Visits = min(cfg.People, 10000)
	case cfg.Visits < 0:
		cfg.Visits = 0
	}
	// The IPv4 space: 4 slots a person, 16 an office, 4 a visit.
	if need := 4*uint64(cfg.People) + 16*uint64(cfg.CompanyIPs) + 4*uint64(cfg.Visits); need > math.MaxUint32 {
		return cfg, fmt.Errorf("synth: %d people, %d company records and %d visits need more than 2^32 IPv4 slots", cfg.People, cfg.CompanyIPs, cfg.Visits)
	}
	return cfg, nil
}

// Generate writes the graph as import NDJSON to graph (people first, then
// the company-only records) and the ground truth, one Visit a line, to
// truth. Same Config → byte-identical output. Writes are in blocks of
// about 256 KiB; the writers need no buffering of their own.
func Generate(cfg Config, graph, truth io.Writer) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	g := newGenerator(cfg)
	plan := g.planVisits()
	w := blockWriter{w: graph}

	var p person
	namesakes := map[string]int{}
	for n := range cfg.People {
		if n == g.companies[p.companyIdx].end {
			p.companyIdx++
			clear(namesakes)
		}
		g.person(n, &p, namesakes)
		w.buf = appendPerson(w.buf, &p)
		if err := w.flushIfFull(); err != nil {
			return fmt.Errorf("synth: write graph: %w", err)
		}
		if refs, ok := plan.people[n]; ok && refs > 0 {
			plan.captured[n] = p.capture()
		}
	}
	for j := range cfg.CompanyIPs {
		w.buf = g.appendCompanyRecord(w.buf, j)
		if err := w.flushIfFull(); err != nil {
			return fmt.Errorf("synth: write graph: %w", err)
		}
	}
	if err := w.flush(); err != nil {
		return fmt.Errorf("synth: write graph: %w", err)
	}

	tw := blockWriter{w: truth}
	for i := range plan.visits {
		v := g.visit(plan, i)
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("synth: encode visit: %w", err)
		}
		tw.buf = append(append(tw.buf, b...), '\n')
		if err := tw.flushIfFull(); err != nil {
			return fmt.Errorf("synth: write truth: %w", err)
		}
	}
	if err := tw.flush(); err != nil {
		return fmt.Errorf("synth: write truth: %w", err)
	}
	return nil
}

// generator holds the pools drawn once from gofakeit and the keys of the
// identifier bijections, all derived from the seed.
type generator struct {
	cfg  Config
	seed uint64

	firstNames, lastNames, jobTitles []string
	usCities, usStates, countries    []string
	companies                        []company

	// Keys of the bijections that make identifier values unique.
	keyCookie, keyDevice, keyMAID, keyIPv6 uint64
	keyIPv4                                uint32

	pcg *rand.PCG  // reseeded for each person
	rng *rand.Rand // over pcg
}

// Seeds of the independent random streams.
const (
	streamCompanies = iota + 1
	streamPeople
	streamVisits
	streamOffices
)

func newGenerator(cfg Config) *generator {
	seed := splitmix.Mix64(uint64(cfg.Seed) ^ 0x6a09e667f3bcc908)
	g := &generator{
		cfg:       cfg,
		seed:      seed,
		keyCookie: splitmix.Mix64(seed ^ 0xbb67ae8584caa73b),
		keyDevice: splitmix.Mix64(seed ^ 0x3c6ef372fe94f82b),
		keyMAID:   splitmix.Mix64(seed ^ 0xa54ff53a5f1d36f1),
		keyIPv6:   splitmix.Mix64(seed ^ 0x510e527fade682d1),
		keyIPv4:   uint32(splitmix.Mix64(seed ^ 0x9b05688c2b3e6c1f)),
		pcg:       rand.NewPCG(0, 0),
	}
	g.rng = rand.New(g.pcg)
	g.buildPools()
	g.buildCompanies()
	return g
}
