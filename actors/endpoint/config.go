package endpoint

import (
	"log/slog"
	"sync"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/actors/webhook"
	"github.com/firehook/firehook/persistence"
)

// ConfigSource is where the actors read endpoints and tenants and record
// what they decide about an endpoint (disabled by 410 or auto-disable, the
// start of a run of failures): the node's persistence.ConfigStore.
type ConfigSource interface {
	Endpoint(id string) (firehook.Endpoint, bool)
	Tenant(id string) (firehook.Tenant, bool)
	UpdateEndpoint(id string, fn func(*firehook.Endpoint) error) (firehook.Endpoint, error)
}

// Config is shared by every endpoint actor of a node.
type Config struct {
	// Outbox holds the deliveries and their receipts. Required.
	Outbox *persistence.Outbox
	// Endpoints is the configuration. Required.
	Endpoints ConfigSource
	// Client sends the requests. Required.
	Client *webhook.Client
	// Schedule is the retry schedule; its Window is replaced by each
	// endpoint's retry window. Default webhook.DefaultSchedule().
	Schedule webhook.Schedule
	// Gate orders requests across endpoints when the node is saturated.
	// Nil: no node-wide bound.
	Gate *Gate
	// Share, when set, returns over how many nodes an endpoint's
	// rate_limit_per_s and max_in_flight are split: each node's actor of
	// the endpoint keeps to its share of both (rounded up, at least 1), so
	// that the limits hold for a cluster as a whole. Nil: 1 (a lone node).
	Share func() int
	// Window is how many unfinished deliveries an actor keeps in memory;
	// the rest wait in the outbox. Default 10,000.
	Window int
	// BatchMax is the most Every Update deliveries one batched POST
	// carries. Default 100.
	BatchMax int
	// BreakerThreshold is how many consecutive failed requests open the
	// circuit breaker. Default 5.
	BreakerThreshold int
	// ProbeInterval is the first wait between probes of an open breaker;
	// it doubles after each failed probe up to MaxProbeInterval. Defaults
	// 1 s and 1 min.
	ProbeInterval, MaxProbeInterval time.Duration
	// UserAgent is sent with every request. Default "Firehook".
	UserAgent string
	// Observer, when set, is told of every finished request (metrics,
	// health). It is called from the request's goroutine and must be
	// quick.
	Observer func(Observation)
	// Attempts counts the request goroutines of every endpoint actor. The
	// owner of the actor system waits on it after stopping the actors, so
	// that no request outlives the node. Required.
	Attempts *sync.WaitGroup
	// Log receives the actors' errors. Default slog.Default().
	Log *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Observation is one finished request of an endpoint: a delivery or a
// batch of them.
type Observation struct {
	EndpointID string
	TenantID   string
	Deliveries []firehook.Delivery // their state after the request
	Result     webhook.Result
	Outcome    webhook.Outcome
	Batch      bool
}

// Defaults fills in the zero fields of c with their defaults. Producer
// calls it; call it yourself before a Config is shared by goroutines that
// call Producer concurrently (it writes the fields it fills in).
func (c *Config) Defaults() {
	if c.Schedule.Steps == nil && c.Schedule.Every == 0 {
		c.Schedule = webhook.DefaultSchedule()
	}
	if c.Window <= 0 {
		c.Window = 10_000
	}
	if c.BatchMax <= 0 {
		c.BatchMax = 100
	}
	if c.BreakerThreshold <= 0 {
		c.BreakerThreshold = 5
	}
	if c.ProbeInterval <= 0 {
		c.ProbeInterval = time.Second
	}
	if c.MaxProbeInterval <= 0 {
		c.MaxProbeInterval = time.Minute
	}
	if c.UserAgent == "" {
		c.UserAgent = webhook.DefaultUserAgent
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}
