package node

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/firehook/firehook/cluster/clusterpb"
	"github.com/firehook/firehook/identity"
)

// clusterLookupTimeout bounds one lookup or learn on a member;
// clusterLookupPatience bounds the retries of a lookup while the
// membership settles after a member failed.
const (
	clusterLookupTimeout  = 2 * time.Second
	clusterLookupPatience = 30 * time.Second
)

// clusterSource is the identity graph of a cluster as the match stage
// sees it: each identifier is looked up on an owner of its shard (this
// node when it is one, which costs no message), and learned links are
// stored on the owners of the link's shard.
type clusterSource struct{ cl *clusterNode }

var _ identity.Source = clusterSource{}

// Hits implements identity.Source.
func (s clusterSource) Hits(ids []identity.Identifier) ([]identity.Hit, error) {
	ctx, cancel := context.WithTimeout(context.Background(), clusterLookupPatience)
	defer cancel()
	for {
		hits, err := s.hits(ctx, ids)
		if err == nil {
			return hits, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("identity lookup: %w", err)
		case <-s.cl.members.Changed():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// hits looks ids up once, on every live owner of each identifier's shard
// at once (this node's graph when it is one), and keeps one hit per
// identifier. Asking both owners costs no latency (in parallel) and finds
// what one of them lacks: a record imported while it was down, or a shard
// it took over whose records it has not received (shard copying is
// Cluster II's).
func (s clusterSource) hits(ctx context.Context, ids []identity.Identifier) ([]identity.Hit, error) {
	pl := s.cl.placement()
	var local []identity.Identifier
	remote := map[string][]identity.Identifier{}
	for _, id := range ids {
		owners := pl.ShardOwners(identity.ShardOf(id))
		if len(owners) == 0 || slices.Contains(owners, s.cl.name) {
			local = append(local, id)
		}
		for _, m := range owners {
			if m != s.cl.name {
				remote[m] = append(remote[m], id)
			}
		}
	}
	var out []identity.Hit
	if len(local) > 0 {
		h, err := s.cl.n.graph.Hits(local)
		if err != nil {
			return nil, err
		}
		out = append(out, h...)
	}
	if len(remote) > 0 {
		var mu sync.Mutex
		var wg sync.WaitGroup
		failed := map[string]error{}
		for member, mids := range remote {
			wg.Add(1)
			go func() {
				defer wg.Done()
				h, err := s.lookup(ctx, member, mids)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed[member] = err
					return
				}
				out = append(out, h...)
			}()
		}
		wg.Wait()
		// With two owners one may be down: each identifier needs one owner
		// that answered.
		for _, id := range ids {
			owners := pl.ShardOwners(identity.ShardOf(id))
			ok := len(owners) == 0 || slices.Contains(owners, s.cl.name)
			var err error
			for _, m := range owners {
				if e, bad := failed[m]; bad {
					err = e
				} else if m != s.cl.name {
					ok = true
				}
			}
			if !ok {
				return nil, err
			}
		}
	}
	return dedupeHits(out, ids), nil
}

// lookup asks member for the hits of ids.
func (s clusterSource) lookup(ctx context.Context, member string, ids []identity.Identifier) ([]identity.Hit, error) {
	req := &clusterpb.LookupRequest{Ids: make([]*clusterpb.Identifier, len(ids))}
	for i, id := range ids {
		req.Ids[i] = wireID(id)
	}
	lr, err := call[*clusterpb.LookupReply](ctx, s.cl, member, req, clusterLookupTimeout)
	if err != nil {
		return nil, err
	}
	hits := make([]identity.Hit, 0, len(lr.Hits))
	for _, h := range lr.Hits {
		rec, err := identity.DecodeRecord(h.Record)
		if err != nil {
			return nil, fmt.Errorf("lookup on %s: %w", member, err)
		}
		hits = append(hits, identity.Hit{ID: identity.Identifier{Type: identity.Type(h.Id.GetType()), Value: h.Id.GetValue()},
			Record: &rec, Company: h.Company})
	}
	return hits, nil
}

// LearnRecord implements identity.Source: the link is stored on every owner of
// its shard (the visitor's owner is the primary one, this node as a rule).
// The primary's failure is an error; a replica's is logged (Cluster II
// copies shards to the owners that missed writes).
func (s clusterSource) LearnRecord(tenant, visitorID string, rec *identity.Record) error {
	owners := s.cl.placement().ShardOwners(identity.LinkShard(tenant, visitorID))
	if len(owners) == 0 {
		owners = []string{s.cl.name}
	}
	if owners[0] == s.cl.name {
		// The usual case (the visitor's owner is the link's): a link that
		// exists here was sent to the replica when it was learned.
		if hits, err := s.cl.n.graph.Hits([]identity.Identifier{identity.LinkIdentifier(tenant, visitorID)}); err == nil &&
			len(hits) == 1 && hits[0].Record.PersonID == rec.PersonID {
			return nil
		}
	}
	var enc []byte
	for i, m := range owners {
		var err error
		if m == s.cl.name {
			err = s.cl.learnHere(tenant, visitorID, rec)
		} else {
			if enc == nil {
				if enc, err = identity.EncodeRecord(rec); err != nil {
					return fmt.Errorf("learn: %w", err)
				}
			}
			err = s.learnOn(m, &clusterpb.LearnRequest{Tenant: tenant, VisitorId: visitorID, Record: enc})
		}
		if err != nil {
			if i == 0 {
				return fmt.Errorf("learn on %s: %w", m, err)
			}
			s.cl.log.Warn("cluster: learned link not stored on a replica", "member", m, "err", err)
		}
	}
	return nil
}

func (s clusterSource) learnOn(member string, req *clusterpb.LearnRequest) error {
	return s.cl.ack(context.Background(), member, req, clusterLookupTimeout)
}

// dedupeHits keeps one hit per identifier (owners answer the same one),
// in the order of ids.
func dedupeHits(hits []identity.Hit, ids []identity.Identifier) []identity.Hit {
	inOrder(hits, ids)
	return slices.CompactFunc(hits, func(a, b identity.Hit) bool { return a.ID == b.ID })
}

// inOrder sorts hits into the order of their identifiers in ids, as
// Source.Hits promises (the first company IP names the company).
func inOrder(hits []identity.Hit, ids []identity.Identifier) {
	pos := make(map[identity.Identifier]int, len(ids))
	for i, id := range ids {
		if _, ok := pos[id]; !ok {
			pos[id] = i
		}
	}
	slices.SortStableFunc(hits, func(a, b identity.Hit) int { return pos[a.ID] - pos[b.ID] })
}

// learnHere stores a learned link in this node's part of the graph. The
// link's shard may be the only one of the person's that this node owns:
// then the node also holds the person's record, so that the link's hit
// can be answered here (identity.Graph.LearnRecordAndHold: as a copy that
// changes none of the shards this node owns, so that a shard copy in
// progress stays exact).
func (cl *clusterNode) learnHere(tenant, visitorID string, rec *identity.Record) error {
	pl := cl.placement()
	return cl.n.graph.LearnRecordAndHold(tenant, visitorID, rec, func(s int) bool { return pl.Owns(cl.name, s) })
}
