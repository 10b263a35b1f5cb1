package node_test

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/actors/webhook"
	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/internal/testkit"
	"github.com/firehook/firehook/node"
)

// world is a node with one tenant, one site and people in its graph.
type world struct {
	n      *node.Node
	tenant firehook.Tenant
	key    string // the site key
}

func newWorld(tb testing.TB, mod func(*node.Config)) *world {
	tb.Helper()
	n := startNode(tb, func(c *node.Config) {
		c.AllowPrivateEndpoints = true // the receivers are on 127.0.0.1
		if mod != nil {
			mod(c)
		}
	})
	t := testkit.CreateTenant(tb, n.Store().Config, "acme")
	return &world{n: n, tenant: t, key: testkit.CreateSite(tb, n.Store().Config, t.ID, nil).Key}
}

// person puts a person identified by email in the graph.
func (w *world) person(tb testing.TB, id, email string) {
	tb.Helper()
	rec := identity.Record{PersonID: id,
		Identifiers: []identity.Identifier{{Type: identity.TypeHEMSHA256, Value: testkit.HEMs(tb, email).SHA256}},
		Person:      identity.Person{FirstName: "First " + id, LastName: "Last", BusinessEmail: email},
		Company:     identity.Company{Name: "Analytical Engines", Domain: "engines.example"}}
	if err := w.n.Graph().Upsert([]identity.Record{rec}); err != nil {
		tb.Fatal(err)
	}
}

// endpoint adds an endpoint of the world's tenant posting to url.
func (w *world) endpoint(tb testing.TB, url string, edit func(*firehook.Endpoint)) firehook.Endpoint {
	tb.Helper()
	ep := testkit.CreateEndpoint(tb, w.n.Store().Config, w.tenant.ID, url, edit)
	w.n.Pipeline().EndpointChanged(ep.ID)
	return ep
}

// view sends a page view of visitor vid (with email when not "") and
// returns its event id.
func (w *world) view(tb testing.TB, vid, email, page string) string {
	tb.Helper()
	body := fmt.Sprintf(`{"site":%q,"vid":%q,"url":"https://example.com/%s"`, w.key, vid, page)
	if email != "" {
		body += fmt.Sprintf(`,"email":%q`, email)
	}
	body += "}"
	r := testkit.Do(tb, http.DefaultClient, http.MethodPost, "http://"+w.n.IngestAddr()+"/v1/collect",
		strings.NewReader(body), "Content-Type", "application/json")
	v := testkit.AssertJSON[struct {
		EventID string `json:"event_id"`
	}](tb, r, http.StatusAccepted)
	return v.EventID
}

// decode verifies a delivery's signature with secrets and decodes its body.
func decode(tb testing.TB, got testkit.Received, secrets ...string) webhook.Payload {
	tb.Helper()
	if err := (webhook.Verifier{Secrets: secrets}).Verify(got.Header, got.Body); err != nil {
		tb.Fatalf("delivery %d: signature: %v", got.Call, err)
	}
	var p webhook.Payload
	if err := json.Unmarshal(got.Body, &p); err != nil {
		tb.Fatalf("delivery %d: body %s: %v", got.Call, got.Body, err)
	}
	return p
}

func TestPipeline_PixelToSignedWebhook_FirstMatchThenUpdatesInSequence(t *testing.T) {
	w := newWorld(t, nil)
	w.person(t, "p_ada", "ada@engines.example")
	rc := testkit.NewReceiver(t, nil)
	ep := w.endpoint(t, rc.URL, nil)

	var ids []string
	ids = append(ids, w.view(t, "v_ada", "ada@engines.example", "home"))
	for i := 2; i <= 5; i++ {
		ids = append(ids, w.view(t, "v_ada", "", fmt.Sprintf("page-%d", i))) // matched by the learned visitor id
	}
	w.view(t, "v_stranger", "", "home") // matches nobody: no webhook

	got := rc.WaitFor(t, 5, 10*time.Second)
	for i, g := range got[:5] {
		p := decode(t, g, ep.Secret)
		wantType := firehook.EventUpdated
		if i == 0 {
			wantType = firehook.EventIdentified
		}
		if p.ID != ids[i] || g.Header.Get(webhook.HeaderID) != ids[i] {
			t.Errorf("delivery %d: id %s, webhook-id %s; want the event id %s", i+1, p.ID, g.Header.Get(webhook.HeaderID), ids[i])
		}
		if p.Type != wantType || p.Sequence != uint64(i+1) {
			t.Errorf("delivery %d: %s sequence %d; want %s sequence %d", i+1, p.Type, p.Sequence, wantType, i+1)
		}
		if p.Data.Person == nil || p.Data.Person.ID != "p_ada" || p.Data.Visit.PagesViewed != i+1 || p.Data.Visit.VisitCount != 1 {
			t.Errorf("delivery %d: person %+v visit %+v", i+1, p.Data.Person, p.Data.Visit)
		}
		if g.Header.Get(webhook.HeaderAttempt) != "1" {
			t.Errorf("delivery %d: attempt header %q", i+1, g.Header.Get(webhook.HeaderAttempt))
		}
	}
	// Nothing more arrives (the stranger is not matched), and every
	// receipt says delivered.
	testkit.Eventually(t, 5*time.Second, func() bool {
		ds, _, err := w.n.Store().Outbox().List(ep.ID, firehook.DeliveryDelivered, "", 100)
		return err == nil && len(ds) == 5
	}, "5 delivered receipts")
	if n := len(rc.Got()); n != 5 {
		t.Fatalf("receiver got %d deliveries; want 5", n)
	}
}

// fastRetries makes failed deliveries come back within tens of
// milliseconds, so that tests can run many retries.
func fastRetries(c *node.Config) {
	c.Pipeline.Endpoint.Schedule = webhook.Schedule{Steps: []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond},
		Every: 40 * time.Millisecond, Jitter: 0.2}
	c.Pipeline.Endpoint.BreakerThreshold = 1 << 30 // failures here are per request, not an endpoint outage
}

// flaky answers 500 to a share of requests, chosen by a seeded generator.
func flaky(seed int64, failShare float64) func(w http.ResponseWriter, r *testkit.Received) {
	var mu sync.Mutex
	rng := rand.New(rand.NewSource(seed))
	return func(w http.ResponseWriter, r *testkit.Received) {
		mu.Lock()
		fail := rng.Float64() < failShare
		mu.Unlock()
		if fail {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}
}

// Promise (1): whatever the interleaving of persons' page views and
// whichever requests fail, each endpoint sees each person's events in
// sequence order — no request for sequence k+1 before k was answered 2xx —
// with sequences 1..n and no gap.
func TestPipeline_OrderPerPersonHoldsUnderRandomInterleavingsAndFailures(t *testing.T) {
	for seed := int64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			w := newWorld(t, fastRetries)
			rng := rand.New(rand.NewSource(seed))
			const persons = 12
			var rcs []*testkit.Receiver
			var eps []firehook.Endpoint
			for i := range 2 {
				rc := testkit.NewReceiver(t, flaky(seed*10+int64(i), 0.35))
				rcs = append(rcs, rc)
				eps = append(eps, w.endpoint(t, rc.URL, nil))
			}
			for p := range persons {
				w.person(t, fmt.Sprintf("p_%d", p), fmt.Sprintf("person%d@example.com", p))
			}
			// A random interleaving of page views: each person's first
			// carries the email, later ones only the visitor id.
			views := make([]int, persons) // page views sent per person
			total := 0
			for range 120 {
				p := rng.Intn(persons)
				email := ""
				if views[p] == 0 {
					email = fmt.Sprintf("person%d@example.com", p)
				}
				w.view(t, fmt.Sprintf("v_%d", p), email, fmt.Sprintf("page-%d", views[p]))
				views[p]++
				total++
			}
			for i, rc := range rcs {
				testkit.Eventually(t, 30*time.Second, func() bool {
					ds, _, err := w.n.Store().Outbox().List(eps[i].ID, firehook.DeliveryDelivered, "", 1000)
					return err == nil && len(ds) == total
				}, "endpoint %d: %d deliveries delivered", i, total)
				checkOrder(t, rc.Got(), eps[i].Secret, views)
			}
		})
	}
}

// checkOrder asserts promise (1) on what one endpoint received.
func checkOrder(t *testing.T, got []testkit.Received, secret string, views []int) {
	t.Helper()
	type state struct {
		delivered uint64 // highest sequence answered 2xx
	}
	byPerson := map[string]*state{}
	for _, g := range got {
		p := decode(t, g, secret)
		if p.Data.Person == nil {
			t.Fatalf("delivery without a person: %s", g.Body)
		}
		st := byPerson[p.Data.Person.ID]
		if st == nil {
			st = &state{}
			byPerson[p.Data.Person.ID] = st
		}
		switch {
		case p.Sequence == st.delivered+1:
		case p.Sequence <= st.delivered:
			t.Errorf("%s: sequence %d requested again after %d was delivered", p.Data.Person.ID, p.Sequence, st.delivered)
		default:
			t.Errorf("%s: sequence %d requested before %d was delivered", p.Data.Person.ID, p.Sequence, st.delivered+1)
		}
		if g.Status == http.StatusOK && p.Sequence == st.delivered+1 {
			st.delivered++
		}
	}
	for i, n := range views {
		id := fmt.Sprintf("p_%d", i)
		if n == 0 {
			continue
		}
		if st := byPerson[id]; st == nil || st.delivered != uint64(n) {
			t.Errorf("%s: delivered up to %v; want %d", id, st, n)
		}
	}
}

// blackHole never answers: it holds the request until the client gives up.
func blackHole(w http.ResponseWriter, r *testkit.Received) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	// Read until the client closes the connection (its timeout).
	_, _ = io.Copy(io.Discard, conn)
	conn.Close()
}

// Promise (4): endpoints that never answer hold only their own lanes and
// in-flight slots; a healthy endpoint of the same tenant receives every
// event promptly meanwhile.
func TestPipeline_BlackHoleEndpointsDoNotSlowAHealthyOne(t *testing.T) {
	w := newWorld(t, nil)
	healthy := testkit.NewReceiver(t, nil)
	ep := w.endpoint(t, healthy.URL, nil)
	var holes []*testkit.Receiver
	for range 10 {
		rc := testkit.NewReceiver(t, blackHole)
		holes = append(holes, rc)
		w.endpoint(t, rc.URL, func(e *firehook.Endpoint) { e.TimeoutMS = 30_000 })
	}
	const persons, views = 10, 5
	for p := range persons {
		w.person(t, fmt.Sprintf("p_%d", p), fmt.Sprintf("person%d@example.com", p))
	}
	sent := map[string]time.Time{}
	for i := range views {
		for p := range persons {
			email := ""
			if i == 0 {
				email = fmt.Sprintf("person%d@example.com", p)
			}
			at := time.Now()
			sent[w.view(t, fmt.Sprintf("v_%d", p), email, fmt.Sprintf("page-%d", i))] = at
		}
	}
	got := healthy.WaitFor(t, persons*views, 10*time.Second)
	var worst time.Duration
	for _, g := range got {
		p := decode(t, g, ep.Secret)
		worst = max(worst, g.At.Sub(sent[p.ID]))
	}
	// Loose on purpose (a noisy 2-core machine under -race): the black
	// holes hold their requests for 30 s, so a healthy delivery that
	// waited on them would be late by seconds, not milliseconds.
	if worst > 2*time.Second {
		t.Fatalf("slowest healthy delivery took %s from its page view", worst)
	}
	// Each black hole holds at most its max_in_flight (8) requests: one per
	// person lane at the head, never the persons' later events.
	for i, rc := range holes {
		if n := len(rc.Got()); n > 8 {
			t.Errorf("black hole %d got %d requests; max_in_flight is 8", i, n)
		}
	}
	t.Logf("slowest of %d healthy deliveries: %s from page view to arrival", len(got), worst)
}

// Replay through the admin API delivers the same event again, with the
// same webhook-id, as the next attempt of the receipt.
func TestPipeline_ReplayDeliversTheSameEventAgain(t *testing.T) {
	w := newWorld(t, nil)
	w.person(t, "p_ada", "ada@engines.example")
	rc := testkit.NewReceiver(t, nil)
	ep := w.endpoint(t, rc.URL, nil)
	id := w.view(t, "v_ada", "ada@engines.example", "home")
	rc.WaitFor(t, 1, 10*time.Second)
	var receipt firehook.Delivery
	testkit.Eventually(t, 5*time.Second, func() bool {
		ds, _, err := w.n.Store().Outbox().List(ep.ID, firehook.DeliveryDelivered, "", 10)
		if err != nil || len(ds) != 1 {
			return false
		}
		receipt = ds[0]
		return true
	}, "the delivery is delivered")

	admin := "http://" + w.n.AdminAddr()
	r := testkit.Do(t, http.DefaultClient, http.MethodPost, admin+"/v1/deliveries/"+receipt.ID+"/replay", nil,
		"Authorization", "Bearer op")
	if r.Status != http.StatusAccepted {
		t.Fatalf("replay: %d %s", r.Status, r.Body)
	}
	got := rc.WaitFor(t, 2, 10*time.Second)
	if h := got[1].Header; h.Get(webhook.HeaderID) != id || h.Get(webhook.HeaderAttempt) != "2" {
		t.Fatalf("replayed request: webhook-id %s attempt %s; want %s attempt 2",
			h.Get(webhook.HeaderID), h.Get(webhook.HeaderAttempt), id)
	}
	testkit.Eventually(t, 5*time.Second, func() bool {
		d, ok, err := w.n.Store().Outbox().Get(receipt.ID)
		return err == nil && ok && d.Status == firehook.DeliveryDelivered && len(d.Attempts) == 2
	}, "the receipt shows two attempts, delivered")
}

// SSRF: without --allow-private-endpoints, an endpoint whose host name
// resolves to 127.0.0.1 is refused at connect time; the receipt says why
// and nothing reaches the address.
func TestPipeline_EndpointResolvingToLoopbackIsRefusedAtConnectTime(t *testing.T) {
	n := startNode(t, nil) // private endpoints not allowed
	tenant := testkit.CreateTenant(t, n.Store().Config, "acme")
	w := &world{n: n, tenant: tenant, key: testkit.CreateSite(t, n.Store().Config, tenant.ID, nil).Key}
	w.person(t, "p_ada", "ada@engines.example")
	rc := testkit.NewReceiver(t, nil)
	port := rc.URL[strings.LastIndex(rc.URL, ":")+1:]
	ep := w.endpoint(t, "http://localhost:"+port+"/hook", nil)
	w.view(t, "v_ada", "ada@engines.example", "home")
	testkit.Eventually(t, 10*time.Second, func() bool {
		ds, _, err := n.Store().Outbox().List(ep.ID, "", "", 10)
		return err == nil && len(ds) == 1 && len(ds[0].Attempts) > 0 &&
			strings.Contains(ds[0].Attempts[0].Error, "blocked")
	}, "an attempt refused as a blocked address")
	if got := rc.Got(); len(got) != 0 {
		t.Fatalf("the loopback receiver got %d requests", len(got))
	}
}
