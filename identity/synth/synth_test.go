package synth_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/identity/synth"
)

// generate runs Generate into memory.
func generate(tb testing.TB, cfg synth.Config) (graph, truth []byte) {
	tb.Helper()
	var g, t bytes.Buffer
	if err := synth.Generate(cfg, &g, &t); err != nil {
		tb.Fatalf("Generate(%+v): %v", cfg, err)
	}
	return g.Bytes(), t.Bytes()
}

func lines(b []byte) [][]byte {
	return bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
}

// graphOf parses every line of a generated graph, failing the test on the
// first line ParseRecord refuses or does not read back byte for byte.
func graphOf(tb testing.TB, graph []byte) []identity.Record {
	tb.Helper()
	var out []identity.Record
	for i, l := range lines(graph) {
		r, err := identity.ParseRecord(l)
		if err != nil {
			tb.Fatalf("graph line %d: %v\n%s", i+1, err, l)
		}
		// The generator writes records in normal form, exactly as
		// encoding/json writes the record ParseRecord reads.
		if b, err := json.Marshal(r); err != nil || !bytes.Equal(b, l) {
			tb.Fatalf("graph line %d is not in normal form:\n got %s\nwant %s (%v)", i+1, l, b, err)
		}
		out = append(out, r)
	}
	return out
}

func visitsOf(tb testing.TB, truth []byte) []synth.Visit {
	tb.Helper()
	var out []synth.Visit
	for i, l := range lines(truth) {
		var v synth.Visit
		if err := json.Unmarshal(l, &v); err != nil {
			tb.Fatalf("truth line %d: %v\n%s", i+1, err, l)
		}
		out = append(out, v)
	}
	return out
}

func TestGenerate_deterministic(t *testing.T) {
	cfg := synth.Config{People: 2000, Seed: 42}
	g1, t1 := generate(t, cfg)
	g2, t2 := generate(t, cfg)
	if !bytes.Equal(g1, g2) || !bytes.Equal(t1, t2) {
		t.Fatal("the same Config generated different bytes")
	}
	g3, t3 := generate(t, synth.Config{People: 2000, Seed: 43})
	if bytes.Equal(g1, g3) || bytes.Equal(t1, t3) {
		t.Fatal("another seed generated the same bytes")
	}
	t.Run("seed 0 is a seed like any other", func(t *testing.T) {
		a, _ := generate(t, synth.Config{People: 50})
		b, _ := generate(t, synth.Config{People: 50})
		if !bytes.Equal(a, b) {
			t.Fatal("seed 0 generated different bytes")
		}
	})
}

func TestGenerate_graph(t *testing.T) {
	const people = 2000
	graph, _ := generate(t, synth.Config{People: people, Seed: 7})
	recs := graphOf(t, graph)

	t.Run("people p_0 to p_1999, then 40 company-only records", func(t *testing.T) {
		if len(recs) != people+people/50 {
			t.Fatalf("%d records, want %d", len(recs), people+people/50)
		}
		for i, r := range recs {
			want, companyOnly := fmt.Sprintf("p_%d", i), false
			if i >= people {
				want, companyOnly = fmt.Sprintf("c_%d", i-people), true
			}
			if r.PersonID != want || r.IsCompanyOnly() != companyOnly {
				t.Fatalf("record %d is %s (company-only %v); want %s (%v)", i, r.PersonID, r.IsCompanyOnly(), want, companyOnly)
			}
		}
	})

	t.Run("every identifier has one owner", func(t *testing.T) {
		owner := map[identity.Identifier]string{}
		for _, r := range recs {
			for _, id := range r.Identifiers {
				if o, ok := owner[id]; ok {
					t.Fatalf("%+v belongs to %s and %s", id, o, r.PersonID)
				}
				owner[id] = r.PersonID
			}
		}
	})

	t.Run("each person has a mix of identifiers", func(t *testing.T) {
		var withDevice, withMAID, withIP, twoEmails int
		for _, r := range recs[:people] {
			n := map[identity.Type]int{}
			for _, id := range r.Identifiers {
				n[id.Type]++
			}
			if n[identity.TypeHEMSHA256] < 1 || n[identity.TypeHEMSHA256] > 2 ||
				n[identity.TypeHEMSHA1] != n[identity.TypeHEMSHA256] || n[identity.TypeHEMMD5] != n[identity.TypeHEMSHA256] {
				t.Fatalf("%s: want 1 or 2 hem triples, have %v", r.PersonID, n)
			}
			if n[identity.TypeDeviceID] > 2 || n[identity.TypeMAID] > 1 || n[identity.TypeCookie] < 1 || n[identity.TypeCookie] > 3 || n[identity.TypeIP] > 1 {
				t.Fatalf("%s: identifier counts %v out of range", r.PersonID, n)
			}
			withDevice += min(n[identity.TypeDeviceID], 1)
			withMAID += n[identity.TypeMAID]
			withIP += n[identity.TypeIP]
			if n[identity.TypeHEMMD5] == 2 {
				twoEmails++
			}
		}
		for name, c := range map[string]int{"a device id": withDevice, "a maid": withMAID, "a home ip": withIP, "two emails": twoEmails} {
			if c < people/5 || c > people*9/10 {
				t.Errorf("%d of %d people have %s; want a share between 20%% and 90%%", c, people, name)
			}
		}
	})

	t.Run("realistic profiles", func(t *testing.T) {
		employees := map[string]int{}
		for _, r := range recs[:people] {
			p := r.Person
			if p.FirstName == "" || p.LastName == "" || p.Location.Country == "" {
				t.Fatalf("%s: profile without a name or country: %+v", r.PersonID, p)
			}
			if r.Company.IsZero() {
				continue
			}
			c := r.Company
			if c.Name == "" || c.Domain == "" || c.Industry == "" || c.EmployeeRange == "" || c.RevenueRange == "" || p.JobTitle == "" {
				t.Fatalf("%s: employee without full company or title: %+v %+v", r.PersonID, p, c)
			}
			if !strings.HasSuffix(p.BusinessEmail, "@"+c.Domain) {
				t.Fatalf("%s: business email %q not at the company domain %q", r.PersonID, p.BusinessEmail, c.Domain)
			}
			employees[c.Domain]++
		}
		shared := 0
		for _, n := range employees {
			if n > 1 {
				shared++
			}
		}
		if len(employees) < people/100 || shared < len(employees)/3 {
			t.Errorf("%d companies, %d with several employees; want companies shared by several people", len(employees), shared)
		}
	})

	t.Run("company-only records list office IPs only", func(t *testing.T) {
		for _, r := range recs[people:] {
			if r.Company.Domain == "" || len(r.Identifiers) < 1 || len(r.Identifiers) > 4 {
				t.Fatalf("%s: %+v", r.PersonID, r)
			}
			for _, id := range r.Identifiers {
				if id.Type != identity.TypeIP {
					t.Fatalf("%s lists %+v; want IPs only", r.PersonID, id)
				}
			}
		}
	})
}

func TestGenerate_truth(t *testing.T) {
	const people = 2000
	graph, truth := generate(t, synth.Config{People: people, Seed: 7})
	recs := graphOf(t, graph)
	visits := visitsOf(t, truth)
	if len(visits) != people {
		t.Fatalf("%d visits, want min(people, 10000) = %d", len(visits), people)
	}
	owner := map[identity.Identifier]identity.Record{}
	for _, r := range recs {
		for _, id := range r.Identifiers {
			owner[id] = r
		}
	}

	kinds := map[string]int{}
	for i, v := range visits {
		kinds[v.Kind]++
		if len(v.Identifiers) == 0 {
			t.Fatalf("visit %d carries no identifier: %+v", i, v)
		}
		for _, id := range v.Identifiers {
			if norm, err := identity.NewIdentifier(id.Type, id.Value); err != nil || norm != id {
				t.Fatalf("visit %d: identifier %+v is not valid and normal: %+v, %v", i, id, norm, err)
			}
		}
		// What the graph says about each identifier of the visit.
		var people, companies []string
		for _, id := range v.Identifiers {
			r, ok := owner[id]
			switch {
			case !ok:
			case r.IsCompanyOnly():
				companies = append(companies, r.Company.Domain)
			default:
				people = append(people, r.PersonID)
			}
		}
		switch v.Kind {
		case synth.KindHEM, synth.KindDevice, synth.KindMAID, synth.KindCookie, synth.KindMixed:
			if v.PersonID == "" || v.CompanyDomain != "" || len(people) != len(v.Identifiers) || len(companies) > 0 {
				t.Fatalf("visit %d (%s): %+v; its identifiers belong to %v / %v", i, v.Kind, v, people, companies)
			}
			for _, p := range people {
				if p != v.PersonID {
					t.Fatalf("visit %d (%s) expects %s, but carries an identifier of %s", i, v.Kind, v.PersonID, p)
				}
			}
			if v.Kind == synth.KindMixed && len(v.Identifiers) < 2 {
				t.Fatalf("visit %d (mixed) carries one identifier", i)
			}
			want := map[string]identity.Type{synth.KindDevice: identity.TypeDeviceID, synth.KindMAID: identity.TypeMAID, synth.KindCookie: identity.TypeCookie}[v.Kind]
			if want != "" && (len(v.Identifiers) != 1 || v.Identifiers[0].Type != want) {
				t.Fatalf("visit %d (%s) carries %+v", i, v.Kind, v.Identifiers)
			}
			if v.Kind == synth.KindHEM && (len(v.Identifiers) != 1 || v.Identifiers[0].Type.Strength() != 3) {
				t.Fatalf("visit %d (hem) carries %+v", i, v.Identifiers)
			}
		case synth.KindIPCompany:
			if v.PersonID != "" || v.CompanyDomain == "" || len(people) > 0 || len(companies) != 1 || companies[0] != v.CompanyDomain {
				t.Fatalf("visit %d (ip_company): %+v; its identifiers belong to %v / %v", i, v, people, companies)
			}
		case synth.KindUnknown:
			if v.PersonID != "" || v.CompanyDomain != "" || len(companies) > 0 {
				t.Fatalf("visit %d (unknown): %+v", i, v)
			}
			// Only a person's home IP, alone, may be known.
			if len(people) > 0 && (len(v.Identifiers) != 1 || v.Identifiers[0].Type != identity.TypeIP) {
				t.Fatalf("visit %d (unknown) carries identifiers of %v: %+v", i, people, v.Identifiers)
			}
		case synth.KindConflict:
			if v.PersonID != "" || v.CompanyDomain != "" || len(v.Identifiers) != 2 || len(people) != 2 || people[0] == people[1] {
				t.Fatalf("visit %d (conflict): %+v; its identifiers belong to %v", i, v, people)
			}
			for _, id := range v.Identifiers {
				if id.Type.Strength() < 2 {
					t.Fatalf("visit %d (conflict) carries the weak %+v", i, id)
				}
			}
		default:
			t.Fatalf("visit %d: unknown kind %q", i, v.Kind)
		}
	}
	for _, k := range []string{synth.KindHEM, synth.KindDevice, synth.KindMAID, synth.KindCookie,
		synth.KindIPCompany, synth.KindUnknown, synth.KindConflict, synth.KindMixed} {
		if kinds[k] < len(visits)/20 {
			t.Errorf("%d %s visits of %d; want at least 5%% of each kind (%v)", kinds[k], k, len(visits), kinds)
		}
	}
}

func TestGenerate_config(t *testing.T) {
	for _, tc := range []struct {
		name              string
		cfg               synth.Config
		companies, visits int
	}{
		{"defaults", synth.Config{People: 500}, 10, 500},
		{"visits capped at 10,000 by default", synth.Config{People: 12000, CompanyIPs: -1}, 0, 10000},
		{"explicit counts", synth.Config{People: 100, CompanyIPs: 7, Visits: 30}, 7, 30},
		{"negative means none", synth.Config{People: 100, CompanyIPs: -1, Visits: -1}, 0, 0},
		{"more company records than companies with staff", synth.Config{People: 10, CompanyIPs: 50, Visits: 5}, 50, 5},
		{"one person", synth.Config{People: 1}, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			graph, truth := generate(t, tc.cfg)
			recs := graphOf(t, graph)
			if got := len(recs) - tc.cfg.People; got != tc.companies {
				t.Errorf("%d company-only records, want %d", got, tc.companies)
			}
			if tc.visits == 0 {
				if len(truth) != 0 {
					t.Errorf("truth %q, want none", truth)
				}
				return
			}
			if got := len(visitsOf(t, truth)); got != tc.visits {
				t.Errorf("%d visits, want %d", got, tc.visits)
			}
		})
	}
	for _, people := range []int{0, -1, synth.MaxPeople + 1} {
		if err := synth.Generate(synth.Config{People: people}, io.Discard, io.Discard); err == nil {
			t.Errorf("Generate with People %d succeeded; want an error", people)
		}
	}
}

// failingWriter fails every write.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestGenerate_writeErrors(t *testing.T) {
	if err := synth.Generate(synth.Config{People: 10}, failingWriter{}, io.Discard); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("graph write error: Generate = %v; want it reported", err)
	}
	if err := synth.Generate(synth.Config{People: 10}, io.Discard, failingWriter{}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("truth write error: Generate = %v; want it reported", err)
	}
}

// BenchmarkGenerate reports the generation rate in people/s (10 million
// people take 10M / that rate).
func BenchmarkGenerate(b *testing.B) {
	const people = 100_000
	for b.Loop() {
		w := bufio.NewWriterSize(io.Discard, 1<<20)
		if err := synth.Generate(synth.Config{People: people, Seed: 1}, w, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(people*b.N)/b.Elapsed().Seconds(), "people/s")
}
