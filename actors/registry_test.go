package actors

import (
	"log/slog"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

func TestSystem_Actors(t *testing.T) {
	s, _ := newTestSystem(t, Config{}, slog.LevelDebug)
	root := s.ActorSystem().Root
	var st probeStats
	before := time.Now()
	pid := mustSpawn(t, s, "test", "ten_1:vis_a", st.producer(s, "test", "ten_1:vis_a"))
	mustSpawn(t, s, "other", "ep_1", (&probeStats{}).producer(s, "other", "ep_1"))

	t.Run("kind, id and state", func(t *testing.T) {
		eventually(t, "running", func() bool { return info(t, s, "ten_1:vis_a").State == StateRunning })
		ai := info(t, s, "ten_1:vis_a")
		if ai.Kind != "test" || ai.ID != "ten_1:vis_a" || ai.Restarts != 0 || ai.InFlight != 0 {
			t.Fatalf("info = %+v", ai)
		}
		if ai.LastActivity.Before(before.Add(-time.Second)) || ai.LastActivity.After(time.Now()) {
			t.Fatalf("LastActivity %v not around spawn time %v", ai.LastActivity, before)
		}
	})

	t.Run("filter by kind", func(t *testing.T) {
		if got := s.Actors("test"); len(got) != 1 || got[0].ID != "ten_1:vis_a" {
			t.Fatalf("Actors(test) = %+v", got)
		}
		all := s.Actors("")
		if len(all) != 2 || all[0].Kind != "other" || all[1].Kind != "test" {
			t.Fatalf("Actors(\"\") = %+v, want other then test", all)
		}
		if got := s.Actors("none"); len(got) != 0 {
			t.Fatalf("Actors(none) = %+v", got)
		}
		if _, ok := s.Actor("nobody"); ok {
			t.Fatal("Actor(nobody) found")
		}
	})

	t.Run("mailbox depth drains to 0", func(t *testing.T) {
		h := &hold{release: make(chan struct{})}
		root.Send(pid, h)
		for range 10 {
			root.Send(pid, tick{})
		}
		// The held message counts until it is handled: 1 + 10.
		eventually(t, "depth 11", func() bool { return info(t, s, "ten_1:vis_a").MailboxDepth == 11 })
		mid := info(t, s, "ten_1:vis_a").LastActivity
		close(h.release)
		eventually(t, "depth 0", func() bool { return info(t, s, "ten_1:vis_a").MailboxDepth == 0 })
		if n := st.ticks.Load(); n != 10 {
			t.Fatalf("ticks = %d, want 10", n)
		}
		if la := info(t, s, "ten_1:vis_a").LastActivity; !la.After(mid) {
			t.Fatalf("LastActivity %v not after %v", la, mid)
		}
	})
}

func TestSystem_Actors_reporter(t *testing.T) {
	s, _ := newTestSystem(t, Config{}, slog.LevelDebug)
	var st probeStats
	mustSpawn(t, s, "endpoint", "ep_r", func() actor.Actor {
		return &reportingProbe{probe{stats: &st}}
	})
	eventually(t, "running", func() bool { return info(t, s, "ep_r").State == StateRunning })
	st.inFlight.Store(3)
	open := "circuit_open"
	st.userState.Store(&open)
	ai := info(t, s, "ep_r")
	if ai.InFlight != 3 || ai.State != "circuit_open" {
		t.Fatalf("info = %+v, want in-flight 3, state circuit_open", ai)
	}
}
