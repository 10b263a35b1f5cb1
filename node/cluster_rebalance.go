package node

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/actors/webhook"
	"github.com/firehook/firehook/cluster"
	"github.com/firehook/firehook/cluster/clusterpb"
	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/persistence"
)

// When the members change, a shard's visitors and persons change owners.
// Two things must move with them:
//
//   - a person's dispatch state — its lane sequence: whether its First
//     Match was made, and its last sequence — or the new owner would make a
//     second First Match and start the sequence again;
//   - the visitor's place in line: events of the visitor that the old
//     owner had begun must be decided before the new owner decides later
//     ones, or they would swap.
//
// The node that gives up a shard sends the lane sequences of its persons
// to the shard's new primary at once (LaneState), then, once it finished
// the events it had begun, a second LaneState with visitors set. The new
// primary, when the old one is alive, decides nothing for the shard's
// persons before the first message, and nothing for its visitors before
// the second (each wait at most laneWait). A node that leaves gracefully
// refuses new events, finishes the ones it holds, stops deciding, hands
// its state over, and only then announces that it leaves.
//
// A primary that dies hands nothing over: its persons' state and
// unfinished deliveries are taken over from their copies on the shard's
// other owner (cluster_takeover.go), also when it dies in the middle of a
// hand-over (awaitedFromTheDead).

// handOverWait bounds how long a member that gives up shards waits for
// what it began there — the events stored for their visitors, the
// deliveries of their persons — before it hands them over all the same
// (its unfinished deliveries then go with the persons' state, and the new
// primary takes them over).
const handOverWait = 15 * time.Second

// laneWait bounds how long a new primary waits for a live old one's
// hand-over: longer than handOverWait, so that it gives up only on an old
// primary that does not see the change.
const laneWait = 30 * time.Second

// shardGate keeps a node from deciding for persons of shards whose state
// it does not have yet, and lets a hand-over wait for the decisions in
// flight.
type shardGate struct {
	// inFlight is read-locked by every decision made here and locked by a
	// hand-over while it reads the state to send.
	inFlight sync.RWMutex

	// mu guards prev, held, heldUpTo, awaiting, received and leaving.
	mu   sync.Mutex
	prev *cluster.Placement
	// held is the placement before the last change, and heldUpTo the last
	// event of the log then: the events this node stored before the change
	// for visitors it owned are still processed here (heldBefore), before
	// the new owner goes on with later ones.
	held     *cluster.Placement
	heldUpTo uint64
	awaiting map[int]*awaitedShard
	received map[int]time.Time // when a shard's complete hand-over last arrived
	leaving  bool
}

// awaitedShard is a shard gained whose hand-over is not complete.
type awaitedShard struct {
	// from is the live previous primary the hand-over is awaited from;
	// dead is set instead when the previous primary died: its persons'
	// state and deliveries are then gathered from the copies the members
	// hold (pullCopies).
	from, dead string
	deadline   time.Time     // when to stop waiting
	persons    chan struct{} // closed when the persons' state arrived
	visitors   chan struct{} // closed when the old owner finished its visitors' events
}

// personShard is the shard of (tenant, person).
func personShard(tenantID, personID string) int {
	return cluster.KeyShard(firehook.PersonKey(tenantID, personID))
}

// placement is the placement this node routes by: the members' own, or,
// once it is leaving, the one without itself.
func (cl *clusterNode) placement() *cluster.Placement {
	pl := cl.members.Placement()
	cl.gate.mu.Lock()
	leaving := cl.gate.leaving
	cl.gate.mu.Unlock()
	if !leaving || !slices.Contains(pl.Members(), cl.name) {
		return pl
	}
	return cluster.NewPlacement(slices.DeleteFunc(pl.Members(), func(m string) bool { return m == cl.name }))
}

// placementChanged runs on the membership's goroutine after every change:
// it sends away the state of the shards lost and starts waiting for that
// of the shards gained.
func (cl *clusterNode) placementChanged(next *cluster.Placement) {
	cl.gate.mu.Lock()
	prev := cl.gate.prev
	cl.gate.prev = next
	if prev == nil {
		// The first placement: a node that joined takes its shards over
		// from the cluster as it was without it.
		prev = cluster.NewPlacement(slices.DeleteFunc(next.Members(), func(m string) bool { return m == cl.name }))
	}
	if cl.gate.leaving {
		cl.gate.mu.Unlock()
		return
	}
	cl.gate.held, cl.gate.heldUpTo = prev, cl.n.store.Events.LastSeq()
	heldUpTo := cl.gate.heldUpTo
	now := time.Now()
	alive := next.Members()
	var lost, gained []int
	pulls := map[string][]int{} // dead member → shards this node takes its deliveries over for
	for shard := range cluster.Shards {
		if next.Owns(cl.name, shard) && !prev.Owns(cl.name, shard) {
			gained = append(gained, shard)
		}
		was, is := prev.Primary(shard), next.Primary(shard)
		switch {
		case was == cl.name && is != cl.name && is != "":
			lost = append(lost, shard)
		case is == cl.name && was != cl.name && was != "" && slices.Contains(alive, was):
			if at, ok := cl.gate.received[shard]; ok && now.Sub(at) < laneWait {
				continue // its state came before this node saw the change
			}
			cl.gate.awaiting[shard] = &awaitedShard{from: was, deadline: now.Add(laneWait),
				persons: make(chan struct{}), visitors: make(chan struct{})}
		case is == cl.name && was != cl.name && was != "":
			// The previous primary died: its deliveries are taken over
			// from their copies (cluster_takeover.go) before this node
			// decides for the shard's persons.
			visitors := make(chan struct{})
			close(visitors) // nobody is finishing the shard's visitors' events
			cl.gate.awaiting[shard] = &awaitedShard{dead: was, deadline: now.Add(laneWait),
				persons: make(chan struct{}), visitors: visitors}
			pulls[was] = append(pulls[was], shard)
		}
	}
	cl.awaitedFromTheDead(alive, now, pulls)
	cl.gate.mu.Unlock()
	cl.copier.gained(gained, prev)
	if len(lost) > 0 {
		cl.wg.Add(1)
		go func() {
			defer cl.wg.Done()
			cl.handOverShards(next, lost, heldUpTo, handOverWait)
		}()
	}
	for dead, shards := range pulls {
		cl.wg.Add(1)
		go func() {
			defer cl.wg.Done()
			cl.pullCopies(dead, shards)
		}()
	}
}

// awaitedFromTheDead updates, under gate.mu, the hand-overs awaited from
// members that are gone (alive lists the members): a member that dies
// while it hands a shard over finishes neither part of it.
//
//   - The shard's visitors are no longer waited for: their events reach
//     this node from now on (those the dead member stored and had not
//     processed are processed when it restarts, after the visitors' later
//     ones).
//   - The persons' state, unless it arrived, is gathered from the copies
//     of the dead member's decisions, as for a primary that died (the
//     shards are added to pulls, for pullCopies).
func (cl *clusterNode) awaitedFromTheDead(alive []string, now time.Time, pulls map[string][]int) {
	for shard, a := range cl.gate.awaiting {
		if a.from == "" || slices.Contains(alive, a.from) {
			continue
		}
		dead := a.from
		closeOnce(a.visitors)
		select {
		case <-a.persons:
			delete(cl.gate.awaiting, shard)
			continue
		default:
		}
		a.from, a.dead, a.deadline = "", dead, now.Add(laneWait)
		pulls[dead] = append(pulls[dead], shard)
	}
}

// heldBefore reports whether ev is an event this node stored, before the
// last change of the placement, for a visitor it owned then: it processes
// such an event itself (its new owner waits for that; see handOverShards),
// so that it keeps its place before the visitor's later events, which
// reach the new owner directly.
func (cl *clusterNode) heldBefore(ev *firehook.Event) bool {
	cl.gate.mu.Lock()
	defer cl.gate.mu.Unlock()
	if cl.gate.held == nil || ev.Seq == 0 || ev.Seq > cl.gate.heldUpTo || cl.gate.leaving {
		return false
	}
	return cl.gate.held.Primary(visitorShard(ev.TenantID, ev.VisitorID)) == cl.name
}

// handOverShards hands shards this node lost to their primaries under pl:
// first the persons' dispatch state, then, once the events up to heldUpTo
// (those it stored for the shards' visitors before the change) are
// decided, the visitors.
func (cl *clusterNode) handOverShards(pl *cluster.Placement, shards []int, heldUpTo uint64, wait time.Duration) {
	// The receivers' lives as of now: a receiver that restarts during the
	// hand-over ignores the rest of it (its new life gets one of its own).
	boots := map[string]int64{}
	for _, s := range shards {
		m := pl.Primary(s)
		if mem, ok := cl.members.Member(m); ok {
			boots[m] = mem.Meta.Boot
		}
	}
	cl.sendLaneState(pl, shards, boots, wait)
	// Then the visitors: once the events stored here for them before the
	// change are decided.
	if p := cl.n.committed.Load(); p != nil {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		err := p.WaitProcessed(ctx, heldUpTo)
		cancel()
		if err != nil {
			cl.log.Warn("cluster: handing visitors over before their begun events finished", "err", err)
		}
	}
	cl.sendVisitorsReleased(pl, shards, boots)
}

// sendVisitorsReleased tells the primaries of shards under pl that this
// node finished the events of their visitors it had begun.
func (cl *clusterNode) sendVisitorsReleased(pl *cluster.Placement, shards []int, boots map[string]int64) {
	byMember := map[string]*clusterpb.LaneState{}
	for _, s := range shards {
		m := pl.Primary(s)
		if byMember[m] == nil {
			byMember[m] = &clusterpb.LaneState{Visitors: true}
		}
		byMember[m].Shards = append(byMember[m].Shards, int32(s))
	}
	cl.sendLaneStates(byMember, boots)
}

// sendLaneState sends the lane sequences of the persons of shards (lost
// by this node) to their primaries under pl: after the decisions in flight
// here, and after this node's deliveries of those persons finished (at
// most laneWait), so that the new owner's deliveries of a person never
// overtake the old owner's.
func (cl *clusterNode) sendLaneState(pl *cluster.Placement, shards []int, boots map[string]int64, wait time.Duration) {
	<-cl.ready
	if cl.members == nil {
		return // the join failed
	}
	set := map[int]bool{}
	for _, s := range shards {
		set[s] = true
	}
	moved := func(lane string) bool { return set[cluster.KeyShard(lane)] }
	cl.gate.inFlight.Lock() // a barrier: the decisions begun here are made
	cl.gate.inFlight.Unlock()
	deadline := time.Now().Add(wait)
	for cl.n.unfinishedOf(moved) > 0 {
		if time.Now().After(deadline) {
			cl.log.Warn("cluster: handing persons over with deliveries unfinished here: their new owner takes them over",
				"unfinished", cl.n.unfinishedOf(moved))
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	seqs, err := cl.n.store.Outbox().LaneSequences(moved)
	if err != nil {
		cl.log.Error("cluster: reading the dispatch state to hand over", "err", err)
		return
	}
	byMember := map[string]*clusterpb.LaneState{}
	for _, s := range shards {
		m := pl.Primary(s)
		if byMember[m] == nil {
			byMember[m] = &clusterpb.LaneState{}
		}
		byMember[m].Shards = append(byMember[m].Shards, int32(s))
	}
	for lane, seq := range seqs {
		st := byMember[pl.Primary(cluster.KeyShard(lane))]
		st.Lanes = append(st.Lanes, lane)
		st.Seqs = append(st.Seqs, seq)
	}
	// Deliveries still unfinished here go with their persons (they are
	// sent twice if this node's endpoint actors send them too: the same
	// event id and sequence, never out of order).
	if err := cl.n.eachUnfinished(func(d *firehook.Delivery) {
		if moved(d.PersonKey) {
			st := byMember[pl.Primary(cluster.KeyShard(d.PersonKey))]
			st.From = cl.name
			st.Deliveries = append(st.Deliveries, persistence.EncodeDelivery(d))
		}
	}); err != nil {
		cl.log.Error("cluster: reading the deliveries to hand over", "err", err)
	}
	cl.sendLaneStates(byMember, boots)
}

// sendLaneStates sends each member its LaneState, retrying a little.
func (cl *clusterNode) sendLaneStates(byMember map[string]*clusterpb.LaneState, boots map[string]int64) {
	for member, st := range byMember {
		st.ToBoot = boots[member]
		if _, ok := cl.members.Member(member); !ok {
			// Gone (it left or died meanwhile): its successor gets the
			// state from the hand-over of the next change.
			cl.log.Warn("cluster: dispatch state not handed over: the member is gone", "member", member, "shards", len(st.Shards))
			continue
		}
		var err error
		for attempt := range 5 {
			if err = cl.ack(context.Background(), member, st, 5*time.Second); err == nil {
				break
			}
			time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
		}
		if err != nil {
			cl.log.Error("cluster: dispatch state not handed over", "member", member, "shards", len(st.Shards), "err", err)
			continue
		}
		if st.Visitors {
			cl.log.Info("cluster: visitors handed over", "member", member, "shards", len(st.Shards))
		} else {
			cl.log.Info("cluster: dispatch state handed over", "member", member, "shards", len(st.Shards), "persons", len(st.Lanes))
		}
	}
}

// onLaneState merges the dispatch state a member handed over and lets
// decisions for its shards begin.
func (cl *clusterNode) onLaneState(m *clusterpb.LaneState) proto.Message {
	if self, ok := cl.members.Member(cl.name); ok && m.ToBoot != 0 && m.ToBoot != self.Meta.Boot {
		cl.log.Info("cluster: ignoring a hand-over meant for this node's previous life", "shards", len(m.Shards), "visitors", m.Visitors)
		return &clusterpb.Ack{}
	}
	seqs := make(map[string]uint64, len(m.Lanes))
	for i, lane := range m.Lanes {
		if i < len(m.Seqs) {
			seqs[lane] = m.Seqs[i]
		}
	}
	if _, err := cl.n.store.Outbox().MergeLaneSequences(seqs); err != nil {
		return &clusterpb.Ack{Error: err.Error()}
	}
	if len(m.Deliveries) > 0 {
		ds, err := decodeDeliveries(m.Deliveries)
		if err != nil {
			return &clusterpb.Ack{Error: err.Error()}
		}
		if err := cl.adopt(m.From, ds); err != nil {
			return &clusterpb.Ack{Error: err.Error()}
		}
	}
	cl.gate.mu.Lock()
	now := time.Now()
	for _, s := range m.Shards {
		a, ok := cl.gate.awaiting[int(s)]
		switch {
		case m.Visitors:
			cl.gate.received[int(s)] = now
			if ok {
				closeOnce(a.persons)
				closeOnce(a.visitors)
				delete(cl.gate.awaiting, int(s))
			}
		case ok:
			closeOnce(a.persons)
		}
	}
	cl.gate.mu.Unlock()
	return &clusterpb.Ack{}
}

// visitorsAwaited returns the previous primary of shard when this node
// took the shard over and the previous primary has not released its
// visitors yet.
func (cl *clusterNode) visitorsAwaited(shard int) (string, bool) {
	cl.gate.mu.Lock()
	defer cl.gate.mu.Unlock()
	a, ok := cl.gate.awaiting[shard]
	if !ok || time.Now().After(a.deadline) {
		return "", false
	}
	select {
	case <-a.visitors:
		return "", false
	default:
		return a.from, true
	}
}

// awaitPersons waits until this node may decide for the persons of
// shard: their state arrived, the previous primary died, or laneWait
// passed.
func (cl *clusterNode) awaitPersons(ctx context.Context, shard int) error {
	return cl.await(ctx, shard, func(a *awaitedShard) chan struct{} { return a.persons })
}

// awaitVisitors waits until this node may decide for the visitors of
// shard: the previous primary finished their events it had begun, died,
// or laneWait passed.
func (cl *clusterNode) awaitVisitors(ctx context.Context, shard int) error {
	return cl.await(ctx, shard, func(a *awaitedShard) chan struct{} { return a.visitors })
}

// When the member awaited dies, placementChanged turns the wait into one
// for the copies of its decisions (see awaitedFromTheDead), which moves the
// deadline: the wait follows it.
func (cl *clusterNode) await(ctx context.Context, shard int, ch func(*awaitedShard) chan struct{}) error {
	for {
		cl.gate.mu.Lock()
		a, ok := cl.gate.awaiting[shard]
		var done chan struct{}
		var deadline time.Time
		if ok {
			done, deadline = ch(a), a.deadline
		}
		cl.gate.mu.Unlock()
		if !ok {
			return nil
		}
		t := time.NewTimer(time.Until(deadline))
		select {
		case <-done:
			t.Stop()
			return nil
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
			cl.dropAwaitAfter(shard, a)
		case <-cl.members.Changed():
			t.Stop()
		}
	}
}

// dropAwaitAfter stops waiting for shard's hand-over a once its deadline
// passed.
func (cl *clusterNode) dropAwaitAfter(shard int, a *awaitedShard) {
	cl.gate.mu.Lock()
	defer cl.gate.mu.Unlock()
	if cl.gate.awaiting[shard] == a && !time.Now().Before(a.deadline) {
		cl.log.Warn("cluster: going on without the previous owner's hand-over", "shard", shard, "from", a.from)
		closeOnce(a.persons)
		closeOnce(a.visitors)
		delete(cl.gate.awaiting, shard)
	}
}

// closeOnce closes ch unless it is closed. Caller holds gate.mu.
func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// handOverAll is the first step of a graceful leave: stop deciding here,
// and hand the state of every person this node decided for to the owners
// the cluster will have without it.
func (cl *clusterNode) handOverAll(wait time.Duration) {
	cl.gate.mu.Lock()
	cl.gate.leaving = true
	cl.gate.mu.Unlock()
	pl := cl.placement() // without this node
	if len(pl.Members()) == 0 {
		return // the last member: nobody to hand over to
	}
	cl.handOverShards(pl, allShards(), cl.n.store.Events.LastSeq(), wait)
}

// errNotOwnerHere is returned by dispatchHere for a person this node does
// not own (any more): the caller asks the owner of the moment.
var errNotOwnerHere = errors.New("this node does not own the person")

// dispatchHere decides a match for a person this node owns, once the
// person's dispatch state is here, and never while a hand-over reads it.
func (cl *clusterNode) dispatchHere(ctx context.Context, ev *firehook.Event, m identity.Match, s webhook.SessionInfo) error {
	if err := cl.awaitPersons(ctx, personShard(ev.TenantID, m.Person.PersonID)); err != nil {
		return err
	}
	cl.gate.inFlight.RLock()
	defer cl.gate.inFlight.RUnlock()
	if cl.personOwner(ev.TenantID, m.Person.PersonID) != cl.name || !cl.gatedOwner(personShard(ev.TenantID, m.Person.PersonID)) {
		return errNotOwnerHere
	}
	p := cl.n.committed.Load()
	if p == nil {
		return errors.New("node starting or stopping")
	}
	return p.DispatchHere(ev, m, s)
}

// gatedOwner reports whether this node is the primary of shard in the
// placement the gate last took in (placementChanged): the membership
// publishes a placement a moment before the gate has set up the waits it
// brings, and no decision may slip into that moment.
func (cl *clusterNode) gatedOwner(shard int) bool {
	cl.gate.mu.Lock()
	defer cl.gate.mu.Unlock()
	return cl.gate.prev != nil && cl.gate.prev.Primary(shard) == cl.name
}
