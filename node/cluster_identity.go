package node

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/firehook/firehook/cluster"
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
// what one of them may lack while a shard copy is in progress; an owner
// that is slow to answer is not waited for once the other answered (see
// remoteHits).
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
		more, err := s.remoteHits(ctx, pl, ids, local, remote)
		if err != nil {
			return nil, err
		}
		out = append(out, more...)
	}
	return dedupeHits(out, ids), nil
}

// lookupGrace is how long a lookup waits for the slower owner of a shard
// once every identifier has an answer from one owner: enough for a live
// member (a lookup takes ~0.2 ms), short against a member that died and
// is not declared dead yet (~1.25 s), whose answers a match must not wait
// for.
const lookupGrace = 50 * time.Millisecond

// remoteHits asks the other owners of the identifiers' shards (all at
// once) and returns once all answered, or every identifier has an answer
// (local counts) and lookupGrace passed since. An identifier none of whose
// owners answered is an error.
func (s clusterSource) remoteHits(ctx context.Context, pl *cluster.Placement, ids, local []identity.Identifier, remote map[string][]identity.Identifier) ([]identity.Hit, error) {
	ctx, cancel := context.WithCancel(ctx) // the lookups not waited for end with it
	defer cancel()
	type result struct {
		member string
		hits   []identity.Hit
		err    error
	}
	results := make(chan result, len(remote))
	for member, mids := range remote {
		go func() {
			h, err := s.lookup(ctx, member, mids)
			results <- result{member, h, err}
		}()
	}
	answered := map[string]bool{}
	failed := map[string]error{}
	isLocal := make(map[identity.Identifier]bool, len(local))
	for _, id := range local {
		isLocal[id] = true
	}
	covered := func() error {
		for _, id := range ids {
			if isLocal[id] {
				continue
			}
			var err error = cluster.ErrUnreachable
			ok := false
			for _, m := range pl.ShardOwners(identity.ShardOf(id)) {
				if answered[m] {
					ok = true
					break
				}
				if e, bad := failed[m]; bad {
					err = e
				}
			}
			if !ok {
				return err
			}
		}
		return nil
	}
	var out []identity.Hit
	var grace <-chan time.Time
	for pending := len(remote); pending > 0; {
		select {
		case r := <-results:
			pending--
			if r.err != nil {
				failed[r.member] = r.err
			} else {
				answered[r.member] = true
				out = append(out, r.hits...)
			}
			if grace == nil && pending > 0 && covered() == nil {
				grace = time.After(lookupGrace)
			}
		case <-grace:
			pending = 0
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err := covered(); err != nil {
		return nil, err
	}
	return out, nil
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
	// The primary owner (the visitor's, this node as a rule) stores the
	// link before the match goes on; the other owner is sent it at the
	// same time and waited for at most learnReplicaWait: a replica that
	// died and is not declared dead yet must not hold up every match, and
	// one that misses the link gets it with the shard's copy when the
	// members change.
	enc, err := identity.EncodeRecord(rec)
	if err != nil {
		return fmt.Errorf("learn: %w", err)
	}
	learn := func(m string) error {
		if m == s.cl.name {
			return s.cl.learnHere(tenant, visitorID, rec)
		}
		return s.learnOn(m, &clusterpb.LearnRequest{Tenant: tenant, VisitorId: visitorID, Record: enc})
	}
	var replicas []chan error
	for _, m := range owners[1:] {
		done := make(chan error, 1)
		replicas = append(replicas, done)
		s.cl.wg.Add(1)
		go func() {
			defer s.cl.wg.Done()
			err := learn(m)
			if err != nil {
				s.cl.log.Warn("cluster: learned link not stored on a replica", "member", m, "err", err)
			}
			done <- err
		}()
	}
	if err := learn(owners[0]); err != nil {
		return fmt.Errorf("learn on %s: %w", owners[0], err)
	}
	t := time.NewTimer(learnReplicaWait)
	defer t.Stop()
	for _, done := range replicas {
		select {
		case <-done:
		case <-t.C:
			return nil // the rest goes on in the background
		}
	}
	return nil
}

// learnReplicaWait bounds how long a learned link waits for its shard's
// other owner (see LearnRecord).
const learnReplicaWait = 100 * time.Millisecond

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
