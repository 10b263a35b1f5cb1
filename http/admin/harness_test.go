package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/actors"
	"github.com/firehook/firehook/http/admin"
	"github.com/firehook/firehook/http/dashboard"
	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/internal/testkit"
	"github.com/firehook/firehook/metrics"
	"github.com/firehook/firehook/persistence"
)

// operatorToken is the operator token of every env.
const operatorToken = "op-secret-token-for-tests"

// openAPIDoc is what envs serve at /v1/openapi.json.
var openAPIDoc = []byte(`{"openapi":"3.1.0","info":{"title":"Firehook admin (test)","version":"1"}}`)

// env is one admin API under test: a real badger store in a temporary
// directory, the identity graph and the suppression lists over that
// store (as a node opens them), the node's metrics over it, a real actor
// system (parties spawn actors in it), and the real admin handler on a
// real HTTP server on 127.0.0.1, with a settable clock.
type env struct {
	dir       string
	configure []func(*admin.Config)
	clock     *testkit.Clock
	actors    *actors.System
	metrics   *metrics.Metrics

	dashboard *dashboard.Handler // set by newWorld, which mounts it

	store   *persistence.Store
	graph   *identity.Graph
	sup     *identity.Suppressions
	handler *admin.Handler
	srv     *httptest.Server
	client  *http.Client
}

// newEnv starts an env; configure may adjust the handler's Config before
// the server starts. Everything is closed when the test ends.
func newEnv(t testing.TB, configure ...func(*admin.Config)) *env {
	t.Helper()
	e := &env{dir: t.TempDir(), configure: configure,
		clock: testkit.NewClock(time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC))}
	sys, err := actors.New(actors.Config{Log: testkit.Logger(t, slog.LevelWarn)})
	if err != nil {
		t.Fatalf("actor system: %v", err)
	}
	t.Cleanup(func() { _ = sys.Close(context.Background()) }) // after the server closes (cleanups are LIFO)
	e.actors = sys
	e.start(t)
	return e
}

// start opens the store in e.dir, the graph and the suppression lists
// over it, and serves a new handler over them. A configure func may take
// the graph or the suppressions out of the Config (set them to nil).
func (e *env) start(t testing.TB) {
	t.Helper()
	store := testkit.OpenStore(t, e.dir)
	graph, err := identity.OpenGraph(identity.GraphConfig{Store: store.Graph(), ProfileCacheSize: 1000,
		Log: testkit.Logger(t, slog.LevelWarn)})
	if err != nil {
		t.Fatalf("open graph: %v", err)
	}
	t.Cleanup(graph.Close) // before the store closes (cleanups are LIFO)
	sup, err := identity.OpenSuppressions(store.Graph())
	if err != nil {
		t.Fatalf("open suppressions: %v", err)
	}
	m, err := metrics.New(metrics.Config{Store: store, System: e.actors})
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	t.Cleanup(m.Close)
	cfg := admin.Config{
		Store:             store.Config,
		OperatorTokenHash: admin.HashToken(operatorToken),
		Graph:             graph,
		Suppressions:      sup,
		Outbox:            store.Outbox(),
		Metrics:           m,
		Actors:            e.actors,
		NodeName:          "node-test",
		Events:            store.Events,
		OpenAPI:           openAPIDoc,
		Log:               testkit.Logger(t, slog.LevelInfo),
		Now:               e.clock.Now,
		// The audits send many requests without a token from one address;
		// TestAuth_LimitsFailuresPerAddress turns the limit on.
		AuthFailuresPerMinute: -1,
	}
	for _, c := range e.configure {
		c(&cfg)
	}
	e.store, e.graph, e.sup, e.metrics, e.handler = store, graph, sup, m, admin.New(cfg)
	e.srv = httptest.NewServer(e.handler)
	t.Cleanup(e.srv.Close) // runs before the store closes (cleanups are LIFO)
	e.client = e.srv.Client()
}

// restart stops the server, closes the store, and starts both again on
// the same data directory, as a node restart would.
func (e *env) restart(t testing.TB) {
	t.Helper()
	e.srv.Close()
	e.graph.Close()
	if err := e.store.Close(); err != nil {
		t.Fatalf("close store: %v", err)
	}
	e.start(t)
}

// do sends a request with the bearer token (none when empty) and body
// (none when empty), and reads the whole answer.
func (e *env) do(t testing.TB, method, path, token, body string) testkit.Response {
	t.Helper()
	var auth []string
	if token != "" {
		auth = []string{"Authorization", "Bearer " + token}
	}
	return e.doRaw(t, method, path, body, auth...)
}

// doRaw sends a request with the given headers (name, value pairs); a
// body (none when empty) is sent as application/json unless headers set
// another Content-Type. It accepts JSON or an event stream, as an MCP
// client must (POST /mcp; the other routes answer JSON whatever it says).
func (e *env) doRaw(t testing.TB, method, path, body string, headers ...string) testkit.Response {
	t.Helper()
	var rd io.Reader
	headers = append([]string{"Accept", "application/json, text/event-stream"}, headers...)
	if body != "" {
		rd = strings.NewReader(body)
		headers = append([]string{"Content-Type", "application/json"}, headers...)
	}
	return testkit.Do(t, e.client, method, e.srv.URL+path, rd, headers...)
}

// ok asserts a JSON answer with status and decodes it into a T.
func ok[T any](t testing.TB, r testkit.Response, status int) T {
	t.Helper()
	return testkit.AssertJSON[T](t, r, status)
}

// apiError asserts an error answer with status and code in the one error
// shape, {"error","code"}.
func apiError(t testing.TB, r testkit.Response, status int, code string) {
	t.Helper()
	testkit.AssertError(t, r, status, code)
}

// jsonOf marshals v for a request body.
func jsonOf(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %v: %v", v, err)
	}
	return string(b)
}

// noContent asserts an empty 204 answer.
func noContent(t testing.TB, r testkit.Response) {
	t.Helper()
	if r.Status != http.StatusNoContent {
		t.Fatalf("status = %d, want 204; body %s", r.Status, r.Body)
	}
	if len(r.Body) != 0 {
		t.Errorf("204 body = %q, want empty", r.Body)
	}
}

// tenantResp is a tenant as the API answers it.
type tenantResp struct {
	ID        string        `json:"id"`
	Name      string        `json:"name"`
	Tier      firehook.Tier `json:"tier"`
	APIKey    string        `json:"api_key"`
	CreatedAt time.Time     `json:"created_at"`
	UpdatedAt time.Time     `json:"updated_at"`
}

// endpointResp is an endpoint as the API answers it.
type endpointResp struct {
	ID             string                 `json:"id"`
	TenantID       string                 `json:"tenant_id"`
	URL            string                 `json:"url"`
	Events         []string               `json:"events"`
	Description    string                 `json:"description"`
	MaxInFlight    int                    `json:"max_in_flight"`
	RateLimitPerS  int                    `json:"rate_limit_per_s"`
	TimeoutMS      int                    `json:"timeout_ms"`
	Headers        map[string]string      `json:"headers"`
	BatchWindowMS  int                    `json:"batch_window_ms"`
	RetryWindowS   int                    `json:"retry_window_s"`
	AutoDisableS   int                    `json:"auto_disable_after_s"`
	State          firehook.EndpointState `json:"state"`
	DisabledReason string                 `json:"disabled_reason"`
	Secret         string                 `json:"secret"`
}

// secretResp is the answer of GET …/secret and rotate-secret.
type secretResp struct {
	Secret                  string     `json:"secret"`
	PreviousSecret          string     `json:"previous_secret"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
}

// createTenant creates a tenant through the API as the operator.
func (e *env) createTenant(t testing.TB, name string) tenantResp {
	t.Helper()
	return ok[tenantResp](t, e.do(t, http.MethodPost, "/v1/tenants", operatorToken,
		jsonOf(t, map[string]any{"name": name, "tier": "pro"})), http.StatusCreated)
}

// createSite creates a site of tenantID for domain through the API.
func (e *env) createSite(t testing.TB, token, tenantID, domain string) firehook.Site {
	t.Helper()
	return ok[firehook.Site](t, e.do(t, http.MethodPost, "/v1/sites", token,
		jsonOf(t, map[string]any{"tenant_id": tenantID, "domain": domain,
			"allowed_origins": []string{"https://" + domain}})), http.StatusCreated)
}

// createEndpoint creates an endpoint of tenantID for url through the API.
func (e *env) createEndpoint(t testing.TB, token, tenantID, url string) endpointResp {
	t.Helper()
	return ok[endpointResp](t, e.do(t, http.MethodPost, "/v1/endpoints", token,
		jsonOf(t, map[string]any{"tenant_id": tenantID, "url": url, "description": "CRM sync"})), http.StatusCreated)
}

// stored reads the record with id through get (e.store.Config.Site,
// .Endpoint or .Tenant) and fails the test when the store does not hold it.
func stored[T any](t testing.TB, get func(id string) (T, bool), id string) T {
	t.Helper()
	v, found := get(id)
	if !found {
		t.Fatalf("%s is not in the store", id)
	}
	return v
}

// storedEndpoint reads the endpoint with id from the store.
func (e *env) storedEndpoint(t testing.TB, id string) firehook.Endpoint {
	t.Helper()
	return stored(t, e.store.Config.Endpoint, id)
}

// storedSite reads the site with id from the store.
func (e *env) storedSite(t testing.TB, id string) firehook.Site {
	t.Helper()
	return stored(t, e.store.Config.Site, id)
}

// snapshot is the whole configuration as stored, with the identity graph
// (every stored person record and the graph's counts), every suppression
// list (the global one and each tenant's, in memory and as stored) and
// the deliveries of every endpoint, to prove that a request changed
// nothing.
type snapshot struct {
	Tenants      []firehook.Tenant
	Sites        []firehook.Site
	Endpoints    []firehook.Endpoint
	Deliveries   map[string][]firehook.Delivery // by endpoint id
	Persons      map[string]string
	GraphStats   identity.GraphStats
	Suppressions map[string][]identity.SuppressionEntry
	Stored       []string // the suppression entries in badger, scope/kind/value
}

func (e *env) snapshot() snapshot {
	s := snapshot{Tenants: e.store.Config.Tenants(), Sites: e.store.Config.Sites(""),
		Endpoints: e.store.Config.Endpoints(""), Persons: map[string]string{},
		GraphStats: e.graph.Stats(), Suppressions: map[string][]identity.SuppressionEntry{},
		Deliveries: map[string][]firehook.Delivery{}}
	// The store's scans fail only on a broken store, which every later
	// assertion reports; the snapshot records the error instead of failing.
	if err := e.store.Graph().ScanPersons(func(id string, v []byte) error {
		s.Persons[id] = string(v)
		return nil
	}); err != nil {
		s.Persons["scan error"] = err.Error()
	}
	if err := e.store.Graph().ScanSuppressions(func(scope, kind, value string) error {
		s.Stored = append(s.Stored, scope+"/"+kind+"/"+value)
		return nil
	}); err != nil {
		s.Stored = append(s.Stored, "scan error: "+err.Error())
	}
	for _, scope := range append([]string{identity.GlobalScope}, tenantIDs(s.Tenants)...) {
		s.Suppressions[scope] = e.sup.List(scope)
	}
	for _, ep := range s.Endpoints {
		items, _, err := e.store.Outbox().List(ep.ID, "", "", 0)
		if err != nil {
			items = []firehook.Delivery{{ID: "list error: " + err.Error()}}
		}
		s.Deliveries[ep.ID] = items
	}
	return s
}

func tenantIDs(ts []firehook.Tenant) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}

// unchanged asserts that the stored configuration equals before.
func (e *env) unchanged(t testing.TB, before snapshot) {
	t.Helper()
	if after := e.snapshot(); !reflect.DeepEqual(before, after) {
		bb, _ := json.MarshalIndent(before, "", " ")
		ab, _ := json.MarshalIndent(after, "", " ")
		t.Errorf("the stored configuration changed:\nbefore %s\nafter  %s", bb, ab)
	}
}

// unchangedFor asserts that nothing stored of tenantID changed since
// before, nor anything that belongs to no tenant (the identity graph,
// the global suppression list): what another tenant's calls must leave
// alone.
func (e *env) unchangedFor(t testing.TB, tenantID string, before snapshot) {
	t.Helper()
	if b, a := before.of(tenantID), e.snapshot().of(tenantID); !reflect.DeepEqual(b, a) {
		bb, _ := json.MarshalIndent(b, "", " ")
		ab, _ := json.MarshalIndent(a, "", " ")
		t.Errorf("what is stored of %s changed:\nbefore %s\nafter  %s", tenantID, bb, ab)
	}
}

// of keeps the part of s that is tenantID's or no tenant's.
func (s snapshot) of(tenantID string) snapshot {
	out := snapshot{Deliveries: map[string][]firehook.Delivery{}, Persons: s.Persons, GraphStats: s.GraphStats,
		Suppressions: map[string][]identity.SuppressionEntry{}}
	for _, x := range s.Tenants {
		if x.ID == tenantID {
			out.Tenants = append(out.Tenants, x)
		}
	}
	for _, x := range s.Sites {
		if x.TenantID == tenantID {
			out.Sites = append(out.Sites, x)
		}
	}
	for _, x := range s.Endpoints {
		if x.TenantID == tenantID {
			out.Endpoints = append(out.Endpoints, x)
			out.Deliveries[x.ID] = s.Deliveries[x.ID]
		}
	}
	for _, scope := range []string{tenantID, identity.GlobalScope} {
		out.Suppressions[scope] = s.Suppressions[scope]
	}
	for _, x := range s.Stored {
		if scope, _, _ := strings.Cut(x, "/"); scope == tenantID || scope == identity.GlobalScope {
			out.Stored = append(out.Stored, x)
		}
	}
	return out
}

// refuses sends a request as do does, asserts an error answer with status
// and code, and asserts that the stored configuration did not change.
func (e *env) refuses(t testing.TB, method, path, token, body string, status int, code string) {
	t.Helper()
	before := e.snapshot()
	apiError(t, e.do(t, method, path, token, body), status, code)
	e.unchanged(t, before)
}

// jsonKeys returns the top-level keys of a JSON object body.
func jsonKeys(t testing.TB, body []byte) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("body %s is not a JSON object: %v", body, err)
	}
	return m
}

// contains reports whether body contains s.
func contains(body []byte, s string) bool { return bytes.Contains(body, []byte(s)) }

// importGraph posts body to POST /v1/graph/import as NDJSON with the
// operator token and returns the import report.
func (e *env) importGraph(t testing.TB, body string) identity.ImportResult {
	t.Helper()
	r := e.doRaw(t, http.MethodPost, "/v1/graph/import", body,
		"Authorization", "Bearer "+operatorToken, "Content-Type", "application/x-ndjson")
	return ok[identity.ImportResult](t, r, http.StatusOK)
}
