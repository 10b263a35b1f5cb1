package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/actors/webhook"
	"github.com/firehook/firehook/cluster"
	"github.com/firehook/firehook/cluster/clusterpb"
	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/persistence"
)

// register installs the handlers of what members send this node.
// Each waits until the node has joined: a member may ask while this node
// is still joining.
func (cl *clusterNode) register() {
	handle(cl, cl.onHandoff)
	handle(cl, cl.onDispatch)
	handle(cl, cl.onLookup)
	handle(cl, cl.onLearn)
	handle(cl, cl.onUpsert)
	handle(cl, cl.onErase)
	handle(cl, cl.onConfigChanges)
	handle(cl, cl.onQuery)
	handle(cl, cl.onLaneState)
	handle(cl, cl.onReplica)
	handle(cl, cl.onReplicaDone)
	handle(cl, cl.onHandOnRequest)
	handle(cl, cl.onTakenOverQuery)
	handle(cl, cl.onTakenOverDone)
	handle(cl, cl.onShardDigestQuery)
	handle(cl, cl.onShardPull)
	handle(cl, cl.onShardChunk)
	handle(cl, cl.onShardsConfirmed)
}

// handle registers fn, run once the node joined.
func handle[T proto.Message](cl *clusterNode, fn func(T) proto.Message) {
	cluster.Handle(cl.tr, func(m T) proto.Message {
		<-cl.ready
		if cl.members == nil {
			return &clusterpb.Ack{Error: "node not in the cluster"}
		}
		return fn(m)
	})
}

// onHandoff stores the events a member accepted for visitors this node
// owns; the answer tells the member it may drop them. The events enter
// this node's pipeline through its log, like its own.
func (cl *clusterNode) onHandoff(m *clusterpb.Handoff) proto.Message {
	if cl.refusing.Load() {
		return &clusterpb.HandoffAck{Error: "this member is leaving"}
	}
	evs := make([]*firehook.Event, 0, len(m.Events))
	ids := make([]string, 0, len(m.Events))
	var refused []int32
	owns := map[string]bool{} // one answer per visitor within the batch
	for i, b := range m.Events {
		ev, err := persistence.DecodeEvent(b)
		if err != nil {
			return &clusterpb.HandoffAck{Error: fmt.Sprintf("event %d: %v", i, err)}
		}
		key := visitorKey(ev.TenantID, ev.VisitorID)
		own, seen := owns[key]
		if !seen {
			own = cl.visitorOwner(ev.TenantID, ev.VisitorID) == cl.name
			owns[key] = own
		}
		if !own {
			// The sender sees the members differently, or this node takes
			// the visitor over and its previous owner has not released it:
			// the sender keeps the event and routes it again, so that the
			// visitor's events meet in one log, in order.
			refused = append(refused, int32(i))
			continue
		}
		if cl.seen.has(ev.ID) {
			continue // a resend whose answer was lost: stored already
		}
		evs = append(evs, ev)
		ids = append(ids, ev.ID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.n.store.Events.AppendBatch(ctx, evs); err != nil {
		return &clusterpb.HandoffAck{Error: err.Error()}
	}
	cl.seen.add(ids...)
	return &clusterpb.HandoffAck{Stored: int32(len(evs)), Refused: refused}
}

// onDispatch decides a match for a person this node owns.
func (cl *clusterNode) onDispatch(m *clusterpb.DispatchRequest) proto.Message {
	ev, match, s, err := decodeDispatch(m)
	if err != nil {
		return &clusterpb.Ack{Error: err.Error()}
	}
	ctx, cancel := context.WithTimeout(context.Background(), laneWait+30*time.Second)
	defer cancel()
	switch err := cl.dispatchHere(ctx, ev, match, s); {
	case errors.Is(err, errNotOwnerHere):
		return &clusterpb.Ack{NotOwner: true}
	case err != nil:
		return &clusterpb.Ack{Error: err.Error()}
	}
	return &clusterpb.Ack{}
}

// onLookup answers the identity hits of identifiers in shards this node
// owns.
func (cl *clusterNode) onLookup(m *clusterpb.LookupRequest) proto.Message {
	ids := make([]identity.Identifier, len(m.Ids))
	for i, id := range m.Ids {
		ids[i] = identity.Identifier{Type: identity.Type(id.Type), Value: id.Value}
	}
	hits, err := cl.n.graph.Hits(ids)
	if err != nil {
		return &clusterpb.LookupReply{Error: err.Error()}
	}
	out := &clusterpb.LookupReply{Hits: make([]*clusterpb.Hit, 0, len(hits))}
	for _, h := range hits {
		rec, err := identity.EncodeRecord(h.Record)
		if err != nil {
			return &clusterpb.LookupReply{Error: err.Error()}
		}
		out.Hits = append(out.Hits, &clusterpb.Hit{Id: wireID(h.ID), Record: rec, Company: h.Company})
	}
	return out
}

// onLearn stores a learned visitor link in this node's part of the graph.
func (cl *clusterNode) onLearn(m *clusterpb.LearnRequest) proto.Message {
	rec, err := identity.DecodeRecord(m.Record)
	if err != nil {
		return &clusterpb.Ack{Error: err.Error()}
	}
	if err := cl.learnHere(m.Tenant, m.VisitorId, &rec); err != nil {
		return &clusterpb.Ack{Error: err.Error()}
	}
	return &clusterpb.Ack{}
}

// onUpsert stores imported records whose shards this node owns.
func (cl *clusterNode) onUpsert(m *clusterpb.UpsertRecords) proto.Message {
	recs := make([]identity.Record, len(m.Records))
	for i, b := range m.Records {
		rec, err := identity.DecodeRecord(b)
		if err != nil {
			return &clusterpb.Ack{Error: fmt.Sprintf("record %d: %v", i, err)}
		}
		recs[i] = rec
	}
	if err := cl.n.graph.Upsert(recs); err != nil {
		return &clusterpb.Ack{Error: err.Error()}
	}
	if err := cl.n.graph.Sync(); err != nil {
		return &clusterpb.Ack{Error: err.Error()}
	}
	return &clusterpb.Ack{}
}

// onErase erases a person from this node's part of the graph.
func (cl *clusterNode) onErase(m *clusterpb.EraseRequest) proto.Message {
	found, err := cl.n.graph.Erase(m.PersonId, cl.n.sup)
	if err == nil {
		err = cl.n.redactErased(m.PersonId)
	}
	if err != nil {
		return &clusterpb.Ack{Error: err.Error()}
	}
	return &clusterpb.Ack{Found: found}
}

func wireID(id identity.Identifier) *clusterpb.Identifier {
	return &clusterpb.Identifier{Type: string(id.Type), Value: id.Value}
}

// encodeDispatch is the DispatchRequest of a matched event.
func encodeDispatch(ev *firehook.Event, m identity.Match, s webhook.SessionInfo) (*clusterpb.DispatchRequest, error) {
	person, err := identity.EncodeRecord(m.Person)
	if err != nil {
		return nil, fmt.Errorf("encode dispatch: %w", err)
	}
	req := &clusterpb.DispatchRequest{Event: persistence.EncodeEvent(nil, ev), Person: person,
		Method: string(m.Method), Confidence: m.Confidence, Learned: m.Learned,
		SessionId: s.ID, PagesViewed: int32(s.PagesViewed), VisitCount: int32(s.VisitCount)}
	if m.Company != nil {
		if req.Company, err = json.Marshal(m.Company); err != nil {
			return nil, fmt.Errorf("encode dispatch: %w", err)
		}
	}
	return req, nil
}

// decodeDispatch reverses encodeDispatch.
func decodeDispatch(m *clusterpb.DispatchRequest) (*firehook.Event, identity.Match, webhook.SessionInfo, error) {
	var match identity.Match
	ev, err := persistence.DecodeEvent(m.Event)
	if err != nil {
		return nil, match, webhook.SessionInfo{}, fmt.Errorf("decode dispatch: %w", err)
	}
	rec, err := identity.DecodeRecord(m.Person)
	if err != nil {
		return nil, match, webhook.SessionInfo{}, fmt.Errorf("decode dispatch: %w", err)
	}
	match = identity.Match{Person: &rec, Method: identity.Method(m.Method), Confidence: m.Confidence, Learned: m.Learned}
	if len(m.Company) > 0 {
		var c identity.Company
		if err := json.Unmarshal(m.Company, &c); err != nil {
			return nil, match, webhook.SessionInfo{}, fmt.Errorf("decode dispatch: %w", err)
		}
		match.Company = &c
	}
	s := webhook.SessionInfo{ID: m.SessionId, PagesViewed: int(m.PagesViewed), VisitCount: int(m.VisitCount)}
	return ev, match, s, nil
}
