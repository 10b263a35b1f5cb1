package identity_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/internal/testkit"
	"github.com/firehook/firehook/persistence"
)

// openStoreWithLinkTTL opens a store in dir whose learned links expire
// after ttl.
func openStoreWithLinkTTL(t *testing.T, dir string, ttl time.Duration) *persistence.Store {
	t.Helper()
	cfg := persistence.DefaultConfig(dir)
	cfg.MemTableSize, cfg.BlockCacheSize = 1<<20, 1<<20
	cfg.LinkRetention = ttl
	st, err := persistence.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// A learned link is forgotten LinkRetention after it was learned (badger
// expires to the second: between 1 and 2 s here): a lookup finds it until
// then and not once ExpireLinks ran; a link learned later keeps its own,
// later expiry; a start from the records does not find it; the visitor's
// next strong match learns it again.
func TestGraph_LearnedLinksExpire(t *testing.T) {
	dir := t.TempDir()
	st := openStoreWithLinkTTL(t, dir, 2*time.Second)
	g, _ := openGraph(t, st)
	ada := worldRecord("p_ada", []identity.Identifier{{Type: identity.TypeCookie, Value: "ck-ada"}}, false)
	bob := worldRecord("p_bob", []identity.Identifier{{Type: identity.TypeCookie, Value: "ck-bob"}}, false)
	if err := g.Upsert([]identity.Record{ada, bob}); err != nil {
		t.Fatal(err)
	}
	link, later := identity.LinkIdentifier("ten_1", "v_1"), identity.LinkIdentifier("ten_1", "v_2")
	if err := g.LearnRecord("ten_1", "v_1", &ada); err != nil {
		t.Fatal(err)
	}
	if got, _ := answerOf(g, link); got.person != "p_ada" {
		t.Fatalf("the fresh link answers %v; want p_ada", got)
	}
	if n, err := g.ExpireLinks(time.Now()); err != nil || n != 0 {
		t.Fatalf("ExpireLinks before the expiry dropped %d (%v)", n, err)
	}
	time.Sleep(1100 * time.Millisecond) // v_2 is learned a second later: it expires at least a second later
	if err := g.LearnRecord("ten_1", "v_2", &bob); err != nil {
		t.Fatal(err)
	}
	learnedLater := time.Now()

	testkit.Eventually(t, 5*time.Second, func() bool {
		_, err := g.ExpireLinks(time.Now())
		got, _ := answerOf(g, link)
		return err == nil && got.person == ""
	}, "the link expires")
	if time.Since(learnedLater) < 900*time.Millisecond { // not starved past the later link's expiry
		if got, _ := answerOf(g, later); got.person != "p_bob" {
			t.Fatalf("the later link answers %v; want p_bob until its own expiry", got)
		}
		if s := g.Stats(); s.LearnedLinks != 1 {
			t.Errorf("%d learned links counted; want 1", s.LearnedLinks)
		}
	}

	g.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = openStoreWithLinkTTL(t, dir, 2*time.Second)
	defer st.Close()
	g2, _ := openGraph(t, st)
	if got, _ := answerOf(g2, link); got.person != "" {
		t.Fatalf("after a restart the expired link answers %v", got)
	}
	if err := g2.LearnRecord("ten_1", "v_1", &ada); err != nil {
		t.Fatal(err)
	}
	if got, _ := answerOf(g2, link); got.person != "p_ada" {
		t.Fatalf("learned again, the link answers %v; want p_ada", got)
	}
}

// An index snapshot saved while a link lived holds it; when the link
// expired while the node was down, the index loaded from the snapshot
// answers it until ExpireLinks runs (the node runs it as it starts).
func TestGraph_LinkExpiredWhileDownIsDroppedFromASnapshotIndex(t *testing.T) {
	dir, snap := t.TempDir(), filepath.Join(t.TempDir(), "index.snap")
	st := openStoreWithLinkTTL(t, dir, 2*time.Second)
	g := openGraphAt(t, st, snap)
	ada := worldRecord("p_ada", []identity.Identifier{{Type: identity.TypeCookie, Value: "ck-ada"}}, false)
	if err := g.Upsert([]identity.Record{ada}); err != nil {
		t.Fatal(err)
	}
	if err := g.LearnRecord("ten_1", "v_1", &ada); err != nil {
		t.Fatal(err)
	}
	if err := g.SaveSnapshot(); err != nil {
		t.Fatal(err)
	}
	g.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2100 * time.Millisecond) // down past the expiry

	st = openStoreWithLinkTTL(t, dir, 2*time.Second)
	defer st.Close()
	g2 := openGraphAt(t, st, snap)
	defer g2.Close()
	link := identity.LinkIdentifier("ten_1", "v_1")
	if got, _ := answerOf(g2, link); got.person != "p_ada" {
		t.Fatalf("the index loaded from the snapshot answers %v; want p_ada (the link it held)", got)
	}
	if n, err := g2.ExpireLinks(time.Now()); err != nil || n != 1 {
		t.Fatalf("ExpireLinks after the start dropped %d (%v); want 1", n, err)
	}
	if got, _ := answerOf(g2, link); got.person != "" {
		t.Fatalf("after ExpireLinks the link answers %v; want no hit", got)
	}
}
