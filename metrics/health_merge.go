package metrics

import (
	"time"

	"github.com/firehook/firehook/actors/endpoint"
)

// MergeHealth sums the health of one endpoint as each member of a cluster
// sees it (each runs the endpoint's actor for the persons it owns) into
// the endpoint's health for the cluster: counts and totals add up, rates
// are recomputed from the sums, the last success and failure are the
// latest of any member's, and the state is the worst one (circuit_open,
// then degraded, then healthy; disabled is every member's or none's).
// The latency quantiles are the highest member's — an upper bound: the
// members' windows are separate histograms. hs[0] gives what every
// member shares (ids, budget, window). MergeHealth of one is that one.
func MergeHealth(hs []Health) Health {
	if len(hs) == 0 {
		return Health{}
	}
	out := hs[0]
	for _, h := range hs[1:] {
		out.Delivered += h.Delivered
		out.Failed += h.Failed
		out.FailedTerminal += h.FailedTerminal
		out.Retries += h.Retries
		out.Requests += h.Requests
		out.Pending += h.Pending
		out.Retrying += h.Retrying
		out.InFlight += h.InFlight
		out.Totals.Delivered += h.Totals.Delivered
		out.Totals.Failed += h.Totals.Failed
		out.Totals.FailedTerminal += h.Totals.FailedTerminal
		out.Totals.Retries += h.Totals.Retries
		out.Totals.FirstMatchDeliveries += h.Totals.FirstMatchDeliveries
		out.Totals.FirstMatchWithinBudget += h.Totals.FirstMatchWithinBudget
		out.P50MS = maxOf(out.P50MS, h.P50MS)
		out.P99MS = maxOf(out.P99MS, h.P99MS)
		out.LastSuccessAt = latest(out.LastSuccessAt, h.LastSuccessAt)
		out.LastFailureAt = latest(out.LastFailureAt, h.LastFailureAt)
		if stateRank(h.State) > stateRank(out.State) {
			out.State = h.State
		}
	}
	out.SuccessRate = nil
	if n := out.Delivered + out.Failed; n > 0 {
		r := float64(out.Delivered) / float64(n)
		out.SuccessRate = &r
	}
	// The share within budget, weighted by each member's judged deliveries.
	var judged int64
	var within float64
	for _, h := range hs {
		if h.FirstMatchWithinBudget != nil {
			judged += h.FirstMatchDeliveries
			within += *h.FirstMatchWithinBudget * float64(h.FirstMatchDeliveries)
		}
	}
	out.FirstMatchDeliveries, out.FirstMatchWithinBudget = judged, nil
	if judged > 0 {
		share := within / float64(judged)
		out.FirstMatchWithinBudget = &share
	}
	return out
}

// stateRank orders states from best to worst. Disabled is the endpoint's
// configuration, the same on every member: it ranks lowest so that a
// member that has not seen an enable yet does not mask the others.
func stateRank(s string) int {
	switch s {
	case endpoint.StateCircuitOpen:
		return 3
	case endpoint.StateDegraded:
		return 2
	case endpoint.StateHealthy:
		return 1
	}
	return 0
}

func maxOf(a, b *float64) *float64 {
	if a == nil || (b != nil && *b > *a) {
		return b
	}
	return a
}

func latest(a, b *time.Time) *time.Time {
	if a == nil || (b != nil && b.After(*a)) {
		return b
	}
	return a
}
