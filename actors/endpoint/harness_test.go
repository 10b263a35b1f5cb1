package endpoint_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/actors"
	"github.com/firehook/firehook/actors/endpoint"
	"github.com/firehook/firehook/actors/webhook"
	"github.com/firehook/firehook/internal/testkit"
	"github.com/firehook/firehook/persistence"
)

// kind is the actor kind the node spawns endpoint actors under
// (pipeline.KindEndpoint).
const kind = "endpoint"

// wait bounds every poll of the tests; a passing test waits far less.
const wait = 10 * time.Second

// harness is a node's delivery path made of real parts: a badger store in
// a temporary directory, an actor system, a webhook client that may reach
// 127.0.0.1, and the endpoint actors' shared Config with a fast retry
// schedule (20 ms, 40 ms, 80 ms, 160 ms, then every 200 ms, ±20 %) and a
// breaker that probes after 50 ms, at most every 200 ms.
type harness struct {
	t        *testing.T
	store    *persistence.Store
	sys      *actors.System
	client   *webhook.Client
	cfg      endpoint.Config
	attempts sync.WaitGroup
	tenant   firehook.Tenant

	mu    sync.Mutex
	stats map[string]*endpoint.Stats

	closeOnce sync.Once
}

// fastSchedule is the harness's retry schedule.
func fastSchedule() webhook.Schedule {
	return webhook.Schedule{
		Steps:  []time.Duration{20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond, 160 * time.Millisecond},
		Every:  200 * time.Millisecond,
		Jitter: 0.2,
	}
}

// newHarness starts a harness; edit (optional) changes the endpoint
// actors' Config before the first actor starts. The harness is shut down
// when the test ends: the actor system closed, the request goroutines
// waited for, the client closed — before the test's receivers close
// (see receiver) and before the store closes.
func newHarness(t *testing.T, edit ...func(*endpoint.Config)) *harness {
	t.Helper()
	h := &harness{t: t, stats: map[string]*endpoint.Stats{}}
	h.store = testkit.OpenStore(t, t.TempDir())
	sys, err := actors.New(actors.Config{Log: testkit.Logger(t, slog.LevelWarn)})
	if err != nil {
		t.Fatalf("actors.New: %v", err)
	}
	h.sys = sys
	h.client = webhook.NewClient(webhook.ClientConfig{Dialer: webhook.DialerConfig{AllowPrivate: true}})
	h.cfg = endpoint.Config{
		Outbox:           h.store.Outbox(),
		Endpoints:        h.store.Config,
		Client:           h.client,
		Schedule:         fastSchedule(),
		ProbeInterval:    50 * time.Millisecond,
		MaxProbeInterval: 200 * time.Millisecond,
		Attempts:         &h.attempts,
		Log:              testkit.Logger(t, slog.LevelWarn),
	}
	for _, fn := range edit {
		fn(&h.cfg)
	}
	h.tenant = testkit.CreateTenant(t, h.store.Config, "acme")
	t.Cleanup(h.close)
	return h
}

// close stops every endpoint actor, waits for their requests and closes
// the client. It runs once, however often it was registered.
func (h *harness) close() {
	h.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := h.sys.Close(ctx); err != nil {
			h.t.Errorf("close the actor system: %v", err)
		}
		h.attempts.Wait()
		h.client.Close()
	})
}

// receiver starts a webhook receiver on 127.0.0.1 (see testkit.Receiver;
// nil respond answers 200). The harness is shut down before it closes, so
// no request of the actors meets a closed receiver.
func (h *harness) receiver(respond func(w http.ResponseWriter, r *testkit.Received)) *testkit.Receiver {
	h.t.Helper()
	rc := testkit.NewReceiver(h.t, respond)
	h.t.Cleanup(h.close) // runs before rc.Close: cleanups run last-in first-out
	return rc
}

// endpoint stores an enabled endpoint of the harness's tenant posting to
// url; edit (when not nil) may change it first.
func (h *harness) endpoint(url string, edit func(*firehook.Endpoint)) firehook.Endpoint {
	h.t.Helper()
	return testkit.CreateEndpoint(h.t, h.store.Config, h.tenant.ID, url, edit)
}

// statsOf returns the live figures of endpoint id's actor (shared by its
// incarnations, as the pipeline does).
func (h *harness) statsOf(id string) *endpoint.Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.stats[id]
	if s == nil {
		s = new(endpoint.Stats)
		h.stats[id] = s
	}
	return s
}

// producer is what the node hands actors.System for endpoint id's actor.
func (h *harness) producer(id string) func() actor.Actor {
	return endpoint.Producer(&h.cfg, id, h.statsOf(id))
}

// send delivers msg to endpoint id's actor, starting it if need be.
func (h *harness) send(id string, msg any) {
	h.t.Helper()
	if err := h.sys.Send(kind, id, h.producer(id), msg); err != nil {
		h.t.Fatalf("send %T to endpoint %s: %v", msg, id, err)
	}
}

// event is the payload the harness dispatches: a small webhook body that
// names the person and carries the sequence.
type event struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	TenantID string `json:"tenant_id"`
	Sequence uint64 `json:"sequence"`
	Data     struct {
		Person struct {
			ID string `json:"id"`
		} `json:"person"`
	} `json:"data"`
}

func (e event) person() string { return e.Data.Person.ID }

// create dispatches a new event of personID for ep through Store.Dispatch
// — the person's first is a First Match (sequence 1), each later one an
// Every Update — and returns its delivery, in the outbox but not yet
// handed to the actor.
func (h *harness) create(ep firehook.Endpoint, personID string) firehook.Delivery {
	h.t.Helper()
	eventID := firehook.NewID(firehook.PrefixEvent)
	_, ds, err := h.store.Dispatch(eventID, h.tenant.ID, personID, func(dec persistence.Decision) ([]firehook.Delivery, error) {
		var ev event
		ev.ID, ev.Type, ev.TenantID, ev.Sequence = eventID, dec.Type, h.tenant.ID, dec.Sequence
		ev.Data.Person.ID = personID
		body, err := json.Marshal(ev)
		if err != nil {
			return nil, err
		}
		return []firehook.Delivery{{EndpointID: ep.ID, Payload: body}}, nil
	})
	if err != nil {
		h.t.Fatalf("dispatch for %s: %v", personID, err)
	}
	if len(ds) != 1 {
		h.t.Fatalf("dispatch for %s: %d deliveries, want 1", personID, len(ds))
	}
	return ds[0]
}

// enqueue hands deliveries of ep to its actor, as the person actors do.
func (h *harness) enqueue(ep firehook.Endpoint, ds ...firehook.Delivery) {
	h.t.Helper()
	h.send(ep.ID, &endpoint.Enqueue{Deliveries: ds})
}

// dispatch creates one delivery of personID for ep and hands it to the
// endpoint's actor.
func (h *harness) dispatch(ep firehook.Endpoint, personID string) firehook.Delivery {
	h.t.Helper()
	d := h.create(ep, personID)
	h.enqueue(ep, d)
	return d
}

// reload tells ep's actor to read its configuration and queue again (what
// the admin API does after enabling or changing an endpoint).
func (h *harness) reload(ep firehook.Endpoint) {
	h.t.Helper()
	h.send(ep.ID, &endpoint.Reload{})
}

// delivery returns the receipt of delivery id from the outbox.
func (h *harness) delivery(id string) firehook.Delivery {
	h.t.Helper()
	d, ok, err := h.store.Outbox().Get(id)
	if err != nil || !ok {
		h.t.Fatalf("outbox get %s: ok %v, err %v", id, ok, err)
	}
	return d
}

// waitStatus waits until delivery id has status and returns its receipt.
func (h *harness) waitStatus(id string, status firehook.DeliveryStatus) firehook.Delivery {
	h.t.Helper()
	deadline := time.Now().Add(wait)
	for {
		d := h.delivery(id)
		if d.Status == status {
			return d
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("after %s delivery %s is %q, want %q; attempts %+v", wait, id, d.Status, status, d.Attempts)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitDelivered waits until every delivery of ds is delivered and returns
// their receipts.
func (h *harness) waitDelivered(ds ...firehook.Delivery) []firehook.Delivery {
	h.t.Helper()
	out := make([]firehook.Delivery, len(ds))
	for i, d := range ds {
		out[i] = h.waitStatus(d.ID, firehook.DeliveryDelivered)
	}
	return out
}

// endpointNow returns ep's current configuration.
func (h *harness) endpointNow(id string) firehook.Endpoint {
	h.t.Helper()
	e, ok := h.store.Config.Endpoint(id)
	if !ok {
		h.t.Fatalf("endpoint %s is gone", id)
	}
	return e
}

// consistently fails the test if cond stops holding within d: the check
// of something that must not happen.
func consistently(t *testing.T, d time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if !cond() {
			t.Fatalf(msg, args...)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// parse decodes the body of a single-event request.
func parse(t *testing.T, body []byte) event {
	t.Helper()
	var ev event
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	return ev
}

// peek decodes what it can of a request body, for receivers deciding how
// to answer (they run on the server's goroutines and must not fail the
// test).
func peek(body []byte) event {
	var ev event
	_ = json.Unmarshal(body, &ev)
	return ev
}

// gauge counts a receiver's concurrent requests and the most it saw.
type gauge struct{ cur, max atomic.Int64 }

func (g *gauge) enter() {
	n := g.cur.Add(1)
	for m := g.max.Load(); n > m && !g.max.CompareAndSwap(m, n); m = g.max.Load() {
	}
}

func (g *gauge) leave() { g.cur.Add(-1) }

// reset starts a new maximum from the requests in flight now.
func (g *gauge) reset() { g.max.Store(g.cur.Load()) }

// hang holds a request until release is closed (true) or the client has
// given up on it and closed the connection (false): a black hole when
// release is nil.
func hang(w http.ResponseWriter, release <-chan struct{}) bool {
	select {
	case <-release:
		return true
	case <-clientGone(w):
		return false
	}
}

// clientGone returns a channel that is closed when the client of the
// request being answered through w closes its connection. Receiver's
// respond gets no *http.Request, so the request's context is out of
// reach; the server's CloseNotifier (behind the receiver's wrapper) is
// the same signal.
func clientGone(w http.ResponseWriter) <-chan bool {
	for {
		if cn, ok := w.(http.CloseNotifier); ok { //nolint:staticcheck // the request's context is out of reach
			return cn.CloseNotify()
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			panic(fmt.Sprintf("%T: no CloseNotifier", w))
		}
		w = u.Unwrap()
	}
}

// verify checks the signature of a request with secrets.
func verify(r testkit.Received, secrets ...string) error {
	return webhook.Verifier{Secrets: secrets}.Verify(r.Header, r.Body)
}

// byEvent counts the requests per webhook-id.
func byEvent(got []testkit.Received) map[string]int {
	n := map[string]int{}
	for _, r := range got {
		n[r.Header.Get(webhook.HeaderID)]++
	}
	return n
}

func persons(prefix string, n int) []string {
	ps := make([]string, n)
	for i := range ps {
		ps[i] = fmt.Sprintf("%s%02d", prefix, i+1)
	}
	return ps
}
