package main

import (
	"fmt"
	"net/http"
	"os/exec"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/firehook/firehook/internal/testkit"
)

// setup creates a tenant, a site and an endpoint through the admin API and
// returns the site key and the endpoint id.
func setup(t *testing.T, p *proc, token string) (siteKey, endpointID string) {
	t.Helper()
	var tenant struct{ ID string }
	if s := call(t, "POST", p.admin+"/v1/tenants", token, map[string]any{"name": "Acme", "tier": "pro"}, &tenant); s != http.StatusCreated {
		t.Fatalf("create tenant: %d", s)
	}
	var site struct{ Key string }
	if s := call(t, "POST", p.admin+"/v1/sites", token, map[string]any{
		"tenant_id": tenant.ID, "domain": "acme.test", "rate_limit_per_s": 0}, &site); s != http.StatusCreated {
		t.Fatalf("create site: %d", s)
	}
	var ep struct{ ID string }
	if s := call(t, "POST", p.admin+"/v1/endpoints", token, map[string]any{
		"tenant_id": tenant.ID, "url": "https://hooks.acme.test/firehook"}, &ep); s != http.StatusCreated {
		t.Fatalf("create endpoint: %d", s)
	}
	return site.Key, ep.ID
}

// collect posts one page view and returns the status and event id.
func collect(t testing.TB, p *proc, siteKey string, i int) (int, string) {
	var out struct {
		EventID string `json:"event_id"`
	}
	s := call(t, "POST", p.ingest+"/v1/collect", "", map[string]any{
		"site": siteKey, "vid": fmt.Sprintf("v%d", i%7), "url": fmt.Sprintf("https://acme.test/p/%d", i)}, &out)
	return s, out.EventID
}

// storedEventIDs opens the data dir of a stopped node and lists its events.
func storedEventIDs(t *testing.T, dir string) []string {
	t.Helper()
	st := testkit.OpenStore(t, dir)
	defer st.Close() // on return, not at cleanup: the node opens dir next (the cleanup reports a Close error)
	evs, err := st.Events.Read(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(evs))
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("event %d has sequence %d; want %d (no gaps)", i, ev.Seq, i+1)
		}
		ids[i] = ev.ID
	}
	return ids
}

func TestServe_ConfigAndEventsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	p := startServe(t, dir)
	if p.token == "" {
		t.Fatalf("first start printed no operator token\n%s", p.log())
	}
	siteKey, epID := setup(t, p, p.token)
	var accepted []string
	for i := range 20 {
		s, id := collect(t, p, siteKey, i)
		if s != http.StatusAccepted {
			t.Fatalf("collect %d: status %d", i, s)
		}
		accepted = append(accepted, id)
	}
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: want exit 0, got %v\n%s", err, p.log())
	}

	if got := storedEventIDs(t, dir); !slices.Equal(got, accepted) {
		t.Fatalf("stored events after SIGTERM = %v; want %v", got, accepted)
	}

	p2 := startServe(t, dir)
	if p2.token != "" {
		t.Fatalf("second start printed a new token; the generated one must be kept")
	}
	var ep struct{ ID, URL, State string }
	if s := call(t, "GET", p2.admin+"/v1/endpoints/"+epID, p.token, nil, &ep); s != http.StatusOK || ep.URL != "https://hooks.acme.test/firehook" || ep.State != "enabled" {
		t.Fatalf("endpoint after restart: status %d, %+v", s, ep)
	}
	s, id := collect(t, p2, siteKey, 99)
	if s != http.StatusAccepted {
		t.Fatalf("collect after restart: %d (site must survive the restart)", s)
	}
	accepted = append(accepted, id)
	if err := p2.stop(t, syscall.SIGINT); err != nil {
		t.Fatalf("SIGINT: want exit 0, got %v", err)
	}
	if got := storedEventIDs(t, dir); !slices.Equal(got, accepted) {
		t.Fatalf("stored events after restart = %v; want %v (sequence continues)", got, accepted)
	}
}

func TestServe_EnvironmentSetsTheOperatorToken(t *testing.T) {
	p := startServe(t, t.TempDir(), "FIREHOOK_ADMIN_TOKEN=operator-secret-from-env")
	if p.token != "" {
		t.Fatal("a token was generated although FIREHOOK_ADMIN_TOKEN is set")
	}
	if s := call(t, "GET", p.admin+"/v1/tenants", "operator-secret-from-env", nil, nil); s != http.StatusOK {
		t.Fatalf("GET /v1/tenants with the env token: %d", s)
	}
	if s := call(t, "GET", p.admin+"/v1/tenants", "wrong", nil, nil); s != http.StatusUnauthorized {
		t.Fatalf("GET /v1/tenants with a wrong token: %d", s)
	}
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
}

// Promise: an event answered 202 is on disk. Kill the node with SIGKILL
// while clients post, restart it, and every acknowledged event is there.
func TestServe_SIGKILLLosesNoAcceptedEvent(t *testing.T) {
	dir := t.TempDir()
	p := startServe(t, dir, "FIREHOOK_ADMIN_TOKEN=op")
	siteKey, _ := setup(t, p, "op")

	var (
		mu       sync.Mutex
		accepted = map[string]bool{}
		n        atomic.Int64
		wg       sync.WaitGroup
	)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				s, id := collectQuiet(p, siteKey, w*100000+i)
				if s == 0 {
					return // the node is gone
				}
				if s == http.StatusAccepted {
					mu.Lock()
					accepted[id] = true
					mu.Unlock()
					n.Add(1)
				}
			}
		}()
	}
	deadline := time.Now().Add(20 * time.Second)
	for n.Load() < 500 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // polling the counter, not waiting for an outcome
	}
	if n.Load() < 500 {
		t.Fatalf("only %d events accepted in 20 s", n.Load())
	}
	_ = p.stop(t, syscall.SIGKILL)
	wg.Wait()

	stored := map[string]bool{}
	for _, id := range storedEventIDs(t, dir) {
		stored[id] = true
	}
	lost := 0
	for id := range accepted {
		if !stored[id] {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged events are missing after SIGKILL", lost, len(accepted))
	}
	t.Logf("%d events acknowledged before SIGKILL, all %d on disk (%d stored in all)", len(accepted), len(accepted), len(stored))

	// The node starts again on the same data and continues the sequence.
	p2 := startServe(t, dir, "FIREHOOK_ADMIN_TOKEN=op")
	if s, _ := collect(t, p2, siteKey, 1); s != http.StatusAccepted {
		t.Fatalf("collect after SIGKILL restart: %d", s)
	}
	if err := p2.stop(t, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
}

// collectQuiet is collect for background goroutines: 0 when the request failed.
func collectQuiet(p *proc, siteKey string, i int) (int, string) {
	body := fmt.Sprintf(`{"site":%q,"vid":"v%d","url":"https://acme.test/p/%d"}`, siteKey, i%13, i)
	resp, err := http.Post(p.ingest+"/v1/collect", "application/json", stringsReader(body))
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	var out struct {
		EventID string `json:"event_id"`
	}
	if err := jsonDecode(resp.Body, &out); err != nil {
		return 0, "" // cut off mid-answer: not acknowledged
	}
	return resp.StatusCode, out.EventID
}

func TestServe_RefusesJoinWithoutGossipListen(t *testing.T) {
	out, err := exec.Command(binPath, "serve", "--data", t.TempDir(), "--join", "127.0.0.1:7946").CombinedOutput()
	var ee *exec.ExitError
	if !errorsAs(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("serve --join: want exit 2, got %v\n%s", err, out)
	}
}

// --receipt-retention bounds how long a finished delivery's receipt is
// kept: with 2 s, a delivered receipt answers 200, then 404 once it
// expired (badger's TTL, to the second).
func TestServe_ReceiptRetentionFlagExpiresReceipts(t *testing.T) {
	const token = "op-retention-token"
	p := startServeArgs(t, t.TempDir(), []string{"--allow-private-endpoints", "--receipt-retention", "2s"}, "FIREHOOK_ADMIN_TOKEN="+token)
	rc := testkit.NewReceiver(t, nil)
	_, siteKey, epID, _ := crashSetup(t, p, token, rc.URL)
	v := crashPeople(t, p, token, 1)[0]
	cc := &crashClient{client: http.DefaultClient, siteKey: siteKey}
	if s := cc.send(p.ingest, v, 1); !s.accepted() {
		t.Fatalf("page view: %d %v", s.status, s.err)
	}
	rc.WaitFor(t, 1, 30*time.Second)
	var list struct {
		Deliveries []struct{ ID, Status string }
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(list.Deliveries) == 0 || list.Deliveries[0].Status != "delivered" { // the receipt is written just after the answer
		if time.Now().After(deadline) {
			t.Fatalf("no delivered receipt: %+v", list)
		}
		call(t, "GET", p.admin+"/v1/endpoints/"+epID+"/deliveries", token, nil, &list)
		time.Sleep(20 * time.Millisecond)
	}
	id := list.Deliveries[0].ID
	if s := call(t, "GET", p.admin+"/v1/deliveries/"+id, token, nil, nil); s != http.StatusOK {
		t.Fatalf("the fresh receipt: %d", s)
	}
	deadline = time.Now().Add(15 * time.Second)
	for call(t, "GET", p.admin+"/v1/deliveries/"+id, token, nil, nil) != http.StatusNotFound {
		if time.Now().After(deadline) {
			t.Fatal("the receipt is still there 15 s after its 2 s retention")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
