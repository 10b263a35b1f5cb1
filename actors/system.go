package actors

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/eventstream"
)

// Config configures a System. Zero values mean the defaults of
// DefaultConfig.
type Config struct {
	// Log receives protoactor's logging (its Info chatter at Debug, a
	// recovered panic at Warn) and this package's own. Default
	// slog.Default().
	Log *slog.Logger
	// MaxRestarts is how many failures of one actor within RestartWindow
	// its supervisor answers with a restart; one more stops the actor
	// (the next Spawn or Send of its id starts a fresh one). Default 10,
	// protoactor's default; zero means the default; negative: never
	// restart, a panic stops the actor.
	MaxRestarts int
	// RestartWindow is the window of MaxRestarts. Default 10 s,
	// protoactor's default; zero means the default.
	RestartWindow time.Duration
	// SpawnTimeout bounds a Spawn or Send that has to start an actor: the
	// round trip to the kind's supervisor plus the wait for a stopping
	// previous incarnation of the id. Default 5 s; zero means the default.
	SpawnTimeout time.Duration
}

// DefaultConfig returns the defaults of a System.
func DefaultConfig() Config {
	return Config{
		Log:           slog.Default(),
		MaxRestarts:   10,
		RestartWindow: 10 * time.Second,
		SpawnTimeout:  5 * time.Second,
	}
}

func (c *Config) withDefaults() {
	d := DefaultConfig()
	if c.Log == nil {
		c.Log = d.Log
	}
	if c.MaxRestarts == 0 {
		c.MaxRestarts = d.MaxRestarts
	}
	if c.RestartWindow <= 0 {
		c.RestartWindow = d.RestartWindow
	}
	if c.SpawnTimeout <= 0 {
		c.SpawnTimeout = d.SpawnTimeout
	}
}

// System is the node's actor system: a protoactor ActorSystem whose
// logging goes to our slog, one supervisor per kind of actor, and the
// registry of the live actors they supervise. It is safe for concurrent
// use. Close it to stop every actor.
type System struct {
	cfg Config
	log *slog.Logger
	sys *actor.ActorSystem
	reg *registry
	sub *eventstream.Subscription

	// closed is set when Close begins; Spawn and Send refuse from then.
	closed atomic.Bool
	// lastDeadLetter is the unix-nanosecond time of the latest dead
	// letter; Close waits out the throttle goroutine it may have started.
	lastDeadLetter atomic.Int64

	// mu guards sups and closing. It is never held together with
	// registry.mu.
	mu      sync.Mutex
	sups    map[string]*supervisor
	closing bool

	shutdownOnce sync.Once

	// disp runs every mailbox of the system (dispatcher.go); Close stops
	// its workers.
	disp *dispatcher
}

// New starts an actor system.
func New(cfg Config) (*System, error) {
	cfg.withDefaults()
	s := &System{
		cfg:  cfg,
		log:  cfg.Log.With("component", "actors"),
		reg:  newRegistry(),
		sups: make(map[string]*supervisor),
		// protoactor's default throughput (300 messages a batch); as many
		// kept workers as the busiest actors of a node need at once.
		disp: newDispatcher(300, 256),
	}
	// protoactor logs to a coloured stderr handler unless given a factory
	// (actor/config.go, defaultConfig); it calls it once, in
	// NewActorSystemWithConfig (actor/actor_system.go).
	s.sys = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return newProtoLogger(cfg.Log)
	}))
	// Handlers run synchronously on the publisher's goroutine
	// (eventstream/eventstream.go, Publish).
	s.sub = s.sys.EventStream.Subscribe(s.onEvent)
	return s, nil
}

// ActorSystem returns the protoactor system, for sending to PIDs
// (ActorSystem().Root.Send) and for what this package does not wrap.
func (s *System) ActorSystem() *actor.ActorSystem { return s.sys }

func (s *System) onEvent(evt any) {
	switch ev := evt.(type) {
	case *actor.SupervisorEvent:
		if ev.Directive == actor.RestartDirective {
			if e := s.reg.byPID(ev.Child); e != nil {
				e.restarts.Add(1)
			}
		}
	case *actor.DeadLetterEvent:
		// Published from any goroutine, some holding registry.mu (Stop,
		// Send): touch no lock here.
		s.lastDeadLetter.Store(time.Now().UnixNano())
	}
}

// Close stops every actor and then the actor system. protoactor's
// Shutdown does not stop actors (actor/actor_system.go: it closes a
// channel nothing waits on), so Close poisons each kind's supervisor; a
// supervisor that stops stops its children first (their queued messages
// are not handled: what must survive a stop lives in the store) and
// reports stopped only when they have all terminated. Close waits for
// that within ctx; if ctx ends first it returns its error and a later
// Close can finish the job. Once Close has begun, Spawn and Send return
// ErrClosed. Close is idempotent and safe for concurrent use.
func (s *System) Close(ctx context.Context) error {
	s.mu.Lock()
	if !s.closing {
		s.closing = true
		s.closed.Store(true)
		for _, sv := range s.sups {
			s.sys.Root.Poison(sv.pid)
		}
	}
	sups := make([]*supervisor, 0, len(s.sups))
	for _, sv := range s.sups {
		sups = append(sups, sv)
	}
	s.mu.Unlock()

	for _, sv := range sups {
		select {
		case <-sv.stopped:
		case <-ctx.Done():
			return fmt.Errorf("actors: close: %w", ctx.Err())
		}
	}
	s.shutdownOnce.Do(func() {
		s.sys.EventStream.Unsubscribe(s.sub)
		s.sys.Shutdown()
		s.disp.stop()
	})
	s.waitDeadLetterThrottle(ctx)
	return nil
}

// waitDeadLetterThrottle waits, within ctx, for the goroutine protoactor's
// dead-letter logging starts: NewThrottle (actor/throttler.go) runs one
// per throttle period, started by the period's first dead letter, that
// sleeps DeadLetterThrottleInterval (default 1 s) and then may log. It
// ends by itself; waiting for it keeps Close from leaving a goroutine
// behind that logs after Close returned.
func (s *System) waitDeadLetterThrottle(ctx context.Context) {
	last := s.lastDeadLetter.Load()
	if last == 0 {
		return
	}
	end := time.Unix(0, last).Add(s.sys.Config.DeadLetterThrottleInterval + 50*time.Millisecond)
	d := time.Until(end)
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
