package node

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/actors/endpoint"
	"github.com/firehook/firehook/cluster"
	"github.com/firehook/firehook/cluster/clusterpb"
	"github.com/firehook/firehook/persistence"
)

// Pending deliveries survive the death of their member.
//
// Before a person's webhooks go out, the member deciding for the person
// (the primary of its shard) copies the decision to the shard's other
// owner: the lane sequence and the event's unfinished deliveries with
// their payloads (replicate → onReplica → Outbox.PutReplicas). When a
// delivery finishes, the primary tells the holder to drop its copy
// (ReplicaDone, batched every replicaDoneEvery).
//
// When a primary dies, the shard's new primary gathers the copies from
// every member (pullCopies, HandOnRequest → handOn): it adopts them into
// its own outbox (Outbox.Adopt) and its endpoint actors send them, before
// it decides anything new for those persons (the shards are gated until
// every member answered). A person's later events therefore reach the
// endpoint after the ones the dead member had not delivered: the sequence
// never goes backwards. The same happens when a member dies in the middle
// of handing a shard over (awaitedFromTheDead).
//
// When the dead member comes back it asks every member, before its own
// endpoint actors start, which of its decisions they took over
// (catchUpTakenOver), and removes its unfinished copies of those
// deliveries (Outbox.Reconcile): they are not sent a second time.
//
// What can still be sent twice (same event id, same sequence): a delivery
// the dead member had sent but whose "done" had not reached the holder,
// and one in flight at the moment of the kill. A member that dies with
// its copies' holder loses the copies: its deliveries then resume when it
// comes back, as without replication.

// replicaDoneEvery is how often finished deliveries are reported to the
// holders of their copies.
const replicaDoneEvery = 100 * time.Millisecond

// replicaDone batches the ids of finished deliveries per holder.
type replicaDone struct {
	mu      sync.Mutex
	pending map[string][]string // member → delivery ids
}

// replicateFor bounds how long a decision's copy is retried (the other
// owner died: the next placement names another) before its webhooks go
// out without it.
const replicateFor = 10 * time.Second

// replicate copies a decision — the person's lane sequence and the
// event's unfinished deliveries — to the other owner of the person's
// shard (pipeline.Config.Replicate), trying again, with the owner of the
// moment, until it holds the copy or replicateFor passed. Without another
// owner (a cluster of one) there is nothing to do.
func (cl *clusterNode) replicate(personKey string, seq uint64, ds []firehook.Delivery) error {
	msg := &clusterpb.Replica{From: cl.name, Lanes: []string{personKey}, Seqs: []uint64{seq}}
	for i := range ds {
		if !ds[i].Status.Finished() {
			msg.Deliveries = append(msg.Deliveries, persistence.EncodeDelivery(&ds[i]))
		}
	}
	deadline := time.Now().Add(replicateFor)
	for {
		other := ""
		for _, m := range cl.placement().ShardOwners(cluster.KeyShard(personKey)) {
			if m != cl.name {
				other = m
				break
			}
		}
		if other == "" {
			return nil
		}
		changed := cl.members.Changed()
		err := cl.ack(context.Background(), other, msg, 2*time.Second)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-changed:
		case <-time.After(200 * time.Millisecond):
		case <-cl.stop:
			return err
		}
	}
}

// onReplica stores a member's copies, or, with Adopt, takes a dead
// member's deliveries over.
func (cl *clusterNode) onReplica(m *clusterpb.Replica) proto.Message {
	seqs := make(map[string]uint64, len(m.Lanes))
	for i, lane := range m.Lanes {
		if i < len(m.Seqs) {
			seqs[lane] = m.Seqs[i]
		}
	}
	ds, err := decodeDeliveries(m.Deliveries)
	if err != nil {
		return &clusterpb.Ack{Error: err.Error()}
	}
	merge := cl.n.store.Outbox().MergeLaneSequences
	if !m.Adopt {
		merge = cl.n.store.Outbox().MergeLaneSequencesUnsynced // on every decision: see PutReplicas
	}
	if _, err := merge(seqs); err != nil {
		return &clusterpb.Ack{Error: err.Error()}
	}
	if !m.Adopt {
		if err := cl.n.store.Outbox().PutReplicas(m.From, ds); err != nil {
			return &clusterpb.Ack{Error: err.Error()}
		}
		return &clusterpb.Ack{}
	}
	if err := cl.adopt(m.From, ds); err != nil {
		return &clusterpb.Ack{Error: err.Error()}
	}
	return &clusterpb.Ack{}
}

// adopt takes member's deliveries ds over (a dead member's, or the
// unfinished ones of a member that handed their persons over), copies
// them to their persons' other owners, and hands them to the endpoint
// actors (when the pipeline runs; otherwise they start with them).
func (cl *clusterNode) adopt(member string, ds []firehook.Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	adopted, err := cl.n.store.Outbox().Adopt(member, ds)
	if err != nil {
		return err
	}
	cl.log.Info("cluster: deliveries of another member taken over", "member", member, "deliveries", len(adopted))
	// Copied on, like a decision made here: if this node dies too, the
	// shard's other owner takes them over in turn. In the background: the
	// persons' deliveries and decisions must not wait for another member
	// right after a death (a second death within that moment loses the
	// copies, and the deliveries resume when this node restarts).
	cl.wg.Add(1)
	go func() {
		defer cl.wg.Done()
		cl.copyOn(adopted)
	}()
	cl.enqueue(cl.pulls.keep(adopted))
	if m := cl.n.clusterMetrics.Load(); m != nil {
		m.ObserveTakeover(len(adopted))
	}
	return nil
}

// copyOn copies deliveries taken over to the other owners of their
// persons' shards, one message per member (a failure is logged: the
// deliveries go on).
func (cl *clusterNode) copyOn(ds []firehook.Delivery) {
	pl := cl.placement()
	msgs := map[string]*clusterpb.Replica{}
	laneSeq := map[string]uint64{}
	for i := range ds {
		d := &ds[i]
		for _, m := range pl.ShardOwners(cluster.KeyShard(d.PersonKey)) {
			if m == cl.name {
				continue
			}
			if msgs[m] == nil {
				msgs[m] = &clusterpb.Replica{From: cl.name}
			}
			msgs[m].Deliveries = append(msgs[m].Deliveries, persistence.EncodeDelivery(d))
			if d.Sequence > laneSeq[d.PersonKey] {
				laneSeq[d.PersonKey] = d.Sequence
			}
			break
		}
	}
	for m, msg := range msgs {
		for lane, seq := range laneSeq {
			if slices.Contains(pl.ShardOwners(cluster.KeyShard(lane)), m) {
				msg.Lanes, msg.Seqs = append(msg.Lanes, lane), append(msg.Seqs, seq)
			}
		}
		if err := cl.ack(context.Background(), m, msg, 5*time.Second); err != nil {
			cl.log.Warn("cluster: deliveries taken over not copied on", "member", m, "deliveries", len(msg.Deliveries), "err", err)
		}
	}
}

// deliveriesFinished is the endpoint actors' observer: the copies of the
// deliveries that finished are dropped by their holders.
func (cl *clusterNode) deliveriesFinished(o endpoint.Observation) {
	pl := cl.placement()
	cl.done.mu.Lock()
	defer cl.done.mu.Unlock()
	for _, d := range o.Deliveries {
		if !d.Status.Finished() {
			continue
		}
		for _, m := range pl.ShardOwners(cluster.KeyShard(d.PersonKey)) {
			if m != cl.name {
				cl.done.pending[m] = append(cl.done.pending[m], d.ID)
			}
		}
	}
}

// reportDone sends the batched finished ids every replicaDoneEvery until
// stop closes.
func (cl *clusterNode) reportDone(stop <-chan struct{}) {
	defer cl.wg.Done()
	t := time.NewTicker(replicaDoneEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		cl.done.mu.Lock()
		batch := cl.done.pending
		cl.done.pending = map[string][]string{}
		cl.done.mu.Unlock()
		for member, ids := range batch {
			if mem, ok := cl.members.Member(member); ok {
				cl.tr.Send(mem.Meta.Actor, &clusterpb.ReplicaDone{From: cl.name, Ids: ids})
			}
		}
	}
}

// onReplicaDone drops the copies of a member's finished deliveries.
func (cl *clusterNode) onReplicaDone(m *clusterpb.ReplicaDone) proto.Message {
	if err := cl.n.store.Outbox().DropReplicas(m.From, m.Ids); err != nil {
		cl.log.Warn("cluster: dropping copies of finished deliveries", "member", m.From, "err", err)
	}
	return &clusterpb.Ack{}
}

// pullCopies gathers, for the shards this node now decides for, the
// copies of a dead member's decisions wherever they are: its own (adopted
// here), and every live member's, asked with a HandOnRequest. The copies
// are usually on the shard's other owner of the time of the decision, but
// a decision copied while the owners changed is on the other owner of
// that moment, possibly this node or a third member; asking them all
// finds them. The shards' persons are decided here only once every member
// answered (or laneWait passed: see await), so a person's later events
// reach the endpoint after the ones the dead member had not delivered.
func (cl *clusterNode) pullCopies(dead string, shards []int) {
	// What is adopted for these shards meanwhile — here and from every
	// member, in whatever order the answers come — is held back and handed
	// to the endpoint actors at the end, in sequence order: copies of a
	// person's older decisions may come after those of its newer ones.
	cl.pulls.hold(shards)
	in := inShards(shards)
	ds, err := cl.n.store.Outbox().Replicas(dead, in)
	if err == nil {
		err = cl.adopt(dead, ds)
	}
	if err != nil {
		cl.log.Error("cluster: taking a dead member's deliveries over", "member", dead, "err", err)
	}
	req := &clusterpb.HandOnRequest{Dead: dead, From: cl.name}
	for _, s := range shards {
		req.Shards = append(req.Shards, int32(s))
	}
	var wg sync.WaitGroup
	for _, m := range cl.members.Placement().Members() {
		if m == cl.name || m == dead {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := cl.ack(context.Background(), m, req, 10*time.Second); err != nil {
				// Gone too, or not answering: what it holds is lost to this
				// takeover (see the limits in docs/architecture.md).
				cl.log.Warn("cluster: a member did not hand on its copies of a dead member's deliveries",
					"holder", m, "member", dead, "err", err)
			}
		}()
	}
	wg.Wait()
	// Sent before the gate opens: before any new decision for the persons.
	cl.enqueue(cl.pulls.release(shards))
	cl.gate.mu.Lock()
	for _, s := range shards {
		if a, ok := cl.gate.awaiting[s]; ok && a.dead == dead {
			closeOnce(a.persons)
			closeOnce(a.visitors)
			delete(cl.gate.awaiting, s)
		}
	}
	cl.gate.mu.Unlock()
	cl.log.Info("cluster: a dead member's persons taken over", "member", dead, "shards", len(shards))
}

// onHandOnRequest hands the copies of a dead member's decisions in the
// asked shards to the member that asks (see pullCopies), and with them
// this node's own unfinished deliveries of the shards' persons: this node
// may have been their primary, handing them to the dead member when it
// died (its hand-over then reached nobody), and the asker must send them
// before it decides anything new for those persons. This node's endpoint
// actors keep sending them too (the same event ids and sequences: a
// duplicate at worst).
func (cl *clusterNode) onHandOnRequest(m *clusterpb.HandOnRequest) proto.Message {
	shards := make([]int, 0, len(m.Shards))
	for _, s := range m.Shards {
		if s < 0 || int(s) >= cluster.Shards {
			return &clusterpb.Ack{Error: fmt.Sprintf("shard %d out of range", s)}
		}
		shards = append(shards, int(s))
	}
	if err := cl.handOn(m.Dead, m.From, shards); err != nil {
		return &clusterpb.Ack{Error: err.Error()}
	}
	in := inShards(shards)
	own := &clusterpb.Replica{From: cl.name, Adopt: true}
	if err := cl.n.eachUnfinished(func(d *firehook.Delivery) {
		if in(d.PersonKey) {
			own.Deliveries = append(own.Deliveries, persistence.EncodeDelivery(d))
		}
	}); err != nil {
		return &clusterpb.Ack{Error: err.Error()}
	}
	if len(own.Deliveries) > 0 {
		if err := cl.ack(context.Background(), m.From, own, 5*time.Second); err != nil {
			return &clusterpb.Ack{Error: err.Error()}
		}
		cl.log.Info("cluster: own unfinished deliveries handed to the new primary of their persons",
			"to", m.From, "deliveries", len(own.Deliveries))
	}
	return &clusterpb.Ack{}
}

// enqueue hands adopted deliveries to the endpoint actors (when the
// pipeline runs; otherwise they start with them).
func (cl *clusterNode) enqueue(ds []firehook.Delivery) {
	if p := cl.n.committed.Load(); p != nil && len(ds) > 0 {
		p.Enqueue(ds)
	}
}

// heldAdoptions holds back the deliveries adopted for shards whose
// takeover is in progress (pullCopies), so that they reach the endpoint
// actors together, in sequence order.
type heldAdoptions struct {
	mu   sync.Mutex
	held map[int][]firehook.Delivery // shard → deliveries held; a key per shard being pulled
}

// hold starts holding back the deliveries of shards.
func (h *heldAdoptions) hold(shards []int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.held == nil {
		h.held = map[int][]firehook.Delivery{}
	}
	for _, s := range shards {
		if _, ok := h.held[s]; !ok {
			h.held[s] = []firehook.Delivery{}
		}
	}
}

// keep holds back those of ds whose shard is held and returns the others.
func (h *heldAdoptions) keep(ds []firehook.Delivery) []firehook.Delivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := ds[:0:0]
	for _, d := range ds {
		s := cluster.KeyShard(d.PersonKey)
		if held, ok := h.held[s]; ok {
			h.held[s] = append(held, d)
			continue
		}
		out = append(out, d)
	}
	return out
}

// release stops holding back shards and returns what was held, in
// sequence order per person.
func (h *heldAdoptions) release(shards []int) []firehook.Delivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []firehook.Delivery
	for _, s := range shards {
		out = append(out, h.held[s]...)
		delete(h.held, s)
	}
	slices.SortStableFunc(out, func(a, b firehook.Delivery) int {
		if c := strings.Compare(a.PersonKey, b.PersonKey); c != 0 {
			return c
		}
		return cmp.Compare(a.Sequence, b.Sequence)
	})
	return out
}

// inShards accepts the person keys of shards.
func inShards(shards []int) func(personKey string) bool {
	set := make(map[int]bool, len(shards))
	for _, s := range shards {
		set[s] = true
	}
	return func(lane string) bool { return set[cluster.KeyShard(lane)] }
}

// handOn sends the copies of dead member's deliveries and the dispatch
// state of its persons in shards to their new primary, which adopts them
// (see pullCopies).
func (cl *clusterNode) handOn(dead, primary string, shards []int) error {
	in := inShards(shards)
	ds, err := cl.n.store.Outbox().Replicas(dead, in)
	if err != nil {
		return fmt.Errorf("reading the copies of %s's deliveries: %w", dead, err)
	}
	seqs, err := cl.n.store.Outbox().LaneSequences(in)
	if err != nil {
		return fmt.Errorf("reading the dispatch state of %s's persons: %w", dead, err)
	}
	if len(ds) == 0 && len(seqs) == 0 {
		return nil
	}
	msg := &clusterpb.Replica{From: dead, Adopt: true}
	for lane, seq := range seqs {
		msg.Lanes, msg.Seqs = append(msg.Lanes, lane), append(msg.Seqs, seq)
	}
	for i := range ds {
		msg.Deliveries = append(msg.Deliveries, persistence.EncodeDelivery(&ds[i]))
	}
	if err := cl.ack(context.Background(), primary, msg, 5*time.Second); err != nil {
		return fmt.Errorf("handing %s's deliveries to %s: %w", dead, primary, err)
	}
	if err := cl.n.store.Outbox().DropReplicas(dead, deliveryIDs(ds)); err != nil {
		cl.log.Warn("cluster: dropping copies handed on", "err", err)
	}
	return nil
}

func deliveryIDs(ds []firehook.Delivery) []string {
	ids := make([]string, len(ds))
	for i := range ds {
		ids[i] = ds[i].ID
	}
	return ids
}

// catchUpTakenOver runs when the node starts in a cluster, before its
// endpoint actors load its unfinished deliveries. Every live member is
// asked about them:
//
//   - deliveries a member took over while this node was down are removed
//     here (the member sends them; Outbox.Reconcile);
//   - a decision whose copy never left this node (it died between the
//     decision and the copy), while the person's sequence went on
//     elsewhere without it, is void: its deliveries were never sent, and
//     sending them now would put an old sequence after newer ones. They
//     are removed with the decision (Outbox.Void), and the event, replayed
//     from the log, is decided again by the person's owner.
//
// A member that does not answer in time is skipped: deliveries may then
// be sent by both, or out of order.
func (cl *clusterNode) catchUpTakenOver(ctx context.Context) {
	mine, err := cl.unfinishedDecisions()
	if err != nil {
		cl.log.Error("cluster: reading this node's unfinished deliveries", "err", err)
	}
	// The lanes and deliveries are asked about in parts (a member whose
	// endpoint is down may hold many): the first part also brings the
	// decisions taken over.
	var lanes, ids []string
	for lane := range mine.lanes {
		lanes = append(lanes, lane)
	}
	for _, d := range mine.byEvent {
		ids = append(ids, d.ids...)
	}
	queries := []*clusterpb.TakenOverQuery{{Member: cl.name}}
	for i := 0; i < max(len(lanes), len(ids)); i += catchUpPart {
		q := queries[len(queries)-1]
		if len(q.Lanes) > 0 || len(q.Deliveries) > 0 {
			q = &clusterpb.TakenOverQuery{Member: cl.name, SkipDecisions: true}
			queries = append(queries, q)
		}
		q.Lanes = lanes[min(i, len(lanes)):min(i+catchUpPart, len(lanes))]
		q.Deliveries = ids[min(i, len(ids)):min(i+catchUpPart, len(ids))]
	}
	members := slices.DeleteFunc(cl.members.Placement().Members(), func(m string) bool { return m == cl.name })
	var (
		mu      sync.Mutex
		known   = map[string]bool{}   // events taken over or held elsewhere
		seqs    = map[string]uint64{} // how far each lane went elsewhere
		wg      sync.WaitGroup
		answers int
	)
	for _, member := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, q := range queries {
				r, err := cl.catchUpFrom(ctx, member, q)
				if err != nil {
					cl.log.Warn("cluster: catching up with a member failed", "member", member, "err", err)
					return
				}
				mu.Lock()
				for _, d := range r.Decisions {
					known[d.EventId] = true
				}
				for i, lane := range q.Lanes {
					if i < len(r.Seqs) {
						seqs[lane] = max(seqs[lane], r.Seqs[i])
					}
				}
				for _, id := range r.Held {
					if ev, ok := mine.eventOf[id]; ok {
						known[ev] = true
					}
				}
				mu.Unlock()
			}
			mu.Lock()
			answers++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if answers == 0 || len(mine.byEvent) == 0 {
		return
	}
	var candidates []string
	for ev, d := range mine.byEvent {
		if !known[ev] && seqs[d.lane] >= d.seq {
			candidates = append(candidates, ev)
		}
	}
	void := cl.replayable(candidates)
	if len(void) == 0 {
		return
	}
	removed, err := cl.n.store.Outbox().Void(void)
	if err != nil {
		cl.log.Error("cluster: voiding decisions whose persons went on elsewhere", "err", err)
		return
	}
	cl.log.Info("cluster: decisions made just before this node died, never copied, to be made again",
		"events", len(void), "deliveries_removed_here", removed, "kept", len(candidates)-len(void))
}

// catchUpPart bounds the lanes and the deliveries one TakenOverQuery
// asks about (a message stays well under gRPC's 4 MiB).
const catchUpPart = 5000

// unfinished is this node's unfinished deliveries, by event.
type unfinished struct {
	byEvent map[string]*unfinishedEvent
	eventOf map[string]string // delivery id → event id
	lanes   map[string]bool
}

type unfinishedEvent struct {
	lane string
	seq  uint64
	ids  []string
}

// unfinishedDecisions lists this node's unfinished deliveries.
func (cl *clusterNode) unfinishedDecisions() (unfinished, error) {
	u := unfinished{byEvent: map[string]*unfinishedEvent{}, eventOf: map[string]string{}, lanes: map[string]bool{}}
	err := cl.n.eachUnfinished(func(d *firehook.Delivery) {
		e := u.byEvent[d.EventID]
		if e == nil {
			e = &unfinishedEvent{lane: d.PersonKey, seq: d.Sequence}
			u.byEvent[d.EventID] = e
		}
		e.ids = append(e.ids, d.ID)
		u.eventOf[d.ID] = d.EventID
		u.lanes[d.PersonKey] = true
	})
	return u, err
}

// replayable returns those of eventIDs that the pipeline replays from the
// log when it starts (after the processed-up-to mark): only their
// decisions can be made again.
func (cl *clusterNode) replayable(eventIDs []string) []string {
	if len(eventIDs) == 0 {
		return nil
	}
	want := make(map[string]bool, len(eventIDs))
	for _, id := range eventIDs {
		want[id] = true
	}
	mark, err := cl.n.store.ProcessedUpTo()
	if err != nil {
		cl.log.Error("cluster: reading the processed-up-to mark", "err", err)
		return nil
	}
	var out []string
	err = cl.n.store.Events.Scan(mark+1, func(ev *firehook.Event) bool {
		if want[ev.ID] {
			out = append(out, ev.ID)
			delete(want, ev.ID)
		}
		return len(want) > 0
	})
	if err != nil {
		cl.log.Error("cluster: reading the log to replay", "err", err)
		return nil
	}
	return out
}

// catchUpFrom asks member about this node's decisions and reconciles the
// ones it took over.
func (cl *clusterNode) catchUpFrom(ctx context.Context, member string, q *clusterpb.TakenOverQuery) (*clusterpb.TakenOverReply, error) {
	r, err := call[*clusterpb.TakenOverReply](ctx, cl, member, q, 3*time.Second)
	if err != nil {
		return nil, err
	}
	if len(r.Decisions) == 0 {
		return r, nil
	}
	tos := make([]persistence.TakenOver, 0, len(r.Decisions))
	ids := make([]string, 0, len(r.Decisions))
	for _, d := range r.Decisions {
		tos = append(tos, persistence.TakenOver{EventID: d.EventId, Type: d.Type, Sequence: d.Sequence,
			PersonKey: d.PersonKey, Deliveries: d.Deliveries})
		ids = append(ids, d.EventId)
	}
	removed, err := cl.n.store.Outbox().Reconcile(tos)
	if err != nil {
		return nil, fmt.Errorf("reconcile: %w", err)
	}
	cl.log.Info("cluster: decisions taken over while this node was down", "member", member,
		"decisions", len(tos), "deliveries_removed_here", removed)
	return r, cl.ack(ctx, member, &clusterpb.TakenOverDone{Member: cl.name, EventIds: ids}, 3*time.Second)
}

// onTakenOverQuery lists the decisions of a member taken over here.
func (cl *clusterNode) onTakenOverQuery(m *clusterpb.TakenOverQuery) proto.Message {
	var tos []persistence.TakenOver
	var err error
	if !m.SkipDecisions {
		if tos, err = cl.n.store.Outbox().TakenOverFrom(m.Member); err != nil {
			return &clusterpb.TakenOverReply{Error: err.Error()}
		}
	}
	r := &clusterpb.TakenOverReply{Decisions: make([]*clusterpb.TakenOver, 0, len(tos))}
	for _, to := range tos {
		r.Decisions = append(r.Decisions, &clusterpb.TakenOver{EventId: to.EventID, Type: to.Type,
			Sequence: to.Sequence, PersonKey: to.PersonKey, Deliveries: to.Deliveries})
	}
	if len(m.Lanes) > 0 {
		lanes := make(map[string]bool, len(m.Lanes))
		for _, l := range m.Lanes {
			lanes[l] = true
		}
		seqs, err := cl.n.store.Outbox().LaneSequences(func(l string) bool { return lanes[l] })
		if err != nil {
			return &clusterpb.TakenOverReply{Error: err.Error()}
		}
		for _, l := range m.Lanes {
			r.Seqs = append(r.Seqs, seqs[l])
		}
	}
	if r.Held, err = cl.n.store.Outbox().HeldReplicas(m.Member, m.Deliveries); err != nil {
		return &clusterpb.TakenOverReply{Error: err.Error()}
	}
	return r
}

// onTakenOverDone forgets the notes a member reconciled.
func (cl *clusterNode) onTakenOverDone(m *clusterpb.TakenOverDone) proto.Message {
	if err := cl.n.store.Outbox().DropTakenOver(m.Member, m.EventIds); err != nil {
		return &clusterpb.Ack{Error: err.Error()}
	}
	return &clusterpb.Ack{}
}

// replicasHeld counts the copies of other members' deliveries held here.
func (cl *clusterNode) replicasHeld() int {
	counts, _ := cl.n.store.Outbox().ReplicaCounts()
	total := 0
	for _, c := range counts {
		total += c
	}
	return total
}

// decodeDeliveries decodes deliveries sent between members
// (persistence.EncodeDelivery).
func decodeDeliveries(bs [][]byte) ([]firehook.Delivery, error) {
	ds := make([]firehook.Delivery, 0, len(bs))
	for _, b := range bs {
		d, err := persistence.DecodeDelivery(b)
		if err != nil {
			return nil, err
		}
		ds = append(ds, d)
	}
	return ds, nil
}
