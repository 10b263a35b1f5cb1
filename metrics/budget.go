package metrics

import (
	"strconv"
)

// budgetCount is a tenant's First Match deliveries judged against its
// budget since the node started.
type budgetCount struct {
	total, within int64
}

// countBudget records one judged First Match delivery of tenantID
// (labelled tenantLabel).
func (m *Metrics) countBudget(tenantID, tenantLabel string, within bool) {
	m.firstMatch.WithLabelValues(tenantLabel, strconv.FormatBool(within)).Inc()
	m.budgetMu.Lock()
	defer m.budgetMu.Unlock()
	b := m.budgets[tenantID]
	if b == nil {
		b = new(budgetCount)
		m.budgets[tenantID] = b
	}
	b.total++
	if within {
		b.within++
	}
}

// TenantBudget is a tenant's latency budget and how its First Match
// deliveries kept it since the node started.
type TenantBudget struct {
	TenantID string `json:"tenant_id"`
	Tier     string `json:"tier"`
	BudgetMS int64  `json:"budget_ms"`
	// FirstMatchDeliveries counts the First Match deliveries judged:
	// delivered, given up, or already past the deadline.
	FirstMatchDeliveries int64 `json:"first_match_deliveries"`
	// WithinBudget counts those delivered (2xx) within BudgetMS of the
	// page view reaching the node; Share is their share (null when none
	// was judged).
	WithinBudget int64    `json:"within_budget"`
	Share        *float64 `json:"share"`
}

// tenantBudgets returns the budget figures of every tenant that visible
// admits (nil: every tenant), in the store's order.
func (m *Metrics) tenantBudgets(visible func(tenantID string) bool) []TenantBudget {
	out := []TenantBudget{}
	m.budgetMu.Lock()
	defer m.budgetMu.Unlock()
	for _, t := range m.cfg.Store.Config.Tenants() {
		if visible != nil && !visible(t.ID) {
			continue
		}
		tier := m.tierOf(t.ID)
		tb := TenantBudget{TenantID: t.ID, Tier: string(tier), BudgetMS: m.cfg.Budgets.Of(tier).Milliseconds()}
		if b := m.budgets[t.ID]; b != nil {
			tb.FirstMatchDeliveries, tb.WithinBudget = b.total, b.within
			tb.Share = ratio(b.within, b.total)
		}
		out = append(out, tb)
	}
	return out
}
