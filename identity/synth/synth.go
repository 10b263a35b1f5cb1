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
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/brianvoe/gofakeit/v7"

	"github.com/firehook/firehook/identity"
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

// blockWriter collects lines and writes them in blocks.
type blockWriter struct {
	w   io.Writer
	buf []byte
}

const blockSize = 256 << 10

func (b *blockWriter) flushIfFull() error {
	if len(b.buf) < blockSize {
		return nil
	}
	return b.flush()
}

func (b *blockWriter) flush() error {
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.w.Write(b.buf)
	b.buf = b.buf[:0]
	return err
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

// company is a company of the pool. People start..end-1 work there
// (start == end: nobody, a company only known by its offices).
type company struct {
	identity.Company
	start, end int
}

// Seeds of the independent random streams.
const (
	streamCompanies = iota + 1
	streamPeople
	streamVisits
	streamOffices
)

func newGenerator(cfg Config) *generator {
	seed := mix64(uint64(cfg.Seed) ^ 0x6a09e667f3bcc908)
	g := &generator{
		cfg:       cfg,
		seed:      seed,
		keyCookie: mix64(seed ^ 0xbb67ae8584caa73b),
		keyDevice: mix64(seed ^ 0x3c6ef372fe94f82b),
		keyMAID:   mix64(seed ^ 0xa54ff53a5f1d36f1),
		keyIPv6:   mix64(seed ^ 0x510e527fade682d1),
		keyIPv4:   uint32(mix64(seed ^ 0x9b05688c2b3e6c1f)),
		pcg:       rand.NewPCG(0, 0),
	}
	g.rng = rand.New(g.pcg)
	g.buildPools()
	g.buildCompanies()
	return g
}

// buildPools draws the word pools from a gofakeit faker on the seed.
func (g *generator) buildPools() {
	f := gofakeit.New(g.seed | 1) // gofakeit.New(0) would seed from crypto/rand
	draw := func(n int, fn func() string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fn()
		}
		return out
	}
	g.firstNames = draw(2048, f.FirstName)
	g.lastNames = draw(2048, f.LastName)
	g.jobTitles = draw(1024, func() string {
		return f.JobDescriptor() + " " + f.JobLevel() + " " + f.JobTitle()
	})
	g.usCities = draw(512, f.City)
	g.usStates = draw(512, f.State)
	g.countries = draw(256, f.Country)
}

// Company name parts: a noun and the industry it suggests.
var companyNouns = []struct{ noun, industry string }{
	{"Analytics", "Information Technology"}, {"Software", "Computer Software"}, {"Systems", "Information Technology"},
	{"Labs", "Research"}, {"Networks", "Telecommunications"}, {"Cloud", "Internet"}, {"Data", "Computer Software"},
	{"Health", "Hospital & Health Care"}, {"Medical", "Medical Devices"}, {"Bio", "Biotechnology"}, {"Pharma", "Pharmaceuticals"},
	{"Capital", "Financial Services"}, {"Partners", "Management Consulting"}, {"Consulting", "Management Consulting"},
	{"Insurance", "Insurance"}, {"Bank", "Banking"}, {"Logistics", "Logistics & Supply Chain"}, {"Freight", "Transportation"},
	{"Foods", "Food & Beverages"}, {"Energy", "Renewables & Environment"}, {"Power", "Utilities"}, {"Media", "Marketing & Advertising"},
	{"Studios", "Design"}, {"Robotics", "Industrial Automation"}, {"Manufacturing", "Machinery"}, {"Motors", "Automotive"},
	{"Realty", "Real Estate"}, {"Construction", "Construction"}, {"Legal", "Law Practice"}, {"Learning", "E-Learning"},
	{"Retail", "Retail"}, {"Apparel", "Apparel & Fashion"}, {"Security", "Computer & Network Security"}, {"Games", "Computer Games"},
}

var (
	companySuffixes = []string{"", "", "", " Inc", " LLC", " Group", " Co", " Corp", " and Sons"}
	companyTLDs     = []string{"com", "com", "com", "com", "com", "io", "co", "net", "ai", "org"}
	employeeRanges  = []string{"1-10", "11-50", "51-200", "201-500", "501-1000", "1001-5000", "5001-10000", "10001+"}
	revenueRanges   = []string{"<$1M", "$1M-$10M", "$10M-$50M", "$50M-$100M", "$100M-$500M", "$500M-$1B", "$1B-$10B", "$10B+"}
	freeMail        = []string{"gmail.com", "gmail.com", "gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "aol.com", "proton.me", "gmx.com"}
)

// buildCompanies makes the company pool and gives each company a block of
// consecutive people: block sizes are log-uniform in 1..100 (most
// companies small, a few large), about 21 people on average. Companies
// past the last block have no people; there are enough of them for the
// company-only records.
func (g *generator) buildCompanies() {
	r := rand.New(rand.NewPCG(g.seed, streamCompanies))
	used := map[string]bool{}
	for _, d := range freeMail {
		used[strings.TrimSuffix(d, ".com")] = true // never a company at a free-mail name
	}
	next := 0
	for next < g.cfg.People || len(g.companies) < g.cfg.CompanyIPs {
		size := 0
		if next < g.cfg.People {
			size = min(int(math.Exp(r.Float64()*math.Log(100))), g.cfg.People-next)
		}
		c := company{start: next, end: next + size}
		next += size

		last := g.lastNames[r.IntN(len(g.lastNames))]
		noun := companyNouns[r.IntN(len(companyNouns))]
		c.Name = last + " " + noun.noun + companySuffixes[r.IntN(len(companySuffixes))]
		c.Industry = noun.industry
		stem := slug(last)
		if stem == "" {
			stem = "united"
		}
		base := stem + "-" + strings.ToLower(noun.noun)
		if r.IntN(2) == 0 {
			base = stem + strings.ToLower(noun.noun)
		}
		name := base
		for i := 2; used[name]; i++ {
			name = base + strconv.Itoa(i)
		}
		used[name] = true
		c.Domain = name + "." + companyTLDs[r.IntN(len(companyTLDs))]
		// Head count grows with the block (log scale); revenue follows it.
		e := min(int(math.Log2(float64(size+1)))+r.IntN(3), len(employeeRanges)-1)
		c.EmployeeRange = employeeRanges[e]
		c.RevenueRange = revenueRanges[min(max(e+r.IntN(3)-1, 0), len(revenueRanges)-1)]
		g.companies = append(g.companies, c)
	}
}

// shape is what kinds of identifier a person has: the first draws from
// the person's stream, so that planning the visits can read it cheaply.
type shape struct {
	employed           bool
	personal, business bool // which emails are hashed into identifiers
	devices            int  // 0-2
	maid               bool
	cookies            int // 1-3
	homeIP             bool
}

// seedPerson points the generator's stream at person n.
func (g *generator) seedPerson(n int) {
	g.pcg.Seed(g.seed^streamPeople, mix64(uint64(n)^g.seed))
}

func (g *generator) drawShape() shape {
	r := g.rng
	s := shape{employed: r.IntN(10) < 9}
	switch x := r.IntN(100); {
	case !s.employed || x < 35:
		s.personal = true
	case x < 60:
		s.business = true
	default:
		s.personal, s.business = true, true
	}
	s.devices = [...]int{0, 0, 1, 1, 1, 2}[r.IntN(6)]
	s.maid = r.IntN(2) == 0
	s.cookies = 1 + r.IntN(3)
	s.homeIP = r.IntN(5) < 3
	return s
}

func (g *generator) shapeOf(n int) shape {
	g.seedPerson(n)
	return g.drawShape()
}

// person is one generated person; its slices are reused from person to
// person.
type person struct {
	n          int
	companyIdx int // into generator.companies; valid when employed
	company    *identity.Company
	shape      shape
	first      string
	last       string
	title      string
	linkedin   string
	bizEmail   string
	city       string
	region     string
	country    string
	updatedAt  int64 // Unix seconds
	ids        []identity.Identifier
	emails     int // the number of hem triples at the start of ids
	homeIP     string
}

// epoch is the newest updated_at a record can have (a fixed date, not
// the clock, so that output depends on the seed alone).
var epoch = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC).Unix()

// person generates person n into p. p.companyIdx must be the company
// whose block holds n, and namesakes the names of the people before n in
// that block (person adds n's).
func (g *generator) person(n int, p *person, namesakes map[string]int) {
	g.seedPerson(n)
	r := g.rng
	p.n = n
	p.shape = g.drawShape()
	p.first = g.firstNames[r.IntN(len(g.firstNames))]
	p.last = g.lastNames[r.IntN(len(g.lastNames))]
	p.title, p.bizEmail, p.company = "", "", nil
	first, last := slug(p.first), slug(p.last)
	if first == "" {
		first = "user"
	}
	if last == "" {
		last = "x"
	}
	if p.shape.employed {
		c := &g.companies[p.companyIdx]
		p.company = &c.Company
		p.title = g.jobTitles[r.IntN(len(g.jobTitles))]
		// first.last@company; the second namesake in the company is
		// first.last2, and so on (names have no digits, so these never
		// meet another name).
		local := first + "." + last
		k := namesakes[local] + 1
		namesakes[local] = k
		if k > 1 {
			local += strconv.Itoa(k)
		}
		p.bizEmail = local + "@" + c.Domain
	}
	if r.IntN(100) < 75 {
		p.city = g.usCities[r.IntN(len(g.usCities))]
		p.region = g.usStates[r.IntN(len(g.usStates))]
		p.country = "United States"
	} else {
		p.city, p.region = "", ""
		p.country = g.countries[r.IntN(len(g.countries))]
	}
	p.linkedin = ""
	if r.IntN(100) < 60 {
		p.linkedin = "https://www.linkedin.com/in/" + first + "-" + last + "-" + strconv.FormatUint(r.Uint64()>>40, 16)
	}
	p.updatedAt = epoch - r.Int64N(2*365*24*3600)

	p.ids = p.ids[:0]
	p.emails = 0
	if p.shape.personal {
		// The index makes the address unique; names have no digits.
		var local string
		switch r.IntN(4) {
		case 0:
			local = first + "." + last
		case 1:
			local = first + last
		case 2:
			local = first[:1] + last
		default:
			local = first + "_" + last
		}
		p.addEmail(local + strconv.Itoa(n) + "@" + freeMail[r.IntN(len(freeMail))])
	}
	if p.shape.business {
		p.addEmail(p.bizEmail)
	}
	for k := range p.shape.devices {
		p.ids = append(p.ids, identity.Identifier{Type: identity.TypeDeviceID, Value: g.deviceID(uint64(n)*4+uint64(k), r)})
	}
	if p.shape.maid {
		p.ids = append(p.ids, identity.Identifier{Type: identity.TypeMAID, Value: uuid(perm64(g.keyMAID, uint64(n)), r.Uint64())})
	}
	for k := range p.shape.cookies {
		p.ids = append(p.ids, identity.Identifier{Type: identity.TypeCookie, Value: g.cookie(uint64(n)*4+uint64(k), r)})
	}
	p.homeIP = ""
	if p.shape.homeIP {
		if r.IntN(5) == 0 {
			p.homeIP = g.ipv6(uint64(n), r)
		} else {
			p.homeIP = g.ipv4(uint64(n) * 4)
		}
		if p.homeIP != "" {
			p.ids = append(p.ids, identity.Identifier{Type: identity.TypeIP, Value: p.homeIP})
		}
	}
}

// addEmail adds the hem triple of a (valid, generated) address.
func (p *person) addEmail(addr string) {
	h, err := identity.HashEmail(addr)
	if err != nil {
		panic(fmt.Sprintf("synth: generated an invalid email %q: %v", addr, err))
	}
	p.ids = append(p.ids,
		identity.Identifier{Type: identity.TypeHEMSHA256, Value: h.SHA256},
		identity.Identifier{Type: identity.TypeHEMSHA1, Value: h.SHA1},
		identity.Identifier{Type: identity.TypeHEMMD5, Value: h.MD5})
	p.emails++
}

// captured is what the visits need of a person.
type captured struct {
	id   string
	ids  []identity.Identifier
	hems int // identifiers ids[:3*hems] are hem triples
}

func (p *person) capture() captured {
	return captured{id: personID(p.n), ids: append([]identity.Identifier(nil), p.ids...), hems: p.emails}
}

func personID(n int) string { return "p_" + strconv.Itoa(n) }

// deviceID returns a device id for slot x: an IDFV (a UUID) or an
// Android id (16 hex digits), unique by slot.
func (g *generator) deviceID(x uint64, r *rand.Rand) string {
	u := perm64(g.keyDevice, x)
	if r.IntN(2) == 0 {
		return uuid(u, r.Uint64())
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], u)
	return hex.EncodeToString(b[:])
}

// cookie returns a first-party cookie value for slot x, unique by slot,
// in one of three shapes: 22 characters of base64url, a UUID, or a
// Google Analytics client id.
func (g *generator) cookie(x uint64, r *rand.Rand) string {
	u := perm64(g.keyCookie, x)
	switch r.IntN(3) {
	case 0:
		var b [16]byte
		binary.BigEndian.PutUint64(b[:8], u)
		binary.BigEndian.PutUint64(b[8:], r.Uint64())
		return base64.RawURLEncoding.EncodeToString(b[:])
	case 1:
		return uuid(u, r.Uint64())
	default:
		return "GA1.2." + strconv.FormatUint(u>>32, 10) + "." + strconv.FormatUint(u&0xffffffff, 10)
	}
}

// uuid formats a version 4 UUID whose 64 bits outside the version and
// variant bits are unique (bytes 0-5, 7 and 9), the rest random.
func uuid(unique, random uint64) string {
	var b [16]byte
	var u [8]byte
	binary.BigEndian.PutUint64(u[:], unique)
	copy(b[0:6], u[0:6])
	b[7], b[9] = u[6], u[7]
	b[6] = 0x40 | byte(random)&0x0f
	b[8] = 0x80 | byte(random>>8)&0x3f
	binary.BigEndian.PutUint32(b[10:14], uint32(random>>16))
	binary.BigEndian.PutUint16(b[14:16], uint16(random>>48))
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], b[10:16])
	return string(s[:])
}

// ipv4 returns the first public address among slots x to x+3 of the
// IPv4 space (a keyed bijection of the slot), or "" when all four are
// private or reserved (rare: about 1 in 5,000).
func (g *generator) ipv4(x uint64) string {
	for k := range uint64(4) {
		if s, ok := g.ipv4Slot(x + k); ok {
			return s
		}
	}
	return ""
}

func (g *generator) ipv4Slot(x uint64) (string, bool) {
	v := perm32(g.keyIPv4, uint32(x))
	a := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	id, err := identity.NewIdentifier(identity.TypeIP, a.String())
	return id.Value, err == nil
}

// ipv6 returns a home IPv6 address in 2a02::/16 (global unicast) whose
// bits 16-79 are a keyed bijection of n.
func (g *generator) ipv6(n uint64, r *rand.Rand) string {
	var b [16]byte
	b[0], b[1] = 0x2a, 0x02
	binary.BigEndian.PutUint64(b[2:10], perm64(g.keyIPv6, n))
	binary.BigEndian.PutUint32(b[10:14], uint32(r.Uint64()))
	b[14], b[15] = 0, 1
	return netip.AddrFrom16(b).String()
}

// Layout of the IPv4 slot space: people, then offices, then visits.
func (g *generator) officeSlot(j, s int) uint64 {
	return 4*uint64(g.cfg.People) + 16*uint64(j) + uint64(s)
}

func (g *generator) visitSlot(i int) uint64 {
	return 4*uint64(g.cfg.People) + 16*uint64(g.cfg.CompanyIPs) + 4*uint64(i)
}

// officeIPs returns the office IPs of company-only record j: one to four,
// from its 16 slots. (All 16 private or reserved would leave none; at
// about 14 % of the space reserved, that is 1 in 10^13.)
func (g *generator) officeIPs(j int) []string {
	r := rand.New(rand.NewPCG(g.seed^streamOffices, uint64(j)))
	want := 1 + r.IntN(4)
	var out []string
	for s := 0; s < 16 && len(out) < want; s++ {
		if ip, ok := g.ipv4Slot(g.officeSlot(j, s)); ok {
			out = append(out, ip)
		}
	}
	return out
}

// companyOnlyCompany is the company of company-only record j: the pool's
// companies are spread over the records (every company at most once).
func (g *generator) companyOnlyCompany(j int) *identity.Company {
	step := len(g.companies) / max(g.cfg.CompanyIPs, 1)
	return &g.companies[j*max(step, 1)].Company
}

func (g *generator) appendCompanyRecord(b []byte, j int) []byte {
	c := g.companyOnlyCompany(j)
	b = append(b, `{"person_id":"c_`...)
	b = strconv.AppendInt(b, int64(j), 10)
	b = append(b, `","updated_at":"`...)
	b = time.Unix(epoch-int64(j%(365*24*3600)), 0).UTC().AppendFormat(b, time.RFC3339)
	b = append(b, `","identifiers":[`...)
	for i, ip := range g.officeIPs(j) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendIdentifier(b, identity.Identifier{Type: identity.TypeIP, Value: ip})
	}
	b = append(b, `],"company":`...)
	b = appendCompany(b, c)
	return append(b, "}\n"...)
}

// slug is the lower-case ASCII letters of s.
func slug(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z':
			b = append(b, c)
		case 'A' <= c && c <= 'Z':
			b = append(b, c+'a'-'A')
		}
	}
	return string(b)
}

// mix64 is the splitmix64 finaliser, a bijection of uint64.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// perm64 is a keyed bijection of uint64: distinct x, distinct results.
func perm64(key, x uint64) uint64 { return mix64(x ^ key) }

// perm32 is a keyed bijection of uint32 (the lowbias32 mixer).
func perm32(key, x uint32) uint32 {
	x ^= key
	x ^= x >> 16
	x *= 0x7feb352d
	x ^= x >> 15
	x *= 0x846ca68b
	x ^= x >> 16
	return x
}

// The visits: planned before the people are generated (who is visited
// follows from the shapes alone), filled in from the people captured
// while generating.

// visitPlan is the planned ground truth.
type visitPlan struct {
	visits   []plannedVisit
	people   map[int]int // person index → how many planned visits need it
	captured map[int]captured
}

type plannedVisit struct {
	kind    string
	a, b    int // people (or, for ip_company, a is the company-only record)
	variant int
}

// visitWeights is the mix of kinds, in percent.
var visitWeights = []struct {
	kind   string
	weight int
}{
	{KindHEM, 20}, {KindDevice, 10}, {KindMAID, 10}, {KindCookie, 15},
	{KindIPCompany, 10}, {KindUnknown, 15}, {KindConflict, 10}, {KindMixed, 10},
}

// unknownVariants is how many shapes an unknown visit can take.
const unknownVariants = 5

func (g *generator) planVisits() *visitPlan {
	r := rand.New(rand.NewPCG(g.seed^streamVisits, 0))
	plan := &visitPlan{people: map[int]int{}, captured: map[int]captured{}}
	// pick draws a person for whom ok holds (at most 64 tries; -1 if none).
	pick := func(ok func(shape) bool) int {
		for range 64 {
			n := r.IntN(g.cfg.People)
			if ok(g.shapeOf(n)) {
				return n
			}
		}
		return -1
	}
	anyone := func(shape) bool { return true }
	for range g.cfg.Visits {
		v := plannedVisit{a: -1, b: -1}
		x := r.IntN(100)
		for _, w := range visitWeights {
			if x < w.weight {
				v.kind = w.kind
				break
			}
			x -= w.weight
		}
		switch v.kind {
		case KindHEM, KindCookie, KindMixed:
			v.a = pick(anyone)
		case KindDevice:
			v.a = pick(func(s shape) bool { return s.devices > 0 })
		case KindMAID:
			v.a = pick(func(s shape) bool { return s.maid })
		case KindConflict:
			if g.cfg.People >= 2 {
				v.a = pick(anyone)
				for v.b = v.a; v.b == v.a; {
					v.b = r.IntN(g.cfg.People)
				}
			}
		case KindIPCompany:
			if g.cfg.CompanyIPs > 0 {
				v.a = r.IntN(g.cfg.CompanyIPs)
				v.variant = r.IntN(2)
			}
		case KindUnknown:
			v.variant = r.IntN(unknownVariants)
			if v.variant == 0 {
				v.a = pick(func(s shape) bool { return s.homeIP })
			}
		}
		if v.kind != KindUnknown && v.a < 0 {
			// No candidate for the kind (a tiny or odd graph): an
			// unknown visit instead.
			v = plannedVisit{kind: KindUnknown, a: -1, b: -1, variant: 1 + r.IntN(unknownVariants-1)}
		}
		if v.kind != KindIPCompany {
			for _, n := range []int{v.a, v.b} {
				if n >= 0 {
					plan.people[n]++
				}
			}
		}
		plan.visits = append(plan.visits, v)
	}
	return plan
}

// visit fills in planned visit i.
func (g *generator) visit(plan *visitPlan, i int) Visit {
	pv := plan.visits[i]
	r := rand.New(rand.NewPCG(g.seed^streamVisits, uint64(i)+1))
	v := Visit{Kind: pv.kind}
	a, b := plan.captured[pv.a], plan.captured[pv.b]
	switch pv.kind {
	case KindHEM:
		v.Identifiers = []identity.Identifier{a.hem(r)}
		v.PersonID = a.id
	case KindDevice:
		v.Identifiers = []identity.Identifier{a.pick(identity.TypeDeviceID, r)}
		v.PersonID = a.id
	case KindMAID:
		v.Identifiers = []identity.Identifier{a.pick(identity.TypeMAID, r)}
		v.PersonID = a.id
	case KindCookie:
		v.Identifiers = []identity.Identifier{a.pick(identity.TypeCookie, r)}
		v.PersonID = a.id
	case KindMixed:
		// A hashed email (a form fill) with the cookie, and whatever
		// else the person's device sends.
		v.Identifiers = []identity.Identifier{a.hem(r), a.pick(identity.TypeCookie, r)}
		for _, t := range []identity.Type{identity.TypeDeviceID, identity.TypeMAID, identity.TypeIP} {
			if id := a.pick(t, r); id.Value != "" && r.IntN(2) == 0 {
				v.Identifiers = append(v.Identifiers, id)
			}
		}
		v.PersonID = a.id
	case KindConflict:
		// Two people's strong identifiers: a's email and b's email,
		// device or advertising id.
		second := b.hem(r)
		for _, t := range []identity.Type{identity.TypeDeviceID, identity.TypeMAID} {
			if id := b.pick(t, r); id.Value != "" && r.IntN(3) == 0 {
				second = id
			}
		}
		v.Identifiers = []identity.Identifier{a.hem(r), second}
	case KindIPCompany:
		ips := g.officeIPs(pv.a)
		v.Identifiers = []identity.Identifier{{Type: identity.TypeIP, Value: ips[r.IntN(len(ips))]}}
		if pv.variant == 1 { // a first visit: a cookie nobody knows yet
			v.Identifiers = append(v.Identifiers, g.freshCookie(i, r))
		}
		v.CompanyDomain = g.companyOnlyCompany(pv.a).Domain
	case KindUnknown:
		v.Identifiers = g.unknownIdentifiers(pv, a, i, r)
	}
	r.Shuffle(len(v.Identifiers), func(x, y int) {
		v.Identifiers[x], v.Identifiers[y] = v.Identifiers[y], v.Identifiers[x]
	})
	return v
}

// unknownIdentifiers are the identifiers of an unknown visit: values in
// slots no record uses (index People+i), or a person's home IP alone.
func (g *generator) unknownIdentifiers(pv plannedVisit, a captured, i int, r *rand.Rand) []identity.Identifier {
	n := uint64(g.cfg.People) + uint64(i)
	switch pv.variant {
	case 0: // an IP alone never identifies a person
		if ip := a.pick(identity.TypeIP, r); ip.Value != "" {
			return []identity.Identifier{ip}
		}
		return []identity.Identifier{g.freshCookie(i, r)}
	case 1: // a hashed email nobody has: no graph address has a '-'
		h, err := identity.HashEmail("visitor-" + strconv.FormatUint(n, 10) + "@" + freeMail[r.IntN(len(freeMail))])
		if err != nil {
			panic(err)
		}
		return []identity.Identifier{{Type: identity.TypeHEMSHA256, Value: h.SHA256}}
	case 2:
		return []identity.Identifier{g.freshCookie(i, r)}
	case 3:
		return []identity.Identifier{
			{Type: identity.TypeDeviceID, Value: g.deviceID(4*n, r)},
			g.freshCookie(i, r),
		}
	default: // an advertising id and an IP nobody has
		ids := []identity.Identifier{{Type: identity.TypeMAID, Value: uuid(perm64(g.keyMAID, n), r.Uint64())}}
		if ip := g.ipv4(g.visitSlot(i)); ip != "" {
			ids = append(ids, identity.Identifier{Type: identity.TypeIP, Value: ip})
		}
		return ids
	}
}

func (g *generator) freshCookie(i int, r *rand.Rand) identity.Identifier {
	return identity.Identifier{Type: identity.TypeCookie, Value: g.cookie(4*(uint64(g.cfg.People)+uint64(i)), r)}
}

// hem returns one hashed email of c: any type, of any of its emails.
func (c captured) hem(r *rand.Rand) identity.Identifier {
	return c.ids[r.IntN(3*c.hems)]
}

// pick returns one identifier of type t of c, or the zero Identifier.
func (c captured) pick(t identity.Type, r *rand.Rand) identity.Identifier {
	var found []identity.Identifier
	for _, id := range c.ids {
		if id.Type == t {
			found = append(found, id)
		}
	}
	if len(found) == 0 {
		return identity.Identifier{}
	}
	return found[r.IntN(len(found))]
}

// JSON output, written by hand: the bytes are those encoding/json writes
// for the identity.Record (the tests check), at a fraction of the cost.

func appendPerson(b []byte, p *person) []byte {
	b = append(b, `{"person_id":"p_`...)
	b = strconv.AppendInt(b, int64(p.n), 10)
	b = append(b, `","updated_at":"`...)
	b = time.Unix(p.updatedAt, 0).UTC().AppendFormat(b, time.RFC3339)
	b = append(b, `","identifiers":[`...)
	for i, id := range p.ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendIdentifier(b, id)
	}
	b = append(b, `],"person":`...)
	b = appendObject(b, []field{{"first_name", p.first}, {"last_name", p.last}, {"job_title", p.title},
		{"linkedin_url", p.linkedin}, {"business_email", p.bizEmail}})
	if p.city != "" || p.region != "" || p.country != "" {
		b = b[:len(b)-1] // reopen the person object
		if b[len(b)-1] != '{' {
			b = append(b, ',')
		}
		b = append(b, `"location":`...)
		b = appendObject(b, []field{{"city", p.city}, {"region", p.region}, {"country", p.country}})
		b = append(b, '}')
	}
	if p.company != nil {
		b = append(b, `,"company":`...)
		b = appendCompany(b, p.company)
	}
	return append(b, "}\n"...)
}

func appendCompany(b []byte, c *identity.Company) []byte {
	return appendObject(b, []field{{"name", c.Name}, {"domain", c.Domain}, {"industry", c.Industry},
		{"employee_range", c.EmployeeRange}, {"revenue_range", c.RevenueRange}})
}

// field is a member of a JSON object of strings.
type field struct{ key, value string }

// appendObject appends an object of the fields with a value (omitempty).
func appendObject(b []byte, fields []field) []byte {
	b = append(b, '{')
	first := true
	for _, f := range fields {
		if f.value == "" {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, f.key...)
		b = append(b, `":`...)
		b = appendString(b, f.value)
	}
	return append(b, '}')
}

func appendIdentifier(b []byte, id identity.Identifier) []byte {
	b = append(b, `{"type":"`...)
	b = append(b, id.Type...)
	b = append(b, `","value":`...)
	b = appendString(b, id.Value)
	return append(b, '}')
}

// appendString appends s as a JSON string escaped as encoding/json does
// (HTML characters and U+2028/U+2029 too). s is valid UTF-8.
func appendString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			start = i + size
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
