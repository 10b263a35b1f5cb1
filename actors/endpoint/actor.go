package endpoint

import (
	"context"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/cespare/xxhash/v2"
	"golang.org/x/time/rate"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/actors/webhook"
)

// Enqueue hands new (or replayed) deliveries of the actor's endpoint to
// it. They must be in the outbox already.
type Enqueue struct {
	Deliveries []firehook.Delivery
}

// Reload tells the actor to read its endpoint's configuration and its
// unfinished deliveries from the outbox again: after a replay, an enable,
// a change of the endpoint.
type Reload struct{}

// crash makes the actor panic while handling it: the fault injection of
// the supervision tests (export_test.go). Nothing else sends it.
type crash string

// tick wakes the actor when a delivery comes due, a rate-limit token is
// there or the breaker may probe.
type tick struct{}

// attemptDone is a request goroutine's report.
type attemptDone struct {
	inc       uint64
	ids       []string            // the deliveries tried
	updated   []firehook.Delivery // their recorded state; nil when abandoned
	outcome   webhook.Outcome
	probe     bool
	err       error // recording in the outbox failed: the attempt is redone
	abandoned bool  // the actor was stopping: nothing was recorded
	responded bool  // a responded message freed the in-flight slot already
}

// responded tells the actor that a request's answer arrived (or it failed):
// its in-flight slot is free while the attempt is being recorded. The
// lanes it carried stay busy until the attemptDone that follows. So
// max_in_flight bounds the requests at the endpoint, and the disk does not
// bound the endpoint's throughput.
type responded struct{ inc uint64 }

// incarnations numbers actor incarnations so that a report from a request
// started by an earlier incarnation (before a panic restart) is told apart.
var incarnations atomic.Uint64

// Actor is the actor of one endpoint.
type Actor struct {
	cfg  *Config
	id   string
	inc  uint64
	self *actor.PID
	root *actor.RootContext

	q        *queue
	overflow bool // deliveries were left in the outbox: page them in when there is room
	inFlight int
	breaker  breaker
	limiter  *rate.Limiter
	limit    int

	ctx    context.Context // cancelled when the actor stops or restarts
	cancel context.CancelFunc
	// reqs counts this incarnation's requests in flight: stop waits for
	// them (see stop).
	reqs sync.WaitGroup
	// work hands a request to an idle worker goroutine of this
	// incarnation (unbuffered: a send succeeds only when one waits);
	// workers counts them, stop waits for them to exit. Workers are kept
	// across requests so that a request does not start a goroutine and
	// grow its stack through the HTTP client and the outbox each time.
	work    chan *request
	workers sync.WaitGroup
	timer   *time.Timer
	wakeAt  time.Time

	stats *Stats

	// recent remembers the deliveries this incarnation finished lately,
	// so that an Enqueue of one of them that was overtaken (the actor
	// loaded it from the outbox, sent it and finished it before the
	// person actor's Enqueue arrived) does not send it again.
	recent recentIDs
}

// recentIDs is a bounded set of delivery ids: the last recentMax added.
type recentIDs struct {
	set  map[string]struct{}
	ring []string
	next int
}

const recentMax = 4096

func (r *recentIDs) add(id string) {
	if r.set == nil {
		r.set, r.ring = make(map[string]struct{}, recentMax), make([]string, recentMax)
	}
	if old := r.ring[r.next]; old != "" {
		delete(r.set, old)
	}
	r.ring[r.next] = id
	r.set[id] = struct{}{}
	r.next = (r.next + 1) % recentMax
}

func (r *recentIDs) has(id string) bool { _, ok := r.set[id]; return ok }

// Producer returns the producer of endpoint id's actor for actors.System.
// stats is where the actor publishes its figures (shared by its
// incarnations; see Stats).
func Producer(cfg *Config, id string, stats *Stats) func() actor.Actor {
	cfg.Defaults()
	return func() actor.Actor {
		return &Actor{cfg: cfg, id: id, stats: stats}
	}
}

// Report implements actors.Reporter.
func (a *Actor) Report() (int64, string) {
	return a.stats.InFlight.Load(), a.stats.State()
}

// Receive implements actor.Actor.
func (a *Actor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		a.start(c)
	case *actor.Stopping, *actor.Restarting:
		a.stop()
	case *Enqueue:
		for _, d := range m.Deliveries {
			a.enqueue(d)
		}
		a.pump()
	case *Reload:
		a.reload()
		a.pump()
	case tick:
		a.wakeAt = time.Time{}
		a.pump()
	case *responded:
		if m.inc == a.inc {
			a.requestEnded()
			a.pump()
		}
	case *attemptDone:
		a.finish(m)
		a.pump()
	case crash:
		panic(string(m))
	}
}

func (a *Actor) start(c actor.Context) {
	a.inc = incarnations.Add(1)
	a.self, a.root = c.Self(), c.ActorSystem().Root
	a.ctx, a.cancel = context.WithCancel(context.Background())
	a.work = make(chan *request)
	a.q = newQueue()
	a.breaker = breaker{threshold: a.cfg.BreakerThreshold, first: a.cfg.ProbeInterval, limit: a.cfg.MaxProbeInterval}
	a.stats.InFlight.Store(0)
	a.reload()
	a.pump()
}

// stop cancels the incarnation's requests and waits for them to end.
// Waiting (they were cancelled: at most an outbox write each) means that
// every report is posted while the actor still has a mailbox — a report
// posted after it stopped would be a protoactor dead letter, whose
// logging throttle outlives actors.System.Close — and that a restarted
// incarnation reloads its queue after the attempts of the previous one
// are recorded, not before (an attempt recorded after the reload could
// overwrite what the new incarnation records).
func (a *Actor) stop() {
	if a.cancel != nil {
		a.cancel()
	}
	if a.timer != nil {
		a.timer.Stop()
	}
	a.reqs.Wait()
	a.workers.Wait()
	a.cfg.Client.Release(a.id) // the endpoint's kept-alive connections
}

// enqueue takes d into memory unless the window is full, in which case it
// stays in the outbox until reload pages it in.
func (a *Actor) enqueue(d firehook.Delivery) {
	if d.Status.Finished() || d.EndpointID != a.id || a.recent.has(d.ID) {
		return
	}
	if a.q.has(d.ID) {
		a.q.add(d)
		return
	}
	if a.overflow || a.q.len() >= a.cfg.Window {
		a.overflow = true
		return
	}
	a.q.add(d)
	a.publish()
}

// reload pages the endpoint's unfinished deliveries in from the outbox
// until the window is full.
func (a *Actor) reload() {
	after := ""
	for a.q.len() < a.cfg.Window {
		items, next, err := a.cfg.Outbox.Pending(a.id, after, min(1000, a.cfg.Window))
		if err != nil {
			a.cfg.Log.Error("endpoint: reading pending deliveries", "endpoint", a.id, "err", err)
			return
		}
		for _, d := range items {
			a.q.add(d)
		}
		if next == "" {
			a.overflow = false
			a.publish()
			return
		}
		after = next
	}
	a.overflow = true
	a.publish()
}

// pump starts every attempt that may start now and arms the timer for the
// next moment one may.
func (a *Actor) pump() {
	ep, ok := a.cfg.Endpoints.Endpoint(a.id)
	if !ok || ep.State != firehook.EndpointEnabled {
		a.stats.setState(ok, &ep, &a.breaker)
		return
	}
	now := a.cfg.Now()
	a.q.promote(now)
	a.rateLimit(&ep)
	for a.inFlight < a.cfg.shareOf(ep.InFlightLimit()) {
		l := a.q.peekReady()
		if l == nil {
			break
		}
		probe := false
		if a.breaker.open {
			if a.breaker.probing {
				break
			}
			if now.Before(a.breaker.probeAt) {
				a.wake(a.breaker.probeAt)
				break
			}
			probe = true
		}
		var res *rate.Reservation
		if a.limiter != nil {
			res = a.limiter.ReserveN(now, 1)
			if d := res.DelayFrom(now); d > 0 {
				res.CancelAt(now)
				a.wake(now.Add(d))
				break
			}
		}
		head := l.head()
		if !probe && ep.BatchWindowMS > 0 && head.Priority == firehook.PriorityEveryUpdate {
			// Every ready lane left is Every Update (First Match sorts
			// first): send them together once the batch is full or its
			// oldest has waited the window.
			deadline := head.NextAttemptAt.Add(time.Duration(ep.BatchWindowMS) * time.Millisecond)
			if a.q.ready.Len() < a.cfg.BatchMax && now.Before(deadline) {
				if res != nil {
					res.CancelAt(now)
				}
				a.wake(deadline)
				break
			}
			var batch []*firehook.Delivery
			for len(batch) < a.cfg.BatchMax && a.q.peekReady() != nil {
				batch = append(batch, a.q.take().head())
			}
			// In delivery id order, not the heap's (due times, which
			// each retry's jitter reorders): a batch sent again with
			// the same deliveries has the same body and webhook-id.
			slices.SortFunc(batch, func(x, y *firehook.Delivery) int { return strings.Compare(x.ID, y.ID) })
			a.send(&ep, batch, false, now)
			continue
		}
		a.q.take()
		if probe {
			a.breaker.probing = true
		}
		a.send(&ep, []*firehook.Delivery{head}, probe, now)
	}
	if at, ok := a.q.nextDue(); ok {
		a.wake(at)
	}
	a.stats.setState(true, &ep, &a.breaker)
}

// rateLimit keeps the limiter in step with this node's share of the
// endpoint's rate_limit_per_s (burst: one second's worth).
func (a *Actor) rateLimit(ep *firehook.Endpoint) {
	limit := 0
	if ep.RateLimitPerS > 0 {
		limit = a.cfg.shareOf(ep.RateLimitPerS)
	}
	if limit == a.limit {
		return
	}
	a.limit = limit
	a.limiter = nil
	if a.limit > 0 {
		a.limiter = rate.NewLimiter(rate.Limit(a.limit), a.limit)
	}
}

// wake arms the timer for at unless it is armed sooner already.
func (a *Actor) wake(at time.Time) {
	if !a.wakeAt.IsZero() && !at.Before(a.wakeAt) {
		return
	}
	a.wakeAt = at
	d := max(at.Sub(a.cfg.Now()), 0)
	if a.timer != nil {
		a.timer.Stop()
	}
	self, root, ctx := a.self, a.root, a.ctx
	a.timer = time.AfterFunc(d, func() {
		if ctx.Err() == nil { // not after stop: a dead letter
			root.Send(self, tick{})
		}
	})
}

// send starts one request carrying ds (one delivery, or a batch) on a
// worker goroutine. The lanes of ds are busy until its report arrives.
func (a *Actor) send(ep *firehook.Endpoint, ds []*firehook.Delivery, probe bool, now time.Time) {
	a.inFlight++
	a.stats.InFlight.Add(1)
	batch := len(ds) > 1 || ep.BatchWindowMS > 0 && ds[0].Priority == firehook.PriorityEveryUpdate && !probe
	copies := make([]firehook.Delivery, len(ds))
	for i, d := range ds {
		copies[i] = *d
	}
	tier := firehook.TierFree
	if t, ok := a.cfg.Endpoints.Tenant(ep.TenantID); ok {
		tier = t.Tier
	}
	r := &request{cfg: a.cfg, ep: *ep, ds: copies, batch: batch, probe: probe, inc: a.inc,
		class: Class(ds[0].Priority, tier), ctx: a.ctx, self: a.self, root: a.root, now: now, reqs: &a.reqs}
	a.cfg.Attempts.Add(1)
	a.reqs.Add(1)
	select {
	case a.work <- r: // an idle worker took it
	default:
		a.workers.Add(1)
		go a.worker(r)
	}
}

// workerIdle is how long a worker goroutine waits for its next request
// before it exits: an endpoint that went quiet keeps none.
const workerIdle = 30 * time.Second

// worker runs r, then the requests handed to it on a.work, until it has
// waited workerIdle for one or the incarnation stops. There are at most
// as many as requests were ever in flight at once (max_in_flight, and a
// probe).
func (a *Actor) worker(r *request) {
	defer a.workers.Done()
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		r.run()
		idle.Reset(workerIdle)
		select {
		case r = <-a.work:
		case <-idle.C:
			return
		case <-a.ctx.Done():
			return
		}
	}
}

// requestEnded frees the in-flight slot of a request.
func (a *Actor) requestEnded() {
	a.inFlight--
	a.stats.InFlight.Add(-1)
}

// finish applies a request's report.
func (a *Actor) finish(m *attemptDone) {
	if m.inc != a.inc {
		return // started before a restart; this incarnation reloaded those deliveries
	}
	if !m.responded {
		a.requestEnded()
	}
	if m.probe {
		a.breaker.probing = false
	}
	if m.abandoned || m.err != nil {
		if m.err != nil {
			a.cfg.Log.Error("endpoint: recording an attempt failed; it will be made again", "endpoint", a.id, "err", m.err)
		}
		for _, id := range m.ids {
			a.q.release(id)
		}
		return
	}
	for _, d := range m.updated {
		a.q.finish(d)
		if d.Status.Finished() {
			a.recent.add(d.ID)
		}
	}
	now := a.cfg.Now()
	if m.outcome == webhook.Delivered {
		a.breaker.success()
		a.succeeded()
	} else {
		a.breaker.failure(now, m.probe)
		a.failed(m, now)
	}
	if a.overflow && a.q.len() <= a.cfg.Window/2 {
		a.reload()
	}
	a.publish()
}

// succeeded clears the endpoint's run of failures.
func (a *Actor) succeeded() {
	ep, ok := a.cfg.Endpoints.Endpoint(a.id)
	if !ok || ep.FailingSince == nil {
		return
	}
	if _, err := a.cfg.Endpoints.UpdateEndpoint(a.id, func(e *firehook.Endpoint) error {
		e.FailingSince = nil
		return nil
	}); err != nil {
		a.cfg.Log.Error("endpoint: clearing failing_since", "endpoint", a.id, "err", err)
	}
}

// failed records the start of a run of failures, and disables the
// endpoint on 410 Gone or when the run has lasted auto_disable_after_s.
func (a *Actor) failed(m *attemptDone, now time.Time) {
	ep, ok := a.cfg.Endpoints.Endpoint(a.id)
	if !ok {
		return
	}
	reason := ""
	switch {
	case m.outcome == webhook.Gone:
		reason = "410 Gone"
	case ep.FailingSince != nil && now.Sub(*ep.FailingSince) >= ep.AutoDisableAfter():
		reason = "auto-disabled: no successful delivery since " + ep.FailingSince.UTC().Format(time.RFC3339)
	case ep.FailingSince != nil:
		return
	}
	if _, err := a.cfg.Endpoints.UpdateEndpoint(a.id, func(e *firehook.Endpoint) error {
		if e.FailingSince == nil {
			t := now.UTC()
			e.FailingSince = &t
		}
		if reason != "" && e.State == firehook.EndpointEnabled {
			e.State, e.DisabledReason, e.UpdatedAt = firehook.EndpointDisabled, reason, now.UTC()
		}
		return nil
	}); err != nil {
		a.cfg.Log.Error("endpoint: recording failure", "endpoint", a.id, "err", err)
		return
	}
	if reason != "" {
		a.cfg.Log.Warn("endpoint disabled", "endpoint", a.id, "reason", reason)
	}
}

func (a *Actor) publish() {
	p, r := a.q.counts()
	a.stats.Pending.Store(int64(p))
	a.stats.Retrying.Store(int64(r))
}

// batchID is the webhook-id of a batched request: derived from the event
// ids it carries, so a batch sent again unchanged has the same id.
func batchID(ds []firehook.Delivery) string {
	h := xxhash.New()
	for _, d := range ds {
		_, _ = h.WriteString(d.EventID)
		_, _ = h.Write([]byte{0})
	}
	return "bat_" + hex.EncodeToString(h.Sum(nil))
}

// request is one POST of an endpoint, run on a worker goroutine.
type request struct {
	cfg   *Config
	ep    firehook.Endpoint
	ds    []firehook.Delivery
	batch bool
	probe bool
	inc   uint64
	class int
	ctx   context.Context
	self  *actor.PID
	root  *actor.RootContext
	now   time.Time
	reqs  *sync.WaitGroup // the actor's: done after the report was posted
}

func (r *request) run() {
	defer r.cfg.Attempts.Done()
	defer r.reqs.Done()
	ids := make([]string, len(r.ds))
	for i := range r.ds {
		ids[i] = r.ds[i].ID
	}
	report := &attemptDone{inc: r.inc, ids: ids, probe: r.probe}
	defer func() { r.root.Send(r.self, report) }()

	if err := r.cfg.Gate.Acquire(r.ctx, r.class); err != nil {
		report.abandoned = true
		return
	}
	at := r.cfg.Now()
	id, body, attempt := r.body()
	h := make(http.Header, 8+len(r.ep.Headers))
	for k, v := range r.ep.Headers {
		h.Set(k, v)
	}
	sig, err := webhook.Sign(r.ep.Secrets(at), id, at, body)
	var res webhook.Result
	if err != nil {
		res = webhook.Result{Err: err}
	} else {
		webhook.Headers(h, id, at, attempt, sig, r.cfg.UserAgent)
		res = r.cfg.Client.Do(r.ctx, webhook.Request{URL: r.ep.URL, Headers: h, Body: body, Timeout: r.ep.Timeout(),
			Pool: r.ep.ID, PoolSize: r.ep.InFlightLimit()})
	}
	r.cfg.Gate.Release()
	if r.ctx.Err() != nil && res.StatusCode == 0 {
		report.abandoned = true // the node is stopping: try again after the restart
		return
	}
	r.root.Send(r.self, &responded{inc: r.inc})
	report.responded = true
	out := webhook.Classify(res)
	now := r.cfg.Now()
	report.outcome = out
	report.updated = make([]firehook.Delivery, len(r.ds))
	for i, d := range r.ds {
		report.updated[i] = record(d, res, out, at, now, r.ep.RetryWindow(), r.cfg.Schedule)
		report.updated[i].Payload = nil
		stored, err := r.cfg.Outbox.Record(withPayload(report.updated[i], d.Payload))
		if err != nil {
			report.err = errors.Join(report.err, err)
			continue
		}
		report.updated[i] = stored // a replay during the attempt may have kept it pending
	}
	if r.cfg.Observer != nil {
		r.cfg.Observer(Observation{EndpointID: r.ep.ID, TenantID: r.ep.TenantID, Deliveries: report.updated,
			Result: res, Outcome: out, Batch: r.batch})
	}
}

func withPayload(d firehook.Delivery, p []byte) firehook.Delivery { d.Payload = p; return d }

// body returns the webhook-id, the body and the firehook-attempt number
// of the request.
func (r *request) body() (string, []byte, int) {
	if !r.batch {
		d := &r.ds[0]
		return d.EventID, d.Payload, len(d.Attempts) + 1
	}
	var b strings.Builder
	n := 2
	attempt := 1
	for i := range r.ds {
		n += len(r.ds[i].Payload) + 1
		attempt = max(attempt, len(r.ds[i].Attempts)+1)
	}
	b.Grow(n)
	b.WriteByte('[')
	for i := range r.ds {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(r.ds[i].Payload)
	}
	b.WriteByte(']')
	return batchID(r.ds), []byte(b.String()), attempt
}

// shareOf is this node's share of an endpoint-wide limit (see
// Config.Share): limit split over the nodes, rounded up, at least 1.
func (c *Config) shareOf(limit int) int {
	if c.Share == nil {
		return limit
	}
	n := c.Share()
	if n <= 1 {
		return limit
	}
	return max(1, (limit+n-1)/n)
}
