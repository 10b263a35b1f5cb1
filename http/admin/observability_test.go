package admin_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	dto "github.com/prometheus/client_model/go"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/actors/pipeline"
	"github.com/firehook/firehook/internal/testkit"
	"github.com/firehook/firehook/metrics"
	"github.com/firehook/firehook/persistence"
)

// idleActor does nothing: the env's stand-in for a pipeline actor, so
// that /v1/actors has live actors of known kinds and ids.
type idleActor struct{}

func (idleActor) Receive(actor.Context) {}

// spawn starts an idle actor of kind with id in the env's actor system.
func (e *env) spawn(t testing.TB, kind, id string) string {
	t.Helper()
	if _, err := e.actors.Spawn(kind, id, func() actor.Actor { return idleActor{} }); err != nil {
		t.Fatalf("spawn %s %s: %v", kind, id, err)
	}
	return id
}

// spawnEndpointActor starts the stand-in of endpoint id's actor.
func (e *env) spawnEndpointActor(t testing.TB, id string) string {
	t.Helper()
	return e.spawn(t, pipeline.KindEndpoint, id)
}

func TestMetrics_LoopbackNeedsNoToken(t *testing.T) {
	e := newEnv(t)
	r := e.do(t, http.MethodGet, "/metrics", "", "")
	if r.Status != http.StatusOK {
		t.Fatalf("GET /metrics from 127.0.0.1 without a token = %d %s", r.Status, r.Body)
	}
	fams := testkit.ParseMetrics(t, r.Body)
	for _, name := range []string{"firehook_badger_lsm_size_bytes", "firehook_badger_vlog_size_bytes",
		"firehook_eventlog_events_total", "firehook_outbox_writes_total", "firehook_actor_restarts_total",
		"go_goroutines", "process_open_fds"} {
		if fams[name] == nil {
			t.Errorf("/metrics has no %s", name)
		}
	}
	if f := fams["firehook_eventlog_events_total"]; f != nil && f.GetType() != dto.MetricType_COUNTER {
		t.Errorf("firehook_eventlog_events_total is a %s, want a counter", f.GetType())
	}
}

func TestMetrics_FromElsewhereNeedsTheOperatorToken(t *testing.T) {
	e, a, _ := newWorld(t)
	for _, tc := range []struct {
		name, token string
		want        int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"tenant key", a.tenant.APIKey, http.StatusForbidden},
		{"operator", operatorToken, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			req.RemoteAddr = "203.0.113.7:40000"
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			rec := httptest.NewRecorder()
			e.handler.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tc.want, rec.Body)
			}
		})
	}
}

// actorsResp is the answer of GET /v1/actors.
type actorsResp struct {
	Actors []actorResp `json:"actors"`
}

type actorResp struct {
	Kind         string    `json:"kind"`
	ID           string    `json:"id"`
	Node         string    `json:"node"`
	TenantID     string    `json:"tenant_id"`
	MailboxDepth int64     `json:"mailbox_depth"`
	InFlight     int64     `json:"in_flight"`
	Restarts     int64     `json:"restarts"`
	State        string    `json:"state"`
	LastActivity time.Time `json:"last_activity"`
}

func actorIDs(as []actorResp) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.ID
	}
	slices.Sort(out)
	return out
}

func TestActors_ListsLiveActorsScopedToTheCallersTenant(t *testing.T) {
	e, a, b := newWorld(t)
	va := e.spawn(t, pipeline.KindVisitor, pipeline.VisitorActorID(a.tenant.ID, "vid_a"))
	vb := e.spawn(t, pipeline.KindVisitor, pipeline.VisitorActorID(b.tenant.ID, "vid_b"))
	pa := e.spawn(t, pipeline.KindPerson, pipeline.PersonActorID(a.tenant.ID, a.person))
	for _, tc := range []struct {
		name, token, query string
		want               []string
	}{
		{"operator sees every actor", operatorToken, "", []string{a.actor, b.actor, va, vb, pa}},
		{"operator filters by kind", operatorToken, "?kind=visitor", []string{va, vb}},
		{"a tenant sees its own", a.tenant.APIKey, "", []string{a.actor, va, pa}},
		{"a tenant filters its own by kind", a.tenant.APIKey, "?kind=endpoint", []string{a.actor}},
		{"the other tenant sees its own", b.tenant.APIKey, "", []string{b.actor, vb}},
		{"an unknown kind has none", operatorToken, "?kind=nothing", []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ok[actorsResp](t, e.do(t, http.MethodGet, "/v1/actors"+tc.query, tc.token, ""), http.StatusOK)
			if ids, want := actorIDs(got.Actors), slices.Sorted(slices.Values(tc.want)); !slices.Equal(ids, want) {
				t.Fatalf("actors %v, want %v", ids, want)
			}
			for _, ac := range got.Actors {
				if ac.Node != "node-test" || ac.State == "" || ac.LastActivity.IsZero() || ac.TenantID == "" {
					t.Errorf("actor %+v: want node, state, last activity and tenant", ac)
				}
			}
		})
	}
	// A visitor actor's id holds a "/": it is sent escaped.
	one := ok[actorResp](t, e.do(t, http.MethodGet, "/v1/actors/"+url.PathEscape(va), a.tenant.APIKey, ""), http.StatusOK)
	if one.Kind != pipeline.KindVisitor || one.ID != va || one.TenantID != a.tenant.ID || one.State != "running" {
		t.Errorf("GET /v1/actors/%s = %+v", va, one)
	}
	apiError(t, e.do(t, http.MethodGet, "/v1/actors/"+url.PathEscape(vb), a.tenant.APIKey, ""), http.StatusNotFound, "not_found")
}

// appendEvent stores a page view of tenant in the event log, received at.
func (e *env) appendEvent(t testing.TB, tenantID, vid, title string, at time.Time) firehook.Event {
	t.Helper()
	ev := firehook.Event{ID: firehook.NewID(firehook.PrefixEvent), TenantID: tenantID, SiteID: "site_x", VisitorID: vid,
		URL: "https://example.com/" + vid + "?utm_source=news", Title: title, UTM: map[string]string{"source": "news"},
		ReceivedAt: at.UTC()}
	if err := e.store.Events.Append(context.Background(), &ev); err != nil {
		t.Fatalf("append: %v", err)
	}
	return ev
}

// eventsResp is the answer of GET /v1/events.
type eventsResp struct {
	Events     []firehook.Event `json:"events"`
	NextCursor string           `json:"next_cursor"`
	HasMore    bool             `json:"has_more"`
}

func TestEvents_PagesThroughTheTenantsEventsByCursor(t *testing.T) {
	e, a, b := newWorld(t)
	start := e.clock.Now()
	var want []string
	for i := range 25 {
		want = append(want, e.appendEvent(t, a.tenant.ID, "va", "", start.Add(time.Duration(i)*time.Second)).ID)
		if i%2 == 0 {
			e.appendEvent(t, b.tenant.ID, "vb", "", start)
		}
	}
	var got []string
	cursor := ""
	for page := 0; ; page++ {
		r := ok[eventsResp](t, e.do(t, http.MethodGet, "/v1/events?limit=10&cursor="+cursor, a.tenant.APIKey, ""), http.StatusOK)
		for _, ev := range r.Events {
			if ev.TenantID != a.tenant.ID || ev.Seq == 0 {
				t.Fatalf("page %d has %+v", page, ev)
			}
			got = append(got, ev.ID)
		}
		if r.NextCursor == "" {
			t.Fatalf("page %d has no next_cursor", page)
		}
		cursor = r.NextCursor
		if !r.HasMore {
			if len(r.Events) != 5 {
				t.Errorf("last page has %d events, want 5", len(r.Events))
			}
			break
		}
		if len(r.Events) != 10 || page > 3 {
			t.Fatalf("page %d has %d events, has_more", page, len(r.Events))
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("paged %v\nwant  %v", got, want)
	}

	// Polling with the last cursor finds nothing new, then the next event.
	r := ok[eventsResp](t, e.do(t, http.MethodGet, "/v1/events?cursor="+cursor, a.tenant.APIKey, ""), http.StatusOK)
	if len(r.Events) != 0 || r.HasMore || r.NextCursor != cursor {
		t.Fatalf("poll at the end = %+v", r)
	}
	next := e.appendEvent(t, a.tenant.ID, "va", "", start.Add(time.Hour))
	r = ok[eventsResp](t, e.do(t, http.MethodGet, "/v1/events?cursor="+cursor, a.tenant.APIKey, ""), http.StatusOK)
	if len(r.Events) != 1 || r.Events[0].ID != next.ID {
		t.Fatalf("poll after a new event = %+v", r)
	}

	// since filters on the receive time; the operator names the tenant.
	since := start.Add(20 * time.Second).Format(time.RFC3339)
	r = ok[eventsResp](t, e.do(t, http.MethodGet, "/v1/events?tenant_id="+a.tenant.ID+"&since="+since, operatorToken, ""), http.StatusOK)
	if len(r.Events) != 6 || r.Events[0].ID != want[20] {
		t.Fatalf("since %s: %d events, first %v", since, len(r.Events), r.Events)
	}

	for _, bad := range []string{"?limit=0", "?limit=1001", "?cursor=abc", "?since=yesterday"} {
		apiError(t, e.do(t, http.MethodGet, "/v1/events"+bad, a.tenant.APIKey, ""), http.StatusBadRequest, "validation_failed")
	}
	apiError(t, e.do(t, http.MethodGet, "/v1/events", operatorToken, ""), http.StatusBadRequest, "validation_failed")
}

// exportCSV fetches /v1/export.csv with query and token and parses it.
func (e *env) exportCSV(t testing.TB, query, token string) (testkit.Response, [][]string) {
	t.Helper()
	r := e.do(t, http.MethodGet, "/v1/export.csv"+query, token, "")
	if r.Status != http.StatusOK {
		t.Fatalf("export = %d %s", r.Status, r.Body)
	}
	rows, err := csv.NewReader(bytes.NewReader(r.Body)).ReadAll()
	if err != nil {
		t.Fatalf("export is not CSV: %v\n%s", err, r.Body)
	}
	return r, rows
}

func TestExportCSV_StreamsTheTenantsIdentifiedVisits(t *testing.T) {
	e, a, b := newWorld(t)
	start := e.clock.Now()
	// 1,500 page views of A (more than one chunk of the log), every third
	// identified as A's person; B's identified visits interleaved.
	var want []firehook.Event
	for i := range 1500 {
		title := "Pricing"
		if i == 3 {
			title = "=HYPERLINK(\"https://evil.example\")"
		}
		ev := e.appendEvent(t, a.tenant.ID, "va"+strconv.Itoa(i%7), title, start.Add(time.Duration(i)*time.Millisecond))
		if i%3 == 0 {
			e.decide(t, ev, a.tenant.ID, a.person)
			want = append(want, ev)
		}
		if i%100 == 0 {
			e.decide(t, e.appendEvent(t, b.tenant.ID, "vb", "B", start), b.tenant.ID, b.person)
		}
	}
	resp, rows := e.exportCSV(t, "", a.tenant.APIKey)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Errorf("Content-Type = %q", ct)
	}
	// A handler that buffered its answer would have it sent with a
	// Content-Length; a streamed one is chunked.
	if cl := resp.Header.Get("Content-Length"); cl != "" {
		t.Errorf("Content-Length %s: want a streamed (chunked) answer", cl)
	}
	header := []string{"event_id", "received_at", "type", "sequence", "person_id", "first_name", "last_name",
		"job_title", "business_email", "linkedin_url", "company_name", "company_domain", "site_id", "visitor_id",
		"page_url", "page_title", "referrer", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"}
	if !slices.Equal(rows[0], header) {
		t.Fatalf("header %v", rows[0])
	}
	rows = rows[1:]
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for i, row := range rows {
		// The party's own delivery made the person's First Match (#1).
		ev := want[i]
		wantType, wantSeq := firehook.EventUpdated, strconv.Itoa(i+2)
		if row[0] != ev.ID || row[2] != wantType || row[3] != wantSeq || row[4] != a.person || row[5] != "Acme" ||
			row[8] != "someone@acme.example" || row[13] != ev.VisitorID || row[14] != ev.URL || row[17] != "news" {
			t.Fatalf("row %d = %v, want event %s (%s #%s) of %s", i, row, ev.ID, wantType, wantSeq, a.person)
		}
		if got, _ := time.Parse(time.RFC3339Nano, row[1]); !got.Equal(ev.ReceivedAt) {
			t.Fatalf("row %d received_at %s, want %s", i, row[1], ev.ReceivedAt)
		}
	}
	if rows[1][15] != `'=HYPERLINK("https://evil.example")` {
		t.Errorf("a formula title is exported as %q: want it defused with a leading apostrophe", rows[1][15])
	}

	// from and to bound the receive time: [from, to).
	from, to := want[10].ReceivedAt, want[20].ReceivedAt
	_, rows = e.exportCSV(t, "?tenant_id="+a.tenant.ID+"&from="+from.Format(time.RFC3339Nano)+"&to="+to.Format(time.RFC3339Nano), operatorToken)
	if len(rows) != 11 || rows[1][0] != want[10].ID || rows[10][0] != want[19].ID {
		t.Fatalf("from/to: %d rows (first %v)", len(rows)-1, rows[1:2])
	}

	// An erased person's visits are left out.
	noContent(t, e.do(t, http.MethodDelete, "/v1/graph/persons/"+a.person, operatorToken, ""))
	if _, rows = e.exportCSV(t, "", a.tenant.APIKey); len(rows) != 1 {
		t.Fatalf("after the erasure the export has %d rows", len(rows)-1)
	}

	// Another tenant's export is not found; bad bounds are refused.
	apiError(t, e.do(t, http.MethodGet, "/v1/export.csv?tenant_id="+b.tenant.ID, a.tenant.APIKey, ""), http.StatusNotFound, "not_found")
	apiError(t, e.do(t, http.MethodGet, "/v1/export.csv?from=2025-01-02T00:00:00Z&to=2025-01-01T00:00:00Z", a.tenant.APIKey, ""),
		http.StatusBadRequest, "validation_failed")
	apiError(t, e.do(t, http.MethodGet, "/v1/export.csv?from=now", a.tenant.APIKey, ""), http.StatusBadRequest, "validation_failed")
}

// decide dispatches ev for personID as the pipeline would (no endpoints).
func (e *env) decide(t testing.TB, ev firehook.Event, tenantID, personID string) {
	t.Helper()
	if _, _, err := e.store.Dispatch(ev.ID, tenantID, personID, func(persistence.Decision) ([]firehook.Delivery, error) {
		return nil, nil
	}); err != nil {
		t.Fatalf("dispatch %s: %v", ev.ID, err)
	}
}

func TestHealth_ShowsTheStoredStateBeforeAnyTraffic(t *testing.T) {
	e, a, _ := newWorld(t)
	path := "/v1/endpoints/" + a.endpoint.ID + "/health"
	r := e.do(t, http.MethodGet, path, a.tenant.APIKey, "")
	keys := jsonKeys(t, r.Body)
	for _, k := range []string{"state", "delivered", "failed", "pending", "retrying", "success_rate", "p50_ms", "p99_ms",
		"retries", "last_success_at", "last_failure_at", "first_match_within_budget", "window_s", "totals"} {
		if _, found := keys[k]; !found {
			t.Errorf("health has no %q (API.md): %s", k, r.Body)
		}
	}
	h := ok[metrics.Health](t, r, http.StatusOK)
	if h.State != "healthy" || h.EndpointID != a.endpoint.ID || h.TenantID != a.tenant.ID || h.Delivered != 0 ||
		h.SuccessRate != nil || h.P50MS != nil || h.BudgetMS != 1000 || h.WindowS != 300 {
		t.Fatalf("health of an idle pro endpoint = %+v", h)
	}
	ok[map[string]any](t, e.do(t, http.MethodPost, "/v1/endpoints/"+a.endpoint.ID+"/disable", a.tenant.APIKey, ""), http.StatusOK)
	if h = ok[metrics.Health](t, e.do(t, http.MethodGet, path, a.tenant.APIKey, ""), http.StatusOK); h.State != "disabled" {
		t.Fatalf("state after disable = %q", h.State)
	}
}

func TestPipeline_ShowsEveryStageAndOnlyTheCallersTenants(t *testing.T) {
	e, a, _ := newWorld(t)
	all := ok[metrics.PipelineView](t, e.do(t, http.MethodGet, "/v1/pipeline", operatorToken, ""), http.StatusOK)
	var stages []string
	for _, s := range all.Stages {
		stages = append(stages, string(s.Stage))
		if len(s.Tiers) != 3 {
			t.Errorf("stage %s has tiers %v", s.Stage, s.Tiers)
		}
	}
	if want := []string{"ingest_store", "queue_before_match", "match", "decision_payload", "queue_before_dispatch",
		"post", "end_to_end"}; !slices.Equal(stages, want) {
		t.Errorf("stages %v, want %v", stages, want)
	}
	if all.BudgetsMS["enterprise"] != 500 || all.BudgetsMS["pro"] != 1000 || all.BudgetsMS["free"] != 5000 {
		t.Errorf("budgets %v", all.BudgetsMS)
	}
	if len(all.Tenants) != 2 || all.Warnings == nil || all.Saturation == nil {
		t.Errorf("operator view: tenants %+v, warnings %v, saturation %v", all.Tenants, all.Warnings, all.Saturation)
	}
	own := ok[metrics.PipelineView](t, e.do(t, http.MethodGet, "/v1/pipeline", a.tenant.APIKey, ""), http.StatusOK)
	if len(own.Tenants) != 1 || own.Tenants[0].TenantID != a.tenant.ID || own.Tenants[0].Share != nil {
		t.Errorf("tenant view: %+v", own.Tenants)
	}
}
