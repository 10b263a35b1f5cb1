package metrics

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/eventstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/actors/pipeline"
)

// Metrics is a node's observability. Its Observe methods are the stages'
// hooks: safe for concurrent use, quick, never blocking. Close it when the
// node stops.
type Metrics struct {
	cfg       Config
	reg       *prometheus.Registry
	cluster   *clusterMetrics // nil on a lone node
	tenants   *labelCap
	endpoints *labelCap
	pixels    pixels // page views by site since start (pixel.go)

	ingestAccepted *prometheus.CounterVec   // tenant
	ingestRejected *prometheus.CounterVec   // reason
	ingestOptedOut prometheus.Counter       //
	ingestDuration *prometheus.HistogramVec // outcome

	dispatchDecisions  *prometheus.CounterVec // type, tier
	dispatchDeliveries *prometheus.CounterVec // type, tier

	stages *stageSet

	attempts        *prometheus.CounterVec   // tenant, endpoint, status_class
	outcomes        *prometheus.CounterVec   // tenant, endpoint, outcome
	attemptDuration *prometheus.HistogramVec // tenant, endpoint
	firstMatch      *prometheus.CounterVec   // tenant, within_budget

	restarts *prometheus.CounterVec // kind
	sub      *eventstream.Subscription

	// healthMu guards health; each endpointHealth has its own lock.
	healthMu sync.Mutex
	health   map[string]*endpointHealth

	// budgetMu guards budgets.
	budgetMu sync.Mutex
	budgets  map[string]*budgetCount

	closeOnce sync.Once
}

var _ pipeline.Observer = (*Metrics)(nil)

// Namespace prefixes every metric of Firehook's own.
const Namespace = "firehook"

// Histogram buckets, in seconds. Stages run from microseconds (the match)
// to seconds (a slow receiver, a free-tier budget); an attempt from
// milliseconds to the 60 s maximum timeout.
var (
	stageBuckets   = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	attemptBuckets = []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	ingestBuckets  = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}
)

// New returns the Metrics of cfg, with its collectors registered on a
// registry of its own (with the Go and process collectors).
func New(cfg Config) (*Metrics, error) {
	if cfg.Store == nil {
		return nil, fmt.Errorf("metrics: Store is required: %w", firehook.ErrInvalid)
	}
	cfg.withDefaults()
	m := &Metrics{
		cfg:       cfg,
		reg:       prometheus.NewRegistry(),
		tenants:   newLabelCap(cfg.MaxTenantLabels),
		endpoints: newLabelCap(cfg.MaxEndpointLabels),
		health:    make(map[string]*endpointHealth),
		pixels:    pixels{since: cfg.Now().UTC()},
		budgets:   make(map[string]*budgetCount),
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	}
	histogram := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help,
			Buckets: buckets}, labels)
	}
	m.ingestAccepted = counter("ingest_accepted_total", "Page views stored (202), by tenant.", "tenant")
	m.ingestRejected = counter("ingest_rejected_total", "Collect requests refused, by error code (the API's error catalogue).", "reason")
	m.ingestOptedOut = prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "ingest_opted_out_total",
		Help: "Collect requests answered 204 without storing because GPC or DNT asked not to be tracked."})
	m.ingestDuration = histogram("ingest_request_duration_seconds",
		"Collect request latency, from the handler's start to the answer (an accepted event's fsync included), by outcome.",
		ingestBuckets, "outcome")
	m.dispatchDecisions = counter("dispatch_decisions_total", "Matched events decided by the person actors, by webhook type and tenant tier.", "type", "tier")
	m.dispatchDeliveries = counter("dispatch_deliveries_total", "Deliveries created by dispatch decisions, by webhook type and tenant tier.", "type", "tier")
	m.stages = newStageSet(cfg, histogram("stage_duration_seconds",
		"Time an event spends in each stage of the pipeline, by tenant tier (see docs/metrics.md for the stages).",
		stageBuckets, "stage", "tier"))
	m.attempts = counter("delivery_attempts_total", "Delivery attempts, by tenant, endpoint and status class (2xx, 3xx, 4xx, 5xx, error: no response).",
		"tenant", "endpoint", "status_class")
	m.outcomes = counter("delivery_outcomes_total", "Delivery states after each attempt: delivered, retrying (another attempt is scheduled), failed (given up).",
		"tenant", "endpoint", "outcome")
	m.attemptDuration = histogram("delivery_attempt_duration_seconds", "Webhook POST latency, request start to response read, by tenant and endpoint.",
		attemptBuckets, "tenant", "endpoint")
	m.firstMatch = counter("first_match_deliveries_total",
		"First Match deliveries judged against their tier's pixel-to-2xx budget, by tenant and whether they made it.",
		"tenant", "within_budget")
	m.restarts = counter("actor_restarts_total", "Actor restarts by their supervisor after a panic, by actor kind.", "kind")
	for _, k := range []string{pipeline.KindVisitor, pipeline.KindPerson, pipeline.KindEndpoint} {
		m.restarts.WithLabelValues(k) // present at zero
	}

	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.ingestAccepted, m.ingestRejected, m.ingestOptedOut, m.ingestDuration,
		m.dispatchDecisions, m.dispatchDeliveries, m.stages.hist,
		m.attempts, m.outcomes, m.attemptDuration, m.firstMatch, m.restarts,
		newLevels(m),
	} {
		if err := m.reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: register: %w", err)
		}
	}
	if cfg.Cluster != nil {
		var cs []prometheus.Collector
		m.cluster, cs = newClusterMetrics(cfg.Cluster)
		for _, c := range cs {
			if err := m.reg.Register(c); err != nil {
				return nil, fmt.Errorf("metrics: register: %w", err)
			}
		}
	}
	if cfg.System != nil {
		m.sub = cfg.System.ActorSystem().EventStream.Subscribe(m.onActorEvent)
	}
	return m, nil
}

// onActorEvent counts supervisor restarts. It runs on the publisher's
// goroutine (a supervisor's): it only bumps a counter.
func (m *Metrics) onActorEvent(evt any) {
	ev, ok := evt.(*actor.SupervisorEvent)
	if !ok || ev.Directive != actor.RestartDirective || ev.Child == nil {
		return
	}
	m.restarts.WithLabelValues(actorKind(ev.Child.Id)).Inc()
}

// actorKind is the kind in a supervised actor's path, "firehook/<kind>/<id>"
// (package actors), or "other".
func actorKind(path string) string {
	rest, ok := strings.CutPrefix(path, "firehook/")
	if !ok {
		return otherLabel
	}
	kind, _, ok := strings.Cut(rest, "/")
	if !ok || kind == "" {
		return otherLabel
	}
	return kind
}

// Registry is the node's Prometheus registry.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text format (or
// OpenMetrics, when the scraper asks for it).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
}

// Close stops listening to the actor system. Safe to call twice.
func (m *Metrics) Close() {
	m.closeOnce.Do(func() {
		if m.sub != nil {
			m.cfg.System.ActorSystem().EventStream.Unsubscribe(m.sub)
		}
	})
}

// tierOf returns the tier of a tenant (free when it is unknown).
func (m *Metrics) tierOf(tenantID string) firehook.Tier {
	if t, ok := m.cfg.Store.Config.Tenant(tenantID); ok && t.Tier.Valid() {
		return t.Tier
	}
	return firehook.TierFree
}

// since returns now − t, never negative (clocks of other nodes, or a
// stored time from before a clock step).
func since(now, t time.Time) time.Duration { return max(now.Sub(t), 0) }
