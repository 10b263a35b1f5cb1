package identity_test

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/identity/synth"
	"github.com/firehook/firehook/internal/testkit"
)

// The hits of a graph are its confirmed index entries, in the order asked:
// a person's IP and unknown identifiers are none, a company's IP is a
// company hit, a learned link is a hit of its person, and an erased
// person is no hit at all.
func TestGraph_Hits(t *testing.T) {
	g, sup := openGraph(t, testkit.OpenStore(t, t.TempDir()))
	importLines(t, g, adaLine, bobLine, acmeIPs)
	if err := g.Learn("ten_1", "vid-42", "p_ada"); err != nil {
		t.Fatal(err)
	}
	hemAdaID := ident(t, identity.TypeHEMSHA256, hemAda)
	devBob := ident(t, identity.TypeDeviceID, "dev-bob")
	acmeIP := ident(t, identity.TypeIP, "203.0.114.7")
	link := identity.LinkIdentifier("ten_1", "vid-42")
	ids := []identity.Identifier{
		ident(t, identity.TypeCookie, "ck-nobody"),
		devBob,
		ident(t, identity.TypeIP, "8.8.4.4"), // Ada's IP: a person's IP is not a key
		acmeIP,
		link,
		identity.LinkIdentifier("ten_2", "vid-42"), // another tenant's visitor
		hemAdaID,
	}
	type hit struct {
		id      identity.Identifier
		person  string
		company bool
	}
	summary := func(hs []identity.Hit) []hit {
		var out []hit
		for _, h := range hs {
			out = append(out, hit{h.ID, h.Record.PersonID, h.Company})
		}
		return out
	}
	hits, err := g.Hits(ids)
	if err != nil {
		t.Fatal(err)
	}
	want := []hit{{devBob, "p_bob", false}, {acmeIP, "c_acme", true}, {link, "p_ada", false}, {hemAdaID, "p_ada", false}}
	if got := summary(hits); !reflect.DeepEqual(got, want) {
		t.Fatalf("Hits = %+v\nwant   %+v", got, want)
	}
	for _, h := range hits {
		if h.ID.Type != link.Type && !slices.Contains(h.Record.Identifiers, h.ID) {
			t.Fatalf("hit %+v: its record does not list the identifier", h)
		}
		if h.Record.PersonID == "p_ada" && h.Record.Person.FirstName != "Ada" {
			t.Fatalf("hit %+v carries %+v, not Ada's profile", h.ID, h.Record.Person)
		}
	}

	if _, err := g.Erase("p_ada", sup); err != nil {
		t.Fatal(err)
	}
	hits, err = g.Hits(ids)
	if err != nil {
		t.Fatal(err)
	}
	want = []hit{{devBob, "p_bob", false}, {acmeIP, "c_acme", true}}
	if got := summary(hits); !reflect.DeepEqual(got, want) {
		t.Fatalf("after erasing Ada, Hits = %+v; want %+v", got, want)
	}
	if hits, err := g.Hits(nil); err != nil || len(hits) != 0 {
		t.Fatalf("Hits(nil) = %v, %v", hits, err)
	}
}

// records for hits built by hand.
var (
	recAda = &identity.Record{PersonID: "p_ada", Person: identity.Person{FirstName: "Ada"},
		Company: identity.Company{Name: "Analytical", Domain: "analytical.example"}}
	recBob  = &identity.Record{PersonID: "p_bob", Person: identity.Person{FirstName: "Bob"}}
	recAcme = &identity.Record{PersonID: "c_acme", Company: identity.Company{Name: "Acme", Domain: "acme.example"}}
	recInit = &identity.Record{PersonID: "c_initech", Company: identity.Company{Name: "Initech", Domain: "initech.example"}}
)

func hitOf(t identity.Type, value string, rec *identity.Record) identity.Hit {
	return identity.Hit{ID: identity.Identifier{Type: t, Value: value}, Record: rec, Company: rec != nil && rec.IsCompanyOnly()}
}

func linkHit(rec *identity.Record) identity.Hit {
	return identity.Hit{ID: identity.LinkIdentifier("ten_1", "vid-1"), Record: rec}
}

type wantMatch struct {
	person     string
	method     identity.Method
	confidence float64
	learned    bool
	company    string
	conflict   bool
}

func summarize(m identity.Match) wantMatch {
	w := wantMatch{method: m.Method, confidence: m.Confidence, learned: m.Learned, conflict: m.Conflict}
	if m.Person != nil {
		w.person = m.Person.PersonID
	}
	if m.Company != nil {
		w.company = m.Company.Domain
	}
	return w
}

// The precedence rules of the match stage, applied to hits alone.
func TestCombineHits_Rules(t *testing.T) {
	const (
		hem    = identity.TypeHEMSHA256
		sha1   = identity.TypeHEMSHA1
		device = identity.TypeDeviceID
		maid   = identity.TypeMAID
		cookie = identity.TypeCookie
		ip     = identity.TypeIP
	)
	adaCo := "analytical.example"
	cases := []struct {
		name string
		hits []identity.Hit
		want wantMatch
	}{
		{"no hits: nothing", nil, wantMatch{}},
		{"an email", []identity.Hit{hitOf(hem, "a", recAda)}, wantMatch{"p_ada", identity.MethodHEM, 0.97, false, adaCo, false}},
		{"an email and a device of one person", []identity.Hit{hitOf(device, "d", recAda), hitOf(sha1, "a", recAda)},
			wantMatch{"p_ada", identity.MethodHEM, 0.99, false, adaCo, false}},
		{"a device", []identity.Hit{hitOf(device, "d", recBob)}, wantMatch{"p_bob", identity.MethodDevice, 0.9, false, "", false}},
		{"a mobile ad id", []identity.Hit{hitOf(maid, "m", recBob)}, wantMatch{"p_bob", identity.MethodDevice, 0.9, false, "", false}},
		{"a cookie", []identity.Hit{hitOf(cookie, "c", recAda)}, wantMatch{"p_ada", identity.MethodCookie, 0.75, false, adaCo, false}},
		{"a learned link", []identity.Hit{linkHit(recBob)}, wantMatch{"p_bob", identity.MethodCookie, 0.85, true, "", false}},
		{"a learned link and a cookie of one person", []identity.Hit{hitOf(cookie, "c", recBob), linkHit(recBob)},
			wantMatch{"p_bob", identity.MethodCookie, 0.85, true, "", false}},
		{"an email outranks another person's cookie and link", []identity.Hit{hitOf(cookie, "c", recBob), linkHit(recBob), hitOf(hem, "a", recAda)},
			wantMatch{"p_ada", identity.MethodHEM, 0.97, false, adaCo, false}},
		{"strong identifiers of two persons: a conflict", []identity.Hit{hitOf(hem, "a", recAda), hitOf(device, "d", recBob)},
			wantMatch{conflict: true}},
		{"a strong conflict is not settled by agreeing cookies", []identity.Hit{hitOf(hem, "a", recAda), hitOf(device, "d", recBob), hitOf(cookie, "c", recAda)},
			wantMatch{conflict: true}},
		{"a conflict names no company either", []identity.Hit{hitOf(hem, "a", recAda), hitOf(device, "d", recBob), hitOf(ip, "1", recAcme)},
			wantMatch{conflict: true}},
		{"cookies of two persons: a conflict", []identity.Hit{hitOf(cookie, "c", recAda), linkHit(recBob)}, wantMatch{conflict: true}},
		{"one person through two copies of the record", []identity.Hit{hitOf(hem, "a", recAda), hitOf(device, "d", clone(recAda))},
			wantMatch{"p_ada", identity.MethodHEM, 0.99, false, adaCo, false}},
		{"a company's IP alone: the company, no person", []identity.Hit{hitOf(ip, "1", recAcme)},
			wantMatch{"", identity.MethodIP, 0.5, false, "acme.example", false}},
		{"of two company IPs, the first names the company", []identity.Hit{hitOf(ip, "2", recInit), hitOf(ip, "1", recAcme)},
			wantMatch{"", identity.MethodIP, 0.5, false, "initech.example", false}},
		{"a person outranks a company's IP", []identity.Hit{hitOf(ip, "1", recAcme), hitOf(cookie, "c", recBob)},
			wantMatch{"p_bob", identity.MethodCookie, 0.75, false, "", false}},
		{"a company-only record names no person, even through an email", []identity.Hit{hitOf(hem, "a", recAcme), hitOf(cookie, "c", recAcme)},
			wantMatch{}},
		{"a company-only record names its company only through an IP", []identity.Hit{hitOf(cookie, "c", recAcme), hitOf(ip, "1", recInit)},
			wantMatch{"", identity.MethodIP, 0.5, false, "initech.example", false}},
		{"a person's IP names no one", []identity.Hit{hitOf(ip, "1", recAda)}, wantMatch{}},
		{"a hit without a record is no hit", []identity.Hit{hitOf(hem, "a", nil), hitOf(cookie, "c", recBob)},
			wantMatch{"p_bob", identity.MethodCookie, 0.75, false, "", false}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := identity.CombineHits(c.hits)
			if got := summarize(m); got != c.want {
				t.Fatalf("CombineHits = %+v\nwant          %+v", got, c.want)
			}
			if m.Person != nil && m.Person != firstRecordOf(c.hits, m.Person.PersonID) {
				t.Fatal("the matched person is not the record of its first hit")
			}
		})
	}
}

func clone(r *identity.Record) *identity.Record { c := *r; return &c }

func firstRecordOf(hits []identity.Hit, personID string) *identity.Record {
	for _, h := range hits {
		if h.Record != nil && h.Record.PersonID == personID {
			return h.Record
		}
	}
	return nil
}

// The match's company is a copy: changing it leaves the shared record be.
func TestCombineHits_CompanyIsACopy(t *testing.T) {
	rec := clone(recAda)
	for _, hits := range [][]identity.Hit{{hitOf(identity.TypeHEMSHA256, "a", rec)}, {hitOf(identity.TypeIP, "1", clone(recAcme))}} {
		m := identity.CombineHits(hits)
		m.Company.Domain = "changed.example"
		if hits[0].Record.Company.Domain == "changed.example" {
			t.Fatal("the match's company aliases the record's")
		}
	}
}

// Hits gathered from several owners come in any order: who matches, how
// and how surely do not depend on it (only which of several company IPs
// names the company does, the first one).
func TestCombineHits_OrderOfHitsDoesNotChangeThePerson(t *testing.T) {
	types := []identity.Type{identity.TypeHEMSHA256, identity.TypeHEMMD5, identity.TypeDeviceID, identity.TypeMAID,
		identity.TypeCookie, identity.TypeIP, "vid"}
	recs := []*identity.Record{recAda, clone(recAda), recBob, recAcme, recInit}
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 6).Draw(t, "hits")
		hits := make([]identity.Hit, n)
		for i := range hits {
			typ := rapid.SampledFrom(types).Draw(t, "type")
			rec := rapid.SampledFrom(recs).Draw(t, "record")
			hits[i] = identity.Hit{ID: identity.Identifier{Type: typ, Value: strconv.Itoa(i)}, Record: rec, Company: rec.IsCompanyOnly()}
			if typ == "vid" {
				hits[i].ID = identity.LinkIdentifier("ten_1", strconv.Itoa(i))
			}
		}
		want := summarize(identity.CombineHits(hits))
		shuffled := slices.Clone(hits)
		for i := len(shuffled) - 1; i > 0; i-- {
			j := rapid.IntRange(0, i).Draw(t, "swap")
			shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
		}
		got := summarize(identity.CombineHits(shuffled))
		if want.person == "" && !want.conflict {
			want.company, got.company = "", "" // the first company IP may differ
		}
		if got != want {
			t.Fatalf("reordered hits: %+v; in order: %+v", got, want)
		}
	})
}

// fakeSource answers from a fixed table and records what it is asked.
type fakeSource struct {
	hits     map[identity.Identifier]identity.Hit
	asked    [][]identity.Identifier
	learned  []string // tenant/visitor→person
	hitsErr  error
	learnErr error
}

func (s *fakeSource) Hits(ids []identity.Identifier) ([]identity.Hit, error) {
	s.asked = append(s.asked, slices.Clone(ids))
	if s.hitsErr != nil {
		return nil, s.hitsErr
	}
	var out []identity.Hit
	for _, id := range ids {
		if h, ok := s.hits[id]; ok {
			out = append(out, h)
		}
	}
	return out, nil
}

func (s *fakeSource) LearnRecord(tenant, visitorID string, rec *identity.Record) error {
	s.learned = append(s.learned, tenant+"/"+visitorID+"→"+rec.PersonID)
	return s.learnErr
}

// A Matcher over a Source resolves with the Source's hits (the visit's
// identifiers, then its learned link) and learns through the Source.
func TestMatcher_WithSource(t *testing.T) {
	hemA := identity.Identifier{Type: identity.TypeHEMSHA256, Value: hemAda}
	ckB := identity.Identifier{Type: identity.TypeCookie, Value: "ck-bob"}
	ipAcme := identity.Identifier{Type: identity.TypeIP, Value: "203.0.114.7"}
	newSource := func() *fakeSource {
		return &fakeSource{hits: map[identity.Identifier]identity.Hit{
			hemA:   {ID: hemA, Record: recAda},
			ckB:    {ID: ckB, Record: recBob},
			ipAcme: {ID: ipAcme, Record: recAcme, Company: true},
			identity.LinkIdentifier("ten_1", "vid-b"): {ID: identity.LinkIdentifier("ten_1", "vid-b"), Record: recBob},
		}}
	}
	_, sup := openGraph(t, testkit.OpenStore(t, t.TempDir()))

	t.Run("a strong match is learned through the source", func(t *testing.T) {
		src := newSource()
		out, err := identity.NewMatcherWith(src, sup).Match(identity.Visit{Tenant: "ten_1", VisitorID: "vid-a", Identifiers: []identity.Identifier{ipAcme, hemA}})
		if err != nil || summarize(out.Match) != (wantMatch{"p_ada", identity.MethodHEM, 0.97, false, "analytical.example", false}) {
			t.Fatalf("Match = %+v, %v", out, err)
		}
		if want := [][]identity.Identifier{{ipAcme, hemA, identity.LinkIdentifier("ten_1", "vid-a")}}; !reflect.DeepEqual(src.asked, want) {
			t.Fatalf("the source was asked %v; want %v", src.asked, want)
		}
		if want := []string{"ten_1/vid-a→p_ada"}; !reflect.DeepEqual(src.learned, want) {
			t.Fatalf("learned %v; want %v", src.learned, want)
		}
	})
	t.Run("a visit without a visitor id asks for its identifiers only and learns nothing", func(t *testing.T) {
		src := newSource()
		m := identity.NewMatcherWith(src, sup)
		out, err := m.Match(identity.Visit{Tenant: "ten_1", Identifiers: []identity.Identifier{hemA}})
		if err != nil || !out.Matched() || len(src.learned) != 0 || !reflect.DeepEqual(src.asked, [][]identity.Identifier{{hemA}}) {
			t.Fatalf("Match = %+v, %v; asked %v, learned %v", out, err, src.asked, src.learned)
		}
	})
	t.Run("a weak match, a company or nothing is not learned", func(t *testing.T) {
		src := newSource()
		m := identity.NewMatcherWith(src, sup)
		for _, v := range []identity.Visit{
			{Tenant: "ten_1", VisitorID: "vid-b"},
			{Tenant: "ten_1", VisitorID: "vid-c", Identifiers: []identity.Identifier{ckB}},
			{Tenant: "ten_1", VisitorID: "vid-d", Identifiers: []identity.Identifier{ipAcme}},
			{Tenant: "ten_1", VisitorID: "vid-e"},
		} {
			if _, err := m.Match(v); err != nil {
				t.Fatal(err)
			}
		}
		if len(src.learned) != 0 {
			t.Fatalf("learned %v from weak evidence", src.learned)
		}
		if s := m.Stats(); s.Hits != 2 || s.Companies != 1 || s.Misses != 1 || s.Learned != 0 {
			t.Fatalf("stats %+v", s)
		}
	})
	t.Run("a suppressed person is not learned", func(t *testing.T) {
		st := testkit.OpenStore(t, t.TempDir())
		_, sup := openGraph(t, st)
		if _, err := sup.Add("ten_1", identity.KindCompanyDomain, []string{"analytical.example"}); err != nil {
			t.Fatal(err)
		}
		src := newSource()
		out, err := identity.NewMatcherWith(src, sup).Match(identity.Visit{Tenant: "ten_1", VisitorID: "vid-a", Identifiers: []identity.Identifier{hemA}})
		if err != nil || !out.Suppressed || len(src.learned) != 0 {
			t.Fatalf("Match = %+v, %v; learned %v", out, err, src.learned)
		}
	})
	t.Run("the source's errors are the match's", func(t *testing.T) {
		errDown := errors.New("owner unreachable")
		src := newSource()
		src.hitsErr = errDown
		if _, err := identity.NewMatcherWith(src, sup).Match(identity.Visit{Identifiers: []identity.Identifier{hemA}}); !errors.Is(err, errDown) {
			t.Fatalf("Hits failing: Match error %v", err)
		}
		src = newSource()
		src.learnErr = errDown
		if _, err := identity.NewMatcherWith(src, sup).Match(identity.Visit{Tenant: "ten_1", VisitorID: "vid-a", Identifiers: []identity.Identifier{hemA}}); !errors.Is(err, errDown) {
			t.Fatalf("LearnRecord failing: Match error %v", err)
		}
	})
}

// RecordShards are the shards of the identifiers the index holds: a
// person's IP is not one, a company's is.
func TestRecordShards(t *testing.T) {
	// Two cookies in one shard, to see the shards come out distinct.
	byShard := map[int]identity.Identifier{}
	var twin [2]identity.Identifier
	for i := 0; twin[0].Value == ""; i++ {
		id := identity.Identifier{Type: identity.TypeCookie, Value: "ck-" + strconv.Itoa(i)}
		if prev, ok := byShard[identity.ShardOf(id)]; ok {
			twin = [2]identity.Identifier{prev, id}
		}
		byShard[identity.ShardOf(id)] = id
	}
	hem := identity.Identifier{Type: identity.TypeHEMSHA256, Value: hemAda}
	dev := identity.Identifier{Type: identity.TypeDeviceID, Value: "dev-ada"}
	ip := identity.Identifier{Type: identity.TypeIP, Value: "8.8.4.4"}
	sorted := func(ids ...identity.Identifier) []int {
		var out []int
		for _, id := range ids {
			if !slices.Contains(out, identity.ShardOf(id)) {
				out = append(out, identity.ShardOf(id))
			}
		}
		slices.Sort(out)
		return out
	}
	person := &identity.Record{PersonID: "p", Person: identity.Person{FirstName: "P"}, Identifiers: []identity.Identifier{ip, twin[0], dev, twin[1], hem}}
	company := &identity.Record{PersonID: "c", Company: identity.Company{Name: "C"}, Identifiers: []identity.Identifier{ip, twin[1]}}
	for _, c := range []struct {
		name string
		rec  *identity.Record
		want []int
	}{
		{"a person's IP is not indexed", person, sorted(twin[0], dev, hem)},
		{"a company's IP is", company, sorted(ip, twin[1])},
		{"a person with only an IP is in no shard", &identity.Record{PersonID: "q", Person: identity.Person{FirstName: "Q"}, Identifiers: []identity.Identifier{ip}}, nil},
	} {
		if got := identity.RecordShards(c.rec); !slices.Equal(got, c.want) {
			t.Errorf("%s: RecordShards = %v; want %v", c.name, got, c.want)
		}
	}
	if got := identity.RecordShards(person); len(got) != 3 {
		t.Errorf("RecordShards = %v: the twin cookies' shard is not listed once", got)
	}
	for _, id := range []identity.Identifier{hem, dev, ip, identity.LinkIdentifier("ten_1", "vid-1")} {
		if s := identity.ShardOf(id); s != id.Shard() || s < 0 || s >= identity.NumShards {
			t.Errorf("ShardOf(%s) = %d; Shard() = %d", id.Key(), s, id.Shard())
		}
	}
	if got, want := identity.LinkShard("ten_1", "vid-1"), identity.ShardOf(identity.LinkIdentifier("ten_1", "vid-1")); got != want {
		t.Errorf("LinkShard = %d; the link identifier's shard is %d", got, want)
	}
}

// A graph indexes a record in exactly its RecordShards: the shards whose
// owners must hold it.
func TestRecordShards_AreTheShardsTheGraphIndexesARecordIn(t *testing.T) {
	var graph bytes.Buffer
	if err := synth.Generate(synth.Config{People: 300, Seed: 3, Visits: -1}, &graph, nil); err != nil {
		t.Fatal(err)
	}
	g, _ := openGraph(t, testkit.OpenStore(t, t.TempDir()))
	if _, err := g.Import(context.Background(), bytes.NewReader(graph.Bytes()), identity.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	inShards := map[string][]int{}
	for s := range identity.NumShards {
		for _, p := range g.ShardPersons(s) {
			inShards[p] = append(inShards[p], s)
		}
	}
	sc := bufio.NewScanner(&graph)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		rec, err := identity.ParseRecord(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if got, want := identity.RecordShards(&rec), inShards[rec.PersonID]; !slices.Equal(got, want) {
			t.Fatalf("%s: RecordShards = %v; the graph indexes it in %v", rec.PersonID, got, want)
		}
		n++
	}
	if n < 300 {
		t.Fatalf("%d records", n)
	}
}

// With an Upsert hook, an import hands its batches to the hook, in line
// order and as Upsert would store them, counts as without it, and writes
// nothing to the graph.
func TestImport_UpsertHook(t *testing.T) {
	lines := []string{adaLine, `{"person_id":`, "", bobLine, `{"person_id":"p_x","identifiers":[{"type":"fax","value":"1"}],"person":{"first_name":"X"}}`, acmeIPs,
		`{"person_id":"p_ada","identifiers":[{"type":"cookie","value":"ck-ada2"}],"person":{"first_name":"Ada"}}`}
	body := strings.Join(lines, "\n")

	plain, _ := openGraph(t, testkit.OpenStore(t, t.TempDir()))
	want, err := plain.Import(context.Background(), strings.NewReader(body), identity.ImportOptions{BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}

	g, _ := openGraph(t, testkit.OpenStore(t, t.TempDir()))
	var batches [][]identity.Record
	got, err := g.Import(context.Background(), strings.NewReader(body), identity.ImportOptions{BatchSize: 2, Workers: 3,
		Upsert: func(recs []identity.Record) error {
			batches = append(batches, recs) // kept: the hook owns recs
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("with the hook: %+v; without: %+v", got, want)
	}
	var order []string
	for _, b := range batches {
		for _, r := range b {
			order = append(order, r.PersonID)
		}
	}
	// One batch (the lines are one chunk): Ada's first line is replaced
	// by her last one in it, as Upsert would.
	if want := []string{"p_bob", "c_acme", "p_ada"}; len(batches) != 1 || !slices.Equal(order, want) {
		t.Fatalf("the hook got %v in %d batches; want %v, in line order", order, len(batches), want)
	}
	if rec := batches[0][2]; !slices.Equal(rec.Identifiers, []identity.Identifier{ident(t, identity.TypeCookie, "ck-ada2")}) {
		t.Fatalf("the hook got %+v for Ada", rec)
	}
	if s := g.Stats(); s.Persons != 0 || s.IndexEntries != 0 {
		t.Fatalf("the graph was written to: %+v", s)
	}

	// Several batches, in line order, each the hook's to keep.
	var many []string
	for i := range 3000 {
		many = append(many, fmt.Sprintf(`{"person_id":"p_%d","identifiers":[{"type":"cookie","value":"ck-%d"}],"person":{"first_name":"P"}}`, i, i))
	}
	many = append(many, many[2999]) // a person twice in the last batch: once to the hook
	batches = nil
	if _, err := g.Import(context.Background(), strings.NewReader(strings.Join(many, "\n")), identity.ImportOptions{BatchSize: 1000,
		Upsert: func(recs []identity.Record) error { batches = append(batches, recs); return nil }}); err != nil {
		t.Fatal(err)
	}
	if len(batches) < 3 {
		t.Fatalf("%d batches of 3,000 records in batches of 1,000", len(batches))
	}
	i := 0
	for _, b := range batches {
		for _, r := range b {
			if r.PersonID != "p_"+strconv.Itoa(i) {
				t.Fatalf("record %d the hook kept is %s (an earlier batch was overwritten or out of order)", i, r.PersonID)
			}
			i++
		}
	}
	if i != 3000 {
		t.Fatalf("the hook got %d records", i)
	}

	// The hook's error stops the import; what it accepted before counts.
	errFull := errors.New("owner unreachable")
	calls := 0
	res, err := g.Import(context.Background(), strings.NewReader(strings.Repeat(adaLine+"\n", 5000)), identity.ImportOptions{BatchSize: 1000,
		Upsert: func(recs []identity.Record) error {
			if calls++; calls == 2 {
				return errFull
			}
			return nil
		}})
	if !errors.Is(err, errFull) || res.Imported == 0 || res.Imported >= 5000 || calls != 2 {
		t.Fatalf("import with a failing hook: %+v, %v after %d calls", res, err, calls)
	}
}

// splitSource is a cluster of two nodes in miniature: graph lo owns the
// shards below NumShards/2, graph hi the others. Records are routed to
// the owners of their RecordShards; lookups and links to the owners of
// their identifier's shard.
type splitSource struct{ lo, hi *identity.Graph }

var _ identity.Source = splitSource{}

func (s splitSource) owner(shard int) *identity.Graph {
	if shard < identity.NumShards/2 {
		return s.lo
	}
	return s.hi
}

// Hits asks each graph about its identifiers and puts the hits back in
// the order of ids.
func (s splitSource) Hits(ids []identity.Identifier) ([]identity.Hit, error) {
	var out []identity.Hit
	for _, g := range []*identity.Graph{s.lo, s.hi} {
		var mine []identity.Identifier
		for _, id := range ids {
			if s.owner(identity.ShardOf(id)) == g {
				mine = append(mine, id)
			}
		}
		hits, err := g.Hits(mine)
		if err != nil {
			return nil, err
		}
		out = append(out, hits...)
	}
	slices.SortStableFunc(out, func(a, b identity.Hit) int {
		return cmp.Compare(slices.Index(ids, a.ID), slices.Index(ids, b.ID))
	})
	return out, nil
}

func (s splitSource) LearnRecord(tenant, visitorID string, rec *identity.Record) error {
	return s.owner(identity.LinkShard(tenant, visitorID)).LearnRecord(tenant, visitorID, rec)
}

// upsert is the import's router. Each graph upserts, as one batch, the
// records of the batch with a shard it owns. A graph that holds a person
// of the batch but owns none of the shards of the person's new record is
// told to drop the person (a single graph would replace the record,
// releasing the identifiers it no longer has).
func (s splitSource) upsert(recs []identity.Record) error {
	for _, g := range []*identity.Graph{s.lo, s.hi} {
		var mine []identity.Record
		var drop []string
		for i := range recs {
			if slices.ContainsFunc(identity.RecordShards(&recs[i]), func(sh int) bool { return s.owner(sh) == g }) {
				mine = append(mine, recs[i])
			} else if _, held, err := g.Profile(recs[i].PersonID); err != nil {
				return err
			} else if held {
				drop = append(drop, recs[i].PersonID)
			}
		}
		if err := g.Upsert(mine); err != nil {
			return err
		}
		for _, p := range drop {
			if _, err := g.Erase(p, nil); err != nil {
				return err
			}
		}
		if err := g.Sync(); err != nil {
			return err
		}
	}
	return nil
}

func resolveThrough(tb interface{ Fatal(...any) }, src identity.Source, v identity.Visit) identity.Match {
	ids := slices.Clone(v.Identifiers)
	if v.Tenant != "" && v.VisitorID != "" {
		ids = append(ids, identity.LinkIdentifier(v.Tenant, v.VisitorID))
	}
	hits, err := src.Hits(ids)
	if err != nil {
		tb.Fatal(err)
	}
	return identity.CombineHits(hits)
}

// A synthetic graph imported through the router into two graphs resolves
// every ground-truth visit as the same graph imported whole.
func TestSource_SplitGraphsResolveAsOne(t *testing.T) {
	var graph, truth bytes.Buffer
	if err := synth.Generate(synth.Config{People: 2000, Seed: 11, Visits: 3000}, &graph, &truth); err != nil {
		t.Fatal(err)
	}
	whole, _ := openGraph(t, testkit.OpenStore(t, t.TempDir()))
	if _, err := whole.Import(context.Background(), bytes.NewReader(graph.Bytes()), identity.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	lo, _ := openGraph(t, testkit.OpenStore(t, t.TempDir()))
	hi, sup := openGraph(t, testkit.OpenStore(t, t.TempDir()))
	split := splitSource{lo, hi}
	// The import runs on one of the nodes; its batches go to the router.
	res, err := hi.Import(context.Background(), bytes.NewReader(graph.Bytes()), identity.ImportOptions{BatchSize: 700, Upsert: split.upsert})
	if err != nil || res.Rejected != 0 {
		t.Fatalf("split import: %+v, %v", res, err)
	}
	if s := lo.Stats(); s.Persons == 0 || s.Persons == whole.Stats().Persons {
		t.Fatalf("graph lo holds %d of %d records: not a split", s.Persons, whole.Stats().Persons)
	}

	sc := bufio.NewScanner(&truth)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var visits []identity.Visit
	for sc.Scan() {
		var v synth.Visit
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatal(err)
		}
		visits = append(visits, identity.Visit{Tenant: "ten_1", VisitorID: "vid-" + strconv.Itoa(len(visits)), Identifiers: v.Identifiers})
	}
	kinds := map[wantMatch]bool{}
	for _, v := range visits {
		want, err := whole.Resolve(v)
		if err != nil {
			t.Fatal(err)
		}
		got := resolveThrough(t, split, v)
		if summarize(got) != summarize(want) || (want.Person != nil && !reflect.DeepEqual(*got.Person, *want.Person)) {
			t.Fatalf("visit %+v: split %+v, whole %+v", v, summarize(got), summarize(want))
		}
		w := summarize(want)
		w.person, w.company = "", ""
		kinds[w] = true
	}
	if len(kinds) < 5 { // emails, devices, cookies, companies, conflicts, misses
		t.Fatalf("only %d kinds of outcome: %v", len(kinds), kinds)
	}

	// The match stage over the split graphs: the same outcomes.
	mWhole, mSplit := identity.NewMatcher(whole, sup), identity.NewMatcherWith(split, sup)
	for _, v := range visits[:500] {
		a, err1 := mWhole.Match(v)
		b, err2 := mSplit.Match(v)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if summarize(a.Match) != summarize(b.Match) || a.Suppressed != b.Suppressed {
			t.Fatalf("visit %+v: split %+v, whole %+v", v, b, a)
		}
	}
}

// The same holds for any sequence of imports in which persons come back
// with other identifiers and take each other's, given that the router
// drops a person from a graph none of whose shards its new record is in.
func TestSource_SplitGraphsResolveAsOneAfterRandomImports(t *testing.T) {
	ids := universe()
	rapid.Check(t, func(t *rapid.T) {
		dir, err := os.MkdirTemp("", "split-property-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		var closers []func()
		defer func() { // before the directory is removed
			for _, c := range closers {
				c()
			}
		}()
		open := func(name string) *identity.Graph {
			st := openRapidStore(t, filepath.Join(dir, name))
			g, _ := openRapidGraph(t, st, "")
			closers = append(closers, func() { g.Close(); _ = st.Close() })
			return g
		}
		whole, lo, hi := open("whole"), open("lo"), open("hi")
		split := splitSource{lo, hi}
		for range rapid.IntRange(1, 6).Draw(t, "imports") {
			var lines []string
			for range rapid.IntRange(1, 5).Draw(t, "records") {
				person := fmt.Sprintf("p_%d", rapid.IntRange(0, 4).Draw(t, "person"))
				idx := rapid.SliceOfNDistinct(rapid.IntRange(0, len(ids)-1), 1, 5, rapid.ID[int]).Draw(t, "identifiers")
				var parts []string
				for _, i := range idx {
					parts = append(parts, fmt.Sprintf(`{"type":%q,"value":%q}`, ids[i].Type, ids[i].Value))
				}
				profile := `"person":{"first_name":"P"},"company":{"name":"PC","domain":"` + person[2:] + `.example"}`
				if rapid.Bool().Draw(t, "companyOnly") {
					profile = `"company":{"name":"C","domain":"c` + person[2:] + `.example"}`
				}
				lines = append(lines, fmt.Sprintf(`{"person_id":%q,"identifiers":[%s],%s}`, person, strings.Join(parts, ","), profile))
			}
			body := strings.Join(lines, "\n")
			batch := rapid.IntRange(1, 3).Draw(t, "batch")
			if res, err := whole.Import(context.Background(), strings.NewReader(body), identity.ImportOptions{BatchSize: batch}); err != nil || res.Rejected != 0 {
				t.Fatalf("import: %+v, %v", res, err)
			}
			if _, err := lo.Import(context.Background(), strings.NewReader(body), identity.ImportOptions{BatchSize: batch, Upsert: split.upsert}); err != nil {
				t.Fatal(err)
			}
		}
		for range 20 {
			idx := rapid.SliceOfN(rapid.IntRange(0, len(ids)-1), 1, 4).Draw(t, "visit")
			v := identity.Visit{Tenant: "ten_1"}
			for _, i := range idx {
				v.Identifiers = append(v.Identifiers, ids[i])
			}
			want, err := whole.Resolve(v)
			if err != nil {
				t.Fatal(err)
			}
			if got := resolveThrough(t, split, v); summarize(got) != summarize(want) {
				t.Fatalf("visit %v: split %+v, whole %+v", v.Identifiers, summarize(got), summarize(want))
			}
		}
	})
}
