package actors

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// syncBuffer is a bytes.Buffer safe for the log handler's concurrent
// writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// newTestSystem starts a System logging at level into the returned
// buffer and closes it when the test ends.
func newTestSystem(t testing.TB, cfg Config, level slog.Level) (*System, *syncBuffer) {
	t.Helper()
	buf := &syncBuffer{}
	cfg.Log = slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: level}))
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s, buf
}

// eventually polls cond until it holds or 10 s have passed.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// Messages of the test actor.
type (
	// hold blocks the actor until release is closed: it keeps messages
	// queued behind it. entered, if not nil, is closed when it blocks.
	hold struct {
		entered chan struct{}
		release chan struct{}
	}
	boom     string // panics with the string
	tick     struct{}
	stopSelf struct{} // the actor calls System.Stop on itself
)

// probe is the test actor. Its counters live outside it, in probeStats,
// because a restart replaces the actor with a fresh instance.
type probe struct {
	stats *probeStats
	sys   *System
	kind  string
	id    string
	// panicOnStopping and panicOnStopped make those handlers panic.
	panicOnStopping, panicOnStopped bool
	// idle, if set, passivates the actor after that long without a
	// message (the pattern of the package doc).
	idle time.Duration
	seen int // reset by a restart
}

type probeStats struct {
	ticks     atomic.Int64
	produced  atomic.Int64 // producer calls: spawns and restarts
	lastSeen  atomic.Int64 // probe.seen after the last tick
	inFlight  atomic.Int64
	userState atomic.Pointer[string]
}

func (p *probe) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *hold:
		if m.entered != nil {
			close(m.entered)
		}
		<-m.release
	case boom:
		panic(string(m))
	case tick:
		p.seen++
		p.stats.lastSeen.Store(int64(p.seen))
		p.stats.ticks.Add(1)
	case stopSelf:
		p.sys.Stop(p.kind, p.id)
	case *actor.Started:
		if p.idle > 0 {
			c.SetReceiveTimeout(p.idle)
		}
	case *actor.ReceiveTimeout:
		p.sys.Stop(p.kind, p.id)
	case *actor.Stopping:
		if p.panicOnStopping {
			panic("stopping")
		}
	case *actor.Stopped:
		if p.panicOnStopped {
			panic("stopped")
		}
	}
}

// reportingProbe is a probe that implements Reporter.
type reportingProbe struct{ probe }

func (p *reportingProbe) Report() (int64, string) {
	s := ""
	if v := p.stats.userState.Load(); v != nil {
		s = *v
	}
	return p.stats.inFlight.Load(), s
}

// producer returns a producer of probes counting into stats.
func (st *probeStats) producer(s *System, kind, id string) func() actor.Actor {
	return func() actor.Actor {
		st.produced.Add(1)
		return &probe{stats: st, sys: s, kind: kind, id: id}
	}
}

func mustSpawn(t testing.TB, s *System, kind, id string, producer func() actor.Actor) *actor.PID {
	t.Helper()
	pid, err := s.Spawn(kind, id, producer)
	if err != nil {
		t.Fatalf("Spawn(%s, %s): %v", kind, id, err)
	}
	return pid
}

func info(t testing.TB, s *System, id string) ActorInfo {
	t.Helper()
	ai, ok := s.Actor(id)
	if !ok {
		t.Fatalf("Actor(%s): not live", id)
	}
	return ai
}
