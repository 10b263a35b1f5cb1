package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ClusterSource is what a cluster member reports of its part of the
// cluster (docs/metrics.md, "cluster"). Each function is called on a
// scrape and must be quick.
type ClusterSource struct {
	// Members returns the members this node counts as live.
	Members func() int
	// HandoffPending returns the events on their way to their visitors'
	// owners.
	HandoffPending func() int
	// ShardsAwaiting returns the shards taken over whose previous owner
	// has not handed them over yet.
	ShardsAwaiting func() int
	// ReplicasHeld returns the copies of other members' unfinished
	// deliveries this node holds (nil: 0).
	ReplicasHeld func() int
	// ShardCopy returns the progress of the graph shard copies to this
	// node (nil: none).
	ShardCopy func() ShardCopy
}

// ShardCopy is a node's progress in copying the graph shards it gained
// (node.ShardCopyStats).
type ShardCopy struct {
	Pending, Copying                   int
	Confirmed, Copied, Records, Failed int64
}

// clusterBuckets are the buckets of a request to another member: loopback
// round trips are a fraction of a millisecond, a handoff waits for an
// fsync, a lookup may wait for a member that is down.
var clusterBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

// clusterMetrics are registered when Config.Cluster is set.
type clusterMetrics struct {
	requests  *prometheus.HistogramVec
	failures  *prometheus.CounterVec
	takenOver prometheus.Counter
}

func newClusterMetrics(src *ClusterSource) (*clusterMetrics, []prometheus.Collector) {
	cm := &clusterMetrics{
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "cluster_request_duration_seconds",
			Help:    "Requests this node made to other members, by message (Handoff, LookupRequest, DispatchRequest, ...): time to the answer.",
			Buckets: clusterBuckets}, []string{"message"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "cluster_request_failures_total",
			Help: "Requests to other members that got no answer in time, by message."}, []string{"message"}),
		takenOver: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "cluster_deliveries_taken_over_total",
			Help: "Unfinished deliveries of dead members this node took over from its copies."}),
	}
	gauge := func(name, help string, fn func() int) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help},
			func() float64 { return float64(fn()) })
	}
	counter := func(name, help string, fn func() int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help},
			func() float64 { return float64(fn()) })
	}
	cs := []prometheus.Collector{cm.requests, cm.failures, cm.takenOver,
		gauge("cluster_members", "Members of the cluster this node counts as live (alive or suspect).", src.Members),
		gauge("cluster_handoff_pending", "Events this node accepted that are on their way to their visitor's owner.", src.HandoffPending),
		gauge("cluster_shards_awaiting_handover", "Shards this node took over whose previous owner has not handed them over yet.", src.ShardsAwaiting),
	}
	held := src.ReplicasHeld
	if held == nil {
		held = func() int { return 0 }
	}
	cs = append(cs, gauge("cluster_replicas_held", "Copies of other members' unfinished deliveries this node holds, to take over if their member dies.", held))
	sc := src.ShardCopy
	if sc == nil {
		sc = func() ShardCopy { return ShardCopy{} }
	}
	cs = append(cs,
		gauge("cluster_shards_pending_copy", "Graph shards this node gained whose copy is not confirmed yet.", func() int { return sc().Pending }),
		gauge("cluster_shards_copying", "Graph shards being copied to this node now.", func() int { return sc().Copying }),
		counter("cluster_shards_confirmed_total", "Graph shards this node gained and found equal to a live owner's (copied or not).", func() int64 { return sc().Confirmed }),
		counter("cluster_shards_copied_total", "Graph shards copied to this node.", func() int64 { return sc().Copied }),
		counter("cluster_shard_records_copied_total", "Records and learned links graph shard copies brought to this node.", func() int64 { return sc().Records }),
		counter("cluster_shard_copy_failures_total", "Graph shards a round of copies left unconfirmed (tried again).", func() int64 { return sc().Failed }),
	)
	return cm, cs
}

// ObserveClusterRequest records a request this node made to another
// member: the message's name, the time to its answer, or the error when
// none came. A no-op on a node without Config.Cluster.
func (m *Metrics) ObserveClusterRequest(message string, took time.Duration, err error) {
	if m.cluster == nil {
		return
	}
	if err != nil {
		m.cluster.failures.WithLabelValues(message).Inc()
		return
	}
	m.cluster.requests.WithLabelValues(message).Observe(took.Seconds())
}

// ObserveTakeover counts n deliveries of a dead member taken over here.
func (m *Metrics) ObserveTakeover(n int) {
	if m.cluster != nil {
		m.cluster.takenOver.Add(float64(n))
	}
}
