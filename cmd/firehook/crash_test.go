package main

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/firehook/firehook/actors/webhook"
	"github.com/firehook/firehook/internal/testkit"
)

// The crash test's dimensions: small enough for a 2-core machine with
// -race, big enough that the kill lands among requests in flight and
// deliveries being made.
const (
	crashPersons      = 50                      // people in the graph, one visitor each
	crashWorkers      = 5                       // goroutines posting page views, each owning 10 visitors
	crashLoad         = 1500 * time.Millisecond // load before the SIGKILL
	crashMinAccepted  = 100                     // … and at least this many 202s
	crashAfterRestart = 2                       // page views per visitor after the restart
	crashDeliverBy    = 60 * time.Second        // every accepted event delivered within
	// Until the kill the receiver answers after crashReceiverDelay and the
	// endpoint has crashMaxInFlight requests at a time: fewer deliveries a
	// second than the pixel load, so that the outbox holds a backlog and
	// requests are in flight to the receiver when the node is killed.
	// After the kill it answers at once, so the backlog drains quickly.
	crashReceiverDelay = 20 * time.Millisecond
	crashMaxInFlight   = 2
)

// crashSend is one POST /v1/collect of the crash test.
type crashSend struct {
	url   string // unique per send: how a stored or delivered event is traced back to it
	email bool   // carried the visitor's email
	phase int    // 1 before the kill, 2 after the restart
	// status is the answer's status; 0 when the request failed or the
	// answer was cut off (the node was killed): not acknowledged, the
	// event may or may not be stored.
	status int
	id     string // the event id of a 202
	err    error
	target string // the ingest URL it was sent to
}

func (s crashSend) accepted() bool { return s.status == http.StatusAccepted && s.id != "" }

// crashVisitor is one visitor of the crash test and everything sent for
// it, in order. Only its worker touches it until the workers are done.
type crashVisitor struct {
	vid, person, email string
	sends              []crashSend
	emailAccepted      bool // an event with the email was answered 202: later ones carry only the vid
}

// Promises (1) and First Match across a crash, with the real binary: an
// event answered 202 is delivered (at least once) even when the node is
// SIGKILLed while clients post and deliveries are under way; a person's
// webhooks carry sequence 1, 2, 3 … in order of first arrival, without
// gaps, and exactly one visitor.identified (sequence 1).
func TestCrash_SIGKILLUnderLoad_EveryAcceptedEventDelivered(t *testing.T) {
	stopUnderLoad(t, syscall.SIGKILL)
}

// A graceful stop under the same load: SIGTERM while clients post and
// deliveries are under way exits 0 within the shutdown timeout (10 s),
// and every event answered 202 is delivered after the restart, in order,
// with one First Match. Requests arriving during the stop are refused
// (503 or a closed connection), never answered 202 and then lost.
func TestShutdown_SIGTERMUnderLoad_ExitsWithin10sLosingNothing(t *testing.T) {
	stopUnderLoad(t, syscall.SIGTERM)
}

// stopUnderLoad is the crash test with sig as the stop.
func stopUnderLoad(t *testing.T, sig syscall.Signal) {
	began := time.Now()
	dir := t.TempDir()
	const token = "op-crash-token"
	env := "FIREHOOK_ADMIN_TOKEN=" + token
	flags := []string{"--allow-private-endpoints"} // the receiver is on 127.0.0.1
	p1 := startServeArgs(t, dir, flags, env)

	var slowReceiver atomic.Bool
	slowReceiver.Store(true)
	rc := testkit.NewReceiver(t, func(w http.ResponseWriter, _ *testkit.Received) {
		if slowReceiver.Load() {
			time.Sleep(crashReceiverDelay)
		}
		w.WriteHeader(http.StatusOK)
	})
	tenantID, siteKey, epID, secret := crashSetup(t, p1, token, rc.URL)

	visitors := crashPeople(t, p1, token, crashPersons)

	tr := &http.Transport{MaxIdleConnsPerHost: crashWorkers, MaxConnsPerHost: crashWorkers}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)

	var killed atomic.Bool // set just before the SIGKILL
	var wg sync.WaitGroup
	cc := &crashClient{client: client, siteKey: siteKey}
	send := cc.send
	inFlight, acceptedLive := &cc.inFlight, &cc.accepted
	mine := func(w int) []*crashVisitor {
		var vs []*crashVisitor
		for i := w; i < len(visitors); i += crashWorkers {
			vs = append(vs, visitors[i])
		}
		return vs
	}

	// Phase 1: load until the SIGKILL. A worker stops at its first failed
	// request, which must come from the kill.
	for w := range crashWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vs := mine(w)
			for i := 0; ; i++ {
				s := send(p1.ingest, vs[i%len(vs)], 1)
				if s.err != nil {
					if !killed.Load() {
						t.Errorf("worker %d: request failed before the kill: %v", w, s.err)
					}
					return
				}
				if killed.Load() && s.status == http.StatusServiceUnavailable && sig == syscall.SIGTERM {
					return // refused by the stopping node: not accepted, not lost
				}
				if !s.accepted() {
					t.Errorf("worker %d: %s: status %d; want 202", w, s.url, s.status)
				}
			}
		}()
	}
	loadStart := time.Now()
	for time.Since(loadStart) < crashLoad || acceptedLive.Load() < crashMinAccepted {
		if time.Since(loadStart) > 30*time.Second {
			killed.Store(true)
			_ = p1.stop(t, syscall.SIGKILL)
			wg.Wait()
			t.Fatalf("only %d events accepted in 30 s", acceptedLive.Load())
		}
		time.Sleep(5 * time.Millisecond) // polling a counter, not waiting for an outcome
	}
	deliveredAtKill := map[string]bool{}
	for _, g := range rc.Got() {
		deliveredAtKill[g.Header.Get(webhook.HeaderID)] = true
	}
	killed.Store(true)
	inFlightAtKill := inFlight.Load()
	signalled := time.Now()
	stopErr := p1.stop(t, sig)
	stopTook := time.Since(signalled)
	loadTime := time.Since(loadStart)
	if sig == syscall.SIGTERM {
		t.Logf("SIGTERM under load: exited after %s (%v)", stopTook.Round(time.Millisecond), stopErr)
		if stopErr != nil {
			t.Errorf("SIGTERM under load: exit %v; want 0", stopErr)
		}
		if stopTook > 10*time.Second {
			t.Errorf("SIGTERM under load: exited after %s; want within the 10 s shutdown timeout", stopTook.Round(time.Millisecond))
		}
	}
	wg.Wait()
	tr.CloseIdleConnections()
	slowReceiver.Store(false)
	acceptedBeforeKill := int(acceptedLive.Load())

	// Phase 2: restart on the same data and post a few more page views per visitor.
	restartAt := time.Now()
	p2 := startServeArgs(t, dir, flags, env)
	restartTime := time.Since(restartAt)
	for w := range crashWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vs := mine(w)
			for range crashAfterRestart {
				for _, v := range vs {
					if s := send(p2.ingest, v, 2); !s.accepted() {
						t.Errorf("after the restart: %s: status %d, err %v; want 202", s.url, s.status, s.err)
					}
				}
			}
		}()
	}
	wg.Wait()

	// What the clients were told.
	accepted, failed := acceptedEvents(t, visitors)
	t.Logf("load %s: %d accepted before the %v, %d requests in flight at the signal, %d failed (not counted), %d events delivered before it (%d accepted ones not yet); restart took %s; %d accepted in all",
		loadTime.Round(time.Millisecond), acceptedBeforeKill, sig, inFlightAtKill, failed, len(deliveredAtKill), acceptedBeforeKill-len(deliveredAtKill),
		restartTime.Round(time.Millisecond), len(accepted))

	// Wait until every accepted event has arrived at least once.
	missing, waited := waitDelivered(rc, accepted, crashDeliverBy)
	keepLogs := func() {
		d, err := os.MkdirTemp("", "firehook-crash-logs-")
		if err != nil {
			return
		}
		_ = os.WriteFile(filepath.Join(d, "before-kill.log"), []byte(p1.log()), 0o644)
		_ = os.WriteFile(filepath.Join(d, "after-restart.log"), []byte(p2.log()), 0o644)
		t.Logf("server logs kept in %s", d)
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		t.Errorf("%d of %d accepted events not delivered within %s: %s", len(missing), len(accepted), crashDeliverBy,
			strings.Join(missing[:min(len(missing), 20)], " "))
		keepLogs()
	} else {
		t.Logf("every accepted event delivered %s after the last one was accepted", waited.Round(time.Millisecond))
	}

	// The node's event log is the truth of what was stored: stop the node
	// (gracefully) and read it.
	if err := p2.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM after the test: want exit 0, got %v", err)
	}
	res := checkCrashDeliveries(t, dir, visitors, rc, tenantID, secret)
	if res.bad > 0 && len(missing) == 0 {
		keepLogs()
	}
	for i, p := range []*proc{p1, p2} {
		name := []string{"before the kill", "after the restart"}[i]
		var notable []string
		for line := range strings.Lines(p.log()) {
			if strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, `"level":"ERROR"`) || strings.Contains(line, "replay") {
				notable = append(notable, strings.TrimSpace(line))
			}
		}
		t.Logf("server log %s: %d warning, error or replay lines%s", name, len(notable),
			strings.Join(append([]string{""}, notable[:min(len(notable), 10)]...), "\n    "))
	}
	t.Logf("%s; endpoint %s; %s in all", res, epID, time.Since(began).Round(time.Millisecond))
}

// crashSetup creates a tenant, a site and an endpoint posting to url
// through the admin API.
func crashSetup(t *testing.T, p *proc, token, url string) (tenantID, siteKey, endpointID, secret string) {
	t.Helper()
	var tenant struct{ ID string }
	if s := call(t, "POST", p.admin+"/v1/tenants", token, map[string]any{"name": "Crash Co", "tier": "pro"}, &tenant); s != http.StatusCreated {
		t.Fatalf("create tenant: %d", s)
	}
	var site struct{ Key string }
	if s := call(t, "POST", p.admin+"/v1/sites", token, map[string]any{
		"tenant_id": tenant.ID, "domain": "crash.test", "allowed_origins": []string{"https://crash.test"},
		"rate_limit_per_s": 0}, &site); s != http.StatusCreated {
		t.Fatalf("create site: %d", s)
	}
	var ep struct{ ID, Secret string }
	if s := call(t, "POST", p.admin+"/v1/endpoints", token, map[string]any{
		"tenant_id": tenant.ID, "url": url, "events": []string{"visitor.identified", "visitor.updated"},
		"description": "crash test receiver", "max_in_flight": crashMaxInFlight}, &ep); s != http.StatusCreated || ep.Secret == "" {
		t.Fatalf("create endpoint: %d %+v", s, ep)
	}
	return tenant.ID, site.Key, ep.ID, ep.Secret
}
