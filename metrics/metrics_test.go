package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	dto "github.com/prometheus/client_model/go"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/actors"
	"github.com/firehook/firehook/actors/endpoint"
	"github.com/firehook/firehook/actors/webhook"
	"github.com/firehook/firehook/http/api"
	"github.com/firehook/firehook/http/ingest"
	"github.com/firehook/firehook/internal/testkit"
	"github.com/firehook/firehook/metrics"
	"github.com/firehook/firehook/persistence"
)

// fixture is a store with one tenant of tier and one endpoint, and the
// metrics over it.
type fixture struct {
	store  *persistence.Store
	tenant firehook.Tenant
	ep     firehook.Endpoint
	clock  *testkit.Clock
	m      *metrics.Metrics
}

func newFixture(t *testing.T, tier firehook.Tier, edit func(*metrics.Config)) *fixture {
	t.Helper()
	f := &fixture{store: testkit.OpenStore(t, t.TempDir()),
		clock: testkit.NewClock(time.Date(2025, 3, 14, 15, 0, 0, 0, time.UTC))}
	f.tenant = testkit.CreateTenant(t, f.store.Config, "acme")
	if _, err := f.store.Config.UpdateTenant(f.tenant.ID, func(tn *firehook.Tenant) error { tn.Tier = tier; return nil }); err != nil {
		t.Fatal(err)
	}
	f.ep = testkit.CreateEndpoint(t, f.store.Config, f.tenant.ID, "https://hooks.example/x", nil)
	cfg := metrics.Config{Store: f.store, Now: f.clock.Now}
	if edit != nil {
		edit(&cfg)
	}
	m, err := metrics.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	f.m = m
	return f
}

// request is one request of the script fed to ObserveDelivery.
type request struct {
	status   int           // 0: no response
	took     time.Duration // the request's duration
	attempt  int           // the delivery's attempt number
	terminal bool          // the delivery is given up after it
}

// observe feeds one request of one delivery, answered now.
func (f *fixture) observe(r request, fm bool) {
	now := f.clock.Now()
	res := webhook.Result{StatusCode: r.status, Duration: r.took}
	if r.status == 0 {
		res.Err = errors.New("timeout")
	}
	out := webhook.Classify(res)
	d := firehook.Delivery{ID: firehook.NewDeliveryID(now), EndpointID: f.ep.ID, TenantID: f.tenant.ID,
		Priority: firehook.PriorityEveryUpdate, CreatedAt: now.Add(-time.Second), EventReceivedAt: now.Add(-2 * time.Second)}
	if fm {
		d.Priority, d.EventReceivedAt = firehook.PriorityFirstMatch, now.Add(-r.took-10*time.Millisecond)
	}
	for n := 1; n <= r.attempt; n++ {
		d.Attempts = append(d.Attempts, firehook.Attempt{N: n, At: now.Add(-r.took), StatusCode: r.status,
			DurationMS: r.took.Milliseconds()})
	}
	switch {
	case out == webhook.Delivered:
		d.Status = firehook.DeliveryDelivered
	case r.terminal:
		d.Status = firehook.DeliveryFailed
	default:
		d.Status = firehook.DeliveryRetrying
	}
	f.m.ObserveDelivery(endpoint.Observation{EndpointID: f.ep.ID, TenantID: f.tenant.ID,
		Deliveries: []firehook.Delivery{d}, Result: res, Outcome: out})
}

// gather returns the value of the sample of family name whose labels
// include labels (name, value pairs); ok is false when there is none.
func gather(t *testing.T, m *metrics.Metrics, name string, labels ...string) (float64, bool) {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		byName[f.GetName()] = f
	}
	return testkit.MetricValue(byName, name, labels...)
}

func TestMetrics_HealthCountsAreExactAndQuantilesWithinHDRPrecision(t *testing.T) {
	f := newFixture(t, firehook.TierPro, nil)
	rng := rand.New(rand.NewSource(3))
	var durations []time.Duration
	var delivered, failed, terminal, retries, c5xx, cErr int
	for i := range 400 {
		r := request{status: http.StatusOK, took: time.Duration(1+rng.Intn(200_000)) * time.Microsecond, attempt: 1 + i%3}
		switch i % 5 {
		case 1:
			r.status = http.StatusServiceUnavailable
			c5xx++
		case 2:
			r.status, r.terminal = 0, i%4 == 0
			cErr++
		}
		if r.status == http.StatusOK {
			delivered++
		} else {
			failed++
			if r.terminal {
				terminal++
			}
		}
		if r.attempt > 1 {
			retries++
		}
		durations = append(durations, r.took)
		f.observe(r, false)
		f.clock.Advance(500 * time.Millisecond) // 200 s in all: inside one 5-minute window
	}
	h := f.m.Health(f.ep)
	if h.Delivered != int64(delivered) || h.Failed != int64(failed) || h.FailedTerminal != int64(terminal) ||
		h.Retries != int64(retries) || h.Requests != 400 {
		t.Fatalf("health counts %+v; want delivered %d failed %d terminal %d retries %d requests 400",
			h, delivered, failed, terminal, retries)
	}
	if want := float64(delivered) / float64(delivered+failed); h.SuccessRate == nil || *h.SuccessRate != want {
		t.Errorf("success_rate %v, want %v", h.SuccessRate, want)
	}
	slices.Sort(durations)
	for _, c := range []struct {
		q   float64
		got *float64
	}{{50, h.P50MS}, {99, h.P99MS}} {
		want := nearestRank(durations, c.q)
		if c.got == nil || !withinHDRms(*c.got, want) {
			t.Errorf("p%v = %v ms, want %v within HDR precision", c.q, c.got, want)
		}
	}
	if h.LastSuccessAt == nil || h.LastFailureAt == nil || h.State != "healthy" || h.WindowS != 300 || h.BudgetMS != 1000 {
		t.Errorf("health %+v", h)
	}
	if h.Totals.Delivered != int64(delivered) || h.Totals.Failed != int64(failed) {
		t.Errorf("totals %+v", h.Totals)
	}

	// The counters say the same.
	for _, c := range []struct {
		class string
		want  int
	}{{"2xx", delivered}, {"5xx", c5xx}, {"error", cErr}} {
		if got, _ := gather(t, f.m, "firehook_delivery_attempts_total", "tenant", f.tenant.ID, "endpoint", f.ep.ID,
			"status_class", c.class); got != float64(c.want) {
			t.Errorf("attempts %s = %v, want %d", c.class, got, c.want)
		}
	}
	if got, _ := gather(t, f.m, "firehook_delivery_outcomes_total", "outcome", "failed"); got != float64(terminal) {
		t.Errorf("outcomes failed = %v, want %d", got, terminal)
	}
	if got, _ := gather(t, f.m, "firehook_stage_duration_seconds", "stage", "post", "tier", "pro"); got != 400 {
		t.Errorf("post stage samples = %v, want 400", got)
	}

	// Six minutes on, the window is empty and the totals stay.
	f.clock.Advance(6 * time.Minute)
	h = f.m.Health(f.ep)
	if h.Delivered != 0 || h.Requests != 0 || h.P50MS != nil || h.SuccessRate != nil || h.Totals.Delivered != int64(delivered) {
		t.Errorf("after the window: %+v", h)
	}
}

// nearestRank is the sample HDR's ValueAtPercentile aims at.
func nearestRank(sorted []time.Duration, q float64) time.Duration {
	rank := min(max(int(q/100*float64(len(sorted))+0.5), 1), len(sorted))
	return sorted[rank-1]
}

// withinHDRms reports whether got (ms) is want's HDR bucket value.
func withinHDRms(got float64, want time.Duration) bool {
	lo := float64(want.Microseconds()) / 1000
	return got >= lo && got <= lo*1.001+0.001
}

func TestMetrics_FirstMatchWithinBudgetPerTenant(t *testing.T) {
	f := newFixture(t, firehook.TierEnterprise, nil)
	f.observe(request{status: 200, took: 100 * time.Millisecond, attempt: 1}, true)  // within 500 ms
	f.observe(request{status: 200, took: 700 * time.Millisecond, attempt: 1}, true)  // late
	f.observe(request{status: 500, took: 10 * time.Millisecond, attempt: 1}, true)   // open: may still make it
	f.observe(request{status: 200, took: 700 * time.Millisecond, attempt: 1}, false) // Every Update: not judged
	h := f.m.Health(f.ep)
	if h.FirstMatchDeliveries != 2 || h.FirstMatchWithinBudget == nil || *h.FirstMatchWithinBudget != 0.5 || h.BudgetMS != 500 {
		t.Fatalf("health: %d judged, share %v, budget %d", h.FirstMatchDeliveries, h.FirstMatchWithinBudget, h.BudgetMS)
	}
	v := f.m.Pipeline(nil)
	if len(v.Tenants) != 1 || v.Tenants[0].FirstMatchDeliveries != 2 || v.Tenants[0].WithinBudget != 1 ||
		*v.Tenants[0].Share != 0.5 || v.Tenants[0].Tier != "enterprise" {
		t.Fatalf("pipeline tenants %+v", v.Tenants)
	}
	if got, _ := gather(t, f.m, "firehook_first_match_deliveries_total", "tenant", f.tenant.ID, "within_budget", "true"); got != 1 {
		t.Errorf("first_match within = %v", got)
	}
	// Configured budgets apply.
	g := newFixture(t, firehook.TierEnterprise, func(c *metrics.Config) { c.Budgets.Enterprise = time.Second })
	g.observe(request{status: 200, took: 700 * time.Millisecond, attempt: 1}, true)
	if v := g.m.Pipeline(nil); *v.Tenants[0].Share != 1 || v.Tenants[0].BudgetMS != 1000 {
		t.Errorf("with a 1 s budget: %+v", v.Tenants[0])
	}
}

func TestMetrics_EndpointLabelsAreCapped(t *testing.T) {
	f := newFixture(t, firehook.TierFree, func(c *metrics.Config) { c.MaxEndpointLabels = 1 })
	other := testkit.CreateEndpoint(t, f.store.Config, f.tenant.ID, "https://hooks.example/y", nil)
	f.observe(request{status: 200, took: time.Millisecond, attempt: 1}, false)
	f.ep = other
	f.observe(request{status: 200, took: time.Millisecond, attempt: 1}, false)
	if got, _ := gather(t, f.m, "firehook_delivery_attempts_total", "endpoint", "other"); got != 1 {
		t.Errorf("the second endpoint's attempts under endpoint=other = %v, want 1", got)
	}
	// Health keeps every endpoint apart whatever the labels.
	if h := f.m.Health(other); h.Delivered != 1 {
		t.Errorf("health of the capped endpoint: %+v", h)
	}
}

func TestMetrics_SaturationWarnsUnderTwentyPercentHeadroom(t *testing.T) {
	gate := endpoint.NewGate(4)
	stats := map[string]*endpoint.Stats{}
	var mu sync.Mutex
	backlog := 7999
	f := newFixture(t, firehook.TierPro, func(c *metrics.Config) {
		c.Backlog = func() int { return backlog }
		c.FeedCapacity = 10_000
		c.Gate, c.GateSlots = gate, 4
		c.EndpointWindow = 100
		c.EndpointStats = func(id string) *endpoint.Stats {
			mu.Lock()
			defer mu.Unlock()
			if stats[id] == nil {
				stats[id] = new(endpoint.Stats)
			}
			return stats[id]
		}
	})
	f.m.Pipeline(nil) // makes the endpoint's Stats
	stats[f.ep.ID].Pending.Store(70)
	stats[f.ep.ID].Retrying.Store(11)
	for range 4 {
		if err := gate.Acquire(context.Background(), 0); err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		for range 4 {
			gate.Release()
		}
	}()
	v := f.m.Pipeline(nil)
	byQueue := map[string]metrics.Queue{}
	for _, q := range v.Saturation {
		byQueue[q.Queue] = q
	}
	feed, g, ep := byQueue[metrics.QueueVisitorFeed], byQueue[metrics.QueueWebhookGate], byQueue[metrics.QueueEndpointWindow]
	if feed.Depth != 7999 || feed.Warning || g.Depth != 4 || g.Capacity != 4 || !g.Warning ||
		ep.Depth != 81 || ep.Capacity != 100 || !ep.Warning || ep.EndpointID != f.ep.ID {
		t.Fatalf("saturation %+v", v.Saturation)
	}
	if len(v.Warnings) != 2 {
		t.Errorf("warnings %q, want the gate's and the endpoint's", v.Warnings)
	}
	backlog = 8001
	if v = f.m.Pipeline(nil); len(v.Warnings) != 3 {
		t.Errorf("warnings at 80.01 %% of the feed: %q", v.Warnings)
	}
	// A tenant sees only its own endpoints.
	if v = f.m.Pipeline(func(string) bool { return false }); len(v.Saturation) != 2 || len(v.Tenants) != 0 {
		t.Errorf("filtered view: %+v", v)
	}
	if got, _ := gather(t, f.m, "firehook_queue_depth", "queue", "webhook_gate"); got != 4 {
		t.Errorf("queue_depth webhook_gate = %v", got)
	}
	if got, _ := gather(t, f.m, "firehook_delivery_queue_depth", "endpoint", f.ep.ID, "state", "retrying"); got != 11 {
		t.Errorf("delivery_queue_depth retrying = %v", got)
	}
}

func TestMetrics_IngestAndStages(t *testing.T) {
	f := newFixture(t, firehook.TierFree, nil)
	f.m.ObserveIngest(ingest.Observation{TenantID: f.tenant.ID, Accepted: true, Took: 3 * time.Millisecond})
	f.m.ObserveIngest(ingest.Observation{TenantID: f.tenant.ID, Code: api.CodeRateLimited, Took: time.Millisecond})
	f.m.ObserveIngest(ingest.Observation{Code: api.CodeUnknownSite})
	f.m.ObserveIngest(ingest.Observation{OptedOut: true})
	ev := &firehook.Event{TenantID: f.tenant.ID}
	f.m.Queued(ev, 2*time.Millisecond)
	f.m.Matched(ev, 50*time.Microsecond)
	f.m.Dispatched(ev, persistence.Decision{Type: firehook.EventIdentified, Sequence: 1}, 2, 4*time.Millisecond)
	f.m.Dispatched(ev, persistence.Decision{Type: firehook.EventIdentified, Sequence: 1, Replayed: true}, 2, time.Millisecond)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"firehook_ingest_accepted_total", []string{"tenant", f.tenant.ID}, 1},
		{"firehook_ingest_rejected_total", []string{"reason", "rate_limited"}, 1},
		{"firehook_ingest_rejected_total", []string{"reason", "unknown_site"}, 1},
		{"firehook_ingest_opted_out_total", nil, 1},
		{"firehook_ingest_request_duration_seconds", []string{"outcome", "rejected"}, 2},
		{"firehook_dispatch_decisions_total", []string{"type", "visitor.identified", "tier", "free"}, 1},
		{"firehook_dispatch_deliveries_total", []string{"type", "visitor.identified", "tier", "free"}, 2},
		{"firehook_stage_duration_seconds", []string{"stage", "ingest_store", "tier", "free"}, 1},
		{"firehook_stage_duration_seconds", []string{"stage", "decision_payload", "tier", "free"}, 2},
	} {
		if got, _ := gather(t, f.m, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	v := f.m.Pipeline(nil)
	for _, s := range v.Stages {
		want := map[metrics.Stage]int64{metrics.StageIngestStore: 1, metrics.StageQueueMatch: 1, metrics.StageMatch: 1,
			metrics.StageDecision: 2}[s.Stage]
		if s.Count != want || s.Tiers[firehook.TierFree].Count != want || s.Tiers[firehook.TierPro].Count != 0 {
			t.Errorf("stage %s: %+v, want %d samples (free)", s.Stage, s, want)
		}
	}
	if s := v.Stages[2]; s.P50MS == nil || *s.P50MS != 0.05 {
		t.Errorf("match p50 = %v ms, want 0.05", s.P50MS)
	}
}

// panicky panics on every string it gets.
type panicky struct{}

func (panicky) Receive(c actor.Context) {
	if s, ok := c.Message().(string); ok {
		panic(s)
	}
}

func TestMetrics_CountsActorRestartsByKind(t *testing.T) {
	sys, err := actors.New(actors.Config{Log: testkit.Logger(t, slog.LevelError)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sys.Close(context.Background()) })
	f := newFixture(t, firehook.TierPro, func(c *metrics.Config) { c.System = sys })
	for i := range 3 {
		if err := sys.Send("visitor", "v:t/1", func() actor.Actor { return panicky{} }, fmt.Sprint("boom ", i)); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, 5*time.Second, func() bool {
		got, _ := gather(t, f.m, "firehook_actor_restarts_total", "kind", "visitor")
		return got == 3
	}, "3 restarts of the visitor actor counted")
	if got, _ := gather(t, f.m, "firehook_actors", "kind", "visitor"); got != 1 {
		t.Errorf("live visitor actors = %v", got)
	}
}

// The pixel status of a site counts its accepted and refused page views
// and keeps the latest of each and the latest refusal's code; a page view
// of no site (an unknown key) or an opt-out counts nowhere.
func TestPixel_CountsEachSitesPageViews(t *testing.T) {
	f := newFixture(t, firehook.TierPro, nil)
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	f.m.ObserveIngest(ingest.Observation{TenantID: f.tenant.ID, SiteID: "site_a", Accepted: true, Start: t0})
	f.m.ObserveIngest(ingest.Observation{TenantID: f.tenant.ID, SiteID: "site_a", Code: "origin_not_allowed", Start: t0.Add(time.Second)})
	f.m.ObserveIngest(ingest.Observation{TenantID: f.tenant.ID, SiteID: "site_a", OptedOut: true, Start: t0.Add(2 * time.Second)})
	f.m.ObserveIngest(ingest.Observation{Code: "unknown_site", Start: t0})
	p := f.m.Pixel("site_a")
	if p.Accepted != 1 || p.Refused != 1 || p.LastRefusal != "origin_not_allowed" ||
		p.LastAcceptedAt == nil || !p.LastAcceptedAt.Equal(t0) || p.LastRefusedAt == nil || !p.LastRefusedAt.Equal(t0.Add(time.Second)) {
		t.Errorf("site_a's pixel: %+v", p)
	}
	if q := f.m.Pixel("site_b"); q.Accepted != 0 || q.Refused != 0 || q.LastAcceptedAt != nil || q.SiteID != "site_b" {
		t.Errorf("an unseen site's pixel: %+v", q)
	}
}
