package actors

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// pathRoot prefixes the path of every supervisor: the supervisor of kind k
// is pathRoot+k and its child id is pathRoot+k+"/"+id.
const pathRoot = "firehook/"

// Spawn returns the PID of the live actor (kind, id), spawning it with
// producer under the kind's supervisor if it is not live: get-or-spawn.
// Concurrent calls for one id get one actor. If the id's previous
// incarnation is stopping, Spawn waits for it to terminate (at most
// Config.SpawnTimeout, then ErrStopping), so two incarnations of an id
// never run at once. The producer must only construct the actor; it is
// called again, on the actor's goroutine, for each restart.
//
// A PID held across a Stop of its actor is stale: messages sent to it
// after the actor stopped are lost (dead letters). Send does not have that
// race.
func (s *System) Spawn(kind, id string, producer func() actor.Actor) (*actor.PID, error) {
	e, err := s.getOrSpawn(kind, id, producer)
	if err != nil {
		return nil, err
	}
	return e.pid, nil
}

// Send delivers msg to the actor (kind, id), spawning it with producer if
// it is not live. Unlike sending to a PID from Spawn it is safe against
// passivation: a message Send posts is either ahead of Stop's poison pill
// (the stopping actor handles it) or goes to the next incarnation. When
// the live actor is there, Send is a map lookup under a read lock and a
// mailbox post; otherwise it may block, as Spawn does, up to
// Config.SpawnTimeout.
func (s *System) Send(kind, id string, producer func() actor.Actor, msg any) error {
	for {
		if s.closed.Load() {
			return ErrClosed
		}
		s.reg.mu.RLock()
		if e := s.reg.byID[id]; e != nil && e.kind == kind && !e.stopping {
			s.sys.Root.Send(e.pid, msg)
			s.reg.mu.RUnlock()
			return nil
		}
		s.reg.mu.RUnlock()
		if _, err := s.getOrSpawn(kind, id, producer); err != nil {
			return err
		}
	}
}

// Stop passivates the actor (kind, id): it handles the messages already in
// its mailbox, then stops (a poison pill) and leaves the registry when it
// has terminated. It reports whether the actor was live and not already
// stopping. Stop does not wait, so an actor may call it on itself (on
// *actor.ReceiveTimeout, to passivate when idle). Stop actors only through
// Stop: one stopped behind the System's back stays "live" in the registry
// until it terminates, and Send may post to it meanwhile.
func (s *System) Stop(kind, id string) bool {
	s.reg.mu.Lock()
	defer s.reg.mu.Unlock()
	e := s.reg.byID[id]
	if e == nil || e.kind != kind || !s.reg.markStoppingLocked(e) {
		return false
	}
	s.sys.Root.Poison(e.pid)
	return true
}

func validName(kind, id string) error {
	if kind == "" || id == "" || strings.Contains(kind, "/") {
		return fmt.Errorf("%w: kind %q, id %q", ErrInvalidName, kind, id)
	}
	return nil
}

// getOrSpawn returns the live entry of (kind, id), asking the kind's
// supervisor to spawn it if there is none.
func (s *System) getOrSpawn(kind, id string, producer func() actor.Actor) (*entry, error) {
	if err := validName(kind, id); err != nil {
		return nil, err
	}
	var deadline time.Time // set when there is something to wait for
	for {
		if s.closed.Load() {
			return nil, ErrClosed
		}
		e, stopping := s.reg.lookup(id)
		if e != nil {
			if e.kind != kind {
				return nil, fmt.Errorf("spawn %s/%s: %w (%s)", kind, id, ErrIDInUse, e.kind)
			}
			if !stopping {
				return e, nil
			}
			if deadline.IsZero() {
				deadline = time.Now().Add(s.cfg.SpawnTimeout)
			}
			if err := waitDone(e.done, deadline); err != nil {
				return nil, fmt.Errorf("spawn %s/%s: %w", kind, id, err)
			}
			continue
		}
		sv, err := s.supervisor(kind)
		if err != nil {
			return nil, err
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(s.cfg.SpawnTimeout)
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return nil, fmt.Errorf("spawn %s/%s: %w", kind, id, actor.ErrTimeout)
		}
		res, err := s.sys.Root.RequestFuture(sv.pid, &spawnRequest{id: id, producer: producer}, wait).Result()
		if err != nil {
			if errors.Is(err, actor.ErrDeadLetter) { // the supervisor has stopped: Close
				return nil, ErrClosed
			}
			return nil, fmt.Errorf("spawn %s/%s: %w", kind, id, err)
		}
		switch r := res.(type) {
		case *entry:
			return r, nil
		case *spawnWait:
			if err := waitDone(r.done, deadline); err != nil {
				return nil, fmt.Errorf("spawn %s/%s: %w", kind, id, err)
			}
		case error:
			return nil, r
		default:
			return nil, fmt.Errorf("spawn %s/%s: unexpected reply %T", kind, id, res)
		}
	}
}

func waitDone(done <-chan struct{}, deadline time.Time) error {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
		return ErrStopping
	}
}

// supervisor returns the kind's supervisor, spawning it on first use.
func (s *System) supervisor(kind string) (*supervisor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil, ErrClosed
	}
	if sv := s.sups[kind]; sv != nil {
		return sv, nil
	}
	sv := &supervisor{s: s, kind: kind, stopped: make(chan struct{})}
	props := actor.PropsFromProducer(func() actor.Actor { return sv },
		actor.WithSupervisor(&restartStrategy{s: s}), actor.WithDispatcher(s.disp))
	pid, err := s.sys.Root.SpawnNamed(props, pathRoot+kind)
	if err != nil {
		return nil, fmt.Errorf("spawn supervisor %s: %w", kind, err)
	}
	sv.pid = pid
	s.sups[kind] = sv
	return sv, nil
}

// spawnRequest asks a supervisor for the entry of id, spawned if need be.
// The reply is the *entry, a *spawnWait or an error.
type spawnRequest struct {
	id       string
	producer func() actor.Actor
}

// spawnWait replies that id's previous incarnation is stopping.
type spawnWait struct{ done <-chan struct{} }

// supervisor is the parent of every actor of one kind. Spawning is its
// only work (so it never panics on user code, and a restart of it, which
// would stop all its children, does not happen); failures of its children
// are handled by its props' restartStrategy, and their *actor.Terminated
// removes them from the registry.
type supervisor struct {
	s    *System
	kind string
	pid  *actor.PID
	// stopped is closed when the supervisor, and so every child, has
	// stopped.
	stopped chan struct{}
	// stopping is set on *actor.Stopping: spawning then would leave a
	// child that nothing stops and the supervisor would never finish
	// stopping (actor/actor_context.go, handleStop stops the children it
	// has at that moment and waits for them).
	stopping bool
}

func (sv *supervisor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *spawnRequest:
		c.Respond(sv.spawn(c, m))
	case *actor.Terminated:
		sv.s.reg.remove(m.Who)
	case *actor.Stopping:
		sv.stopping = true
	case *actor.Stopped:
		close(sv.stopped)
	}
}

func (sv *supervisor) spawn(c actor.Context, m *spawnRequest) any {
	if sv.stopping {
		return ErrClosed
	}
	reg := sv.s.reg
	if e, stopping := reg.lookup(m.id); e != nil {
		return sv.existing(e, stopping)
	}
	// Construct the first instance before taking the lock: the producer
	// is the caller's code. A panic in it must not reach the supervisor,
	// whose restart would stop every actor of the kind.
	first, err := produce(m.producer)
	if err != nil {
		return fmt.Errorf("spawn %s/%s: %w", sv.kind, m.id, err)
	}

	reg.mu.Lock()
	defer reg.mu.Unlock()
	if e := reg.byID[m.id]; e != nil { // another kind won the id meanwhile
		return sv.existing(e, e.stopping)
	}
	self := c.Self()
	e := newEntry(sv.kind, m.id, actor.NewPID(self.Address, self.Id+"/"+m.id))
	props := actor.PropsFromProducer(func() actor.Actor {
		a := first
		if a == nil { // a restart
			a = m.producer()
			e.state.CompareAndSwap(stRestarting, stRunning)
		}
		first = nil
		e.incarnated(a)
		return a
	}, actor.WithMailbox(actor.Unbounded(e)), actor.WithDispatcher(sv.s.disp))
	// Spawning under the lock keeps the entry invisible to Spawn and Send
	// until the actor exists, so nothing is posted to an unknown PID.
	reg.byID[m.id] = e
	if _, err := c.SpawnNamed(props, m.id); err != nil {
		delete(reg.byID, m.id)
		close(e.done)
		return fmt.Errorf("spawn %s/%s: %w", sv.kind, m.id, err)
	}
	return e
}

func produce(producer func() actor.Actor) (a actor.Actor, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("producer panicked: %v", r)
		}
	}()
	if a = producer(); a == nil {
		return nil, errors.New("producer returned nil")
	}
	return a, nil
}

func (sv *supervisor) existing(e *entry, stopping bool) any {
	switch {
	case e.kind != sv.kind:
		return fmt.Errorf("spawn %s/%s: %w (%s)", sv.kind, e.id, ErrIDInUse, e.kind)
	case stopping:
		return &spawnWait{done: e.done}
	default:
		return e
	}
}

// restartStrategy is the supervisors' one-for-one strategy: a child that
// panics is restarted alone, with a fresh instance from its producer and
// its mailbox (and the messages queued in it) kept; the message that
// panicked is not redelivered (actor/mailbox.go recovers it and
// actor/actor_context.go restart does not replay it). More than
// Config.MaxRestarts failures within Config.RestartWindow stop the child
// instead; the next Spawn or Send starts a fresh one.
//
// It is protoactor's NewOneForOneStrategy with two changes: the failure
// times are kept per entry and bounded (protoactor's RestartStatistics
// appends one per failure and empties only when the budget is exceeded,
// so a child that fails now and then grows it forever), and the message
// that panicked, which the mailbox never reports as received, is taken
// off the entry's depth. Decisions are published as *actor.SupervisorEvent
// on the event stream, as protoactor's strategies do.
type restartStrategy struct{ s *System }

var _ actor.SupervisorStrategy = (*restartStrategy)(nil)

func (st *restartStrategy) HandleFailure(sys *actor.ActorSystem, sup actor.Supervisor, child *actor.PID,
	_ *actor.RestartStatistics, reason, message any) {
	s := st.s
	e := s.reg.byPID(child)
	if e != nil && !isSystem(message) {
		e.depth.Add(-1)
	}
	if _, ok := message.(*actor.Stop); ok {
		// It panicked in its Stopping or Stopped handler. protoactor
		// cannot stop it again (handleStop returns early once stopping)
		// nor restart it safely, and its parent would never hear of its
		// end: finish it here.
		s.log.Error("actor panicked while stopping; discarded", "actor", pidString(child), "reason", fmt.Sprint(reason))
		sys.EventStream.Publish(&actor.SupervisorEvent{Child: child, Reason: reason, Directive: actor.StopDirective})
		sys.ProcessRegistry.Remove(child)
		if parent := selfOf(sup); parent != nil {
			if p, ok := sys.ProcessRegistry.Get(parent); ok {
				p.SendSystemMessage(parent, &actor.Terminated{Who: child})
			}
		}
		return
	}
	if e != nil && e.allowRestart(time.Now(), s.cfg.MaxRestarts, s.cfg.RestartWindow) {
		if !e.state.CompareAndSwap(stRunning, stRestarting) {
			e.state.CompareAndSwap(stStarting, stRestarting)
		}
		sys.EventStream.Publish(&actor.SupervisorEvent{Child: child, Reason: reason, Directive: actor.RestartDirective})
		sup.RestartChildren(child)
		return
	}
	if e != nil {
		s.reg.mu.Lock()
		s.reg.markStoppingLocked(e)
		s.reg.mu.Unlock()
		s.log.Error("actor stopped: too many restarts", "actor", pidString(child),
			"max_restarts", s.cfg.MaxRestarts, "window", s.cfg.RestartWindow, "reason", fmt.Sprint(reason))
	} else {
		s.log.Error("unregistered actor stopped after a panic", "actor", pidString(child), "reason", fmt.Sprint(reason))
	}
	sys.EventStream.Publish(&actor.SupervisorEvent{Child: child, Reason: reason, Directive: actor.StopDirective})
	sup.StopChildren(child)
}

// selfOf returns the PID of the supervisor handling a failure: the
// supervisor's actor context (actor/actor_context.go, handleFailure).
func selfOf(sup actor.Supervisor) *actor.PID {
	if c, ok := sup.(interface{ Self() *actor.PID }); ok {
		return c.Self()
	}
	return nil
}
