package main

import (
	"bytes"
	"encoding/json"
	"fmt"
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

	visitors := make([]*crashVisitor, crashPersons)
	var graph bytes.Buffer
	for i := range visitors {
		v := &crashVisitor{vid: fmt.Sprintf("vid-crash-%02d", i), person: fmt.Sprintf("p_crash_%02d", i),
			email: fmt.Sprintf("person%02d@crash-%02d.example", i, i%7)} // normalised already: lower case, not gmail
		visitors[i] = v
		line, _ := json.Marshal(map[string]any{
			"person_id":   v.person,
			"updated_at":  "2026-01-01T00:00:00Z",
			"identifiers": []map[string]string{{"type": "hem_sha256", "value": testkit.HEMs(t, v.email).SHA256}},
			"person": map[string]any{"first_name": "First", "last_name": fmt.Sprintf("Last%02d", i),
				"job_title": "Engineer", "business_email": v.email},
			"company": map[string]any{"name": "Crash Co", "domain": "crash.example"},
		})
		graph.Write(line)
		graph.WriteByte('\n')
	}
	r := testkit.Do(t, http.DefaultClient, http.MethodPost, p1.admin+"/v1/graph/import", &graph,
		"Authorization", "Bearer "+token, "Content-Type", "application/x-ndjson")
	imp := testkit.AssertJSON[struct{ Imported, Rejected int }](t, r, http.StatusOK)
	if imp.Imported != crashPersons || imp.Rejected != 0 {
		t.Fatalf("graph import: %s; want %d imported", r.Body, crashPersons)
	}

	tr := &http.Transport{MaxIdleConnsPerHost: crashWorkers, MaxConnsPerHost: crashWorkers}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)

	var (
		killed       atomic.Bool  // set just before the SIGKILL
		inFlight     atomic.Int64 // requests between sending and having read the answer
		acceptedLive atomic.Int64
		wg           sync.WaitGroup
	)
	// send posts the next page view of v to the node at ingest.
	send := func(ingest string, v *crashVisitor, phase int) crashSend {
		s := crashSend{url: fmt.Sprintf("https://crash.test/%s/%d", v.vid, len(v.sends)+1), email: !v.emailAccepted, phase: phase}
		body := map[string]any{"site": siteKey, "vid": v.vid, "url": s.url, "title": "Crash test",
			"ts": time.Now().UnixMilli()}
		if s.email {
			body["email"] = v.email
		}
		b, _ := json.Marshal(body)
		inFlight.Add(1)
		defer inFlight.Add(-1)
		resp, err := client.Post(ingest+"/v1/collect", "application/json", bytes.NewReader(b))
		if err != nil {
			s.err = err
		} else {
			var out struct {
				EventID string `json:"event_id"`
			}
			err = json.NewDecoder(resp.Body).Decode(&out)
			resp.Body.Close()
			if err != nil && resp.StatusCode == http.StatusAccepted {
				s.err = fmt.Errorf("answer cut off: %w", err) // not acknowledged
			} else {
				s.status, s.id = resp.StatusCode, out.EventID
			}
		}
		v.sends = append(v.sends, s)
		if s.accepted() {
			acceptedLive.Add(1)
			if s.email {
				v.emailAccepted = true
			}
		}
		return s
	}
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
	_ = p1.stop(t, syscall.SIGKILL)
	loadTime := time.Since(loadStart)
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
	accepted := map[string]bool{}
	failed := 0
	for _, v := range visitors {
		for _, s := range v.sends {
			switch {
			case s.accepted():
				if accepted[s.id] {
					t.Errorf("event id %s answered twice", s.id)
				}
				accepted[s.id] = true
			case s.err != nil:
				failed++
			}
		}
	}
	t.Logf("load %s: %d accepted before the SIGKILL, %d requests in flight at the kill, %d failed (not counted), %d events delivered before the kill (%d accepted ones not yet); restart took %s; %d accepted in all",
		loadTime.Round(time.Millisecond), acceptedBeforeKill, inFlightAtKill, failed, len(deliveredAtKill), acceptedBeforeKill-len(deliveredAtKill),
		restartTime.Round(time.Millisecond), len(accepted))

	// Wait until every accepted event has arrived at least once.
	waitStart := time.Now()
	var missing []string
	for {
		seen := map[string]bool{}
		for _, g := range rc.Got() {
			seen[g.Header.Get(webhook.HeaderID)] = true
		}
		missing = missing[:0]
		for id := range accepted {
			if !seen[id] {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 || time.Since(waitStart) > crashDeliverBy {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	waited := time.Since(waitStart)
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
	st := testkit.OpenStore(t, dir)
	stored, err := st.Events.Read(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// Trace stored events back to the sends by their unique url.
	type sendRef struct {
		v *crashVisitor
		k int // index into v.sends
	}
	byURL := map[string]sendRef{}
	for _, v := range visitors {
		for k, s := range v.sends {
			byURL[s.url] = sendRef{v, k}
		}
	}
	storedIDs := map[string]bool{}
	expected := map[string][]string{} // person → their stored event ids, in log order
	var storedUnacked []string        // stored events whose client got no answer (in flight at the kill)
	for _, ev := range stored {
		ref, ok := byURL[ev.URL]
		if !ok {
			t.Errorf("stored event %s (seq %d) has url %q, which no client sent", ev.ID, ev.Seq, ev.URL)
			continue
		}
		s := ref.v.sends[ref.k]
		if s.accepted() && s.id != ev.ID {
			t.Errorf("stored event %s has the url of %s, which was answered with event id %s", ev.ID, s.url, s.id)
		}
		if !s.accepted() {
			if s.err == nil {
				t.Errorf("stored event %s (%s) was answered %d", ev.ID, s.url, s.status)
			}
			storedUnacked = append(storedUnacked, ev.ID)
		}
		storedIDs[ev.ID] = true
		expected[ref.v.person] = append(expected[ref.v.person], ev.ID)
	}
	for id := range accepted {
		if !storedIDs[id] {
			t.Errorf("event %s was answered 202 but is not in the event log", id)
		}
	}

	// Every delivery: signed with the endpoint's secret, for a stored event
	// of one of the test's people.
	type arrival struct {
		call    int
		id      string
		typ     string
		seq     uint64
		attempt string
		at      time.Time
	}
	verifier := webhook.Verifier{Secrets: []string{secret}}
	got := rc.Got()
	arrivals := map[string][]arrival{} // person → deliveries, in order of arrival
	perID := map[string]int{}
	retried := 0
	for _, g := range got {
		id := g.Header.Get(webhook.HeaderID)
		if err := verifier.Verify(g.Header, g.Body); err != nil {
			t.Errorf("delivery %d (%s): signature: %v", g.Call, id, err)
		}
		var p webhook.Payload
		if err := json.Unmarshal(g.Body, &p); err != nil {
			t.Errorf("delivery %d: body %s: %v", g.Call, g.Body, err)
			continue
		}
		if p.ID != id || p.TenantID != tenantID || p.Data.Person == nil {
			t.Errorf("delivery %d: webhook-id %s, body id %s, tenant %s (want %s), person %v", g.Call, id, p.ID, p.TenantID, tenantID, p.Data.Person)
			continue
		}
		if !storedIDs[id] {
			t.Errorf("delivery %d: event %s is not in the event log", g.Call, id)
		}
		if g.Header.Get(webhook.HeaderAttempt) != "1" {
			retried++
		}
		perID[id]++
		arrivals[p.Data.Person.ID] = append(arrivals[p.Data.Person.ID], arrival{g.Call, id, p.Type, p.Sequence, g.Header.Get(webhook.HeaderAttempt), g.At})
	}
	duplicates := 0
	for _, n := range perID {
		duplicates += n - 1
	}
	unackedDelivered := 0
	for _, id := range storedUnacked {
		if perID[id] > 0 {
			unackedDelivered++
		}
	}

	// Per person: first arrivals are exactly the person's stored events, in
	// log order, with sequence 1..n, one visitor.identified (sequence 1);
	// a duplicate carries what the first arrival carried.
	bad := 0
	for _, v := range visitors {
		want := expected[v.person]
		var first []arrival
		firstOf := map[string]arrival{}
		var problems []string
		for _, a := range arrivals[v.person] {
			f, dup := firstOf[a.id]
			if !dup {
				firstOf[a.id] = a
				first = append(first, a)
				continue
			}
			if a.seq != f.seq || a.typ != f.typ {
				problems = append(problems, fmt.Sprintf("duplicate of %s (delivery %d) is %s seq %d; the first (delivery %d) was %s seq %d",
					a.id, a.call, a.typ, a.seq, f.call, f.typ, f.seq))
			}
		}
		for k, a := range first {
			wantType := webhook.TypeUpdated
			if k == 0 {
				wantType = webhook.TypeIdentified
			}
			if a.seq != uint64(k+1) || a.typ != wantType {
				problems = append(problems, fmt.Sprintf("first arrival #%d (%s, delivery %d) is %s seq %d; want %s seq %d",
					k+1, a.id, a.call, a.typ, a.seq, wantType, k+1))
			}
			if k < len(want) && a.id != want[k] {
				problems = append(problems, fmt.Sprintf("first arrival #%d is %s; the log's event #%d of this person is %s", k+1, a.id, k+1, want[k]))
			}
		}
		if len(first) != len(want) {
			problems = append(problems, fmt.Sprintf("%d events arrived; the log holds %d of this person", len(first), len(want)))
		}
		if len(problems) == 0 {
			continue
		}
		bad++
		if bad > 5 {
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "person %s (visitor %s):\n", v.person, v.vid)
		for _, p := range problems {
			fmt.Fprintf(&b, "  %s\n", p)
		}
		b.WriteString("  sends:\n")
		for _, s := range v.sends {
			fmt.Fprintf(&b, "    phase %d %s email=%v status %d id %s stored=%v err=%v\n", s.phase, s.url, s.email, s.status, s.id, storedIDs[s.id], s.err)
		}
		b.WriteString("  log order: " + strings.Join(want, " ") + "\n  arrivals:\n")
		for _, a := range arrivals[v.person] {
			fmt.Fprintf(&b, "    delivery %d %s %s seq %d attempt %s at %s\n", a.call, a.id, a.typ, a.seq, a.attempt, a.at.Format("15:04:05.000"))
		}
		t.Error(b.String())
	}
	if bad > 0 {
		t.Errorf("%d of %d people have order, gap or First Match violations (details of the first 5 above)", bad, len(visitors))
		if len(missing) == 0 {
			keepLogs()
		}
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
	t.Logf("%d deliveries of %d distinct events: %d duplicates, %d retried attempts; %d events stored without a 202 (in flight at the kill), %d of them delivered; endpoint %s; %s in all",
		len(got), len(perID), duplicates, retried, len(storedUnacked), unackedDelivered, epID, time.Since(began).Round(time.Millisecond))
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
