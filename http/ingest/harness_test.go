package ingest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/http/ingest"
	"github.com/firehook/firehook/internal/testkit"
	"github.com/firehook/firehook/persistence"
)

// env is one ingest node under test: a real badger store in a temporary
// directory, the real ingest handler on a real HTTP server on 127.0.0.1,
// and one tenant with one site ready to receive page views.
type env struct {
	dir    string // the store's data directory
	store  *persistence.Store
	srv    *httptest.Server
	client *http.Client
	tenant firehook.Tenant
	site   firehook.Site // domain example.com, no allowed origins, no rate limit
}

// newEnv starts an env; configure may adjust the handler's Config before
// the server starts. Everything is closed when the test ends.
func newEnv(t testing.TB, configure ...func(*ingest.Config)) *env {
	t.Helper()
	dir := t.TempDir()
	return newEnvOn(t, dir, testkit.OpenStore(t, dir), configure...)
}

// newEnvOn is newEnv over a store open on dir (closed by the caller's
// cleanup).
func newEnvOn(t testing.TB, dir string, store *persistence.Store, configure ...func(*ingest.Config)) *env {
	t.Helper()
	cfg := ingest.Config{Sites: store.Config, Events: store.Events, Log: testkit.Logger(t, slog.LevelInfo)}
	for _, c := range configure {
		c(&cfg)
	}
	srv := httptest.NewServer(ingest.New(cfg))
	t.Cleanup(srv.Close) // runs before the store closes (cleanups are LIFO)

	e := &env{dir: dir, store: store, srv: srv, client: srv.Client()}
	e.tenant = testkit.CreateTenant(t, store.Config, "Acme")
	e.site = e.addSite(t, nil)
	return e
}

// addSite creates a site of the env's tenant for domain example.com;
// edit may change it before it is stored.
func (e *env) addSite(t testing.TB, edit func(*firehook.Site)) firehook.Site {
	t.Helper()
	return testkit.CreateSite(t, e.store.Config, e.tenant.ID, edit)
}

// do sends a request to the env's server and reads the whole answer.
// headers are name, value pairs.
func (e *env) do(t testing.TB, method, path string, body io.Reader, headers ...string) testkit.Response {
	t.Helper()
	return testkit.Do(t, e.client, method, e.srv.URL+path, body, headers...)
}

// collect POSTs body to /v1/collect as application/json (unless headers
// set another Content-Type).
func (e *env) collect(t testing.TB, body string, headers ...string) testkit.Response {
	t.Helper()
	return e.do(t, http.MethodPost, "/v1/collect", strings.NewReader(body),
		append([]string{"Content-Type", "application/json"}, headers...)...)
}

// pageView is a valid page view of site; fields are overridden or, with
// a nil value, removed by edits.
func pageView(site firehook.Site, edits map[string]any) string {
	pv := map[string]any{
		"site":  site.Key,
		"vid":   "v_1",
		"url":   "https://example.com/pricing",
		"title": "Pricing",
	}
	for k, v := range edits {
		if v == nil {
			delete(pv, k)
			continue
		}
		pv[k] = v
	}
	b, err := json.Marshal(pv)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// accepted asserts a 202 {"event_id":"evt_..."} answer and returns the id.
func accepted(t testing.TB, r testkit.Response) string {
	t.Helper()
	testkit.AssertJSON[json.RawMessage](t, r, http.StatusAccepted)
	var body struct {
		EventID string `json:"event_id"`
	}
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("202 body %s: %v", r.Body, err)
	}
	if !strings.HasPrefix(body.EventID, firehook.PrefixEvent) || len(body.EventID) != len(firehook.PrefixEvent)+26 {
		t.Fatalf("event_id = %q, want evt_ + a ULID", body.EventID)
	}
	return body.EventID
}

// apiError asserts an error answer with status and code in the one error
// shape, {"error","code"}.
func apiError(t testing.TB, r testkit.Response, status int, code string) {
	t.Helper()
	testkit.AssertError(t, r, status, code)
}

// events reads the whole event log.
func (e *env) events(t testing.TB) []firehook.Event {
	t.Helper()
	evs, err := e.store.Events.Read(1, 0)
	if err != nil {
		t.Fatalf("read event log: %v", err)
	}
	return evs
}

// onlyEvent asserts that the log holds exactly one event and returns it.
func (e *env) onlyEvent(t testing.TB) firehook.Event {
	t.Helper()
	evs := e.events(t)
	if len(evs) != 1 {
		t.Fatalf("event log holds %d events, want 1: %+v", len(evs), evs)
	}
	return evs[0]
}

// storesNothing runs send and asserts that the event log did not grow.
func (e *env) storesNothing(t testing.TB, send func()) {
	t.Helper()
	before := e.store.Events.LastSeq()
	n := len(e.events(t))
	send()
	if after := e.store.Events.LastSeq(); after != before {
		t.Errorf("LastSeq went from %d to %d; the request must store nothing", before, after)
	}
	if m := len(e.events(t)); m != n {
		t.Errorf("event log went from %d to %d events; the request must store nothing", n, m)
	}
}
