package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/cluster"
	"github.com/firehook/firehook/cluster/clusterpb"
	"github.com/firehook/firehook/identity"
)

// Copying graph shards to their new owners.
//
// A shard's two owners hold its part of the identity graph. When the
// members change, a node that becomes an owner of a shard copies it from
// a live owner (the shard's other owner: it receives the shard's writes
// throughout): it asks for the shard's digest first and copies only when
// its own differs (a node that restarts usually differs in few shards),
// then pulls the shard (ShardPull), which the owner streams in chunks
// (ShardChunk), one at a time and at most ClusterConfig.ShardCopyRate
// records a second,
// so that the copy leaves live traffic its latency. The receiver applies
// the chunks as an identity.Transfer — the shard's live writes, which it
// takes from the moment it owns the shard, win over the copy — and
// compares its digests with the owner's. A shard whose digests agree is
// confirmed to every member (ShardsConfirmed), and a member that does not
// own it any more drops its copy then, not before.
//
// A node that starts waits, before its pipeline starts, until its first
// round of copies is done or ClusterConfig.CatchUpWait passed.

// shardCopyRetry is how long a copier waits after a round that left
// shards unconfirmed (no live owner, an error, digests that differ).
const shardCopyRetry = 2 * time.Second

// shardCopier copies the shards this node gained.
type shardCopier struct {
	cl *clusterNode

	mu sync.Mutex
	// wanted holds the shards gained and not confirmed yet, each with the
	// members that owned it before: only they can hold its content (a
	// member that gained it too holds nothing, and copying from it would
	// wipe the shard).
	wanted   map[int][]string
	dropped  map[int]bool                  // shards this node dropped since it last owned them
	sessions map[string]*identity.Transfer // transfers being received, by session
	stats    ShardCopyStats
	rounds   int           // rounds finished
	first    chan struct{} // closed when the first round is done
	kick     chan struct{} // a round is wanted (buffered, 1)
}

// ShardCopyStats is a node's progress in copying shards, in GET
// /v1/cluster (NodeStats) and the metrics.
type ShardCopyStats struct {
	// Pending counts the shards this node owns that are not confirmed yet.
	Pending int `json:"pending"`
	// Copying counts the shards being copied now.
	Copying int `json:"copying"`
	// Confirmed counts the shards found equal to a live owner's, copied
	// or not; Copied those of them that were copied, Records the records
	// and links they brought.
	Confirmed int64 `json:"confirmed_total"`
	Copied    int64 `json:"copied_total"`
	Records   int64 `json:"records_copied_total"`
	// Failed counts the shards a round left unconfirmed (retried).
	Failed int64 `json:"failed_total"`
	// CaughtUp is set once the first round after the start is over.
	CaughtUp  bool   `json:"caught_up"`
	LastError string `json:"last_error,omitempty"`
}

func newShardCopier(cl *clusterNode) *shardCopier {
	return &shardCopier{cl: cl, wanted: map[int][]string{}, dropped: map[int]bool{}, sessions: map[string]*identity.Transfer{},
		first: make(chan struct{}), kick: make(chan struct{}, 1)}
}

// gained records shards this node became an owner of, with prev, the
// placement before: a shard that had no owner but this node has nothing
// to copy.
func (c *shardCopier) gained(shards []int, prev *cluster.Placement) {
	c.mu.Lock()
	n := 0
	for _, s := range shards {
		delete(c.dropped, s)
		var from []string
		for _, o := range prev.ShardOwners(s) {
			if o != c.cl.name {
				from = append(from, o)
			}
		}
		if len(from) > 0 {
			c.wanted[s] = from
			n++
		}
	}
	c.mu.Unlock()
	if n > 0 {
		c.poke()
	}
}

func (c *shardCopier) poke() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// run copies the wanted shards, round after round, until stop closes.
func (c *shardCopier) run(stop <-chan struct{}) {
	defer c.cl.wg.Done()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for first := true; ; first = false {
		if !first { // the first round runs at once: the node's start waits for it
			select {
			case <-stop:
				return
			case <-c.kick:
			case <-retry.C:
			}
		}
		left := c.round(stop)
		c.mu.Lock()
		c.rounds++
		if c.rounds == 1 {
			c.stats.CaughtUp = true
			close(c.first)
		}
		c.mu.Unlock()
		if left > 0 {
			retry.Reset(shardCopyRetry)
		}
	}
}

// round tries every wanted shard once and returns how many are left.
func (c *shardCopier) round(stop <-chan struct{}) int {
	pl := c.cl.placement()
	me := c.cl.name
	c.mu.Lock()
	bySource := map[string][]int{}
	for s, from := range c.wanted {
		if !pl.Owns(me, s) {
			delete(c.wanted, s) // not ours any more
			continue
		}
		if source := c.source(pl, s, from); source != "" {
			bySource[source] = append(bySource[source], s)
			continue
		}
		// Every member that held it is gone: nothing left to copy.
		c.cl.log.Warn("cluster: a graph shard gained with none of its previous owners alive; not copied", "shard", s, "previous", from)
		delete(c.wanted, s)
	}
	c.mu.Unlock()
	for source, shards := range bySource {
		select {
		case <-stop:
			return len(c.wanted)
		default:
		}
		slices.Sort(shards)
		confirmed, err := c.copyFrom(source, shards)
		c.mu.Lock()
		for _, s := range confirmed {
			delete(c.wanted, s)
		}
		c.stats.Confirmed += int64(len(confirmed))
		if n := len(shards) - len(confirmed); n > 0 {
			c.stats.Failed += int64(n)
		}
		if err != nil {
			c.stats.LastError = err.Error()
		}
		c.mu.Unlock()
		if err != nil {
			c.cl.log.Warn("cluster: copying graph shards", "from", source, "shards", len(shards), "confirmed", len(confirmed), "err", err)
		}
		if len(confirmed) > 0 {
			c.confirm(confirmed)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stats.Pending = len(c.wanted)
	return len(c.wanted)
}

// source picks the member to copy shard s from: one of its previous
// owners from, alive, preferring one that still owns it (it takes the
// shard's writes).
func (c *shardCopier) source(pl *cluster.Placement, s int, from []string) string {
	alive := ""
	for _, m := range from {
		if _, ok := c.cl.members.Member(m); !ok {
			continue
		}
		if pl.Owns(m, s) {
			return m
		}
		if alive == "" {
			alive = m
		}
	}
	return alive
}

// copyFrom brings shards to this node from source and returns those
// confirmed equal to source's.
func (c *shardCopier) copyFrom(source string, shards []int) ([]int, error) {
	cl := c.cl
	ctx := context.Background()
	theirs, err := cl.shardDigests(ctx, source, shards)
	if err != nil {
		return nil, err
	}
	var same, differ []int
	for _, s := range shards {
		if d, ok := theirs[s]; ok && d == cl.n.graph.ShardDigest(s) {
			same = append(same, s)
		} else {
			differ = append(differ, s)
		}
	}
	if len(differ) == 0 {
		return same, nil
	}
	c.setCopying(len(differ))
	defer c.setCopying(0)
	start := time.Now()
	pl := cl.placement()
	t := cl.n.graph.BeginTransfer(differ, func(s int) bool { return pl.Owns(cl.name, s) })
	session := firehook.NewID("sc_")
	c.mu.Lock()
	c.sessions[session] = t
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.sessions, session)
		c.mu.Unlock()
		t.Close()
	}()
	msg := &clusterpb.ShardPull{Session: session, From: cl.name, Actor: cl.tr.Addr(), Batch: int32(cl.n.cfg.Cluster.ShardCopyBatch),
		RatePerS: int32(cl.n.cfg.Cluster.ShardCopyRate)}
	for _, s := range differ {
		msg.Shards = append(msg.Shards, int32(s))
	}
	r, err := call[*clusterpb.ShardDigests](ctx, cl, source, msg, 10*time.Minute)
	if err != nil {
		return same, fmt.Errorf("pull: %w", err)
	}
	if _, err := t.Finish(); err != nil {
		return same, err
	}
	if err := cl.n.graph.Sync(); err != nil {
		return same, err
	}
	copied := same
	want := digestsOf(r)
	for _, s := range differ {
		// Writes in flight can pass the copy's end on one owner and not
		// yet on the other: look again a few times before calling it
		// different.
		for attempt := 0; ; attempt++ {
			if cl.n.graph.ShardDigest(s) == want[s] {
				copied = append(copied, s)
				break
			}
			if attempt == 3 {
				break
			}
			time.Sleep(100 * time.Millisecond)
			if again, err := cl.shardDigests(ctx, source, []int{s}); err == nil {
				want[s] = again[s]
			}
		}
	}
	c.mu.Lock()
	c.stats.Copied += int64(len(copied) - len(same))
	c.mu.Unlock()
	cl.log.Info("cluster: graph shards copied", "from", source, "shards", len(differ),
		"equal", len(copied)-len(same), "took", time.Since(start).Round(time.Millisecond))
	if len(copied) < len(shards) {
		return copied, errors.New("digests differ after the copy")
	}
	return copied, nil
}

func (c *shardCopier) setCopying(n int) {
	c.mu.Lock()
	c.stats.Copying = n
	c.mu.Unlock()
}

// confirm tells every member that this node holds shards.
func (c *shardCopier) confirm(shards []int) {
	msg := &clusterpb.ShardsConfirmed{}
	for _, s := range shards {
		msg.Shards = append(msg.Shards, int32(s))
	}
	for _, m := range c.cl.members.Members() {
		if m.Name == c.cl.name || (m.State != cluster.StateAlive && m.State != cluster.StateSuspect) {
			continue
		}
		c.cl.tr.Send(m.Meta.Actor, msg)
	}
}

// Stats returns the copier's progress.
func (c *shardCopier) Stats() ShardCopyStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.stats
	st.Pending = len(c.wanted)
	return st
}

// waitFirstRound waits until the first round is over or ctx ends.
func (c *shardCopier) waitFirstRound(ctx context.Context) bool {
	select {
	case <-c.first:
		return true
	case <-ctx.Done():
		return false
	}
}

// shardDigests asks member for its digests of shards.
func (cl *clusterNode) shardDigests(ctx context.Context, member string, shards []int) (map[int]identity.ShardDigest, error) {
	q := &clusterpb.ShardDigestQuery{}
	for _, s := range shards {
		q.Shards = append(q.Shards, int32(s))
	}
	r, err := call[*clusterpb.ShardDigests](ctx, cl, member, q, 10*time.Second)
	if err != nil {
		return nil, err
	}
	return digestsOf(r), nil
}

func digestsOf(r *clusterpb.ShardDigests) map[int]identity.ShardDigest {
	out := make(map[int]identity.ShardDigest, len(r.Shards))
	for i, s := range r.Shards {
		if i < len(r.Sums) && i < len(r.Entries) {
			out[int(s)] = identity.ShardDigest{Sum: r.Sums[i], Entries: int(r.Entries[i])}
		}
	}
	return out
}

// validShards converts wire shard numbers, refusing any out of range.
func validShards(in []int32) ([]int, error) {
	out := make([]int, 0, len(in))
	for _, s := range in {
		if s < 0 || int(s) >= cluster.Shards {
			return nil, fmt.Errorf("shard %d out of range", s)
		}
		out = append(out, int(s))
	}
	return out, nil
}

// onShardDigestQuery answers with this node's digests of the shards.
func (cl *clusterNode) onShardDigestQuery(m *clusterpb.ShardDigestQuery) proto.Message {
	shards, err := validShards(m.Shards)
	if err == nil {
		err = cl.copier.holds(shards)
	}
	if err != nil {
		return &clusterpb.ShardDigests{Error: err.Error()}
	}
	return cl.digestsReply(shards)
}

// holds refuses shards this node dropped: it cannot be the source of
// their copy any more.
func (c *shardCopier) holds(shards []int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range shards {
		if c.dropped[s] {
			return fmt.Errorf("shard %d: dropped here (another member holds it now)", s)
		}
	}
	return nil
}

func (cl *clusterNode) digestsReply(shards []int) *clusterpb.ShardDigests {
	r := &clusterpb.ShardDigests{}
	for _, s := range shards {
		d := cl.n.graph.ShardDigest(s)
		r.Shards = append(r.Shards, int32(s))
		r.Sums = append(r.Sums, d.Sum)
		r.Entries = append(r.Entries, int64(d.Entries))
	}
	return r
}

// onShardPull streams shards to the member that asks, in chunks, each
// waited for, at most RatePerS records a second; then it answers with
// the shards' digests.
func (cl *clusterNode) onShardPull(m *clusterpb.ShardPull) proto.Message {
	shards, err := validShards(m.Shards)
	if err == nil {
		err = cl.copier.holds(shards)
	}
	if err == nil && m.Actor == "" {
		err = errors.New("shard pull without the puller's actor address")
	}
	if err != nil {
		return &clusterpb.ShardDigests{Error: err.Error()}
	}
	batch := int(m.Batch)
	if batch <= 0 || batch > 10_000 {
		batch = 500
	}
	start, sent := time.Now(), 0
	err = cl.n.graph.ExportShards(shards, batch, func(b identity.ShardBatch) error {
		if m.RatePerS > 0 {
			// Throttle: the chunk waits until the rate allows it.
			if due := start.Add(time.Duration(float64(sent) / float64(m.RatePerS) * float64(time.Second))); time.Until(due) > 0 {
				time.Sleep(time.Until(due))
			}
		}
		body, err := b.MarshalBinary()
		if err != nil {
			return err
		}
		sent += b.Len()
		// To the address the puller gave: a member that just restarted
		// may not be seen alive here yet.
		r, err := cl.tr.Request(context.Background(), m.Actor, &clusterpb.ShardChunk{Session: m.Session, Batch: body}, 30*time.Second)
		if err != nil {
			return err
		}
		ack, ok := r.(*clusterpb.Ack)
		if !ok {
			return errReply(r)
		}
		if ack.Error != "" {
			return remoteError(m.From, ack.Error)
		}
		return nil
	})
	if err != nil {
		return &clusterpb.ShardDigests{Error: fmt.Sprintf("copying shards to %s: %v", m.From, err)}
	}
	return cl.digestsReply(shards)
}

// onShardChunk applies one chunk of a copy this node receives.
func (cl *clusterNode) onShardChunk(m *clusterpb.ShardChunk) proto.Message {
	c := cl.copier
	c.mu.Lock()
	t := c.sessions[m.Session]
	c.mu.Unlock()
	if t == nil {
		return &clusterpb.Ack{Error: "no such shard copy (ended)"}
	}
	var b identity.ShardBatch
	if err := b.UnmarshalBinary(m.Batch); err != nil {
		return &clusterpb.Ack{Error: err.Error()}
	}
	n, err := t.Apply(b)
	if err != nil {
		return &clusterpb.Ack{Error: err.Error()}
	}
	c.mu.Lock()
	c.stats.Records += int64(n)
	c.mu.Unlock()
	return &clusterpb.Ack{}
}

// onShardsConfirmed drops this node's copies of shards that another
// member now holds, checked, and that this node does not own any more.
func (cl *clusterNode) onShardsConfirmed(m *clusterpb.ShardsConfirmed) proto.Message {
	shards, err := validShards(m.Shards)
	if err != nil {
		return &clusterpb.Ack{Error: err.Error()}
	}
	pl := cl.placement()
	var drop [cluster.Shards]bool
	some := false
	for _, s := range shards {
		if !pl.Owns(cl.name, s) {
			drop[s], some = true, true
		}
	}
	if !some {
		return &clusterpb.Ack{}
	}
	cl.copier.mu.Lock()
	for s := range drop {
		if drop[s] {
			cl.copier.dropped[s] = true
		}
	}
	cl.copier.mu.Unlock()
	persons, links, err := cl.n.graph.DropShards(func(s int) bool { return !drop[s] || pl.Owns(cl.name, s) })
	if err != nil {
		cl.log.Error("cluster: dropping graph shards another member holds now", "err", err)
		return &clusterpb.Ack{Error: err.Error()}
	}
	if persons > 0 || links > 0 {
		cl.log.Info("cluster: graph shards dropped: their new owner holds them", "persons", persons, "links", links)
	}
	return &clusterpb.Ack{}
}
