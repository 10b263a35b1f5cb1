package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/actors"
	"github.com/firehook/firehook/actors/pipeline"
	"github.com/firehook/firehook/actors/webhook"
	"github.com/firehook/firehook/cluster"
	"github.com/firehook/firehook/cluster/clusterpb"
	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/metrics"
)

// ClusterConfig makes a node a member of a cluster. A node whose
// GossipListen is empty runs alone.
type ClusterConfig struct {
	// GossipListen is the gossip address (memberlist, UDP and TCP).
	// Empty: no cluster.
	GossipListen string
	// ActorListen is the address of the actor transport between nodes
	// (protoactor remote over gRPC). Default: GossipListen's host, a free
	// port.
	ActorListen string
	// Join lists gossip addresses of members to join. Empty: this node
	// starts a new cluster.
	Join []string
	// Name names the cluster; nodes of other clusters are ignored.
	// Default "firehook".
	Name string
	// Key is the cluster key (FIREHOOK_CLUSTER_KEY; see cluster's
	// clusterkey.go): gossip encrypted, the actor transport mutual TLS, only
	// members with the key admitted. Nil: member traffic in the clear, any
	// peer that reaches the ports admitted (a warning is logged).
	Key []byte
	// Membership tunes failure detection (its Name, GossipListen, Join,
	// Cluster, Meta, State, MergeState, OnChange and Log are set by the
	// node).
	Membership cluster.MembershipConfig
	// ShardCopyBatch is how many records and links one chunk of a graph
	// shard copy carries. Default 500.
	ShardCopyBatch int
	// ShardCopyRate bounds how many records and links a second a copy of
	// graph shards to this node brings (the member it copies from keeps to
	// it), so that the copy leaves live traffic its latency. Default
	// 20,000; negative: no limit.
	ShardCopyRate int
	// CatchUpWait bounds how long a node that starts waits for its first
	// round of shard copies before its pipeline starts (the rest goes on
	// in the background). Default 30 s.
	CatchUpWait time.Duration
}

// withDefaults fills in the zero fields.
func (c ClusterConfig) withDefaults() ClusterConfig {
	if c.ShardCopyBatch <= 0 {
		c.ShardCopyBatch = 500
	}
	switch {
	case c.ShardCopyRate == 0:
		c.ShardCopyRate = 20_000
	case c.ShardCopyRate < 0:
		c.ShardCopyRate = 0
	}
	if c.CatchUpWait <= 0 {
		c.CatchUpWait = 30 * time.Second
	}
	return c
}

// Enabled reports whether the node is to join a cluster.
func (c ClusterConfig) Enabled() bool { return c.GossipListen != "" }

// clusterNode is a node's part of a cluster: its membership, its actor
// transport, and the routing of events, identity lookups and dispatches
// to the members that own them. It implements pipeline.Router.
type clusterNode struct {
	n       *Node
	name    string
	log     *slog.Logger
	members *cluster.Membership
	tr      *cluster.Transport
	ho      *handoffs
	seen    *recentIDs // event ids handed to this node lately
	copier  *shardCopier
	gate    shardGate
	pulls   heldAdoptions  // deliveries adopted for shards whose takeover is not complete (pullCopies)
	wg      sync.WaitGroup // hand-overs, takeovers and the done reporter
	done    replicaDone    // finished deliveries to report to their copies' holders
	stop    chan struct{}  // closed by close: stops the done reporter
	// refusing is set while the node leaves: members keep the events
	// they would hand it.
	refusing atomic.Bool
	// ready is closed once the node joined (members is set) or failed to
	// (members stays nil): handlers wait for it.
	ready chan struct{}
}

var _ pipeline.Router = (*clusterNode)(nil)

// startCluster starts the actor transport, registers the handlers of the
// messages members send, and joins the cluster. The pipeline is not
// running yet: requests that need it are answered with an error and
// retried by their senders.
func (n *Node) startCluster(sys *actors.System) error {
	n.cfg.Cluster = n.cfg.Cluster.withDefaults()
	cc := n.cfg.Cluster
	host, _, err := net.SplitHostPort(cc.GossipListen)
	if err != nil {
		return fmt.Errorf("cluster: gossip listen %q: %w", cc.GossipListen, err)
	}
	actorListen := cc.ActorListen
	if actorListen == "" {
		actorListen = net.JoinHostPort(host, "0")
	}
	log := n.log.With("component", "cluster")
	if cc.Key == nil {
		log.Warn("cluster: member traffic is neither encrypted nor authenticated: set FIREHOOK_CLUSTER_KEY on every member")
	}
	tr, err := cluster.StartTransport(cluster.TransportConfig{System: sys.ActorSystem(), Listen: actorListen,
		Observe: n.observeClusterRequest, Log: log, Key: cc.Key})
	if err != nil {
		return err
	}
	cl := &clusterNode{n: n, name: n.cfg.Name, log: log, tr: tr, seen: newRecentIDs(1 << 16)}
	cl.gate.awaiting, cl.gate.received = map[int]*awaitedShard{}, map[int]time.Time{}
	cl.ready = make(chan struct{})
	cl.done.pending, cl.stop = map[string][]string{}, make(chan struct{})
	cl.ho = newHandoffs(cl)
	cl.copier = newShardCopier(cl)
	cl.register()
	mc := cc.Membership
	mc.Name, mc.GossipListen, mc.Join, mc.Cluster, mc.Log = n.cfg.Name, cc.GossipListen, cc.Join, cc.Name, log
	mc.Key = cc.Key
	mc.Meta = cluster.Meta{Version: n.cfg.Version, Actor: tr.Addr(), Admin: n.cfg.advertised(n.cfg.AdminListen),
		Ingest: n.cfg.advertised(n.cfg.Listen)}
	mc.State, mc.MergeState = cl.configState, cl.mergeConfigState
	mc.OnChange = cl.placementChanged
	members, err := cluster.Join(mc)
	if err != nil {
		close(cl.ready)
		tr.Close()
		return err
	}
	cl.members = members
	close(cl.ready)
	cl.wg.Add(2)
	go cl.reportDone(cl.stop)
	go cl.copier.run(cl.stop)
	n.cluster = cl
	cl.watchConfig()
	log.Info("cluster: joined", "node", cl.name, "gossip", cl.members.GossipAddr(), "actors", tr.Addr(),
		"members", cl.members.Placement().Members())
	return nil
}

// advertised turns a listen address into one peers can use (a wildcard
// host becomes 127.0.0.1: the admin and ingest addresses in the metadata
// are for operators and tools; set explicit hosts on a real network).
func (c Config) advertised(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// close stops handing off, gossip and the transport (a graceful stop
// left the cluster before: leaveCluster).
func (cl *clusterNode) close() {
	cl.ho.close()
	cl.members.Shutdown()
	close(cl.stop)
	cl.wg.Wait()
	cl.tr.Close()
}

// visitorShard is the shard that places (tenant, visitor): the shard of
// the visitor's learned-link identifier, so that the visitor's owner holds
// its learned links.
func visitorShard(tenantID, visitorID string) int { return identity.LinkShard(tenantID, visitorID) }

// visitorOwner returns the member that processes the events of (tenant,
// visitor) now: its shard's primary, or, while this node takes the shard
// over and its previous primary has not released the shard's visitors
// yet, that previous primary (it keeps processing them until it has seen
// the change and finished what it stored; see cluster_rebalance.go).
func (cl *clusterNode) visitorOwner(tenantID, visitorID string) string {
	shard := visitorShard(tenantID, visitorID)
	owner := cl.orSelf(cl.placement().Primary(shard))
	if owner == cl.name {
		if from, ok := cl.visitorsAwaited(shard); ok {
			return from
		}
	}
	return owner
}

// orSelf is member, or this node when the placement has no member (the
// last member after it left).
func (cl *clusterNode) orSelf(member string) string {
	if member == "" {
		return cl.name
	}
	return member
}

// visitorKey is the key under which a visitor's handoffs stay in order.
func visitorKey(tenantID, visitorID string) string { return tenantID + "\x00" + visitorID }

// LocalVisitor implements pipeline.Router.
func (cl *clusterNode) LocalVisitor(ev *firehook.Event) bool {
	return cl.heldBefore(ev) || cl.ho.local(ev.TenantID, ev.VisitorID)
}

// HandOff implements pipeline.Router.
func (cl *clusterNode) HandOff(ev *firehook.Event, done func(), here func()) {
	// This node does not process the event: if it comes back (the owners
	// changed again), it must be stored again, not taken for a resend of
	// one stored here.
	cl.seen.remove(ev.ID)
	cl.ho.add(pendingEvent{ev: ev, key: visitorKey(ev.TenantID, ev.VisitorID), done: done, here: here})
}

// personOwner returns the member that owns (tenant, person).
func (cl *clusterNode) personOwner(tenantID, personID string) string {
	return cl.orSelf(cl.placement().Owner(firehook.PersonKey(tenantID, personID)))
}

// Dispatch implements pipeline.Router: it sends the match to the person's
// owner and waits for its decision, asking again (the owner of the
// moment) until ctx ends.
func (cl *clusterNode) Dispatch(ctx context.Context, ev *firehook.Event, m identity.Match, s webhook.SessionInfo) error {
	req, err := encodeDispatch(ev, m, s)
	if err != nil {
		return err
	}
	// The visitor's earlier events, begun by its previous owner, go first.
	if err := cl.awaitVisitors(ctx, visitorShard(ev.TenantID, ev.VisitorID)); err != nil {
		return err
	}
	for {
		owner := cl.personOwner(ev.TenantID, m.Person.PersonID)
		var err error
		if owner == cl.name {
			if err = cl.dispatchHere(ctx, ev, m, s); err == nil {
				return nil
			}
		} else if ack, cerr := call[*clusterpb.Ack](ctx, cl, owner, req, 5*time.Second); cerr != nil {
			err = cerr
		} else if !ack.NotOwner {
			return nil
		} else {
			err = fmt.Errorf("cluster: %s does not own person %s", owner, m.Person.PersonID)
		}
		cl.log.Debug("cluster: dispatch failed; asking again", "owner", owner, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("dispatch to %s: %w (last: %w)", owner, ctx.Err(), err)
		case <-cl.members.Changed():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// request sends msg to member and waits for the reply.
func (cl *clusterNode) request(ctx context.Context, member string, msg proto.Message, timeout time.Duration) (proto.Message, error) {
	mem, ok := cl.members.Member(member)
	if !ok {
		return nil, fmt.Errorf("cluster: %s is not a live member: %w", member, cluster.ErrUnreachable)
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go cl.cancelWhenGone(rctx, cancel, member, mem.Meta.Boot)
	res, err := cl.tr.Request(rctx, mem.Meta.Actor, msg, timeout)
	if err != nil && ctx.Err() == nil && rctx.Err() != nil {
		err = fmt.Errorf("cluster: %s died or restarted during the request: %w: %w", member, cluster.ErrUnreachable, err)
	}
	return res, err
}

// cancelWhenGone cancels a request to member (in the life that started at
// boot) when the member dies or restarts: its answer will not come, and
// the caller should not wait out the timeout (a handoff's 10 s, a
// dispatch's 30 s) to learn it.
func (cl *clusterNode) cancelWhenGone(ctx context.Context, cancel context.CancelFunc, member string, boot int64) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-cl.members.Changed():
		}
		if mem, ok := cl.members.Member(member); !ok || mem.Meta.Boot != boot {
			cancel()
			return
		}
	}
}

// reply is what every answer between members carries: an error message
// when the request failed there.
type reply interface {
	proto.Message
	GetError() string
}

// call sends msg to member and returns its answer as an R, or the error
// of the request, of the answer's type, or the one the member answered.
func call[R reply](ctx context.Context, cl *clusterNode, member string, msg proto.Message, timeout time.Duration) (R, error) {
	var zero R
	res, err := cl.request(ctx, member, msg, timeout)
	if err != nil {
		return zero, err
	}
	r, ok := res.(R)
	if !ok {
		return zero, errReply(res)
	}
	if e := r.GetError(); e != "" {
		return zero, remoteError(member, e)
	}
	return r, nil
}

// errReply is the error for a reply of an unexpected type.
func errReply(reply proto.Message) error {
	return fmt.Errorf("cluster: unexpected reply %T", reply)
}

// remoteError is the error a member answered with.
func remoteError(member, msg string) error {
	return fmt.Errorf("cluster: %s: %w", member, errors.New(msg))
}

// leaveCluster takes the node out of the cluster without losing or
// reordering anything, within half of what ctx leaves (the ingest
// listener is closed already):
//
//  1. it refuses the events members hand it (they keep them and send them
//     to the new owner once this node is gone);
//  2. it finishes the events it holds, deciding as before;
//  3. it stops deciding and hands the dispatch state of its persons, then
//     its visitors, to the owners the cluster will have without it;
//  4. it announces that it leaves (gossip);
//  5. it waits for what is left: events that it could not finish in time,
//     handed to their new owners now, and its deliveries in flight.
//
// Deliveries still unfinished at the deadline (an endpoint that is down)
// stay in its outbox and resume when it starts again.
func (n *Node) leaveCluster(ctx context.Context) {
	cl := n.cluster
	wait := 5 * time.Second
	if d, ok := ctx.Deadline(); ok {
		wait = time.Until(d) / 2
	}
	deadline := time.Now().Add(wait)
	drained := func() bool {
		mark, _ := n.pipe.Mark()
		return mark >= n.store.Events.LastSeq() && cl.ho.pending() == 0
	}
	cl.refusing.Store(true)
	for !drained() && time.Now().Before(deadline.Add(-wait/2)) {
		time.Sleep(20 * time.Millisecond)
	}
	// Its deliveries get a quarter of the time to finish here; those left
	// go with their persons' state to their new owners.
	cl.handOverAll(wait / 4)
	if err := cl.members.Leave(2 * time.Second); err != nil {
		cl.log.Warn("cluster: leave", "err", err)
	}
	for {
		if drained() && n.unfinishedDeliveries() == 0 {
			cl.log.Info("cluster: left; every accepted event is processed or handed over, every delivery finished",
				"last_event_seq", n.store.Events.LastSeq())
			return
		}
		if time.Now().After(deadline) {
			mark, _ := n.pipe.Mark()
			cl.log.Warn("cluster: left before every event was handed over and every delivery finished; the rest resumes at the next start",
				"processed_up_to", mark, "last_event_seq", n.store.Events.LastSeq(), "handoff_pending", cl.ho.pending(),
				"endpoints_with_unfinished_deliveries", n.unfinishedDeliveries())
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// unfinishedDeliveries counts the endpoints with a delivery not yet
// delivered or failed in this node's outbox (0: none).
func (n *Node) unfinishedDeliveries() int {
	count := 0
	for _, ep := range n.store.Config.Endpoints("") {
		items, _, err := n.store.Outbox().Pending(ep.ID, "", 1)
		if err != nil || len(items) > 0 {
			count++
		}
	}
	return count
}

// unfinishedOf counts this node's deliveries not yet delivered or failed
// whose (tenant, person) key keep accepts.
func (n *Node) unfinishedOf(keep func(personKey string) bool) int {
	count := 0
	if err := n.eachUnfinished(func(d *firehook.Delivery) {
		if keep(d.PersonKey) {
			count++
		}
	}); err != nil {
		return count + 1 // unknown: not finished
	}
	return count
}

// eachUnfinished calls fn with each of this node's deliveries not yet
// delivered or failed.
func (n *Node) eachUnfinished(fn func(d *firehook.Delivery)) error {
	for _, ep := range n.store.Config.Endpoints("") {
		after := ""
		for {
			items, next, err := n.store.Outbox().Pending(ep.ID, after, 1000)
			if err != nil {
				return err
			}
			for i := range items {
				fn(&items[i])
			}
			if next == "" {
				break
			}
			after = next
		}
	}
	return nil
}

// observeClusterRequest is the transport's Observe hook: the node's
// metrics, once they exist (the transport starts before them).
func (n *Node) observeClusterRequest(message string, took time.Duration, err error) {
	if m := n.clusterMetrics.Load(); m != nil {
		m.ObserveClusterRequest(message, took, err)
	}
}

// metricsSource is what the metrics read of the node's part of the cluster.
func (cl *clusterNode) metricsSource() *metrics.ClusterSource {
	return &metrics.ClusterSource{
		Members:        func() int { return len(cl.members.Placement().Members()) },
		HandoffPending: cl.ho.pending,
		ShardsAwaiting: func() int {
			cl.gate.mu.Lock()
			defer cl.gate.mu.Unlock()
			return len(cl.gate.awaiting)
		},
		ReplicasHeld: cl.replicasHeld,
		ShardCopy: func() metrics.ShardCopy {
			st := cl.copier.Stats()
			return metrics.ShardCopy{Pending: st.Pending, Copying: st.Copying, Confirmed: st.Confirmed,
				Copied: st.Copied, Records: st.Records, Failed: st.Failed}
		},
	}
}
