package node

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/firehook/firehook/actors/pipeline"
	"github.com/firehook/firehook/cluster"
	"github.com/firehook/firehook/cluster/clusterpb"
	"github.com/firehook/firehook/identity"
)

// ClusterStatus is the answer of GET /v1/cluster.
type ClusterStatus struct {
	// Node is the answering node.
	Node string `json:"node"`
	// Clustered is false for a node that runs alone.
	Clustered bool `json:"clustered"`
	// Shards and Replicas describe the placement: graph shards, owners
	// per shard.
	Shards   int `json:"shards"`
	Replicas int `json:"replicas"`
	// Members are every member the answering node has seen, the dead and
	// departed included, by name.
	Members []MemberStatus `json:"members"`
}

// MemberStatus is one member in GET /v1/cluster.
type MemberStatus struct {
	Name    string    `json:"name"`
	State   string    `json:"state"`
	Since   time.Time `json:"since,omitzero"`
	Gossip  string    `json:"gossip,omitempty"`
	Actor   string    `json:"actor_address,omitempty"`
	Admin   string    `json:"admin_address,omitempty"`
	Ingest  string    `json:"ingest_address,omitempty"`
	Version string    `json:"version,omitempty"`
	// PrimaryShards and ReplicaShards are the shards the member owns, as
	// the answering node's placement says.
	PrimaryShards []int `json:"primary_shards"`
	ReplicaShards []int `json:"replica_shards"`
	// Stats is what the member reports of itself; nil when it did not
	// answer within a second.
	Stats *NodeStats `json:"stats"`
}

// NodeStats is what a member reports of its own work.
type NodeStats struct {
	// Actors counts the live actors by kind.
	Actors map[string]int `json:"actors"`
	// HandoffPending counts the events on their way to other members.
	HandoffPending int `json:"handoff_pending"`
	// LastEventSeq and ProcessedUpTo are the node's event log position
	// and its pipeline's checkpoint.
	LastEventSeq  uint64 `json:"last_event_seq"`
	ProcessedUpTo uint64 `json:"processed_up_to"`
	// ReplicasHeld counts the copies of other members' unfinished
	// deliveries this node holds (taken over if their member dies).
	ReplicasHeld int `json:"replicas_held"`
	// ShardCopy is the node's progress in copying the graph shards it
	// gained; nil on a node that runs alone.
	ShardCopy *ShardCopyStats `json:"shard_copy,omitempty"`
}

// stats returns this node's own NodeStats.
func (n *Node) stats() *NodeStats {
	st := &NodeStats{Actors: map[string]int{}, LastEventSeq: n.store.Events.LastSeq()}
	for _, kind := range []string{pipeline.KindVisitor, pipeline.KindPerson, pipeline.KindEndpoint} {
		st.Actors[kind] = len(n.sys.Actors(kind))
	}
	if n.cluster != nil {
		st.HandoffPending = n.cluster.ho.pending()
		sc := n.cluster.copier.Stats()
		st.ShardCopy = &sc
		st.ReplicasHeld = n.cluster.replicasHeld()
	}
	if p := n.committed.Load(); p != nil {
		st.ProcessedUpTo, _ = p.Mark()
	}
	return st
}

// ClusterStatus answers GET /v1/cluster: the members, their states and
// shards, and each live member's own figures (asked in parallel).
func (n *Node) ClusterStatus(ctx context.Context) ClusterStatus {
	out := ClusterStatus{Node: n.cfg.Name, Shards: cluster.Shards, Replicas: cluster.ShardReplicas}
	cl := n.cluster
	if cl == nil {
		out.Members = []MemberStatus{{Name: n.cfg.Name, State: cluster.StateAlive, Version: n.cfg.Version,
			Admin: n.AdminAddr(), Ingest: n.IngestAddr(), PrimaryShards: allShards(), ReplicaShards: []int{}, Stats: n.stats()}}
		return out
	}
	out.Clustered = true
	pl := cl.members.Placement()
	members := cl.members.Members()
	out.Members = make([]MemberStatus, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		primary, replica := pl.ShardsOf(m.Name)
		ms := MemberStatus{Name: m.Name, State: m.State, Since: m.Since, Gossip: m.Gossip, Actor: m.Meta.Actor,
			Admin: m.Meta.Admin, Ingest: m.Meta.Ingest, Version: m.Meta.Version,
			PrimaryShards: nonNil(primary), ReplicaShards: nonNil(replica)}
		out.Members[i] = ms
		switch {
		case m.Name == cl.name:
			out.Members[i].Stats = n.stats()
		case m.State == cluster.StateAlive || m.State == cluster.StateSuspect:
			wg.Add(1)
			go func() {
				defer wg.Done()
				out.Members[i].Stats = cl.remoteStats(ctx, m.Name)
			}()
		}
	}
	wg.Wait()
	return out
}

// remoteStats asks member for its NodeStats; nil when it does not answer.
func (cl *clusterNode) remoteStats(ctx context.Context, member string) *NodeStats {
	body, err := clusterPeers{cl}.query(ctx, member, "stats", nil)
	if err != nil {
		return nil
	}
	var st NodeStats
	if json.Unmarshal(body, &st) != nil {
		return nil
	}
	return &st
}

// onQuery answers a member's question about this node (its figures, its
// part of the receipts and of an endpoint's health).
func (cl *clusterNode) onQuery(m *clusterpb.Query) proto.Message {
	v, err := cl.answerQuery(m.What, m.Args)
	if err != nil {
		return &clusterpb.QueryReply{Error: err.Error()}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return &clusterpb.QueryReply{Error: err.Error()}
	}
	return &clusterpb.QueryReply{Json: b}
}

func allShards() []int {
	out := make([]int, cluster.Shards)
	for i := range out {
		out[i] = i
	}
	return out
}

func nonNil(s []int) []int {
	if s == nil {
		return []int{}
	}
	return s
}

// ShardsStatus is the answer of GET /v1/cluster/shards: this node's part
// of the identity graph, shard by shard.
type ShardsStatus struct {
	Node string `json:"node"`
	// Graph counts what this node holds of the graph: records, learned
	// links, index entries.
	Graph identity.GraphStats `json:"graph"`
	// Shards lists every shard: its owners (as this node's placement
	// says), whether this node is one, and what this node holds of it.
	Shards []ShardStatus `json:"shards"`
	// Copy is the progress of the copies of the shards this node gained;
	// nil on a node that runs alone.
	Copy *ShardCopyStats `json:"copy,omitempty"`
}

// ShardStatus is one graph shard in GET /v1/cluster/shards.
type ShardStatus struct {
	Shard  int      `json:"shard"`
	Owners []string `json:"owners"`
	Owned  bool     `json:"owned"`
	// Entries and Digest are identity.ShardDigest of this node's copy: two
	// owners hold the same shard when their digests are equal.
	Entries int    `json:"entries"`
	Digest  string `json:"digest"`
}

// ClusterShards answers GET /v1/cluster/shards.
func (n *Node) ClusterShards() ShardsStatus {
	out := ShardsStatus{Node: n.cfg.Name, Graph: n.graph.Stats(), Shards: make([]ShardStatus, cluster.Shards)}
	var pl *cluster.Placement
	if n.cluster != nil {
		pl = n.cluster.placement()
		st := n.cluster.copier.Stats()
		out.Copy = &st
	}
	for s := range cluster.Shards {
		d := n.graph.ShardDigest(s)
		ss := ShardStatus{Shard: s, Owners: []string{n.cfg.Name}, Owned: true, Entries: d.Entries,
			Digest: fmt.Sprintf("%016x", d.Sum)}
		if pl != nil {
			ss.Owners = pl.ShardOwners(s)
			ss.Owned = pl.Owns(n.cfg.Name, s)
		}
		out.Shards[s] = ss
	}
	return out
}
