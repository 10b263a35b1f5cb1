package actors

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// ActorInfo is a snapshot of one live actor spawned through Spawn or Send:
// what GET /v1/actors shows.
type ActorInfo struct {
	// Kind is the kind it was spawned under ("visitor", "endpoint").
	Kind string
	// ID is the id it was spawned with; unique across kinds while live.
	ID string
	// MailboxDepth counts user messages posted to it and not yet handled,
	// the one being handled included. System messages are not counted.
	MailboxDepth int64
	// InFlight is the work the actor reports as started outside its
	// mailbox (see Reporter): an endpoint actor's requests. 0 for actors
	// that report none.
	InFlight int64
	// Restarts counts its supervisor's restarts of this incarnation.
	Restarts int64
	// State is its lifecycle state (StateStarting, StateRunning,
	// StateRestarting, StateStopping) or, while running, the state its
	// Reporter gives.
	State string
	// LastActivity is when it last finished a user message, or was
	// spawned if it has handled none.
	LastActivity time.Time
}

// Lifecycle states of ActorInfo.State.
const (
	StateStarting   = "starting"   // spawned; Started not handled yet
	StateRunning    = "running"    // handling messages
	StateRestarting = "restarting" // panicked; being restarted
	StateStopping   = "stopping"   // Stop called (or restarts exhausted); draining
)

// lifecycle states as stored in entry.state.
const (
	stStarting int32 = iota
	stRunning
	stRestarting
	stStopping
)

var stateNames = [...]string{StateStarting, StateRunning, StateRestarting, StateStopping}

// Reporter is implemented by actors that have work in flight beyond their
// mailbox or a state worth showing (an endpoint actor: its requests, its
// circuit breaker). Report is called from other goroutines while the actor
// runs, so it must be safe for concurrent use (atomics) and must not
// block. A non-empty state replaces StateRunning in ActorInfo.
type Reporter interface {
	Report() (inFlight int64, state string)
}

// entry is the registry's record of one incarnation of an actor. It is the
// actor's MailboxMiddleware too: the mailbox calls it on every post and
// every handled message (actor/mailbox.go), which is how the depth that
// protoactor does not expose is counted.
type entry struct {
	kind, id string
	pid      *actor.PID
	// done is closed when the actor has terminated and left the registry.
	done chan struct{}
	// stopping is guarded by registry.mu: Send and Stop order themselves
	// on it.
	stopping bool

	depth    atomic.Int64
	restarts atomic.Int64
	last     atomic.Int64 // unix nanoseconds
	state    atomic.Int32
	reporter atomic.Pointer[reporterRef]

	// failures holds the times of recent failures, at most MaxRestarts+1;
	// only the supervisor's goroutine touches it (restartStrategy).
	failures []time.Time
}

type reporterRef struct{ r Reporter }

var _ actor.MailboxMiddleware = (*entry)(nil)

func newEntry(kind, id string, pid *actor.PID) *entry {
	e := &entry{kind: kind, id: id, pid: pid, done: make(chan struct{})}
	e.last.Store(time.Now().UnixNano())
	return e
}

// isSystem tells system and mailbox-control messages, which go to the
// system queue, from user messages (actor/messages.go).
func isSystem(m any) bool {
	switch m.(type) {
	case actor.SystemMessage, actor.MailboxMessage:
		return true
	}
	return false
}

func (e *entry) MailboxStarted() {}
func (e *entry) MailboxEmpty()   {}

func (e *entry) MessagePosted(m any) {
	if !isSystem(m) {
		e.depth.Add(1)
	}
}

// MessageReceived is called after a message was handled. It is not called
// for a message whose handling panicked: restartStrategy accounts for that
// one.
func (e *entry) MessageReceived(m any) {
	if isSystem(m) {
		if _, ok := m.(*actor.Started); ok {
			e.state.CompareAndSwap(stStarting, stRunning)
		}
		return
	}
	e.depth.Add(-1)
	e.last.Store(time.Now().UnixNano())
}

// incarnated records a new actor instance (the first or a restart's).
func (e *entry) incarnated(a actor.Actor) {
	if r, ok := a.(Reporter); ok {
		e.reporter.Store(&reporterRef{r})
	} else {
		e.reporter.Store(nil)
	}
}

func (e *entry) info() ActorInfo {
	st := e.state.Load()
	info := ActorInfo{
		Kind:         e.kind,
		ID:           e.id,
		MailboxDepth: max(e.depth.Load(), 0),
		Restarts:     e.restarts.Load(),
		State:        stateNames[st],
		LastActivity: time.Unix(0, e.last.Load()),
	}
	if ref := e.reporter.Load(); ref != nil {
		n, s := ref.r.Report()
		info.InFlight = n
		if s != "" && st == stRunning {
			info.State = s
		}
	}
	return info
}

// allowRestart records a failure at now and reports whether it is within
// the budget of maxRestarts failures per window.
func (e *entry) allowRestart(now time.Time, maxRestarts int, window time.Duration) bool {
	if maxRestarts < 0 {
		return false
	}
	kept := e.failures[:0]
	for _, t := range e.failures {
		if now.Sub(t) < window {
			kept = append(kept, t)
		}
	}
	e.failures = append(kept, now)
	if len(e.failures) > maxRestarts {
		e.failures = e.failures[:0]
		return false
	}
	return true
}

// registry holds the live actors spawned through the System, by id.
type registry struct {
	// mu guards byID and every entry's stopping flag. Send posts while
	// holding it for reading and Stop poisons while holding it for
	// writing, so every message Send posted before Stop is ahead of the
	// poison pill in the mailbox.
	mu   sync.RWMutex
	byID map[string]*entry
}

func newRegistry() *registry {
	return &registry{byID: make(map[string]*entry)}
}

// lookup returns the live entry of id, and whether it is stopping.
func (r *registry) lookup(id string) (*entry, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e := r.byID[id]
	return e, e != nil && e.stopping
}

// byPID returns the entry of a PID spawned by a supervisor, or nil.
func (r *registry) byPID(pid *actor.PID) *entry {
	if pid == nil {
		return nil
	}
	_, id, ok := splitPath(pid.Id)
	if !ok {
		return nil
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if e := r.byID[id]; e != nil && e.pid.Id == pid.Id {
		return e
	}
	return nil
}

// markStoppingLocked flags e stopping; false if it is gone or already
// stopping. The caller holds mu for writing.
func (r *registry) markStoppingLocked(e *entry) bool {
	if r.byID[e.id] != e || e.stopping {
		return false
	}
	e.stopping = true
	e.state.Store(stStopping)
	return true
}

// remove drops the entry of a terminated actor and wakes its waiters.
func (r *registry) remove(pid *actor.PID) {
	_, id, ok := splitPath(pid.Id)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.byID[id]
	if e == nil || e.pid.Id != pid.Id {
		return
	}
	delete(r.byID, id)
	close(e.done)
}

// Actors returns the live actors of a kind ("" for every kind), sorted by
// kind then id. It reads counters the actors update concurrently, so each
// ActorInfo is a moment's view, not a consistent cut.
func (s *System) Actors(kind string) []ActorInfo {
	s.reg.mu.RLock()
	es := make([]*entry, 0, len(s.reg.byID))
	for _, e := range s.reg.byID {
		if kind == "" || e.kind == kind {
			es = append(es, e)
		}
	}
	s.reg.mu.RUnlock()
	out := make([]ActorInfo, len(es))
	for i, e := range es {
		out[i] = e.info()
	}
	slices.SortFunc(out, func(a, b ActorInfo) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// Actor returns the live actor with the given id.
func (s *System) Actor(id string) (ActorInfo, bool) {
	e, _ := s.reg.lookup(id)
	if e == nil {
		return ActorInfo{}, false
	}
	return e.info(), true
}
