package metrics

import (
	"github.com/firehook/firehook"
)

// Latency is the sample count and the p50/p99 (milliseconds, null when
// empty) of one stage over the sliding window.
type Latency struct {
	Count int64    `json:"count"`
	P50MS *float64 `json:"p50_ms"`
	P99MS *float64 `json:"p99_ms"`
}

// StageLatency is one stage's latency, for every tier together and per
// tier.
type StageLatency struct {
	Stage Stage `json:"stage"`
	Latency
	Tiers map[firehook.Tier]Latency `json:"tiers"`
}

// PipelineView is what GET /v1/pipeline answers: the latency budget stage
// by stage, the queues' saturation with warnings, and each tenant's
// First Match deliveries within budget.
type PipelineView struct {
	// WindowS is the span of the stage latencies, in seconds.
	WindowS int64 `json:"window_s"`
	// Stages in pipeline order.
	Stages []StageLatency `json:"stages"`
	// BudgetsMS are the tiers' pixel→2xx budgets in milliseconds.
	BudgetsMS  map[firehook.Tier]int64 `json:"budgets_ms"`
	Saturation []Queue                 `json:"saturation"`
	// Warnings words every queue whose headroom is under the threshold.
	Warnings []string       `json:"warnings"`
	Tenants  []TenantBudget `json:"tenants"`
}

// Pipeline returns the pipeline view. visible filters the per-endpoint
// queues and the tenants by tenant id (nil: all); stage latencies and the
// node-wide queues are the node's, aggregated over tenants.
func (m *Metrics) Pipeline(visible func(tenantID string) bool) PipelineView {
	now := m.cfg.Now()
	v := PipelineView{WindowS: int64(m.windowLength().Seconds()), BudgetsMS: map[firehook.Tier]int64{}}
	for _, t := range tiers {
		v.BudgetsMS[t] = m.cfg.Budgets.Of(t).Milliseconds()
	}
	for i, st := range stageOrder {
		sl := StageLatency{Stage: st, Latency: latency(m.stages.win[i][nTiers].snapshot(now)),
			Tiers: map[firehook.Tier]Latency{}}
		for j, t := range tiers {
			sl.Tiers[t] = latency(m.stages.win[i][j].snapshot(now))
		}
		v.Stages = append(v.Stages, sl)
	}
	v.Saturation = m.Saturation(visible)
	if v.Saturation == nil {
		v.Saturation = []Queue{}
	}
	v.Warnings = warnings(v.Saturation)
	v.Tenants = m.tenantBudgets(visible)
	return v
}

func latency(st windowStats) Latency {
	l := Latency{Count: st.Count}
	if st.Count > 0 {
		l.P50MS, l.P99MS = millis(st.P50), millis(st.P99)
	}
	return l
}
