package ingest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/http/ingest"
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
	scfg := persistence.DefaultConfig(dir)
	scfg.MemTableSize = 1 << 20
	scfg.BlockCacheSize = 1 << 20
	scfg.Log = testLogger(t, slog.LevelWarn)
	store, err := persistence.Open(scfg)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := store.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})

	cfg := ingest.Config{Sites: store.Config, Events: store.Events, Log: testLogger(t, slog.LevelInfo)}
	for _, c := range configure {
		c(&cfg)
	}
	srv := httptest.NewServer(ingest.New(cfg))
	t.Cleanup(srv.Close) // runs before the store closes (cleanups are LIFO)

	e := &env{dir: dir, store: store, srv: srv, client: srv.Client()}
	e.tenant = firehook.Tenant{ID: firehook.NewID(firehook.PrefixTenant), Name: "Acme", Tier: firehook.TierPro,
		CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC()}
	if err := store.Config.CreateTenant(e.tenant); err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	e.site = e.addSite(t, nil)
	return e
}

// addSite creates a site of the env's tenant for domain example.com;
// edit may change it before it is stored.
func (e *env) addSite(t testing.TB, edit func(*firehook.Site)) firehook.Site {
	t.Helper()
	now := time.Now().UTC()
	s := firehook.Site{
		ID:        firehook.NewID(firehook.PrefixSite),
		TenantID:  e.tenant.ID,
		Key:       firehook.RandomToken(firehook.PrefixSiteKey, 24),
		Domain:    "example.com",
		CreatedAt: now,
		UpdatedAt: now,
	}
	if edit != nil {
		edit(&s)
	}
	if err := e.store.Config.CreateSite(s); err != nil {
		t.Fatalf("create site: %v", err)
	}
	return s
}

// testLogger writes records at level and above to the test's output.
func testLogger(t testing.TB, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: level}))
}

// response is a fully read HTTP answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request to the env's server and reads the whole answer.
// headers are name, value pairs.
func (e *env) do(t testing.TB, method, path string, body io.Reader, headers ...string) response {
	t.Helper()
	if len(headers)%2 != 0 {
		t.Fatalf("headers must be name, value pairs: %q", headers)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	for i := 0; i < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// collect POSTs body to /v1/collect as application/json (unless headers
// set another Content-Type).
func (e *env) collect(t testing.TB, body string, headers ...string) response {
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
func accepted(t testing.TB, r response) string {
	t.Helper()
	if r.status != http.StatusAccepted {
		t.Fatalf("status = %d, want 202; body %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var body struct {
		EventID string `json:"event_id"`
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("202 body %s: %v", r.body, err)
	}
	if !strings.HasPrefix(body.EventID, firehook.PrefixEvent) || len(body.EventID) != len(firehook.PrefixEvent)+26 {
		t.Fatalf("event_id = %q, want evt_ + a ULID", body.EventID)
	}
	return body.EventID
}

// apiError asserts a JSON error answer with status and code.
func apiError(t testing.TB, r response, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var body struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("error body %q is not JSON: %v", r.body, err)
	}
	if body.Code != code {
		t.Errorf("code = %q, want %q (error %q)", body.Code, code, body.Error)
	}
	if body.Error == "" {
		t.Errorf("error message is empty (code %q)", body.Code)
	}
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

// clock is a settable time source for Config.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock(now time.Time) *clock { return &clock{now: now} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// readAll reads and closes a response body.
func readAll(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}
