package cluster

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"
)

// startMember starts a member on a free loopback port, joining join.
func startMember(t testing.TB, name, cluster string, join ...string) *Membership {
	t.Helper()
	m, err := Join(MembershipConfig{
		Name: name, GossipListen: "127.0.0.1:0", Join: join, Cluster: cluster,
		Meta: Meta{Version: "test", Actor: "127.0.0.1:1", Admin: "127.0.0.1:2"},
		Log:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatalf("join %s: %v", name, err)
	}
	t.Cleanup(m.Shutdown)
	return m
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func states(m *Membership) string {
	s := ""
	for _, mem := range m.Members() {
		s += fmt.Sprintf("%s=%s ", mem.Name, mem.State)
	}
	return s
}

func TestMembership_JoinSeesEveryMemberAndTheSamePlacement(t *testing.T) {
	a := startMember(t, "a", "")
	b := startMember(t, "b", "", a.GossipAddr())
	c := startMember(t, "c", "", b.GossipAddr())
	for _, m := range []*Membership{a, b, c} {
		waitFor(t, 3*time.Second, m.Name()+" sees three members", func() bool {
			return len(m.Placement().Members()) == 3
		})
	}
	for shard := range Shards {
		if fmt.Sprint(a.Placement().ShardOwners(shard)) != fmt.Sprint(c.Placement().ShardOwners(shard)) {
			t.Fatalf("shard %d: a says %v, c says %v", shard, a.Placement().ShardOwners(shard), c.Placement().ShardOwners(shard))
		}
	}
	mem, ok := c.Member("a")
	if !ok || mem.Meta.Admin != "127.0.0.1:2" || mem.Meta.Protocol != Protocol || mem.State != StateAlive {
		t.Fatalf("c's view of a: %+v, %v", mem, ok)
	}
}

func TestMembership_CrashIsDetectedWithinTwoSeconds(t *testing.T) {
	a := startMember(t, "a", "")
	b := startMember(t, "b", "", a.GossipAddr())
	c := startMember(t, "c", "", a.GossipAddr())
	waitFor(t, 3*time.Second, "three members", func() bool { return len(a.Placement().Members()) == 3 })
	changed := a.Changed()
	crashed := time.Now()
	c.Shutdown() // no leave message: as a crash looks to the others
	waitFor(t, 2*time.Second, "c declared dead on a and b", func() bool {
		return len(a.Placement().Members()) == 2 && len(b.Placement().Members()) == 2
	})
	t.Logf("detected after %s", time.Since(crashed).Round(10*time.Millisecond))
	select {
	case <-changed:
	default:
		t.Fatal("Changed was not closed")
	}
	if mem := a.Members(); len(mem) != 3 || mem[2].State != StateDead {
		t.Fatalf("a's members: %s", states(a))
	}
}

func TestMembership_LeaveIsSeenAsLeft(t *testing.T) {
	a := startMember(t, "a", "")
	b := startMember(t, "b", "", a.GossipAddr())
	waitFor(t, 3*time.Second, "two members", func() bool { return len(a.Placement().Members()) == 2 })
	if err := b.Leave(time.Second); err != nil {
		t.Fatal(err)
	}
	b.Shutdown()
	waitFor(t, 2*time.Second, "b gone from a's placement", func() bool { return len(a.Placement().Members()) == 1 })
}

func TestMembership_ForeignClusterIsRefused(t *testing.T) {
	a := startMember(t, "a", "blue")
	_, err := Join(MembershipConfig{Name: "x", GossipListen: "127.0.0.1:0", Join: []string{a.GossipAddr()},
		Cluster: "green", Meta: Meta{Actor: "127.0.0.1:1"}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil {
		t.Fatal("a node of cluster green joined cluster blue")
	}
	time.Sleep(300 * time.Millisecond) // a gossip round: nothing may arrive
	if n := len(a.Placement().Members()); n != 1 {
		t.Fatalf("blue has %d members: %s", n, states(a))
	}
}

func TestMembership_RefusesOversizedMetadata(t *testing.T) {
	big := make([]byte, 600)
	for i := range big {
		big[i] = 'x'
	}
	_, err := Join(MembershipConfig{Name: "x", GossipListen: "127.0.0.1:0", Meta: Meta{Actor: "a", Version: string(big)}})
	if err == nil {
		t.Fatal("600-byte metadata accepted")
	}
}

// A member that crashes and starts again on the same gossip address with
// new metadata (its actor transport got a new port) is seen alive again,
// with the new metadata.
func TestMembership_RestartedMemberIsSeenWithItsNewMetadata(t *testing.T) {
	a := startMember(t, "a", "")
	b := startMember(t, "b", "", a.GossipAddr())
	addr := b.GossipAddr()
	waitFor(t, 3*time.Second, "two members", func() bool { return len(a.Placement().Members()) == 2 })
	for life := range 3 {
		b.Shutdown()
		// Detection's own bound is TestMembership_CrashIsDetectedWithinTwoSeconds;
		// here only the new life matters, so a loaded machine gets slack.
		waitFor(t, 6*time.Second, "b dead", func() bool { return len(a.Placement().Members()) == 1 })
		actor := fmt.Sprintf("127.0.0.1:%d", 9000+life)
		var err error
		b, err = Join(MembershipConfig{Name: "b", GossipListen: addr, Join: []string{a.GossipAddr()},
			Meta: Meta{Version: "test", Actor: actor}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.Shutdown)
		waitFor(t, 5*time.Second, "b alive again with its new actor address "+actor, func() bool {
			m, ok := a.Member("b")
			return ok && m.Meta.Actor == actor
		})
	}
}

// With a cluster key gossip is encrypted: a node with the same key joins,
// a node with another key or none is refused.
func TestMembership_ClusterKeyAdmitsOnlyItsHolders(t *testing.T) {
	key := []byte("correct horse battery staple 1")
	start := func(name string, key []byte, join ...string) (*Membership, error) {
		m, err := Join(MembershipConfig{Name: name, GossipListen: "127.0.0.1:0", Join: join, Cluster: "blue", Key: key,
			Meta: Meta{Actor: "127.0.0.1:1"}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err == nil {
			t.Cleanup(m.Shutdown)
		}
		return m, err
	}
	a, err := start("a", key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := start("b", key, a.GossipAddr()); err != nil {
		t.Fatalf("a node with the key: %v", err)
	}
	for _, other := range [][]byte{nil, []byte("another cluster key of 32 bytes")} {
		if _, err := start("x", other, a.GossipAddr()); err == nil {
			t.Errorf("a node with key %q joined", other)
		}
	}
	waitFor(t, 2*time.Second, "a sees b", func() bool { return len(a.Placement().Members()) == 2 })
	if n := len(a.Placement().Members()); n != 2 {
		t.Fatalf("a has %d members; want a and b: %s", n, states(a))
	}
	if _, err := start("y", []byte("short")); !errors.Is(err, ErrClusterKey) {
		t.Errorf("a 5-byte key: %v; want ErrClusterKey", err)
	}
}
