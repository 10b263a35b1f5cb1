package metrics_test

import (
	"testing"
	"time"

	"github.com/firehook/firehook/actors/endpoint"
	"github.com/firehook/firehook/metrics"
)

func ptr[T any](v T) *T { return &v }

func TestMergeHealth_SumsCountsAndTakesTheWorst(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	a := metrics.Health{EndpointID: "ep", TenantID: "ten", State: endpoint.StateHealthy, Delivered: 90, Failed: 10, Requests: 100,
		Pending: 1, P50MS: ptr(10.0), P99MS: ptr(80.0), LastSuccessAt: ptr(t0), FirstMatchDeliveries: 10, FirstMatchWithinBudget: ptr(1.0),
		BudgetMS: 1000, WindowS: 300, Totals: metrics.Totals{Delivered: 900}}
	b := metrics.Health{EndpointID: "ep", TenantID: "ten", State: endpoint.StateCircuitOpen, Delivered: 10, Failed: 90, Requests: 100,
		InFlight: 2, P50MS: ptr(30.0), P99MS: ptr(50.0), LastSuccessAt: ptr(t0.Add(-time.Minute)), LastFailureAt: ptr(t0),
		FirstMatchDeliveries: 30, FirstMatchWithinBudget: ptr(0.5), BudgetMS: 1000, WindowS: 300, Totals: metrics.Totals{Delivered: 100}}
	c := metrics.Health{EndpointID: "ep", TenantID: "ten", State: endpoint.StateDisabled} // a member that saw nothing

	got := metrics.MergeHealth([]metrics.Health{a, b, c})
	if got.State != endpoint.StateCircuitOpen {
		t.Errorf("state %s, want circuit_open (the worst)", got.State)
	}
	if got.Delivered != 100 || got.Failed != 100 || got.Requests != 200 || got.Pending != 1 || got.InFlight != 2 || got.Totals.Delivered != 1000 {
		t.Errorf("counts %+v", got)
	}
	if got.SuccessRate == nil || *got.SuccessRate != 0.5 {
		t.Errorf("success rate %v, want 0.5 (100 of 200)", got.SuccessRate)
	}
	if *got.P50MS != 30 || *got.P99MS != 80 {
		t.Errorf("p50 %v p99 %v, want the highest member's: 30, 80", *got.P50MS, *got.P99MS)
	}
	if !got.LastSuccessAt.Equal(t0) || !got.LastFailureAt.Equal(t0) {
		t.Errorf("last success %v, failure %v", got.LastSuccessAt, got.LastFailureAt)
	}
	if got.FirstMatchDeliveries != 40 || *got.FirstMatchWithinBudget != 0.625 {
		t.Errorf("first match %d within %v, want 40 within 0.625 ((10 + 15) / 40)", got.FirstMatchDeliveries, *got.FirstMatchWithinBudget)
	}
	if one := metrics.MergeHealth([]metrics.Health{a}); *one.SuccessRate != 0.9 || one.State != a.State {
		t.Errorf("one member's health changed: %+v", one)
	}
}
