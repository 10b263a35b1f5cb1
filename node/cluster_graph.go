package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/firehook/firehook/cluster"
	"github.com/firehook/firehook/cluster/clusterpb"
	"github.com/firehook/firehook/http/admin"
	"github.com/firehook/firehook/identity"
)

// clusterGraph is the identity graph of a cluster as the admin API's graph
// routes see it: a record lives on every owner of every shard of its
// identifiers (so that a lookup of any of them, on any owner, finds it).
type clusterGraph struct{ cl *clusterNode }

var _ admin.GraphCluster = clusterGraph{}

// graphWriteTimeout bounds one member's storing of a batch of records.
const graphWriteTimeout = time.Minute

// Upsert implements admin.GraphCluster: each record goes to the owners of
// its shards, in batches per member sent in parallel; it returns once every
// member stored its part (an import is a series of upserts: a failed one
// can be run again).
//
// A member that dies meanwhile is not waited for beyond the failure
// detection: once the membership changed, the records it did not store
// go to their shards' owners of the moment (within upsertRetryFor).
func (g clusterGraph) Upsert(recs []identity.Record) error {
	all := make([]int, len(recs))
	for i := range all {
		all[i] = i
	}
	pending := all
	deadline := time.Now().Add(upsertRetryFor)
	for {
		changed := g.cl.members.Changed()
		failed, err := g.upsertOnce(g.cl.members.Placement(), recs, pending)
		if err == nil || !errors.Is(err, cluster.ErrUnreachable) || time.Now().After(deadline) {
			return err
		}
		g.cl.log.Warn("cluster: graph write not stored by a member; routing again when the members change", "records", len(failed), "err", err)
		select {
		case <-changed:
		case <-time.After(time.Until(deadline)):
		}
		pending = failed
	}
}

// upsertRetryFor bounds how long an upsert routes records again after a
// member did not store them (failure detection takes ~1.25 s).
const upsertRetryFor = 5 * time.Second

// upsertOnce sends recs[idx] to the owners of their shards under pl and
// returns the records that a member failed to store, with the errors.
func (g clusterGraph) upsertOnce(pl *cluster.Placement, recs []identity.Record, idx []int) ([]int, error) {
	parts := map[string][]int{} // member → indexes into recs
	for _, i := range idx {
		seen := map[string]bool{}
		for _, shard := range identity.RecordShards(&recs[i]) {
			for _, m := range pl.ShardOwners(shard) {
				if !seen[m] {
					seen[m] = true
					parts[m] = append(parts[m], i)
				}
			}
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	failed := map[int]bool{}
	for member, part := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.store(member, recs, part); err != nil {
				mu.Lock()
				errs = append(errs, err)
				for _, i := range part {
					failed[i] = true
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	out := make([]int, 0, len(failed))
	for _, i := range idx {
		if failed[i] {
			out = append(out, i)
		}
	}
	return out, errors.Join(errs...)
}

// store stores recs[idx] on member.
func (g clusterGraph) store(member string, recs []identity.Record, idx []int) error {
	if member == g.cl.name {
		part := make([]identity.Record, len(idx))
		for j, i := range idx {
			part[j] = recs[i]
		}
		if err := g.cl.n.graph.Upsert(part); err != nil {
			return err
		}
		return g.cl.n.graph.Sync()
	}
	msg := &clusterpb.UpsertRecords{Records: make([][]byte, len(idx))}
	for j, i := range idx {
		b, err := identity.EncodeRecord(&recs[i])
		if err != nil {
			return fmt.Errorf("record %s: %w", recs[i].PersonID, err)
		}
		msg.Records[j] = b
	}
	return g.cl.ack(context.Background(), member, msg, graphWriteTimeout)
}

// Lookup implements admin.GraphCluster.
func (g clusterGraph) Lookup(id identity.Identifier) (*identity.Record, bool, error) {
	hits, err := clusterSource(g).Hits([]identity.Identifier{id})
	if err != nil || len(hits) == 0 {
		return nil, false, err
	}
	return hits[0].Record, true, nil
}

// Erase implements admin.GraphCluster: every live member erases the
// person from its part of the graph and from the payloads of the
// deliveries it holds.
func (g clusterGraph) Erase(personID string) (bool, error) {
	found, err := g.cl.n.graph.Erase(personID, g.cl.n.sup)
	if err == nil {
		err = g.cl.n.redactErased(personID)
	}
	if err != nil {
		return false, err
	}
	var errs []error
	for _, m := range g.cl.members.Members() {
		if m.Name == g.cl.name || (m.State != cluster.StateAlive && m.State != cluster.StateSuspect) {
			continue
		}
		ack, err := g.cl.ackOf(context.Background(), m.Name, &clusterpb.EraseRequest{PersonId: personID}, graphWriteTimeout)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		found = found || ack.Found
	}
	return found, errors.Join(errs...)
}

// ack sends msg to member and waits for an Ack without error.
func (cl *clusterNode) ack(ctx context.Context, member string, msg proto.Message, timeout time.Duration) error {
	_, err := cl.ackOf(ctx, member, msg, timeout)
	return err
}

// ackOf is ack that also returns the Ack.
func (cl *clusterNode) ackOf(ctx context.Context, member string, msg proto.Message, timeout time.Duration) (*clusterpb.Ack, error) {
	return call[*clusterpb.Ack](ctx, cl, member, msg, timeout)
}

// graphCluster is the admin API's view of the cluster's graph; nil when
// the node runs alone.
func (n *Node) graphCluster() admin.GraphCluster {
	if n.cluster == nil {
		return nil
	}
	return clusterGraph{n.cluster}
}
