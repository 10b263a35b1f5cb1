package persistence

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"pgregory.net/rapid"

	"github.com/firehook/firehook"
)

func TestVersion_OrdersByTimeThenNode(t *testing.T) {
	ordered := []Version{{}, {Time: 0, Node: "a"}, {Time: 1, Node: ""}, {Time: 1, Node: "a"}, {Time: 1, Node: "b"}, {Time: 2, Node: "a"}}
	for i, a := range ordered {
		for j, b := range ordered {
			if got, want := a.Less(b), i < j; got != want {
				t.Errorf("%v.Less(%v) = %v, want %v", a, b, got, want)
			}
		}
	}
	for _, v := range []Version{{}, {Time: -5, Node: "n"}, {Time: 1 << 62, Node: "node-1"}} {
		got, err := decodeVersion(encodeVersion(v))
		if err != nil || got != v {
			t.Errorf("decode(encode(%v)) = %v, %v", v, got, err)
		}
	}
	if v, err := decodeVersion(nil); err != nil || !v.IsZero() {
		t.Errorf("decode(empty) = %v, %v; want the zero Version", v, err)
	}
	if _, err := decodeVersion([]byte{1, 2, 3}); err == nil {
		t.Error("decode of 3 bytes succeeded")
	}
}

// fakeWall returns a clock for node whose wall clock reads *now.
func fakeWall(node string, now *int64) *Clock {
	c := NewClock(node)
	c.wall = func() int64 { return *now }
	return c
}

func TestClock_IsMonotonicAndPassesWhatItObserves(t *testing.T) {
	now := int64(1000)
	c := fakeWall("a", &now)
	v1 := c.Now()
	v2 := c.Now() // the wall clock stands still
	if v1 != (Version{Time: 1000, Node: "a"}) || v2 != (Version{Time: 1001, Node: "a"}) {
		t.Fatalf("Now, Now = %v, %v; want 1000@a, 1001@a", v1, v2)
	}
	now = 500 // the wall clock steps back
	if v := c.Now(); v.Time != 1002 {
		t.Fatalf("after the wall clock stepped back: %v, want 1002@a", v)
	}
	c.Observe(Version{Time: 5000, Node: "b"}) // a node ahead of us
	if v := c.Now(); v.Time != 5001 {
		t.Fatalf("after observing 5000@b: %v, want 5001@a", v)
	}
	c.Observe(Version{Time: 10, Node: "b"}) // an old one changes nothing
	if v := c.After(Version{Time: 7000, Node: "z"}); v.Time != 7001 {
		t.Fatalf("After(7000@z) = %v, want 7001@a", v)
	}
	now = 9000
	if v := c.Now(); v.Time != 9000 {
		t.Fatalf("wall clock ahead again: %v, want 9000@a", v)
	}
}

// changeRecorder collects what a store's OnChange hook is told.
type changeRecorder struct{ got []Change }

func (r *changeRecorder) hook(ch Change) { r.got = append(r.got, ch) }

func (r *changeRecorder) take() []Change {
	out := r.got
	r.got = nil
	return out
}

// applyAll applies changes to c and returns how many it applied.
func applyAll(t testing.TB, c *ConfigStore, changes []Change) int {
	t.Helper()
	n := 0
	for _, ch := range changes {
		ok, err := c.Apply(ch)
		if err != nil {
			t.Fatalf("Apply(%v): %v", ch, err)
		}
		if ok {
			n++
		}
	}
	return n
}

func TestConfigStore_LocalWritesAreVersionedAndReported(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.NodeName = "node-a"
	a := openStore(t, cfg)
	b := openStore(t, testConfig(t.TempDir()))
	var rec, recB changeRecorder
	a.Config.SetOnChange(rec.hook)
	b.Config.SetOnChange(recB.hook)

	r := mustCreateRecords(t, a.Config, "Acme")
	if _, err := a.Config.UpdateSite(r.site.ID, func(s *firehook.Site) error { s.Domain = "b.example"; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := a.Config.DeleteEndpoint(r.ep.ID); err != nil {
		t.Fatal(err)
	}
	// A failed write is not a change.
	if err := a.Config.CreateTenant(r.ten); err == nil {
		t.Fatal("creating a tenant twice succeeded")
	}
	got := rec.take()
	want := []struct {
		kind, id string
		deleted  bool
	}{{KindTenant, r.ten.ID, false}, {KindSite, r.site.ID, false}, {KindEndpoint, r.ep.ID, false},
		{KindSite, r.site.ID, false}, {KindEndpoint, r.ep.ID, true}}
	if len(got) != len(want) {
		t.Fatalf("OnChange got %d changes, want %d: %v", len(got), len(want), got)
	}
	for i, w := range want {
		ch := got[i]
		if ch.Kind != w.kind || ch.ID != w.id || ch.Deleted != w.deleted || ch.Version.Node != "node-a" {
			t.Errorf("change %d = %v, want %s %s deleted=%v by node-a", i, ch, w.kind, w.id, w.deleted)
		}
		if i > 0 && !got[i-1].Version.Less(ch.Version) {
			t.Errorf("change %d has version %v, not newer than the one before (%v)", i, ch.Version, got[i-1].Version)
		}
		if ch.Deleted != (ch.Value == nil) {
			t.Errorf("change %d: Deleted %v with value %q", i, ch.Deleted, ch.Value)
		}
	}
	if got[3].Version.Less(got[1].Version) || !strings.Contains(string(got[3].Value), "b.example") {
		t.Errorf("the site's update: %v %s", got[3], got[3].Value)
	}

	// Applied elsewhere, the changes give the same state, without being
	// reported there.
	if n := applyAll(t, b.Config, got); n != len(got) {
		t.Fatalf("b applied %d of %d changes", n, len(got))
	}
	if c := recB.take(); len(c) != 0 {
		t.Fatalf("OnChange was told of applied changes: %v", c)
	}
	assertEqual(t, "b after applying a's changes", snapshot(b.Config), snapshot(a.Config))
	assertEqual(t, "b's Snapshot", b.Config.Snapshot(), a.Config.Snapshot())
	// Again: nothing is applied.
	if n := applyAll(t, b.Config, got); n != 0 {
		t.Fatalf("applying the same changes again applied %d", n)
	}
	if n := applyAll(t, b.Config, a.Config.Snapshot()); n != 0 {
		t.Fatalf("applying a's snapshot after its changes applied %d", n)
	}
}

func TestConfigStore_ApplyIsLastWriterWins(t *testing.T) {
	a := openStore(t, testConfig(t.TempDir()))
	c := a.Config
	ten := newTenant("Acme")
	site := newSite(ten.ID)
	value := func(s firehook.Site) []byte { b, _ := json.Marshal(s); return b }
	v := func(tm int64, node string) Version { return Version{Time: tm, Node: node} }
	apply := func(ch Change, want bool) {
		t.Helper()
		got, err := c.Apply(ch)
		if err != nil || got != want {
			t.Fatalf("Apply(%v) = %v, %v; want %v", ch, got, err, want)
		}
	}
	domain := func() string {
		t.Helper()
		s, ok := c.Site(site.ID)
		if !ok {
			return "<none>"
		}
		return s.Domain
	}

	// A site may arrive before its tenant.
	site.Domain = "v10.example"
	apply(Change{Kind: KindSite, ID: site.ID, Version: v(10, "b"), Value: value(site)}, true)
	if domain() != "v10.example" {
		t.Fatalf("site after the first change: %s", domain())
	}
	site.Domain = "v9.example"
	apply(Change{Kind: KindSite, ID: site.ID, Version: v(9, "z"), Value: value(site)}, false) // older
	site.Domain = "v10a.example"
	apply(Change{Kind: KindSite, ID: site.ID, Version: v(10, "a"), Value: value(site)}, false) // same time, smaller node
	site.Domain = "v10c.example"
	apply(Change{Kind: KindSite, ID: site.ID, Version: v(10, "c"), Value: value(site)}, true) // same time, greater node
	apply(Change{Kind: KindSite, ID: site.ID, Version: v(10, "c"), Value: value(site)}, false)
	if domain() != "v10c.example" {
		t.Fatalf("site: %s, want v10c.example", domain())
	}
	// A deletion wins over older writes that arrive after it ...
	apply(Change{Kind: KindSite, ID: site.ID, Version: v(20, "a"), Deleted: true}, true)
	site.Domain = "v15.example"
	apply(Change{Kind: KindSite, ID: site.ID, Version: v(15, "b"), Value: value(site)}, false)
	if domain() != "<none>" {
		t.Fatalf("a deleted site came back: %s", domain())
	}
	// ... but not over a newer write.
	site.Domain = "v21.example"
	apply(Change{Kind: KindSite, ID: site.ID, Version: v(21, "b"), Value: value(site)}, true)
	if domain() != "v21.example" {
		t.Fatalf("site after a newer write than its deletion: %s", domain())
	}
	if got, ok := c.SiteByKey(site.Key); !ok || got.ID != site.ID {
		t.Fatalf("SiteByKey after the site came back = %v, %v", got.ID, ok)
	}
	// A deletion of a record never seen leaves a tombstone all the same.
	ep := newEndpoint(ten.ID)
	apply(Change{Kind: KindEndpoint, ID: ep.ID, Version: v(30, "a"), Deleted: true}, true)
	b, _ := json.Marshal(ep)
	apply(Change{Kind: KindEndpoint, ID: ep.ID, Version: v(29, "b"), Value: b}, false)
	if _, ok := c.Endpoint(ep.ID); ok {
		t.Fatal("an endpoint created before its deletion was applied after it")
	}
	// A local write after all this is newer than everything applied.
	var rec changeRecorder
	c.SetOnChange(rec.hook)
	if _, err := c.UpdateSite(site.ID, func(s *firehook.Site) error { s.Domain = "local.example"; return nil }); err != nil {
		t.Fatal(err)
	}
	if got := rec.take(); len(got) != 1 || !(Version{Time: 30, Node: "z"}).Less(got[0].Version) {
		t.Fatalf("local update after applying versions up to 30: %v", got)
	}
	snap := c.Snapshot()
	kinds := []string{}
	for _, ch := range snap {
		kinds = append(kinds, ch.Kind+"/"+fmt.Sprint(ch.Deleted))
	}
	if !reflect.DeepEqual(kinds, []string{"site/false", "endpoint/true"}) {
		t.Fatalf("Snapshot: %v", snap)
	}
}

func TestConfigStore_ApplyRefusesWhatIsNotARecord(t *testing.T) {
	c := openStore(t, testConfig(t.TempDir())).Config
	ten := newTenant("Acme")
	good, _ := json.Marshal(ten)
	for _, ch := range []Change{
		{Kind: "person", ID: ten.ID, Version: Version{Time: 1}, Value: good},
		{Kind: KindTenant, ID: "", Version: Version{Time: 1}, Value: good},
		{Kind: KindTenant, ID: "ten_other", Version: Version{Time: 1}, Value: good},
		{Kind: KindTenant, ID: ten.ID, Version: Version{Time: 1}, Value: []byte("{")},
		{Kind: KindTenant, ID: ten.ID, Version: Version{Time: 1}},
	} {
		if ok, err := c.Apply(ch); ok || !errors.Is(err, firehook.ErrInvalid) {
			t.Errorf("Apply(%v %q) = %v, %v; want ErrInvalid", ch, ch.Value, ok, err)
		}
	}
	if n := len(c.Snapshot()); n != 0 {
		t.Fatalf("the refused changes left %d records", n)
	}
}

// Two nodes give one API key hash (or site key) to different records at
// the same time: both records are kept everywhere, and the key finds the
// newer, until it is deleted or moves.
func TestConfigStore_SecondaryKeyCollisionsResolveTheSameEverywhere(t *testing.T) {
	var now int64
	stores, dirs := make([]*Store, 2), make([]string, 2)
	recs := make([]changeRecorder, 2)
	for i := range stores {
		dirs[i] = t.TempDir()
		cfg := testConfig(dirs[i])
		cfg.NodeName = fmt.Sprintf("n%d", i)
		stores[i] = openStore(t, cfg)
		stores[i].clock.wall = func() int64 { return now }
		stores[i].Config.SetOnChange(recs[i].hook)
	}
	older, newer := newTenant("older"), newTenant("newer")
	older.APIKeyHash, newer.APIKeyHash = "shared", "shared"
	now = 1000
	mustCreate(t, stores[0].Config.CreateTenant, older)
	now = 2000
	mustCreate(t, stores[1].Config.CreateTenant, newer)
	site0, site1 := newSite(older.ID), newSite(newer.ID)
	site1.Key = site0.Key
	now = 3000
	mustCreate(t, stores[1].Config.CreateSite, site1) // the older site this time
	now = 4000
	mustCreate(t, stores[0].Config.CreateSite, site0)
	exchange := func() {
		t.Helper()
		c0, c1 := recs[0].take(), recs[1].take()
		applyAll(t, stores[1].Config, c0)
		applyAll(t, stores[0].Config, c1)
	}
	exchange()
	for i, s := range stores {
		c := s.Config
		if n := len(c.Tenants()); n != 2 {
			t.Errorf("store %d holds %d tenants, want both", i, n)
		}
		if got, _ := c.TenantByAPIKeyHash("shared"); got.ID != newer.ID {
			t.Errorf("store %d: the shared API key finds %s, want the newer tenant %s", i, got.Name, newer.ID)
		}
		if got, _ := c.SiteByKey(site0.Key); got.ID != site0.ID {
			t.Errorf("store %d: the shared site key finds %s, want the newer site %s", i, got.ID, site0.ID)
		}
	}
	// A local write cannot take a key another record holds ...
	if err := stores[0].Config.CreateTenant(func() firehook.Tenant { t := newTenant("third"); t.APIKeyHash = "shared"; return t }()); !errors.Is(err, firehook.ErrConflict) {
		t.Fatalf("creating a third tenant with the shared key: %v, want ErrConflict", err)
	}
	// ... and when the site that holds a key goes, the other one has it.
	if err := stores[1].Config.DeleteSite(site0.ID); err != nil {
		t.Fatal(err)
	}
	// When the newer tenant moves to another key, the older one gets the
	// shared one back.
	now = 5000
	if _, err := stores[0].Config.UpdateTenant(newer.ID, func(t *firehook.Tenant) error { t.APIKeyHash = "own"; return nil }); err != nil {
		t.Fatal(err)
	}
	exchange()
	for i, s := range stores {
		c := s.Config
		if got, _ := c.TenantByAPIKeyHash("shared"); got.ID != older.ID {
			t.Errorf("store %d: the shared API key finds %q after the newer tenant moved, want the older", i, got.Name)
		}
		if got, _ := c.TenantByAPIKeyHash("own"); got.ID != newer.ID {
			t.Errorf("store %d: the new key finds %q", i, got.Name)
		}
		if got, _ := c.SiteByKey(site0.Key); got.ID != site1.ID {
			t.Errorf("store %d: the site key finds %q after the newer site was deleted, want %s", i, got.ID, site1.ID)
		}
	}
	assertEqual(t, "the stores after the exchange", snapshot(stores[1].Config), snapshot(stores[0].Config))
	// The index is rebuilt the same way at start.
	for i := range stores {
		before := snapshot(stores[i].Config)
		stores[i] = reopen(t, stores[i], testConfig(dirs[i]))
		assertEqual(t, fmt.Sprintf("store %d after reopening", i), snapshot(stores[i].Config), before)
	}
}

// Versions and tombstones are stored with the records: a reopened store
// refuses what it refused before, and its clock stamps newer versions than
// those it holds even when the wall clock is behind them.
func TestConfigStore_VersionsAndTombstonesSurviveReopen(t *testing.T) {
	s, dir := openTempStore(t)
	var rec changeRecorder
	s.Config.SetOnChange(rec.hook)
	r := mustCreateRecords(t, s.Config, "Acme")
	created := rec.take()
	if err := s.Config.DeleteSite(r.site.ID); err != nil {
		t.Fatal(err)
	}
	rec.take()
	// A remote update of the endpoint from a node whose clock is an hour
	// ahead.
	ahead := Version{Time: created[2].Version.Time + 3600e9, Node: "ahead"}
	ep := r.ep
	ep.Description = "remote"
	b, _ := json.Marshal(ep)
	if ok, err := s.Config.Apply(Change{Kind: KindEndpoint, ID: ep.ID, Version: ahead, Value: b}); !ok || err != nil {
		t.Fatalf("Apply: %v, %v", ok, err)
	}
	snap := s.Config.Snapshot()
	before := snapshot(s.Config)

	s = reopen(t, s, testConfig(dir))
	assertEqual(t, "Snapshot after reopening", s.Config.Snapshot(), snap)
	assertEqual(t, "records after reopening", snapshot(s.Config), before)
	for _, ch := range created { // the site's creation is older than its tombstone
		if ok, err := s.Config.Apply(ch); ok || err != nil {
			t.Errorf("Apply(%v) after reopening = %v, %v; want refused", ch, ok, err)
		}
	}
	if _, ok := s.Config.Site(r.site.ID); ok {
		t.Fatal("the deleted site came back")
	}
	s.Config.SetOnChange(rec.hook)
	if _, err := s.Config.UpdateEndpoint(ep.ID, func(e *firehook.Endpoint) error { e.Description = "local"; return nil }); err != nil {
		t.Fatal(err)
	}
	if got := rec.take(); len(got) != 1 || !ahead.Less(got[0].Version) {
		t.Fatalf("a local update after reopening has version %v, not newer than the stored %v", got, ahead)
	}
}

// A data dir of a version before replication has rows without versions:
// they load with the zero Version, and any stamped change wins over them.
func TestConfigStore_RowsWithoutVersionsLoad(t *testing.T) {
	s, dir := openTempStore(t)
	r := mustCreateRecords(t, s.Config, "Acme")
	err := s.db.Update(func(txn *badger.Txn) error {
		for _, k := range []string{prefixTenant + r.ten.ID, prefixSite + r.site.ID, prefixEndpoint + r.ep.ID} {
			if err := txn.Delete([]byte(prefixConfigVersion + k)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(s.Config)
	s = reopen(t, s, testConfig(dir))
	assertEqual(t, "records without versions", snapshot(s.Config), before)
	for _, ch := range s.Config.Snapshot() {
		if !ch.Version.IsZero() {
			t.Errorf("%v: want the zero Version", ch)
		}
	}
	ten := r.ten
	ten.Name = "renamed"
	b, _ := json.Marshal(ten)
	if ok, err := s.Config.Apply(Change{Kind: KindTenant, ID: ten.ID, Version: Version{Time: 1, Node: "x"}, Value: b}); !ok || err != nil {
		t.Fatalf("a stamped change over a row without version: %v, %v", ok, err)
	}
	if ok, err := s.Config.Apply(Change{Kind: KindSite, ID: r.site.ID, Version: Version{}, Deleted: true}); ok || err != nil {
		t.Fatalf("a zero-version change over a row without version: %v, %v; want a no-op", ok, err)
	}
}

// ---- Convergence ------------------------------------------------------

// replicaNet is the test's cluster: every local change of a store is sent
// to every other store, and delivered when the test says, in any order,
// some twice.
type replicaNet struct {
	stores  []*Store
	now     int64     // the wall clock of every store, before its skew
	skew    []int64   // each store's wall-clock error
	pending []message // sent, not delivered
	// seen is, per store, the version of each record it holds (row or
	// tombstone): the model Apply's answers are checked against.
	seen []map[string]Version
}

type message struct {
	to int
	ch Change
}

func recordKey(ch Change) string { return ch.Kind + "/" + ch.ID }

// sent is store from's OnChange hook.
func (n *replicaNet) sent(t *rapid.T, from int, ch Change) {
	key := recordKey(ch)
	if cur, ok := n.seen[from][key]; ok && !cur.Less(ch.Version) {
		t.Fatalf("store %d wrote %v with version %v, not newer than the %v it held", from, key, ch.Version, cur)
	}
	n.seen[from][key] = ch.Version
	for to := range n.stores {
		if to != from {
			n.pending = append(n.pending, message{to: to, ch: ch})
		}
	}
}

// deliver applies ch to store to and checks Apply's answer with the model.
func (n *replicaNet) deliver(t *rapid.T, to int, ch Change) {
	key := recordKey(ch)
	cur, ok := n.seen[to][key]
	want := !ok || cur.Less(ch.Version)
	sent := len(n.pending)
	got, err := n.stores[to].Config.Apply(ch)
	if err != nil {
		t.Fatalf("store %d: Apply(%v): %v", to, ch, err)
	}
	if got != want {
		t.Fatalf("store %d: Apply(%v) = %v, want %v (it holds %v, found %v)", to, ch, got, want, cur, ok)
	}
	if len(n.pending) != sent {
		t.Fatalf("store %d: Apply(%v) called OnChange", to, ch)
	}
	if want {
		n.seen[to][key] = ch.Version
	}
}

// namespaced keeps the changes of the records of one check.
func namespaced(chs []Change, ns string) []Change {
	var out []Change
	for _, ch := range chs {
		if strings.HasPrefix(ch.ID, ns) {
			out = append(out, ch)
		}
	}
	return out
}

// visible is what a store answers about the records of namespace ns.
func visible(c *ConfigStore, ns string) configSnapshot {
	s := snapshot(c)
	s.Tenants = slices.DeleteFunc(s.Tenants, func(t firehook.Tenant) bool { return !strings.HasPrefix(t.ID, ns) })
	s.Sites = slices.DeleteFunc(s.Sites, func(t firehook.Site) bool { return !strings.HasPrefix(t.ID, ns) })
	s.Endpoints = slices.DeleteFunc(s.Endpoints, func(t firehook.Endpoint) bool { return !strings.HasPrefix(t.ID, ns) })
	for k, id := range s.ByAPIKey {
		if !strings.HasPrefix(id, ns) {
			delete(s.ByAPIKey, k)
		}
	}
	for k, id := range s.ByKey {
		if !strings.HasPrefix(id, ns) {
			delete(s.ByKey, k)
		}
	}
	return s
}

// checkIndexRule asserts that each secondary key of namespace ns finds,
// of the records that have it, the one with the newest version (then the
// greatest id), and that a key no record has finds nothing.
func checkIndexRule(t *rapid.T, i int, c *ConfigStore, ns string, snap []Change) {
	type best struct {
		v  Version
		id string
	}
	owners := map[string]best{}
	for _, ch := range snap {
		var key string
		switch {
		case ch.Deleted:
			continue
		case ch.Kind == KindTenant:
			ten, _ := c.Tenant(ch.ID)
			key = "t:" + ten.APIKeyHash
		case ch.Kind == KindSite:
			site, _ := c.Site(ch.ID)
			key = "s:" + site.Key
		default:
			continue
		}
		b, ok := owners[key]
		if !ok || b.v.Less(ch.Version) || (b.v == ch.Version && b.id < ch.ID) {
			owners[key] = best{ch.Version, ch.ID}
		}
	}
	for k := range 3 {
		apiKey, siteKey := fmt.Sprintf("%skey_%d", ns, k), fmt.Sprintf("%ssk_%d", ns, k)
		ten, tok := c.TenantByAPIKeyHash(apiKey)
		site, sok := c.SiteByKey(siteKey)
		for _, got := range []struct {
			key, id, holds string
			ok             bool
		}{{"t:" + apiKey, ten.ID, ten.APIKeyHash, tok}, {"s:" + siteKey, site.ID, site.Key, sok}} {
			want, wantOK := owners[got.key]
			if got.ok != wantOK || got.id != want.id || (got.ok && "t:"+got.holds != got.key && "s:"+got.holds != got.key) {
				t.Fatalf("store %d: key %s finds %q (%v, holding %q), want %q (%v, version %v)", i, got.key, got.id, got.ok, got.holds, want.id, wantOK, want.v)
			}
		}
	}
	if _, ok := c.TenantByAPIKeyHash(""); ok {
		t.Fatalf("store %d: the empty API key finds a tenant", i)
	}
}

// TestConfigStore_ReplicasConverge: stores that write concurrently and
// receive each other's changes in any order, some twice, some through
// snapshots, end with the same records, the same versions and tombstones,
// and the same secondary-key lookups — those of the rule.
func TestConfigStore_ReplicasConverge(t *testing.T) {
	const maxStores = 4
	net := &replicaNet{skew: make([]int64, maxStores)}
	for i := range maxStores {
		cfg := testConfig(t.TempDir())
		cfg.NodeName = fmt.Sprintf("node-%d", i)
		s := openStore(t, cfg)
		s.clock.wall = func() int64 { return net.now + net.skew[i] }
		net.stores = append(net.stores, s)
	}
	var check int
	rapid.Check(t, func(rt *rapid.T) {
		check++
		ns := fmt.Sprintf("c%d_", check) // this check's records
		n := rapid.IntRange(2, maxStores).Draw(rt, "stores")
		all := net.stores
		net.stores, net.pending = all[:n], nil
		defer func() { net.stores = all }()
		net.seen = make([]map[string]Version, n)
		for i := range n {
			net.seen[i] = map[string]Version{}
			for _, ch := range net.stores[i].Config.Snapshot() {
				net.seen[i][recordKey(ch)] = ch.Version
			}
			net.skew[i] = rapid.Int64Range(-3, 3).Draw(rt, fmt.Sprintf("skew %d", i)) * 1e6
			net.stores[i].Config.SetOnChange(func(ch Change) { net.sent(rt, i, ch) })
		}
		defer func() {
			for _, s := range net.stores {
				s.Config.SetOnChange(nil)
			}
		}()
		for _, s := range net.stores {
			s.clock.mu.Lock()
			net.now = max(net.now, s.clock.last+1e9)
			s.clock.mu.Unlock()
		}

		pick := func(label, what string, k int) string {
			return fmt.Sprintf("%s%s_%d", ns, what, rapid.IntRange(0, k-1).Draw(rt, label))
		}
		key := func(label, what string) string { // a small pool, "" sometimes
			if rapid.IntRange(0, 5).Draw(rt, label+" empty") == 0 {
				return ""
			}
			return pick(label, what, 3)
		}
		mustOK := func(what string, err error) {
			if err != nil && !errors.Is(err, firehook.ErrConflict) && !errors.Is(err, firehook.ErrNotFound) {
				rt.Fatalf("%s: %v", what, err)
			}
		}
		steps := rapid.IntRange(1, 40).Draw(rt, "steps")
		for step := range steps {
			net.now += rapid.Int64Range(0, 2).Draw(rt, "tick") * 1e6
			i := rapid.IntRange(0, n-1).Draw(rt, "store")
			c := net.stores[i].Config
			switch op := rapid.IntRange(0, 11).Draw(rt, "op"); op {
			case 0:
				ten := firehook.Tenant{ID: pick("tenant", "ten", 3), Name: fmt.Sprint("t", step), APIKeyHash: key("api key", "key"), CreatedAt: t0, UpdatedAt: t0}
				mustOK("create tenant", c.CreateTenant(ten))
			case 1:
				k := key("api key", "key")
				_, err := c.UpdateTenant(pick("tenant", "ten", 3), func(t *firehook.Tenant) error {
					t.Name, t.APIKeyHash = fmt.Sprint("t", step), k
					return nil
				})
				mustOK("update tenant", err)
			case 2:
				s := firehook.Site{ID: pick("site", "site", 3), TenantID: pick("tenant", "ten", 3), Key: key("site key", "sk"), Domain: fmt.Sprint(step, ".example"), CreatedAt: t0, UpdatedAt: t0}
				mustOK("create site", c.CreateSite(s))
			case 3:
				k := key("site key", "sk")
				_, err := c.UpdateSite(pick("site", "site", 3), func(s *firehook.Site) error {
					s.Key, s.Domain = k, fmt.Sprint(step, ".example")
					return nil
				})
				mustOK("update site", err)
			case 4:
				mustOK("delete site", c.DeleteSite(pick("site", "site", 3)))
			case 5:
				e := newEndpoint(pick("tenant", "ten", 3))
				e.ID = pick("endpoint", "ep", 3)
				mustOK("create endpoint", c.CreateEndpoint(e))
			case 6:
				_, err := c.UpdateEndpoint(pick("endpoint", "ep", 3), func(e *firehook.Endpoint) error {
					e.Description = fmt.Sprint("step ", step)
					return nil
				})
				mustOK("update endpoint", err)
			case 7:
				mustOK("delete endpoint", c.DeleteEndpoint(pick("endpoint", "ep", 3)))
			case 8, 9, 10: // a message arrives, and is sometimes sent again later
				if len(net.pending) == 0 {
					continue
				}
				j := rapid.IntRange(0, len(net.pending)-1).Draw(rt, "message")
				m := net.pending[j]
				if !rapid.Bool().Draw(rt, "duplicate") {
					net.pending = slices.Delete(net.pending, j, j+1)
				}
				net.deliver(rt, m.to, m.ch)
			case 11: // a snapshot exchange
				to := rapid.IntRange(0, n-1).Draw(rt, "to")
				if to == i {
					continue
				}
				for _, ch := range net.stores[i].Config.Snapshot() {
					net.deliver(rt, to, ch)
				}
			}
		}
		for len(net.pending) > 0 {
			j := rapid.IntRange(0, len(net.pending)-1).Draw(rt, "final message")
			m := net.pending[j]
			net.pending = slices.Delete(net.pending, j, j+1)
			net.deliver(rt, m.to, m.ch)
		}

		snap0 := namespaced(net.stores[0].Config.Snapshot(), ns)
		vis0 := visible(net.stores[0].Config, ns)
		for i, s := range net.stores {
			snap := namespaced(s.Config.Snapshot(), ns)
			if i > 0 {
				if !reflect.DeepEqual(snap, snap0) {
					rt.Fatalf("store %d's snapshot differs from store 0's:\n%v\n%v", i, snap, snap0)
				}
				if vis := visible(s.Config, ns); !reflect.DeepEqual(vis, vis0) {
					rt.Fatalf("store %d answers differently from store 0:\n%+v\n%+v", i, vis, vis0)
				}
			}
			checkIndexRule(rt, i, s.Config, ns, snap)
			for _, ch := range snap { // the model agrees
				if v := net.seen[i][recordKey(ch)]; v != ch.Version {
					rt.Fatalf("store %d holds %v; the model says version %v", i, ch, v)
				}
			}
		}
	})
}
