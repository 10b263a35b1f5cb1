package actors

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

func TestSystem_Spawn(t *testing.T) {
	s, _ := newTestSystem(t, Config{}, slog.LevelDebug)

	t.Run("get-or-spawn returns the live PID", func(t *testing.T) {
		var st probeStats
		p1 := mustSpawn(t, s, "test", "a", st.producer(s, "test", "a"))
		p2 := mustSpawn(t, s, "test", "a", st.producer(s, "test", "a"))
		if !p1.Equal(p2) {
			t.Fatalf("second Spawn = %v, want %v", p2, p1)
		}
		if p1.Id != "firehook/test/a" {
			t.Fatalf("path = %q", p1.Id)
		}
		if n := st.produced.Load(); n != 1 {
			t.Fatalf("producer called %d times, want 1", n)
		}
	})

	t.Run("concurrent callers get one actor", func(t *testing.T) {
		var st probeStats
		pids := make([]*actor.PID, 16)
		var wg sync.WaitGroup
		for i := range pids {
			wg.Go(func() {
				pid, err := s.Spawn("test", "b", st.producer(s, "test", "b"))
				if err != nil {
					t.Errorf("Spawn: %v", err)
				}
				pids[i] = pid
			})
		}
		wg.Wait()
		for _, p := range pids {
			if p == nil || !p.Equal(pids[0]) {
				t.Fatalf("PIDs differ: %v", pids)
			}
		}
		if n := st.produced.Load(); n != 1 {
			t.Fatalf("producer called %d times, want 1", n)
		}
	})

	t.Run("ids are unique across kinds", func(t *testing.T) {
		_, err := s.Spawn("other", "a", (&probeStats{}).producer(s, "other", "a"))
		if !errors.Is(err, ErrIDInUse) {
			t.Fatalf("err = %v, want ErrIDInUse", err)
		}
	})

	t.Run("invalid names", func(t *testing.T) {
		for _, kv := range [][2]string{{"", "x"}, {"k", ""}, {"a/b", "x"}} {
			if _, err := s.Spawn(kv[0], kv[1], (&probeStats{}).producer(s, kv[0], kv[1])); !errors.Is(err, ErrInvalidName) {
				t.Errorf("Spawn(%q, %q) err = %v, want ErrInvalidName", kv[0], kv[1], err)
			}
		}
	})
}

// A panic restarts the actor alone: the process lives, the messages queued
// behind the panicking one are handled by the new instance, the panicking
// message itself is not redelivered (protoactor drops it), and the
// instance's fields start afresh.
func TestSystem_restart(t *testing.T) {
	s, logs := newTestSystem(t, Config{}, slog.LevelInfo)
	root := s.ActorSystem().Root
	var st probeStats
	pid := mustSpawn(t, s, "endpoint", "ep_p", st.producer(s, "endpoint", "ep_p"))
	var sibling probeStats
	sib := mustSpawn(t, s, "endpoint", "ep_q", sibling.producer(s, "endpoint", "ep_q"))

	root.Send(pid, tick{})
	h := &hold{release: make(chan struct{})}
	root.Send(pid, h)
	root.Send(pid, boom("kaboom"))
	for range 5 {
		root.Send(pid, tick{})
	}
	close(h.release)

	eventually(t, "restart counted", func() bool { return info(t, s, "ep_p").Restarts == 1 })
	eventually(t, "queued ticks handled", func() bool { return st.ticks.Load() == 6 })
	eventually(t, "depth 0, running", func() bool {
		ai := info(t, s, "ep_p")
		return ai.MailboxDepth == 0 && ai.State == StateRunning
	})
	if n := st.produced.Load(); n != 2 {
		t.Fatalf("producer called %d times, want 2 (spawn, restart)", n)
	}
	// 5 ticks since the restart: the first tick's count died with the old
	// instance.
	if n := st.lastSeen.Load(); n != 5 {
		t.Fatalf("new instance saw %d ticks, want 5", n)
	}

	root.Send(pid, tick{})
	eventually(t, "later message handled", func() bool { return st.ticks.Load() == 7 })

	// The sibling was not touched.
	root.Send(sib, tick{})
	eventually(t, "sibling handles", func() bool { return sibling.ticks.Load() == 1 })
	if ai := info(t, s, "ep_q"); ai.Restarts != 0 || sibling.produced.Load() != 1 {
		t.Fatalf("sibling restarted: %+v", ai)
	}

	eventually(t, "panic logged at Warn", func() bool {
		return strings.Contains(logs.String(), "level=WARN") && strings.Contains(logs.String(), "reason=kaboom")
	})
	line := lineWith(logs.String(), "reason=kaboom")
	for _, want := range []string{"level=WARN", "actor=firehook/endpoint/ep_p", "kind=endpoint", "id=ep_p", "component=actors"} {
		if !strings.Contains(line, want) {
			t.Errorf("panic log %q lacks %q", line, want)
		}
	}
}

func lineWith(s, sub string) string {
	for l := range strings.Lines(s) {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}

// More than MaxRestarts failures within the window stop the actor; the
// next Spawn starts a fresh one.
func TestSystem_restartBudget(t *testing.T) {
	s, logs := newTestSystem(t, Config{MaxRestarts: 2}, slog.LevelInfo)
	root := s.ActorSystem().Root
	var st probeStats
	pid := mustSpawn(t, s, "test", "flaky", st.producer(s, "test", "flaky"))
	for i := range 3 {
		root.Send(pid, boom(fmt.Sprint("boom", i)))
	}
	eventually(t, "stopped and removed", func() bool { _, ok := s.Actor("flaky"); return !ok })
	if !strings.Contains(logs.String(), "too many restarts") {
		t.Fatalf("no error log for the stop:\n%s", logs)
	}
	mustSpawn(t, s, "test", "flaky", st.producer(s, "test", "flaky"))
	if ai := info(t, s, "flaky"); ai.Restarts != 0 {
		t.Fatalf("fresh incarnation has %d restarts", ai.Restarts)
	}

	t.Run("negative MaxRestarts never restarts", func(t *testing.T) {
		s, _ := newTestSystem(t, Config{MaxRestarts: -1}, slog.LevelInfo)
		var st probeStats
		pid := mustSpawn(t, s, "test", "once", st.producer(s, "test", "once"))
		s.ActorSystem().Root.Send(pid, boom("x"))
		eventually(t, "stopped", func() bool { _, ok := s.Actor("once"); return !ok })
		if n := st.produced.Load(); n != 1 {
			t.Fatalf("producer called %d times, want 1", n)
		}
	})
}

func TestSystem_Stop(t *testing.T) {
	s, _ := newTestSystem(t, Config{}, slog.LevelDebug)
	root := s.ActorSystem().Root
	var st probeStats
	pid := mustSpawn(t, s, "visitor", "v1", st.producer(s, "visitor", "v1"))

	h := &hold{release: make(chan struct{})}
	root.Send(pid, h)
	for range 5 {
		root.Send(pid, tick{})
	}
	if s.Stop("other", "v1") {
		t.Fatal("Stop with the wrong kind succeeded")
	}
	if !s.Stop("visitor", "v1") {
		t.Fatal("Stop = false for a live actor")
	}
	if s.Stop("visitor", "v1") {
		t.Fatal("second Stop = true")
	}
	if ai := info(t, s, "v1"); ai.State != StateStopping {
		t.Fatalf("state = %q, want stopping", ai.State)
	}
	close(h.release)
	eventually(t, "removed", func() bool { _, ok := s.Actor("v1"); return !ok })
	if n := st.ticks.Load(); n != 5 {
		t.Fatalf("ticks = %d, want 5: Stop handles what is queued first", n)
	}

	pid2 := mustSpawn(t, s, "visitor", "v1", st.producer(s, "visitor", "v1"))
	if n := st.produced.Load(); n != 2 {
		t.Fatalf("producer called %d times, want 2", n)
	}
	root.Send(pid2, tick{})
	eventually(t, "new incarnation handles", func() bool { return st.ticks.Load() == 6 })
}

// Send against passivation: the actor stops itself again and again while
// messages stream in from another goroutine; every message is handled
// exactly once, across incarnations.
func TestSystem_Send_passivation(t *testing.T) {
	s, _ := newTestSystem(t, Config{}, slog.LevelInfo)
	const rounds, minTicks = 10, 2000
	var st probeStats
	prod := st.producer(s, "visitor", "v")
	var sent atomic.Int64
	stopsDone := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // ticks until the stopper is done and minTicks went out
		for {
			select {
			case <-stopsDone:
				if sent.Load() >= minTicks {
					return
				}
			default:
			}
			if err := s.Send("visitor", "v", prod, tick{}); err != nil {
				t.Errorf("Send tick: %v", err)
				return
			}
			sent.Add(1)
		}
	})
	wg.Go(func() { // passivates, then waits for the ticks to bring a new incarnation
		defer close(stopsDone)
		for range rounds {
			k := st.produced.Load()
			if err := s.Send("visitor", "v", prod, stopSelf{}); err != nil {
				t.Errorf("Send stop: %v", err)
				return
			}
			eventually(t, "next incarnation", func() bool { return st.produced.Load() > k })
		}
	})
	wg.Wait()
	eventually(t, "every tick handled", func() bool { return st.ticks.Load() >= sent.Load() })
	if got, want := st.ticks.Load(), sent.Load(); got != want {
		t.Fatalf("ticks handled = %d, sent %d", got, want)
	}
	if n := st.produced.Load(); n < rounds {
		t.Fatalf("%d incarnations, want at least %d", n, rounds)
	}
}

// protoactor cannot stop an actor whose Stopping handler panics (its
// handleStop returns early once stopping), and one whose Stopped handler
// panics never tells its parent: the strategy discards either, and the
// registry and the supervisor forget it.
func TestSystem_Stop_panicWhileStopping(t *testing.T) {
	for _, handler := range []string{"Stopping", "Stopped"} {
		t.Run(handler, func(t *testing.T) {
			s, logs := newTestSystem(t, Config{}, slog.LevelInfo)
			var st probeStats
			mustSpawn(t, s, "test", "bad", func() actor.Actor {
				st.produced.Add(1)
				return &probe{stats: &st, panicOnStopping: handler == "Stopping", panicOnStopped: handler == "Stopped"}
			})
			if !s.Stop("test", "bad") {
				t.Fatal("Stop = false")
			}
			eventually(t, "removed", func() bool { _, ok := s.Actor("bad"); return !ok })
			if !strings.Contains(logs.String(), "panicked while stopping") {
				t.Fatalf("no log of the discard:\n%s", logs)
			}
			// The id is free again; Close (cleanup) finishes, so the
			// supervisor no longer counts the discarded child.
			mustSpawn(t, s, "test", "bad", (&probeStats{}).producer(s, "test", "bad"))
		})
	}
}

// A producer that panics fails that Spawn only: the supervisor, and so
// the other actors of the kind, live on.
func TestSystem_Spawn_producerPanics(t *testing.T) {
	s, _ := newTestSystem(t, Config{}, slog.LevelInfo)
	var st probeStats
	pid := mustSpawn(t, s, "test", "good", st.producer(s, "test", "good"))
	if _, err := s.Spawn("test", "bad", func() actor.Actor { panic("no") }); err == nil || !strings.Contains(err.Error(), "producer panicked") {
		t.Fatalf("Spawn with a panicking producer: %v", err)
	}
	if _, err := s.Spawn("test", "nil", func() actor.Actor { return nil }); err == nil {
		t.Fatal("Spawn with a nil actor succeeded")
	}
	if _, ok := s.Actor("bad"); ok {
		t.Fatal("failed spawn is registered")
	}
	s.ActorSystem().Root.Send(pid, tick{})
	eventually(t, "sibling handles", func() bool { return st.ticks.Load() == 1 })
	if ai := info(t, s, "good"); ai.Restarts != 0 || st.produced.Load() != 1 {
		t.Fatalf("sibling disturbed: %+v", ai)
	}
}

// The passivation pattern of the package doc: an idle actor stops itself
// through a receive timeout; the next Send starts a new incarnation.
func TestSystem_Stop_idlePassivation(t *testing.T) {
	s, _ := newTestSystem(t, Config{}, slog.LevelInfo)
	var st probeStats
	prod := func() actor.Actor {
		st.produced.Add(1)
		return &probe{stats: &st, sys: s, kind: "visitor", id: "idle", idle: 20 * time.Millisecond}
	}
	if err := s.Send("visitor", "idle", prod, tick{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "passivated", func() bool { _, ok := s.Actor("idle"); return !ok })
	if err := s.Send("visitor", "idle", prod, tick{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "second tick", func() bool { return st.ticks.Load() == 2 })
	if n := st.produced.Load(); n != 2 {
		t.Fatalf("%d incarnations, want 2", n)
	}
}
