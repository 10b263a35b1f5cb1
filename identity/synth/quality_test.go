package synth_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/identity/synth"
	"github.com/firehook/firehook/internal/testkit"
)

// Match quality against the generator's ground truth: of the visits that
// carry an identifier of a person in the graph, every one resolves to
// that person (recall 100 %), and of all person matches at least 99.9 %
// are the right person (precision). Visits with unknown identifiers or
// a person's home IP alone match nobody; conflicting strong identifiers
// match nobody; an office IP names its company and no person.
func TestMatchQuality_AgainstGroundTruth(t *testing.T) {
	var graph, truth bytes.Buffer
	if err := synth.Generate(synth.Config{People: 5000, Seed: 7, Visits: 5000}, &graph, &truth); err != nil {
		t.Fatal(err)
	}
	st := testkit.OpenStore(t, t.TempDir())
	g, err := identity.OpenGraph(identity.GraphConfig{Store: st.Graph(), Log: testkit.Logger(t, 0)})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	res, err := g.Import(context.Background(), &graph, identity.ImportOptions{})
	if err != nil || res.Rejected != 0 {
		t.Fatalf("import: %+v, %v", res, err)
	}

	var (
		shouldMatch, matched, personMatches, wrong int
		kinds                                      = map[string]int{}
	)
	sc := bufio.NewScanner(&truth)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var v synth.Visit
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatal(err)
		}
		kinds[v.Kind]++
		m, err := g.Resolve(identity.Visit{Tenant: "ten_q", Identifiers: v.Identifiers})
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if m.Person != nil {
			got = m.Person.PersonID
			personMatches++
		}
		switch {
		case v.PersonID != "":
			shouldMatch++
			if got == v.PersonID {
				matched++
			} else if got != "" {
				wrong++
				t.Errorf("%s visit %v matched %s, want %s", v.Kind, v.Identifiers, got, v.PersonID)
			} else {
				t.Errorf("%s visit %v matched nobody, want %s", v.Kind, v.Identifiers, v.PersonID)
			}
		case got != "":
			wrong++
			t.Errorf("%s visit %v matched %s, want no person", v.Kind, v.Identifiers, got)
		case v.CompanyDomain != "":
			if m.Company == nil || m.Company.Domain != v.CompanyDomain {
				t.Errorf("ip_company visit %v named %+v, want company %s", v.Identifiers, m.Company, v.CompanyDomain)
			}
		case v.Kind == synth.KindConflict && !m.Conflict:
			t.Errorf("conflict visit %v was not reported as a conflict", v.Identifiers)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{synth.KindHEM, synth.KindDevice, synth.KindMAID, synth.KindCookie, synth.KindIPCompany, synth.KindUnknown, synth.KindConflict, synth.KindMixed} {
		if kinds[k] == 0 {
			t.Errorf("the ground truth has no %s visits: the test would not cover them", k)
		}
	}
	recall := float64(matched) / float64(shouldMatch)
	precision := 1.0
	if personMatches > 0 {
		precision = float64(personMatches-wrong) / float64(personMatches)
	}
	t.Logf("%d visits %v: recall %.4f (%d/%d), precision %.4f (%d wrong of %d person matches)",
		shouldMatch, kinds, recall, matched, shouldMatch, precision, wrong, personMatches)
	if recall < 1 {
		t.Errorf("recall %.4f < 100 %%", recall)
	}
	if precision < 0.999 {
		t.Errorf("precision %.4f < 99.9 %%", precision)
	}
}
