package node

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/cluster"
	"github.com/firehook/firehook/cluster/clusterpb"
	"github.com/firehook/firehook/http/admin"
	"github.com/firehook/firehook/metrics"
)

// peerTimeout bounds a member's answer to a receipts or health question.
const peerTimeout = time.Second

// clusterPeers answers the admin API's receipts and health routes from the
// other members (admin.Peers), through Query messages.
type clusterPeers struct{ cl *clusterNode }

var _ admin.Peers = clusterPeers{}

// The queries of clusterPeers and what they carry.
type (
	deliveryQuery struct {
		ID string `json:"id"`
	}
	deliveryAnswer struct {
		Found    bool              `json:"found"`
		Delivery firehook.Delivery `json:"delivery"`
	}
	deliveriesQuery struct {
		Endpoint string                  `json:"endpoint"`
		Status   firehook.DeliveryStatus `json:"status"`
		Cursor   string                  `json:"cursor"`
		Limit    int                     `json:"limit"`
	}
	healthQuery struct {
		Endpoint string `json:"endpoint"`
	}
	laneQuery struct {
		PersonKey string `json:"person_key"`
	}
	laneAnswer struct {
		Found bool `json:"found"`
	}
)

// ask sends one query to every other live member at once (per gives each
// member's arguments; nil skips the member) and calls answer with each
// reply; it returns the members that did not answer.
func (p clusterPeers) ask(ctx context.Context, what string, per func(member string) any, answer func(member string, body []byte) error) []string {
	var mu sync.Mutex
	var wg sync.WaitGroup
	var unreachable []string
	for _, m := range p.cl.members.Members() {
		if m.Name == p.cl.name || (m.State != cluster.StateAlive && m.State != cluster.StateSuspect) {
			continue
		}
		args := per(m.Name)
		if args == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			body, err := p.query(ctx, m.Name, what, args)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				err = answer(m.Name, body)
			}
			if err != nil {
				p.cl.log.Debug("cluster: a member did not answer", "member", m.Name, "query", what, "err", err)
				unreachable = append(unreachable, m.Name)
			}
		}()
	}
	wg.Wait()
	return unreachable
}

// query asks member one question and returns the JSON of its answer.
func (p clusterPeers) query(ctx context.Context, member, what string, args any) ([]byte, error) {
	b, err := json.Marshal(args)
	if err != nil {
		return nil, err
	}
	qr, err := call[*clusterpb.QueryReply](ctx, p.cl, member, &clusterpb.Query{What: what, Args: b}, peerTimeout)
	if err != nil {
		return nil, err
	}
	return qr.Json, nil
}

// Delivery implements admin.Peers.
func (p clusterPeers) Delivery(ctx context.Context, id string) (firehook.Delivery, string, bool, error) {
	var found deliveryAnswer
	holder := ""
	p.ask(ctx, "delivery", func(string) any { return deliveryQuery{ID: id} }, func(member string, body []byte) error {
		var a deliveryAnswer
		if err := json.Unmarshal(body, &a); err != nil {
			return err
		}
		if a.Found {
			found, holder = a, member
		}
		return nil
	})
	return found.Delivery, holder, found.Found, nil
}

// Deliveries implements admin.Peers.
func (p clusterPeers) Deliveries(ctx context.Context, endpointID string, status firehook.DeliveryStatus, cursors map[string]string, limit int) (map[string]admin.DeliveryPage, []string) {
	pages := map[string]admin.DeliveryPage{}
	unreachable := p.ask(ctx, "deliveries", func(member string) any {
		if cursors[member] == admin.PageDone {
			return nil
		}
		return deliveriesQuery{Endpoint: endpointID, Status: status, Cursor: cursors[member], Limit: limit}
	}, func(member string, body []byte) error {
		var page admin.DeliveryPage
		if err := json.Unmarshal(body, &page); err != nil {
			return err
		}
		pages[member] = page
		return nil
	})
	return pages, unreachable
}

// Health implements admin.Peers.
func (p clusterPeers) Health(ctx context.Context, endpointID string) ([]metrics.Health, []string) {
	var hs []metrics.Health
	unreachable := p.ask(ctx, "health", func(string) any { return healthQuery{Endpoint: endpointID} }, func(_ string, body []byte) error {
		var h metrics.Health
		if err := json.Unmarshal(body, &h); err != nil {
			return err
		}
		hs = append(hs, h)
		return nil
	})
	return hs, unreachable
}

// Identified implements admin.Peers.
func (p clusterPeers) Identified(ctx context.Context, personKey string) (bool, []string) {
	found := false
	unreachable := p.ask(ctx, "lane", func(string) any { return laneQuery{PersonKey: personKey} }, func(_ string, body []byte) error {
		var a laneAnswer
		if err := json.Unmarshal(body, &a); err != nil {
			return err
		}
		found = found || a.Found
		return nil
	})
	return found, unreachable
}

// answerQuery answers the receipts and health questions of a member's
// admin API: this member's part, never asking further.
func (cl *clusterNode) answerQuery(what string, args []byte) (any, error) {
	switch what {
	case "delivery":
		var q deliveryQuery
		if err := json.Unmarshal(args, &q); err != nil {
			return nil, err
		}
		d, found, err := cl.n.store.Outbox().Get(q.ID)
		return deliveryAnswer{Found: found, Delivery: d}, err
	case "deliveries":
		var q deliveriesQuery
		if err := json.Unmarshal(args, &q); err != nil {
			return nil, err
		}
		items, next, err := cl.n.store.Outbox().List(q.Endpoint, q.Status, q.Cursor, q.Limit)
		if items == nil {
			items = []firehook.Delivery{}
		}
		return admin.DeliveryPage{Items: items, Next: next}, err
	case "health":
		var q healthQuery
		if err := json.Unmarshal(args, &q); err != nil {
			return nil, err
		}
		ep, ok := cl.n.store.Config.Endpoint(q.Endpoint)
		if !ok {
			return nil, fmt.Errorf("endpoint %s: %w", q.Endpoint, firehook.ErrNotFound)
		}
		m := cl.n.clusterMetrics.Load()
		if m == nil {
			return nil, fmt.Errorf("node starting")
		}
		return m.Health(ep), nil
	case "stats":
		return cl.n.stats(), nil
	case "lane":
		var q laneQuery
		if err := json.Unmarshal(args, &q); err != nil {
			return nil, err
		}
		_, found, err := cl.n.store.Outbox().LaneSequence(q.PersonKey)
		return laneAnswer{Found: found}, err
	}
	return nil, fmt.Errorf("unknown query %q", what)
}

// peers is the admin API's view of the other members; nil when the node
// runs alone.
func (n *Node) peers() admin.Peers {
	if n.cluster == nil {
		return nil
	}
	return clusterPeers{n.cluster}
}
