package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/http/ingest"
	"github.com/firehook/firehook/persistence"
)

// Stage names one stage of an event's way from the pixel to the receiver:
// the latency budget is the sum of them. Each is measured per event (per
// request for StagePost) as a histogram by tenant tier.
type Stage string

// The stages, in pipeline order.
const (
	// StageIngestStore: the collect request, from its start to the 202
	// (validation, the event log's group commit and fsync).
	StageIngestStore Stage = "ingest_store"
	// StageQueueMatch: from the event's commit to the log to the start of
	// its handling by its visitor actor (feeder and mailbox queues).
	StageQueueMatch Stage = "queue_before_match"
	// StageMatch: resolution against the identity graph, suppression,
	// learning.
	StageMatch Stage = "match"
	// StageDecision: the person actor's decision, the payload built once,
	// and the outbox write with its fsync.
	StageDecision Stage = "decision_payload"
	// StageQueueDispatch: from the delivery's creation to the start of its
	// first attempt (endpoint queue, rate limit, in-flight bound, gate).
	StageQueueDispatch Stage = "queue_before_dispatch"
	// StagePost: one webhook request, start to response read.
	StagePost Stage = "post"
	// StageEndToEnd: from the node receiving the page view to the
	// receiver's 2xx, for deliveries delivered (not replays).
	StageEndToEnd Stage = "end_to_end"
)

// stageOrder lists the stages in pipeline order; indexes into stageSet.
var stageOrder = [...]Stage{StageIngestStore, StageQueueMatch, StageMatch, StageDecision,
	StageQueueDispatch, StagePost, StageEndToEnd}

const (
	stIngestStore = iota
	stQueueMatch
	stMatch
	stDecision
	stQueueDispatch
	stPost
	stEndToEnd
	nStages
)

// tiers lists the tiers, best first; indexes into stageSet.
var tiers = [...]firehook.Tier{firehook.TierEnterprise, firehook.TierPro, firehook.TierFree}

const nTiers = len(tiers)

func tierIndex(t firehook.Tier) int {
	switch t {
	case firehook.TierEnterprise:
		return 0
	case firehook.TierPro:
		return 1
	}
	return 2
}

// stageSet records stage durations twice: in the Prometheus histogram
// (cumulative, for scrapes) and in sliding HDR windows per tier and for
// every tier together (p50/p99 of the last minutes, for /v1/pipeline).
type stageSet struct {
	hist *prometheus.HistogramVec
	obs  [nStages][nTiers]prometheus.Observer
	win  [nStages][nTiers + 1]*window // [nTiers]: every tier
	now  func() time.Time
}

func newStageSet(cfg Config, hist *prometheus.HistogramVec) *stageSet {
	s := &stageSet{hist: hist, now: cfg.Now}
	for i, st := range stageOrder {
		for j, t := range tiers {
			s.obs[i][j] = hist.WithLabelValues(string(st), string(t))
		}
		for j := range s.win[i] {
			s.win[i][j] = newWindow(cfg.Window, cfg.Slot)
		}
	}
	return s
}

func (s *stageSet) observe(stage int, tier firehook.Tier, d time.Duration) {
	d = max(d, 0)
	t := tierIndex(tier)
	s.obs[stage][t].Observe(d.Seconds())
	now := s.now()
	s.win[stage][t].record(now, d, nil)
	s.win[stage][nTiers].record(now, d, nil)
}

// ObserveIngest is the ingest handler's Observer (ingest.Config.Observer).
func (m *Metrics) ObserveIngest(o ingest.Observation) {
	outcome := "abandoned" // the client went away before an answer
	switch {
	case o.Accepted:
		outcome = "accepted"
		m.ingestAccepted.WithLabelValues(m.tenants.value(o.TenantID)).Inc()
		m.stages.observe(stIngestStore, m.tierOf(o.TenantID), o.Took)
	case o.OptedOut:
		outcome = "opted_out"
		m.ingestOptedOut.Inc()
	case o.Code != "":
		outcome = "rejected"
		m.ingestRejected.WithLabelValues(string(o.Code)).Inc()
	}
	m.ingestDuration.WithLabelValues(outcome).Observe(o.Took.Seconds())
	m.pixels.observe(o)
}

// Queued implements pipeline.Observer.
func (m *Metrics) Queued(ev *firehook.Event, wait time.Duration) {
	m.stages.observe(stQueueMatch, m.tierOf(ev.TenantID), wait)
}

// Matched implements pipeline.Observer.
func (m *Metrics) Matched(ev *firehook.Event, took time.Duration) {
	m.stages.observe(stMatch, m.tierOf(ev.TenantID), took)
}

// Dispatched implements pipeline.Observer. A replayed decision (the event
// was decided before a restart) is timed but not counted again.
func (m *Metrics) Dispatched(ev *firehook.Event, dec persistence.Decision, deliveries int, took time.Duration) {
	tier := m.tierOf(ev.TenantID)
	m.stages.observe(stDecision, tier, took)
	if dec.Replayed {
		return
	}
	m.dispatchDecisions.WithLabelValues(dec.Type, string(tier)).Inc()
	m.dispatchDeliveries.WithLabelValues(dec.Type, string(tier)).Add(float64(deliveries))
}
