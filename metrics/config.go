package metrics

import (
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/actors"
	"github.com/firehook/firehook/actors/endpoint"
	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/persistence"
)

// Budgets are the pixel→POST latency budgets of the tiers: the time from
// the node receiving a page view to the receiver's 2xx for its First Match
// webhook. Zero fields mean the defaults of DefaultBudgets.
type Budgets struct {
	Enterprise time.Duration // default 500 ms
	Pro        time.Duration // default 1 s
	Free       time.Duration // default 5 s
}

// DefaultBudgets returns the default budgets (issue 5).
func DefaultBudgets() Budgets {
	return Budgets{Enterprise: 500 * time.Millisecond, Pro: time.Second, Free: 5 * time.Second}
}

// Of returns the budget of tier; an unknown tier has the free budget.
func (b Budgets) Of(tier firehook.Tier) time.Duration {
	switch tier {
	case firehook.TierEnterprise:
		return b.Enterprise
	case firehook.TierPro:
		return b.Pro
	}
	return b.Free
}

func (b *Budgets) withDefaults() {
	d := DefaultBudgets()
	orDefault(&b.Enterprise, d.Enterprise)
	orDefault(&b.Pro, d.Pro)
	orDefault(&b.Free, d.Free)
}

// orDefault sets *v to d when *v is not positive (zero means the default).
func orDefault[T int | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// Config configures a node's Metrics. Zero values mean the defaults of
// DefaultConfig; the sources (Store … Gate) are set by the node.
type Config struct {
	// Store is the node's store: tenants (their tiers), endpoints, badger's
	// sizes, the event log's and the outbox's counters. Required.
	Store *persistence.Store
	// Matcher is the match stage, whose counters are exported. Nil: no
	// match counters.
	Matcher *identity.Matcher
	// System is the actor system: live actors by kind, mailbox depths,
	// restarts. Nil: no actor metrics.
	System *actors.System
	// Cluster, when set, is what a cluster member reports of its part of
	// the cluster: the firehook_cluster_* metrics. Nil: a lone node.
	Cluster *ClusterSource
	// Backlog returns how many events the pipeline has taken from the log
	// and not finished (pipeline.Pipeline.Mark's outstanding): the visitor
	// feed's depth. Nil: the feed is not measured.
	Backlog func() int
	// EndpointStats returns the live figures of an endpoint's actor
	// (pipeline.Pipeline.EndpointStats). Nil: in-flight, pending and
	// retrying read 0.
	EndpointStats func(endpointID string) *endpoint.Stats
	// Gate is the node's webhook request gate, GateSlots its number of
	// slots (node.Config.MaxRequests). Nil or 0: the gate is not measured.
	Gate      *endpoint.Gate
	GateSlots int

	// FeedCapacity is the visitor feed depth (events) counted as full when
	// showing its saturation. The feed itself is unbounded; past this many
	// events behind, the match stage is not keeping up. Default 10,000.
	FeedCapacity int
	// EndpointWindow is endpoint.Config.Window: how many unfinished
	// deliveries an endpoint actor keeps in memory, the capacity its queue
	// depth is shown against. Default 10,000 (the endpoint default).
	EndpointWindow int
	// WarnHeadroom is the share of a queue's capacity under which its
	// headroom raises a warning. Default 0.2 (20 %).
	WarnHeadroom float64

	// Budgets are the tiers' pixel→POST latency budgets.
	Budgets Budgets
	// Window is the length of the sliding windows of health and stage
	// latencies, Slot the length of one of their HDR histograms (the
	// window rotates one slot at a time). Defaults 5 min and 1 min.
	Window, Slot time.Duration

	// MaxEndpointLabels bounds the distinct values of the endpoint label:
	// the first endpoints seen get their own series, later ones share
	// endpoint="other". Default 1,000. MaxTenantLabels does the same for
	// the tenant label (tenant="other"). Default 1,000.
	MaxEndpointLabels, MaxTenantLabels int

	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// DefaultConfig returns the defaults of the tunables (the sources are the
// node's to set).
func DefaultConfig() Config {
	return Config{
		FeedCapacity:      10_000,
		EndpointWindow:    10_000,
		WarnHeadroom:      0.2,
		Budgets:           DefaultBudgets(),
		Window:            5 * time.Minute,
		Slot:              time.Minute,
		MaxEndpointLabels: 1_000,
		MaxTenantLabels:   1_000,
		Now:               time.Now,
	}
}

func (c *Config) withDefaults() {
	d := DefaultConfig()
	orDefault(&c.FeedCapacity, d.FeedCapacity)
	orDefault(&c.EndpointWindow, d.EndpointWindow)
	if c.WarnHeadroom <= 0 || c.WarnHeadroom >= 1 {
		c.WarnHeadroom = d.WarnHeadroom
	}
	c.Budgets.withDefaults()
	orDefault(&c.Slot, d.Slot)
	orDefault(&c.Window, d.Window)
	c.Window = max(c.Window, c.Slot)
	orDefault(&c.MaxEndpointLabels, d.MaxEndpointLabels)
	orDefault(&c.MaxTenantLabels, d.MaxTenantLabels)
	if c.Now == nil {
		c.Now = d.Now
	}
}
