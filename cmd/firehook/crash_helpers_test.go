package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/firehook/firehook/actors/webhook"
	"github.com/firehook/firehook/internal/testkit"
)

// crashPeople imports n people into p's graph, each with one hashed
// email, and returns one visitor for each.
func crashPeople(t *testing.T, p *proc, token string, n int) []*crashVisitor {
	t.Helper()
	visitors := make([]*crashVisitor, n)
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
	r := testkit.Do(t, http.DefaultClient, http.MethodPost, p.admin+"/v1/graph/import", &graph,
		"Authorization", "Bearer "+token, "Content-Type", "application/x-ndjson")
	imp := testkit.AssertJSON[struct{ Imported, Rejected int }](t, r, http.StatusOK)
	if imp.Imported != n || imp.Rejected != 0 {
		t.Fatalf("graph import: %s; want %d imported", r.Body, n)
	}
	return visitors
}

// crashClient posts the crash tests' page views. A visitor's sends are
// touched only by the goroutine that posts for it.
type crashClient struct {
	client   *http.Client
	siteKey  string
	inFlight atomic.Int64 // requests between sending and having read the answer
	accepted atomic.Int64 // 202s so far
}

// send posts the next page view of v to the node at ingest and records it
// in v.sends. The first page views carry the visitor's email, until one
// of them is accepted; later ones only the visitor id (a learned link).
func (c *crashClient) send(ingest string, v *crashVisitor, phase int) crashSend {
	s := crashSend{url: fmt.Sprintf("https://crash.test/%s/%d", v.vid, len(v.sends)+1), email: !v.emailAccepted, phase: phase, target: ingest}
	body := map[string]any{"site": c.siteKey, "vid": v.vid, "url": s.url, "title": "Crash test",
		"ts": time.Now().UnixMilli()}
	if s.email {
		body["email"] = v.email
	}
	b, _ := json.Marshal(body)
	c.inFlight.Add(1)
	defer c.inFlight.Add(-1)
	resp, err := c.client.Post(ingest+"/v1/collect", "application/json", bytes.NewReader(b))
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
		c.accepted.Add(1)
		if s.email {
			v.emailAccepted = true
		}
	}
	return s
}

// acceptedEvents returns the event ids the clients were answered 202 for,
// and how many requests failed (no answer: not acknowledged).
func acceptedEvents(t *testing.T, visitors []*crashVisitor) (accepted map[string]bool, failed int) {
	t.Helper()
	accepted = map[string]bool{}
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
	return accepted, failed
}

// waitDelivered polls the receiver until every accepted event has
// arrived at least once, or within has passed; it returns the ids still
// missing and how long it waited.
func waitDelivered(rc *testkit.Receiver, accepted map[string]bool, within time.Duration) ([]string, time.Duration) {
	start := time.Now()
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
		if len(missing) == 0 || time.Since(start) > within {
			return missing, time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// crashOutcome sums up what arrived at the receiver after a crash.
type crashOutcome struct {
	deliveries, events, duplicates, retried int
	storedUnacked, unackedDelivered         int
	bad                                     int // people with order, gap or First Match violations
}

func (o crashOutcome) String() string {
	return fmt.Sprintf("%d deliveries of %d distinct events: %d duplicates, %d retried attempts; %d events stored without a 202 (in flight at the kill), %d of them delivered",
		o.deliveries, o.events, o.duplicates, o.retried, o.storedUnacked, o.unackedDelivered)
}

// checkCrashDeliveries checks the promises against the node's event log
// in dir (the node must be stopped) and what rc received: every accepted
// event is in the log; every delivery is signed with secret and is of a
// stored event; per person, the first arrivals are exactly the person's
// stored events in log order with sequence 1..n and one
// visitor.identified, and a duplicate carries what the first arrival
// carried (a sequence is never reused for another event).
func checkCrashDeliveries(t *testing.T, dir string, visitors []*crashVisitor, rc *testkit.Receiver, tenantID, secret string) crashOutcome {
	t.Helper()
	accepted, _ := acceptedEvents(t, visitors)
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
	}
	return crashOutcome{deliveries: len(got), events: len(perID), duplicates: duplicates, retried: retried,
		storedUnacked: len(storedUnacked), unackedDelivered: unackedDelivered, bad: bad}
}
