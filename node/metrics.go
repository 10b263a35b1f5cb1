package node

import (
	"github.com/firehook/firehook/actors"
	"github.com/firehook/firehook/actors/endpoint"
	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/metrics"
)

// newMetrics makes the node's Metrics over its store, match stage, actor
// system and webhook gate (gateSlots: 0 when the gate came with the
// configuration, whose size the node does not know). The pipeline's
// figures are read through n.pipe, which exists before anything reads
// them (the first scrape, the first request).
func (n *Node) newMetrics(sys *actors.System, m *identity.Matcher, ep endpoint.Config, gateSlots int) (*metrics.Metrics, error) {
	mc := n.cfg.Metrics
	mc.Store, mc.Matcher, mc.System = n.store, m, sys
	if n.cluster != nil {
		mc.Cluster = n.cluster.metricsSource()
	}
	mc.Gate, mc.GateSlots = ep.Gate, gateSlots
	if mc.EndpointWindow <= 0 {
		mc.EndpointWindow = ep.Window // 0: the endpoint default, as metrics' own
	}
	mc.Backlog = func() int {
		_, outstanding := n.pipe.Mark()
		return outstanding
	}
	mc.EndpointStats = func(id string) *endpoint.Stats { return n.pipe.EndpointStats(id) }
	return metrics.New(mc)
}

// chainObservers returns an endpoint observer that calls first (when set)
// and then second.
func chainObservers(first, second func(endpoint.Observation)) func(endpoint.Observation) {
	if first == nil {
		return second
	}
	return func(o endpoint.Observation) {
		first(o)
		second(o)
	}
}
