package identity_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/persistence"
)

// replicaNode is one node's store and suppression lists.
type replicaNode struct {
	dir, name string
	st        *persistence.Store
	sup       *identity.Suppressions
}

// openReplicaNode opens the store in dir as node name, with its lists.
func openReplicaNode(tb testing.TB, dir, name string) *replicaNode {
	tb.Helper()
	cfg := persistence.DefaultConfig(dir)
	cfg.MemTableSize, cfg.BlockCacheSize = 1<<20, 1<<20
	cfg.Log = slog.New(slog.DiscardHandler)
	cfg.NodeName = name
	st, err := persistence.Open(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	sup, err := identity.OpenSuppressions(st.Graph())
	if err != nil {
		_ = st.Close()
		tb.Fatal(err)
	}
	return &replicaNode{dir: dir, name: name, st: st, sup: sup}
}

// reopen closes the node's store and opens it again.
func (n *replicaNode) reopen(tb testing.TB) {
	tb.Helper()
	if err := n.st.Close(); err != nil {
		tb.Fatal(err)
	}
	*n = *openReplicaNode(tb, n.dir, n.name)
}

// replicaNodes opens count nodes in temporary directories, closed when
// the test ends (in their latest incarnation).
func replicaNodes(t *testing.T, count int) []*replicaNode {
	nodes := make([]*replicaNode, count)
	for i := range nodes {
		nodes[i] = openReplicaNode(t, t.TempDir(), fmt.Sprintf("node-%d", i))
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			if err := n.st.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		}
	})
	return nodes
}

type supRecorder struct{ got []persistence.Change }

func (r *supRecorder) hook(ch persistence.Change) { r.got = append(r.got, ch) }

func (r *supRecorder) take() []persistence.Change {
	out := r.got
	r.got = nil
	return out
}

func hemOf(tb testing.TB, email string) string {
	tb.Helper()
	h, err := identity.HashEmail(email)
	if err != nil {
		tb.Fatal(err)
	}
	return h.SHA256
}

func TestSuppressions_ReplicaChangesReachAnotherNode(t *testing.T) {
	nodes := replicaNodes(t, 2)
	a, b := nodes[0].sup, nodes[1].sup
	var recA, recB supRecorder
	a.SetOnChange(recA.hook)
	b.SetOnChange(recB.hook)

	if _, err := a.Add("ten_1", identity.KindEmail, []string{"Ada@Example.com", "bob@example.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Add(identity.GlobalScope, identity.KindCompanyDomain, []string{"Acme.example"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Remove("ten_1", identity.KindEmail, []string{"bob@example.com", "carol@example.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Add("ten_1", identity.KindHEM, []string{"not-hex"}); err == nil {
		t.Fatal("a bad hem was accepted")
	}
	if _, err := a.Add("ten/1", identity.KindCompanyDomain, []string{"acme.example"}); !errors.Is(err, identity.ErrInvalidSuppression) {
		t.Fatalf("a scope with a slash: %v, want ErrInvalidSuppression", err)
	}
	got := recA.take()
	ada, bob, carol := hemOf(t, "ada@example.com"), hemOf(t, "bob@example.com"), hemOf(t, "carol@example.com")
	want := []struct {
		id      string
		deleted bool
	}{{"ten_1/hem/" + ada, false}, {"ten_1/hem/" + bob, false}, {"global/company_domain/acme.example", false},
		{"ten_1/hem/" + bob, true}, {"ten_1/hem/" + carol, true}}
	if len(got) != len(want) {
		t.Fatalf("OnChange got %d changes, want %d: %v", len(got), len(want), got)
	}
	for i, w := range want {
		ch := got[i]
		if ch.Kind != persistence.KindSuppression || ch.ID != w.id || ch.Deleted != w.deleted || ch.Version.Node != "node-0" {
			t.Errorf("change %d = %v, want %s deleted=%v by node-0", i, ch, w.id, w.deleted)
		}
		if ch.Deleted != (ch.Value == nil) {
			t.Errorf("change %d: Deleted %v, Value %s", i, ch.Deleted, ch.Value)
		}
	}
	if !got[1].Version.Less(got[2].Version) || !got[2].Version.Less(got[3].Version) {
		t.Errorf("the versions of successive writes do not increase: %v", got)
	}
	var rec map[string]string
	if err := json.Unmarshal(got[2].Value, &rec); err != nil || rec["scope"] != "global" || rec["kind"] != "company_domain" || rec["value"] != "acme.example" {
		t.Errorf("value of %v: %s (%v)", got[2], got[2].Value, err)
	}

	for _, ch := range got {
		if ok, err := b.Apply(ch); !ok || err != nil {
			t.Fatalf("b.Apply(%v) = %v, %v", ch, ok, err)
		}
	}
	if c := recB.take(); len(c) != 0 {
		t.Fatalf("OnChange was told of applied changes: %v", c)
	}
	for _, scope := range []string{"ten_1", identity.GlobalScope} {
		if la, lb := a.List(scope), b.List(scope); !reflect.DeepEqual(la, lb) {
			t.Errorf("List(%s): a %v, b %v", scope, la, lb)
		}
	}
	if !reflect.DeepEqual(a.Snapshot(), b.Snapshot()) {
		t.Fatalf("snapshots differ:\n%v\n%v", a.Snapshot(), b.Snapshot())
	}
	if ok, _ := b.Suppressed("ten_1", identity.Subject{HEMs: []string{ada}}); !ok {
		t.Error("an applied hem does not suppress")
	}
	if ok, _ := b.Suppressed("ten_2", identity.Subject{CompanyDomain: "acme.example"}); !ok {
		t.Error("an applied global company domain does not suppress")
	}
	// Everything again, as changes and as a snapshot: nothing to do.
	for _, ch := range got {
		if ok, err := b.Apply(ch); ok || err != nil {
			t.Fatalf("b.Apply(%v) a second time = %v, %v; want a no-op", ch, ok, err)
		}
	}
	if n, err := b.ApplyAll(a.Snapshot()); n != 0 || err != nil {
		t.Fatalf("ApplyAll(a's snapshot) = %d, %v; want 0", n, err)
	}
}

func TestSuppressions_ReplicaLastWriterWins(t *testing.T) {
	s := replicaNodes(t, 1)[0].sup
	const id = "ten_1/email_domain/acme.example"
	value := []byte(`{"scope":"ten_1","kind":"email_domain","value":"acme.example"}`)
	v := func(tm int64, node string) persistence.Version { return persistence.Version{Time: tm, Node: node} }
	add := func(ver persistence.Version) persistence.Change {
		return persistence.Change{Kind: persistence.KindSuppression, ID: id, Version: ver, Value: value}
	}
	del := func(ver persistence.Version) persistence.Change {
		return persistence.Change{Kind: persistence.KindSuppression, ID: id, Version: ver, Deleted: true}
	}
	listed := func() bool { return len(s.List("ten_1")) == 1 }
	apply := func(ch persistence.Change, want, wantListed bool) {
		t.Helper()
		got, err := s.Apply(ch)
		if err != nil || got != want {
			t.Fatalf("Apply(%v) = %v, %v; want %v", ch, got, err, want)
		}
		if listed() != wantListed {
			t.Fatalf("after Apply(%v): listed %v, want %v", ch, listed(), wantListed)
		}
	}
	apply(del(v(5, "b")), true, false) // a removal never seen added: a tombstone
	apply(add(v(4, "c")), false, false)
	apply(add(v(10, "b")), true, true)
	apply(del(v(9, "z")), false, true)
	apply(del(v(10, "a")), false, true) // same time, smaller node
	apply(add(v(10, "b")), false, true) // the same change again
	apply(del(v(10, "c")), true, false)
	apply(add(v(10, "c")), false, false) // a tie of add and remove: first come stays

	// In one batch, the newest change of an entry counts, whatever its place.
	n, err := s.ApplyAll([]persistence.Change{add(v(30, "a")), del(v(20, "a")), add(v(25, "a"))})
	if n != 1 || err != nil || !listed() {
		t.Fatalf("ApplyAll = %d, %v, listed %v; want 1, listed", n, err, listed())
	}
	snap := s.Snapshot()
	if len(snap) != 1 || snap[0].Version != v(30, "a") || snap[0].Deleted {
		t.Fatalf("Snapshot = %v", snap)
	}
	// A local write after that is newer.
	var rec supRecorder
	s.SetOnChange(rec.hook)
	if err := s.Remove("ten_1", identity.KindEmailDomain, []string{"acme.example"}); err != nil {
		t.Fatal(err)
	}
	if got := rec.take(); len(got) != 1 || !v(30, "a").Less(got[0].Version) {
		t.Fatalf("local removal after applying version 30: %v", got)
	}
}

func TestSuppressions_ReplicaApplyRefusesWhatIsNotAnEntry(t *testing.T) {
	s := replicaNodes(t, 1)[0].sup
	hem := hemOf(t, "ada@example.com")
	ok := persistence.Change{Kind: persistence.KindSuppression, ID: "ten_1/hem/" + hem, Version: persistence.Version{Time: 1},
		Value: []byte(`{"scope":"ten_1","kind":"hem","value":"` + hem + `"}`)}
	bad := []persistence.Change{
		{Kind: persistence.KindTenant, ID: ok.ID, Version: ok.Version, Value: ok.Value},
		{Kind: persistence.KindSuppression, ID: "ten_1/hem", Version: ok.Version, Deleted: true},
		{Kind: persistence.KindSuppression, ID: "/hem/" + hem, Version: ok.Version, Deleted: true},
		{Kind: persistence.KindSuppression, ID: "ten_1/email/ada@example.com", Version: ok.Version, Deleted: true},
		{Kind: persistence.KindSuppression, ID: "ten_1/hem/" + strings.ToUpper(hem), Version: ok.Version, Deleted: true},
		{Kind: persistence.KindSuppression, ID: "ten_1/company_domain/a/b.example", Version: ok.Version, Deleted: true},
		{Kind: persistence.KindSuppression, ID: ok.ID, Version: ok.Version},
		{Kind: persistence.KindSuppression, ID: ok.ID, Version: ok.Version, Value: []byte(`{"scope":"ten_2","kind":"hem","value":"` + hem + `"}`)},
	}
	for _, ch := range bad {
		if applied, err := s.Apply(ch); applied || !errors.Is(err, identity.ErrInvalidSuppression) {
			t.Errorf("Apply(%v %s) = %v, %v; want ErrInvalidSuppression", ch, ch.Value, applied, err)
		}
		// One bad change refuses the batch.
		if n, err := s.ApplyAll([]persistence.Change{ok, ch}); n != 0 || err == nil {
			t.Errorf("ApplyAll with %v = %d, %v; want an error", ch, n, err)
		}
	}
	if snap := s.Snapshot(); len(snap) != 0 {
		t.Fatalf("refused changes left %v", snap)
	}
	if applied, err := s.Apply(ok); !applied || err != nil {
		t.Fatalf("Apply(%v) = %v, %v", ok, applied, err)
	}
}

// Versions and tombstones are stored: a reopened node refuses what it
// refused before, and entries of older data dirs load with the zero
// Version.
func TestSuppressions_ReplicaStateSurvivesReopen(t *testing.T) {
	n := replicaNodes(t, 1)[0]
	var rec supRecorder
	n.sup.SetOnChange(rec.hook)
	if _, err := n.sup.Add("ten_1", identity.KindCompanyDomain, []string{"a.example", "b.example"}); err != nil {
		t.Fatal(err)
	}
	added := rec.take()
	if err := n.sup.Remove("ten_1", identity.KindCompanyDomain, []string{"a.example"}); err != nil {
		t.Fatal(err)
	}
	rec.take()
	// An entry as older versions stored it: no version.
	if err := n.st.Graph().WriteSuppressions([]persistence.SuppressionWrite{{Scope: "ten_1", Kind: "email_domain", Value: "old.example"}}); err != nil {
		t.Fatal(err)
	}
	n.reopen(t)
	before := n.sup.Snapshot()
	ids := []string{}
	for _, ch := range before {
		ids = append(ids, fmt.Sprintf("%s deleted=%v zero=%v", ch.ID, ch.Deleted, ch.Version.IsZero()))
	}
	wantIDs := []string{"ten_1/company_domain/a.example deleted=true zero=false", "ten_1/company_domain/b.example deleted=false zero=false",
		"ten_1/email_domain/old.example deleted=false zero=true"}
	if !reflect.DeepEqual(ids, wantIDs) {
		t.Fatalf("after reopening:\n got %v\nwant %v", ids, wantIDs)
	}
	for _, ch := range added {
		if ok, err := n.sup.Apply(ch); ok || err != nil {
			t.Errorf("Apply(%v) after reopening = %v, %v; want refused", ch, ok, err)
		}
	}
	if l := n.sup.List("ten_1"); len(l) != 2 {
		t.Fatalf("List after reopening: %v", l)
	}
	// Any stamped removal wins over an entry without version.
	del := persistence.Change{Kind: persistence.KindSuppression, ID: "ten_1/email_domain/old.example", Version: persistence.Version{Time: 1, Node: "x"}, Deleted: true}
	if ok, err := n.sup.Apply(del); !ok || err != nil {
		t.Fatalf("Apply(%v) = %v, %v", del, ok, err)
	}
	n.reopen(t)
	if l := n.sup.List("ten_1"); len(l) != 1 || l[0].Value != "b.example" {
		t.Fatalf("List after the removal and reopening: %v", l)
	}
	// The clock has seen the stored versions: a local write is newer.
	n.sup.SetOnChange(rec.hook)
	if _, err := n.sup.Add("ten_1", identity.KindCompanyDomain, []string{"a.example"}); err != nil {
		t.Fatal(err)
	}
	if got := rec.take(); len(got) != 1 || !before[0].Version.Less(got[0].Version) {
		t.Fatalf("re-adding after reopening: %v, not newer than the tombstone %v", got, before[0])
	}
}

// supNet is the test's cluster for the suppression lists: every local
// change is sent to every other node and delivered when the test says, in
// any order, some twice, some in batches and snapshots.
type supNet struct {
	nodes   []*replicaNode
	pending []supMessage
	seen    []map[string]persistence.Version // per node: version of each entry or tombstone it holds
}

type supMessage struct {
	to int
	ch persistence.Change
}

func (n *supNet) sent(t *rapid.T, from int, ch persistence.Change) {
	if cur, ok := n.seen[from][ch.ID]; ok && !cur.Less(ch.Version) {
		t.Fatalf("node %d wrote %s with version %v, not newer than the %v it held", from, ch.ID, ch.Version, cur)
	}
	n.seen[from][ch.ID] = ch.Version
	for to := range n.nodes {
		if to != from {
			n.pending = append(n.pending, supMessage{to, ch})
		}
	}
}

// deliver applies changes to node to in one ApplyAll and checks its count
// with the model.
func (n *supNet) deliver(t *rapid.T, to int, changes []persistence.Change) {
	newest := map[string]persistence.Version{}
	for _, ch := range changes {
		if cur, ok := n.seen[to][ch.ID]; ok && !cur.Less(ch.Version) {
			continue
		}
		if v, ok := newest[ch.ID]; !ok || v.Less(ch.Version) {
			newest[ch.ID] = ch.Version
		}
	}
	sent := len(n.pending)
	got, err := n.nodes[to].sup.ApplyAll(changes)
	if err != nil {
		t.Fatalf("node %d: ApplyAll: %v", to, err)
	}
	if got != len(newest) {
		t.Fatalf("node %d: ApplyAll(%v) = %d, want %d", to, changes, got, len(newest))
	}
	if len(n.pending) != sent {
		t.Fatalf("node %d: ApplyAll called OnChange", to)
	}
	for id, v := range newest {
		n.seen[to][id] = v
	}
}

// TestSuppressions_ReplicasConverge: nodes that add and remove entries
// concurrently and receive each other's changes in any order, some twice,
// some in batches or snapshots, end with the same entries, versions and
// tombstones, and suppress the same subjects.
func TestSuppressions_ReplicasConverge(t *testing.T) {
	const maxNodes = 4
	all := replicaNodes(t, maxNodes)
	scopes := []string{identity.GlobalScope, "ten_a", "ten_b"}
	var check int
	rapid.Check(t, func(rt *rapid.T) {
		check++
		count := rapid.IntRange(2, maxNodes).Draw(rt, "nodes")
		net := &supNet{nodes: all[:count], seen: make([]map[string]persistence.Version, count)}
		for i, n := range net.nodes {
			net.seen[i] = map[string]persistence.Version{}
			for _, ch := range n.sup.Snapshot() {
				net.seen[i][ch.ID] = ch.Version
			}
			n.sup.SetOnChange(func(ch persistence.Change) { net.sent(rt, i, ch) })
		}
		defer func() {
			for _, n := range net.nodes {
				n.sup.SetOnChange(nil)
			}
		}()
		// This check's values, which no other check uses.
		var emails, hems, domains []string
		for i := range 3 {
			emails = append(emails, fmt.Sprintf("u%d@c%d.example", i, check))
			hems = append(hems, hemOf(t, emails[i]))
			domains = append(domains, fmt.Sprintf("d%d.c%d.example", i, check))
		}
		ours := func(id string) bool {
			for _, v := range append(hems, domains...) {
				if strings.HasSuffix(id, "/"+v) {
					return true
				}
			}
			return false
		}
		values := func(pool []string) []string { // a non-empty subset
			mask := rapid.IntRange(1, 1<<len(pool)-1).Draw(rt, "values")
			var out []string
			for j, v := range pool {
				if mask&(1<<j) != 0 {
					out = append(out, v)
				}
			}
			return out
		}
		// deliver sends one node a pending message and, in the same batch,
		// up to more others of its own; duplicates leave a message pending
		// to arrive again.
		deliver := func(more int, duplicates bool) {
			j := rapid.IntRange(0, len(net.pending)-1).Draw(rt, "message")
			to := net.pending[j].to
			var out []persistence.Change
			take := func(j int) bool {
				out = append(out, net.pending[j].ch)
				if duplicates && rapid.Bool().Draw(rt, "duplicate") {
					return false
				}
				net.pending = slices.Delete(net.pending, j, j+1)
				return true
			}
			take(j)
			for k := 0; k < len(net.pending) && len(out) <= more; {
				if net.pending[k].to != to || !rapid.Bool().Draw(rt, "with it") || !take(k) {
					k++
				}
			}
			net.deliver(rt, to, out)
		}
		restarted := false

		steps := rapid.IntRange(1, 30).Draw(rt, "steps")
		for range steps {
			i := rapid.IntRange(0, count-1).Draw(rt, "node")
			s := net.nodes[i].sup
			scope := rapid.SampledFrom(scopes).Draw(rt, "scope")
			switch op := rapid.IntRange(0, 19).Draw(rt, "op"); op {
			case 0, 1, 2, 3, 4, 5: // add, remove
				var err error
				kind := rapid.SampledFrom([]identity.Kind{identity.KindEmail, identity.KindHEM, identity.KindEmailDomain, identity.KindCompanyDomain}).Draw(rt, "kind")
				pool := domains
				switch kind {
				case identity.KindEmail:
					pool = emails
				case identity.KindHEM:
					pool = hems
				}
				if op%2 == 0 {
					_, err = s.Add(scope, kind, values(pool))
				} else {
					err = s.Remove(scope, kind, values(pool))
				}
				if err != nil {
					rt.Fatal(err)
				}
			case 6, 7, 8, 9, 10, 11, 12, 13: // messages arrive, one or a batch
				if len(net.pending) > 0 {
					deliver(rapid.IntRange(0, 3).Draw(rt, "batch"), true)
				}
			case 14, 15: // a snapshot exchange
				to := rapid.IntRange(0, count-1).Draw(rt, "to")
				if to != i {
					net.deliver(rt, to, s.Snapshot())
				}
			case 16: // a restart (once: it is slow)
				if restarted {
					continue
				}
				restarted = true
				before := s.Snapshot()
				net.nodes[i].reopen(t)
				s = net.nodes[i].sup
				s.SetOnChange(func(ch persistence.Change) { net.sent(rt, i, ch) })
				if after := s.Snapshot(); !reflect.DeepEqual(after, before) {
					rt.Fatalf("node %d after a restart:\n%v\nbefore:\n%v", i, after, before)
				}
			default: // a suppression check on the way
				s.Suppressed(scope, identity.Subject{HEMs: hems})
			}
		}
		for len(net.pending) > 0 {
			deliver(rapid.IntRange(0, 3).Draw(rt, "batch"), false)
		}

		type view struct {
			Snapshot   []persistence.Change
			Lists      map[string][]identity.SuppressionEntry
			Suppressed []string
		}
		see := func(s *identity.Suppressions) view {
			var v view
			for _, ch := range s.Snapshot() {
				if ours(ch.ID) {
					v.Snapshot = append(v.Snapshot, ch)
				}
			}
			v.Lists = map[string][]identity.SuppressionEntry{}
			for _, scope := range scopes {
				for _, e := range s.List(scope) {
					if ours("/" + e.Value) {
						v.Lists[scope] = append(v.Lists[scope], e)
					}
				}
			}
			for _, tenant := range scopes[1:] {
				for j := range 3 {
					ok, kind := s.Suppressed(tenant, identity.Subject{HEMs: []string{hems[j]}, EmailDomain: domains[j], CompanyDomain: domains[(j+1)%3]})
					v.Suppressed = append(v.Suppressed, fmt.Sprint(tenant, j, ok, kind))
				}
			}
			return v
		}
		v0 := see(net.nodes[0].sup)
		for i, n := range net.nodes {
			v := see(n.sup)
			if i > 0 && !reflect.DeepEqual(v, v0) {
				rt.Fatalf("node %d differs from node 0:\n%+v\n%+v", i, v, v0)
			}
			for _, ch := range v.Snapshot {
				if net.seen[i][ch.ID] != ch.Version {
					rt.Fatalf("node %d holds %v; the model says version %v", i, ch, net.seen[i][ch.ID])
				}
			}
			listed, live := map[string]bool{}, map[string]bool{}
			for scope, l := range v.Lists {
				for _, e := range l {
					listed[scope+"/"+string(e.Kind)+"/"+e.Value] = true
				}
			}
			for _, ch := range v.Snapshot {
				live[ch.ID] = !ch.Deleted
				if !ch.Deleted != listed[ch.ID] {
					rt.Fatalf("node %d: %v, but listed: %v", i, ch, listed[ch.ID])
				}
			}
			for id := range listed {
				if !live[id] {
					rt.Fatalf("node %d lists %s, which its snapshot does not hold", i, id)
				}
			}
		}
	})
}
