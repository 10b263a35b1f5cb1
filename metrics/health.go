package metrics

import (
	"sync"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/actors/endpoint"
)

// endpointHealth is one endpoint's sliding window and its totals since
// the node started.
type endpointHealth struct {
	win *window

	// mu guards the fields below it.
	mu                       sync.Mutex
	totals                   [nCounters]int64
	lastSuccess, lastFailure time.Time
}

// endpointHealth returns the health record of id, made on first use.
func (m *Metrics) endpointHealth(id string) *endpointHealth {
	m.healthMu.Lock()
	defer m.healthMu.Unlock()
	h := m.health[id]
	if h == nil {
		h = &endpointHealth{win: newWindow(m.cfg.Window, m.cfg.Slot)}
		m.health[id] = h
	}
	return h
}

// record adds one request: its duration, its deliveries' counts, and when
// it was answered (a success: a 2xx; otherwise a failure).
func (h *endpointHealth) record(now time.Time, d time.Duration, counts *[nCounters]int64, answered time.Time, success bool) {
	h.win.record(now, d, counts)
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, n := range counts {
		h.totals[i] += n
	}
	if success {
		h.lastSuccess = answered
	} else {
		h.lastFailure = answered
	}
}

// Health is an endpoint's health as GET /v1/endpoints/{id}/health shows it.
// The counts and latencies without a "total" are over the sliding window
// (WindowS seconds: the current Slot and those before it); Totals are
// since the node started. Counts are exact and per delivery attempt (a
// batched request of n deliveries counts n); latencies are per request.
type Health struct {
	EndpointID string `json:"endpoint_id"`
	TenantID   string `json:"tenant_id"`
	// State is healthy, degraded (recent requests failed, the breaker is
	// closed), circuit_open (probing one request at a time) or disabled.
	State string `json:"state"`
	// Delivered counts deliveries delivered (a 2xx) in the window.
	Delivered int64 `json:"delivered"`
	// Failed counts delivery attempts that got no 2xx in the window,
	// whether retried or not; FailedTerminal those after which the
	// delivery was given up (status failed).
	Failed         int64 `json:"failed"`
	FailedTerminal int64 `json:"failed_terminal"`
	// Retries counts attempts after a delivery's first, in the window.
	Retries int64 `json:"retries"`
	// Requests counts the POSTs in the window (the latencies' sample).
	Requests int64 `json:"requests"`
	// Pending, Retrying and InFlight are now: unfinished deliveries in the
	// endpoint actor's memory not yet tried / with a failed attempt, and
	// requests in flight.
	Pending  int64 `json:"pending"`
	Retrying int64 `json:"retrying"`
	InFlight int64 `json:"in_flight"`
	// SuccessRate is Delivered / (Delivered + Failed); null without
	// attempts in the window.
	SuccessRate *float64 `json:"success_rate"`
	// P50MS and P99MS are the POST latency quantiles of the window in
	// milliseconds (HDR histograms, exact to 0.1 %); null without requests.
	P50MS *float64 `json:"p50_ms"`
	P99MS *float64 `json:"p99_ms"`
	// LastSuccessAt and LastFailureAt are when the last 2xx and the last
	// failed request were answered since the node started; null when none.
	LastSuccessAt *time.Time `json:"last_success_at"`
	LastFailureAt *time.Time `json:"last_failure_at"`
	// FirstMatchWithinBudget is the share of the window's First Match
	// deliveries of this endpoint delivered within the tenant's tier
	// budget (BudgetMS, pixel → 2xx); null when none was judged.
	// FirstMatchDeliveries counts those judged.
	FirstMatchWithinBudget *float64 `json:"first_match_within_budget"`
	FirstMatchDeliveries   int64    `json:"first_match_deliveries"`
	BudgetMS               int64    `json:"budget_ms"`
	WindowS                int64    `json:"window_s"`
	Totals                 Totals   `json:"totals"`
}

// Totals are an endpoint's counts since the node started.
type Totals struct {
	Delivered              int64 `json:"delivered"`
	Failed                 int64 `json:"failed"`
	FailedTerminal         int64 `json:"failed_terminal"`
	Retries                int64 `json:"retries"`
	FirstMatchDeliveries   int64 `json:"first_match_deliveries"`
	FirstMatchWithinBudget int64 `json:"first_match_within_budget"`
}

// Health returns the health of endpoint ep (as stored: its state and
// tenant come from it).
func (m *Metrics) Health(ep firehook.Endpoint) Health {
	now := m.cfg.Now()
	h := Health{EndpointID: ep.ID, TenantID: ep.TenantID, State: endpoint.StateDisabled,
		BudgetMS: m.cfg.Budgets.Of(m.tierOf(ep.TenantID)).Milliseconds(), WindowS: int64(m.windowLength() / time.Second)}
	var live *endpoint.Stats
	if m.cfg.EndpointStats != nil {
		live = m.cfg.EndpointStats(ep.ID)
		h.Pending, h.Retrying, h.InFlight = live.Pending.Load(), live.Retrying.Load(), live.InFlight.Load()
	}
	if ep.State == firehook.EndpointEnabled {
		h.State = endpoint.StateHealthy
		// The actor's view, unless it has not seen the enable yet.
		if live != nil && live.State() != endpoint.StateDisabled {
			h.State = live.State()
		}
	}
	m.healthMu.Lock()
	eh := m.health[ep.ID]
	m.healthMu.Unlock()
	if eh == nil {
		return h
	}
	st := eh.win.snapshot(now)
	c := &st.Counts
	h.Delivered, h.Failed, h.FailedTerminal, h.Retries = c[cDelivered], c[cFailed], c[cFailedTerminal], c[cRetries]
	l := latency(st)
	h.Requests, h.P50MS, h.P99MS = l.Count, l.P50MS, l.P99MS
	h.SuccessRate = ratio(c[cDelivered], c[cDelivered]+c[cFailed])
	h.FirstMatchDeliveries = c[cFirstMatch]
	h.FirstMatchWithinBudget = ratio(c[cWithinBudget], c[cFirstMatch])
	eh.mu.Lock()
	t := &eh.totals
	h.Totals = Totals{Delivered: t[cDelivered], Failed: t[cFailed], FailedTerminal: t[cFailedTerminal],
		Retries: t[cRetries], FirstMatchDeliveries: t[cFirstMatch], FirstMatchWithinBudget: t[cWithinBudget]}
	h.LastSuccessAt, h.LastFailureAt = timePtr(eh.lastSuccess), timePtr(eh.lastFailure)
	eh.mu.Unlock()
	return h
}

// windowLength is the span a window snapshot covers at most.
func (m *Metrics) windowLength() time.Duration {
	return time.Duration(slotsOf(m.cfg.Window, m.cfg.Slot)) * m.cfg.Slot
}

// ratio returns n/d, or nil when d is 0.
func ratio(n, d int64) *float64 {
	if d == 0 {
		return nil
	}
	r := float64(n) / float64(d)
	return &r
}

// millis returns d in milliseconds (microsecond precision).
func millis(d time.Duration) *float64 {
	ms := float64(d.Microseconds()) / 1000
	return &ms
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
