package admin_test

import (
	"bytes"
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
	"github.com/firehook/firehook/http/admin"
	"github.com/firehook/firehook/internal/testkit"
	"github.com/firehook/firehook/persistence"
)

// operatorToken is the operator token of every env.
const operatorToken = "op-secret-token-for-tests"

// openAPIDoc is what envs serve at /v1/openapi.json.
var openAPIDoc = []byte(`{"openapi":"3.1.0","info":{"title":"Firehook admin (test)","version":"1"}}`)

// env is one admin API under test: a real badger store in a temporary
// directory and the real admin handler on a real HTTP server on
// 127.0.0.1, with a settable clock.
type env struct {
	dir       string
	configure []func(*admin.Config)
	clock     *testkit.Clock

	store   *persistence.Store
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
	e.start(t)
	return e
}

// start opens the store in e.dir and serves a new handler over it.
func (e *env) start(t testing.TB) {
	t.Helper()
	store := testkit.OpenStore(t, e.dir)
	cfg := admin.Config{
		Store:             store.Config,
		OperatorTokenHash: admin.HashToken(operatorToken),
		OpenAPI:           openAPIDoc,
		Log:               testkit.Logger(t, slog.LevelInfo),
		Now:               e.clock.Now,
	}
	for _, c := range e.configure {
		c(&cfg)
	}
	e.store, e.handler = store, admin.New(cfg)
	e.srv = httptest.NewServer(e.handler)
	t.Cleanup(e.srv.Close) // runs before the store closes (cleanups are LIFO)
	e.client = e.srv.Client()
}

// restart stops the server, closes the store, and starts both again on
// the same data directory, as a node restart would.
func (e *env) restart(t testing.TB) {
	t.Helper()
	e.srv.Close()
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
// another Content-Type.
func (e *env) doRaw(t testing.TB, method, path, body string, headers ...string) testkit.Response {
	t.Helper()
	var rd io.Reader
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

// snapshot is the whole configuration as stored, to prove that a
// request changed nothing.
type snapshot struct {
	Tenants   []firehook.Tenant
	Sites     []firehook.Site
	Endpoints []firehook.Endpoint
}

func (e *env) snapshot() snapshot {
	return snapshot{Tenants: e.store.Config.Tenants(), Sites: e.store.Config.Sites(""),
		Endpoints: e.store.Config.Endpoints("")}
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
