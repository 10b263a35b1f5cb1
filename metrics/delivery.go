package metrics

import (
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/actors/endpoint"
)

// ObserveDelivery is the endpoint actors' Observer (endpoint.Config.Observer):
// one finished request, carrying one delivery or a batch. Counts are per
// delivery attempt (a batch of n counts n); the request's duration is
// recorded once.
func (m *Metrics) ObserveDelivery(o endpoint.Observation) {
	now := m.cfg.Now()
	tier := m.tierOf(o.TenantID)
	budget := m.cfg.Budgets.Of(tier)
	tl, el := m.tenants.value(o.TenantID), m.endpoints.value(o.EndpointID)
	class := statusClass(o.Result.StatusCode)
	var counts [nCounters]int64
	var lastAt time.Time
	for i := range o.Deliveries {
		d := &o.Deliveries[i]
		if len(d.Attempts) == 0 {
			continue
		}
		a := &d.Attempts[len(d.Attempts)-1] // the attempt this request made
		lastAt = a.At
		delivered := d.Status == firehook.DeliveryDelivered
		m.attempts.WithLabelValues(tl, el, class).Inc()
		m.outcomes.WithLabelValues(tl, el, string(d.Status)).Inc()
		switch {
		case delivered:
			counts[cDelivered]++
		case d.Status == firehook.DeliveryFailed:
			counts[cFailed]++
			counts[cFailedTerminal]++
		default:
			counts[cFailed]++
		}
		if a.N > 1 {
			counts[cRetries]++
		}
		fresh := d.ReplayedAt.IsZero() // replays would count an old event's wait again
		if fresh && a.N == 1 {
			m.stages.observe(stQueueDispatch, tier, a.At.Sub(d.CreatedAt))
		}
		if fresh && delivered && !d.EventReceivedAt.IsZero() {
			m.stages.observe(stEndToEnd, tier, a.At.Add(o.Result.Duration).Sub(d.EventReceivedAt))
		}
		if within, decided := budgetVerdict(d, budget); decided {
			counts[cFirstMatch]++
			if within {
				counts[cWithinBudget]++
			}
			m.countBudget(o.TenantID, tl, within)
		}
	}
	if lastAt.IsZero() {
		return
	}
	m.stages.observe(stPost, tier, o.Result.Duration)
	m.attemptDuration.WithLabelValues(tl, el).Observe(o.Result.Duration.Seconds())
	m.endpointHealth(o.EndpointID).record(now, o.Result.Duration, &counts,
		lastAt.Add(o.Result.Duration), o.Result.StatusCode >= 200 && o.Result.StatusCode <= 299)
}

// budgetVerdict judges a First Match delivery against its tier's budget,
// once: at the attempt that delivers it, or at the first attempt that ends
// past the deadline (the event received + the budget), or when it fails
// for good. An attempt within the deadline that failed leaves it open: a
// quick retry may still make it. Replayed deliveries and those without a
// receive time are not judged (decided is false). Attempts' ends are taken
// to the millisecond (their receipts' duration_ms), so that judging again
// from the receipt gives the same answer.
func budgetVerdict(d *firehook.Delivery, budget time.Duration) (within, decided bool) {
	if d.Priority != firehook.PriorityFirstMatch || d.EventReceivedAt.IsZero() || !d.ReplayedAt.IsZero() || len(d.Attempts) == 0 {
		return false, false
	}
	deadline := d.EventReceivedAt.Add(budget)
	late := func(a *firehook.Attempt) bool {
		return a.At.Add(time.Duration(a.DurationMS) * time.Millisecond).After(deadline)
	}
	last := len(d.Attempts) - 1
	for i := range d.Attempts[:last] {
		if late(&d.Attempts[i]) {
			return false, false // judged late at that attempt already
		}
	}
	switch {
	case d.Status == firehook.DeliveryDelivered:
		return !late(&d.Attempts[last]), true
	case late(&d.Attempts[last]) || d.Status == firehook.DeliveryFailed:
		return false, true
	}
	return false, false
}
