package identity_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/internal/testkit"
	"github.com/firehook/firehook/persistence"
)

func openGraphAt(tb testing.TB, st *persistence.Store, snap string) *identity.Graph {
	tb.Helper()
	g, err := identity.OpenGraph(identity.GraphConfig{Store: st.Graph(), Log: testkit.Logger(tb, 0), SnapshotPath: snap})
	if err != nil {
		tb.Fatal(err)
	}
	return g
}

func sameAnswers(t *testing.T, a, b *identity.Graph, ids []identity.Identifier) {
	t.Helper()
	if a.Stats() != b.Stats() {
		t.Fatalf("stats differ: %+v vs %+v", a.Stats(), b.Stats())
	}
	for _, id := range ids {
		ra, oka, _ := a.Lookup(id)
		rb, okb, _ := b.Lookup(id)
		if oka != okb || (oka && ra.PersonID != rb.PersonID) {
			t.Fatalf("Lookup(%s) differs: %v %v", id.Key(), oka, okb)
		}
	}
}

func TestSnapshot_ACleanRestartLoadsTheSameIndex(t *testing.T) {
	st := testkit.OpenStore(t, t.TempDir())
	snap := filepath.Join(t.TempDir(), "graph.snap")
	g := openGraphAt(t, st, snap)
	importLines(t, g, adaLine, bobLine, acmeIPs)
	if err := g.SaveSnapshot(); err != nil {
		t.Fatal(err)
	}
	g2 := openGraphAt(t, st, snap)
	if !g2.FromSnapshot() {
		t.Fatal("the index was rebuilt although a matching snapshot exists")
	}
	sameAnswers(t, g, g2, universe())
	sameAnswers(t, g, g2, []identity.Identifier{ident(t, identity.TypeDeviceID, "dev-ada"), ident(t, identity.TypeIP, "203.0.114.7"), ident(t, identity.TypeIP, "8.8.4.4")})
	// The restored graph takes writes like any other.
	importLines(t, g2, `{"person_id":"p_new","identifiers":[{"type":"cookie","value":"ck-new"}],"person":{"first_name":"N"}}`)
	if rec, ok, _ := g2.Lookup(ident(t, identity.TypeCookie, "ck-new")); !ok || rec.PersonID != "p_new" {
		t.Fatal("a write after loading a snapshot is not visible")
	}
}

func TestSnapshot_IsNotUsedAfterAChange(t *testing.T) {
	st := testkit.OpenStore(t, t.TempDir())
	snap := filepath.Join(t.TempDir(), "graph.snap")
	g := openGraphAt(t, st, snap)
	importLines(t, g, adaLine)
	if err := g.SaveSnapshot(); err != nil {
		t.Fatal(err)
	}
	// A later change, then a crash (no new snapshot).
	g2 := openGraphAt(t, st, snap)
	importLines(t, g2, bobLine)
	g3 := openGraphAt(t, st, snap)
	if g3.FromSnapshot() {
		t.Fatal("a stale snapshot was used")
	}
	if _, ok, _ := g3.Lookup(ident(t, identity.TypeDeviceID, "dev-bob")); !ok {
		t.Fatal("the write after the snapshot is missing")
	}
	for _, change := range []func(*identity.Graph) error{
		func(g *identity.Graph) error { _, err := g.Erase("p_ada", nil); return err },
		func(g *identity.Graph) error { return g.Learn("ten_1", "vid-1", "p_bob") },
	} {
		if err := g3.SaveSnapshot(); err != nil {
			t.Fatal(err)
		}
		g4 := openGraphAt(t, st, snap)
		if err := change(g4); err != nil {
			t.Fatal(err)
		}
		if openGraphAt(t, st, snap).FromSnapshot() {
			t.Fatal("a snapshot was used after an erase or a learned link")
		}
		g3 = g4
	}
}

func TestSnapshot_CorruptOrTornFilesAreRebuilt(t *testing.T) {
	st := testkit.OpenStore(t, t.TempDir())
	snap := filepath.Join(t.TempDir(), "graph.snap")
	g := openGraphAt(t, st, snap)
	importLines(t, g, adaLine, bobLine, acmeIPs)
	if err := g.SaveSnapshot(); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string][]byte{
		"flipped byte": func() []byte { b := append([]byte(nil), good...); b[len(b)/2] ^= 0x40; return b }(),
		"torn":         good[:len(good)/3],
		"empty":        {},
		"extra byte":   append(append([]byte(nil), good...), 0),
	} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(snap, bad, 0o600); err != nil {
				t.Fatal(err)
			}
			g2 := openGraphAt(t, st, snap)
			if g2.FromSnapshot() {
				t.Fatal("a damaged snapshot was used")
			}
			sameAnswers(t, g, g2, []identity.Identifier{ident(t, identity.TypeDeviceID, "dev-ada"), ident(t, identity.TypeCookie, "ck-bob")})
		})
	}
}

// Every single-byte corruption of a snapshot is caught (checksum, counts
// bounded by the file size): the graph is rebuilt, never wrong, never a
// huge allocation.
func TestSnapshot_EveryFlippedByteIsCaught(t *testing.T) {
	st := testkit.OpenStore(t, t.TempDir())
	snap := filepath.Join(t.TempDir(), "graph.snap")
	g := openGraphAt(t, st, snap)
	importLines(t, g, adaLine, acmeIPs)
	if err := g.SaveSnapshot(); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(snap)
	step := max(1, len(good)/400)
	for i := 0; i < len(good); i += step {
		bad := append([]byte(nil), good...)
		bad[i] ^= 0xff
		if err := os.WriteFile(snap, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		if openGraphAt(t, st, snap).FromSnapshot() {
			t.Fatalf("a snapshot with byte %d flipped was used", i)
		}
	}
}
