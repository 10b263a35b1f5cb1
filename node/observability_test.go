package node_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/actors/pipeline"
	"github.com/firehook/firehook/internal/testkit"
	"github.com/firehook/firehook/metrics"
	"github.com/firehook/firehook/node"
)

// admin GETs path on the node's admin listener with the operator token.
func (w *world) admin(tb testing.TB, path string) testkit.Response {
	tb.Helper()
	return testkit.Do(tb, http.DefaultClient, http.MethodGet, "http://"+w.n.AdminAddr()+path, nil, "Authorization", "Bearer op")
}

// scrape GETs /metrics from loopback, without a token, and parses it with
// the Prometheus text parser.
func (w *world) scrape(tb testing.TB) map[string]*dto.MetricFamily {
	tb.Helper()
	r := testkit.Do(tb, http.DefaultClient, http.MethodGet, "http://"+w.n.AdminAddr()+"/metrics", nil)
	if r.Status != http.StatusOK {
		tb.Fatalf("GET /metrics = %d %s", r.Status, r.Body)
	}
	return testkit.ParseMetrics(tb, r.Body)
}

// sample is testkit.MetricValue that fails the test when there is none.
func sample(tb testing.TB, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	tb.Helper()
	v, ok := testkit.MetricValue(fams, name, labels...)
	if !ok {
		tb.Fatalf("/metrics has no %s%v", name, labels)
	}
	return v
}

// quantileMS is the nearest-rank quantile of durations in milliseconds,
// as HDR histograms aim at it.
func quantileMS(ms []float64, q float64) float64 {
	s := slices.Sorted(slices.Values(ms))
	return s[min(max(int(q/100*float64(len(s))+0.5), 1), len(s))-1]
}

// A real pixel → webhook run against a receiver that answers slowly and
// sometimes 500: the health route reports what the receiver saw, and
// /metrics (parsed, not grepped) counts it.
func TestObservability_HealthAndMetricsMatchWhatTheReceiverSaw(t *testing.T) {
	w := newWorld(t, func(c *node.Config) {
		fastRetries(c)
		c.Metrics.Budgets.Enterprise = time.Minute // the run is judged within budget however slow the machine
	})
	if _, err := w.n.Store().Config.UpdateTenant(w.tenant.ID, func(tn *firehook.Tenant) error {
		tn.Tier = firehook.TierEnterprise
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	w.person(t, "p_ada", "ada@engines.example")
	var calls atomic.Int64
	rc := testkit.NewReceiver(t, func(rw http.ResponseWriter, r *testkit.Received) {
		n := calls.Add(1)
		time.Sleep(time.Duration(5+n%4*10) * time.Millisecond) // 5 to 35 ms
		if n%3 == 0 {
			rw.WriteHeader(http.StatusInternalServerError)
			return
		}
		rw.WriteHeader(http.StatusOK)
	})
	ep := w.endpoint(t, rc.URL, nil)

	const views = 8
	w.view(t, "v_ada", "ada@engines.example", "home")
	for i := 2; i <= views; i++ {
		w.view(t, "v_ada", "", fmt.Sprintf("page-%d", i))
	}
	w.view(t, "v_stranger", "", "home") // matches nobody
	// A refused and an opted-out request.
	r := testkit.Do(t, http.DefaultClient, http.MethodPost, "http://"+w.n.IngestAddr()+"/v1/collect",
		strings.NewReader(`{"site":"nope","vid":"v","url":"https://example.com/"}`), "Content-Type", "application/json")
	testkit.AssertError(t, r, http.StatusNotFound, "unknown_site")
	r = testkit.Do(t, http.DefaultClient, http.MethodPost, "http://"+w.n.IngestAddr()+"/v1/collect",
		strings.NewReader(`{}`), "Content-Type", "application/json", "Sec-GPC", "1")
	if r.Status != http.StatusNoContent {
		t.Fatalf("GPC request: %d", r.Status)
	}

	testkit.Eventually(t, 30*time.Second, func() bool {
		ds, _, err := w.n.Store().Outbox().List(ep.ID, firehook.DeliveryDelivered, "", 100)
		return err == nil && len(ds) == views
	}, "%d delivered receipts", views)
	// The receiver's view: every request and its answer.
	got := rc.Got()
	var ok2xx, not2xx, retries int64
	var receipts []float64
	for _, g := range got {
		if g.Status >= 200 && g.Status <= 299 {
			ok2xx++
		} else {
			not2xx++
		}
		if n, _ := strconv.Atoi(g.Header.Get("firehook-attempt")); n > 1 {
			retries++
		}
	}
	// The durations the node measured, as its receipts hold them.
	ds, _, err := w.n.Store().Outbox().List(ep.ID, "", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		for _, a := range d.Attempts {
			receipts = append(receipts, float64(a.DurationMS))
		}
	}
	if ok2xx != views || int64(len(receipts)) != int64(len(got)) {
		t.Fatalf("receiver: %d requests, %d answered 2xx; receipts hold %d attempts", len(got), ok2xx, len(receipts))
	}

	var h metrics.Health
	testkit.Eventually(t, 5*time.Second, func() bool {
		h = testkit.AssertJSON[metrics.Health](t, w.admin(t, "/v1/endpoints/"+ep.ID+"/health"), http.StatusOK)
		return h.Requests == int64(len(got))
	}, "health counts every request")
	if h.Delivered != ok2xx || h.Failed != not2xx || h.Retries != retries || h.Pending != 0 || h.Retrying != 0 {
		t.Errorf("health %+v; the receiver saw %d 2xx, %d others, %d retries", h, ok2xx, not2xx, retries)
	}
	if want := float64(ok2xx) / float64(ok2xx+not2xx); h.SuccessRate == nil || *h.SuccessRate != want {
		t.Errorf("success_rate %v, want %v", h.SuccessRate, want)
	}
	// The receipts hold each duration to the millisecond (truncated): the
	// histogram's quantile is that sample's, to 0.1 %, below the next ms.
	for _, c := range []struct {
		q   float64
		got *float64
	}{{50, h.P50MS}, {99, h.P99MS}} {
		want := quantileMS(receipts, c.q)
		if c.got == nil || *c.got < want || *c.got > (want+1)*1.001 {
			t.Errorf("p%v = %v ms; the receipts' p%v is %v ms", c.q, c.got, c.q, want)
		}
		if c.got != nil && *c.got < 5 {
			t.Errorf("p%v = %v ms, under the receiver's shortest answer (5 ms)", c.q, *c.got)
		}
	}
	if h.State != "healthy" || h.LastSuccessAt == nil || h.LastFailureAt == nil || h.BudgetMS != 60_000 ||
		h.FirstMatchDeliveries != 1 || h.FirstMatchWithinBudget == nil || *h.FirstMatchWithinBudget != 1 {
		t.Errorf("health %+v", h)
	}

	fams := w.scrape(t)
	tenant, endpoint := []string{"tenant", w.tenant.ID}, []string{"tenant", w.tenant.ID, "endpoint", ep.ID}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"firehook_ingest_accepted_total", tenant, views + 1},
		{"firehook_ingest_rejected_total", []string{"reason", "unknown_site"}, 1},
		{"firehook_ingest_opted_out_total", nil, 1},
		{"firehook_match_total", []string{"result", "hit"}, views},
		{"firehook_match_total", []string{"result", "miss"}, 1},
		{"firehook_dispatch_decisions_total", []string{"type", "visitor.identified", "tier", "enterprise"}, 1},
		{"firehook_dispatch_decisions_total", []string{"type", "visitor.updated", "tier", "enterprise"}, views - 1},
		{"firehook_dispatch_deliveries_total", []string{"type", "visitor.updated", "tier", "enterprise"}, views - 1},
		{"firehook_delivery_attempts_total", append(endpoint, "status_class", "2xx"), float64(ok2xx)},
		{"firehook_delivery_attempts_total", append(endpoint, "status_class", "5xx"), float64(not2xx)},
		{"firehook_delivery_outcomes_total", append(endpoint, "outcome", "delivered"), views},
		{"firehook_delivery_outcomes_total", append(endpoint, "outcome", "retrying"), float64(not2xx)},
		{"firehook_delivery_attempt_duration_seconds", endpoint, float64(len(got))},
		{"firehook_first_match_deliveries_total", append(tenant, "within_budget", "true"), 1},
		{"firehook_stage_duration_seconds", []string{"stage", "ingest_store", "tier", "enterprise"}, views + 1},
		{"firehook_stage_duration_seconds", []string{"stage", "queue_before_match", "tier", "enterprise"}, views + 1},
		{"firehook_stage_duration_seconds", []string{"stage", "match", "tier", "enterprise"}, views + 1},
		{"firehook_stage_duration_seconds", []string{"stage", "decision_payload", "tier", "enterprise"}, views},
		{"firehook_stage_duration_seconds", []string{"stage", "queue_before_dispatch", "tier", "enterprise"}, views},
		{"firehook_stage_duration_seconds", []string{"stage", "post", "tier", "enterprise"}, float64(len(got))},
		{"firehook_stage_duration_seconds", []string{"stage", "end_to_end", "tier", "enterprise"}, views},
		{"firehook_delivery_in_flight", endpoint, 0},
		{"firehook_delivery_queue_depth", append(endpoint, "state", "pending"), 0},
		{"firehook_queue_capacity", []string{"queue", "webhook_gate"}, 512},
		{"firehook_eventlog_events_total", nil, views + 1},
	} {
		if got := sample(t, fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	for _, name := range []string{"firehook_badger_lsm_size_bytes", "firehook_badger_vlog_size_bytes", "firehook_outbox_writes_total"} {
		sample(t, fams, name)
	}
	if sample(t, fams, "firehook_actors", "kind", "endpoint") < 1 || sample(t, fams, "firehook_actors", "kind", "visitor") < 1 {
		t.Error("firehook_actors counts no endpoint or visitor actor")
	}
	if got := sample(t, fams, "firehook_actor_restarts_total", "kind", "endpoint"); got != 0 {
		t.Errorf("endpoint actor restarts = %v", got)
	}
}

func TestObservability_ActorsAndPipelineViewOfARunningNode(t *testing.T) {
	w := newWorld(t, nil)
	w.person(t, "p_ada", "ada@engines.example")
	rc := testkit.NewReceiver(t, nil)
	ep := w.endpoint(t, rc.URL, nil)
	w.view(t, "v_ada", "ada@engines.example", "home")
	rc.WaitFor(t, 1, 10*time.Second)

	type actorsResp struct {
		Actors []struct {
			Kind, ID, Node, State, TenantID string
			MailboxDepth                    int64 `json:"mailbox_depth"`
		} `json:"actors"`
	}
	list := testkit.AssertJSON[actorsResp](t, w.admin(t, "/v1/actors"), http.StatusOK)
	visitor := pipeline.VisitorActorID(w.tenant.ID, "v_ada")
	var kinds []string
	for _, a := range list.Actors {
		if a.ID == ep.ID || a.ID == visitor {
			kinds = append(kinds, a.Kind)
		}
	}
	if slices.Sort(kinds); !slices.Equal(kinds, []string{pipeline.KindEndpoint, pipeline.KindVisitor}) {
		t.Fatalf("/v1/actors = %+v; want the endpoint's actor and the visitor's", list.Actors)
	}
	one := testkit.AssertJSON[struct {
		Kind, ID string
		State    string
	}](t, w.admin(t, "/v1/actors/"+url.PathEscape(visitor)), http.StatusOK)
	if one.Kind != pipeline.KindVisitor || one.ID != visitor {
		t.Errorf("/v1/actors/%s = %+v", visitor, one)
	}
	endpoints := testkit.AssertJSON[actorsResp](t, w.admin(t, "/v1/actors?kind=endpoint"), http.StatusOK)
	if len(endpoints.Actors) != 1 || endpoints.Actors[0].ID != ep.ID || endpoints.Actors[0].State != "healthy" {
		t.Errorf("/v1/actors?kind=endpoint = %+v", endpoints.Actors)
	}

	var v metrics.PipelineView
	testkit.Eventually(t, 5*time.Second, func() bool {
		v = testkit.AssertJSON[metrics.PipelineView](t, w.admin(t, "/v1/pipeline"), http.StatusOK)
		return len(v.Tenants) == 1 && v.Tenants[0].FirstMatchDeliveries == 1
	}, "the First Match delivery judged")
	for _, s := range v.Stages {
		if s.Count < 1 || s.P50MS == nil {
			t.Errorf("stage %s has no sample: %+v", s.Stage, s)
		}
	}
	var queues []string
	for _, q := range v.Saturation {
		queues = append(queues, q.Queue)
		if q.Warning || q.Capacity == 0 {
			t.Errorf("queue %+v", q)
		}
	}
	if !slices.Equal(queues, []string{"visitor_feed", "webhook_gate", "endpoint_window"}) {
		t.Errorf("queues %v", queues)
	}
}
