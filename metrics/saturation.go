package metrics

import (
	"fmt"
)

// The queues whose saturation is shown.
const (
	// QueueVisitorFeed is the events taken from the log and not yet
	// processed by the visitor stage, against Config.FeedCapacity.
	QueueVisitorFeed = "visitor_feed"
	// QueueWebhookGate is the node's webhook request slots in use
	// (endpoint.Gate), against Config.GateSlots.
	QueueWebhookGate = "webhook_gate"
	// QueueEndpointWindow is an endpoint actor's unfinished deliveries in
	// memory (pending + retrying), against Config.EndpointWindow.
	QueueEndpointWindow = "endpoint_window"
)

// Queue is the saturation of one queue: its depth against its capacity.
type Queue struct {
	Queue      string `json:"queue"`
	EndpointID string `json:"endpoint_id,omitempty"`
	TenantID   string `json:"tenant_id,omitempty"`
	Depth      int64  `json:"depth"`
	Capacity   int64  `json:"capacity"`
	// Waiting counts requests waiting for a gate slot (webhook_gate only).
	Waiting int64 `json:"waiting,omitempty"`
	// Headroom is 1 − depth/capacity, at least 0.
	Headroom float64 `json:"headroom"`
	// Warning is set when Headroom is under Config.WarnHeadroom.
	Warning bool `json:"warning"`
}

func (m *Metrics) queue(name string, depth, capacity int64) Queue {
	q := Queue{Queue: name, Depth: depth, Capacity: capacity, Headroom: 1}
	if capacity > 0 {
		q.Headroom = max(1-float64(depth)/float64(capacity), 0)
	}
	q.Warning = q.Headroom < m.cfg.WarnHeadroom
	return q
}

// Saturation returns the depth and capacity of the node's queues: the
// visitor feed and the webhook gate (node-wide), then each endpoint that
// visible admits by its tenant (nil: every endpoint), in the store's order.
func (m *Metrics) Saturation(visible func(tenantID string) bool) []Queue {
	var out []Queue
	if m.cfg.Backlog != nil {
		out = append(out, m.queue(QueueVisitorFeed, int64(m.cfg.Backlog()), int64(m.cfg.FeedCapacity)))
	}
	if inUse, waiting, ok := m.gateUsage(); ok {
		q := m.queue(QueueWebhookGate, int64(inUse), int64(m.cfg.GateSlots))
		q.Waiting = int64(waiting)
		out = append(out, q)
	}
	if m.cfg.EndpointStats == nil {
		return out
	}
	for _, ep := range m.cfg.Store.Config.Endpoints("") {
		if visible != nil && !visible(ep.TenantID) {
			continue
		}
		s := m.cfg.EndpointStats(ep.ID)
		q := m.queue(QueueEndpointWindow, s.Pending.Load()+s.Retrying.Load(), int64(m.cfg.EndpointWindow))
		q.EndpointID, q.TenantID = ep.ID, ep.TenantID
		out = append(out, q)
	}
	return out
}

// gateUsage returns the gate's slots in use and its waiters; ok is false
// when the gate is not measured.
func (m *Metrics) gateUsage() (inUse, waiting int, ok bool) {
	if m.cfg.Gate == nil || m.cfg.GateSlots <= 0 {
		return 0, 0, false
	}
	free, waiting := m.cfg.Gate.Usage()
	return max(m.cfg.GateSlots-free, 0), waiting, true
}

// warnings words the queues whose headroom is low.
func warnings(qs []Queue) []string {
	out := []string{}
	for _, q := range qs {
		if !q.Warning {
			continue
		}
		name := q.Queue
		if q.EndpointID != "" {
			name += " of endpoint " + q.EndpointID
		}
		out = append(out, fmt.Sprintf("%s is at %d of %d (%.0f %% headroom)", name, q.Depth, q.Capacity, q.Headroom*100))
	}
	return out
}
