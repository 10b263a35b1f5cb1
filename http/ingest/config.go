package ingest

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"github.com/firehook/firehook"
)

// Sites finds a site by its public key. It is called on every request and
// must be fast and safe for concurrent use (the config store's in-memory
// index).
type Sites interface {
	SiteByKey(key string) (firehook.Site, bool)
}

// EventLog stores an event durably, setting its sequence; it returns only
// once the event is on disk. Safe for concurrent use.
type EventLog interface {
	Append(ctx context.Context, ev *firehook.Event) error
}

// Config configures the ingest handler.
type Config struct {
	// Sites resolves site keys. Required.
	Sites Sites
	// Events stores accepted events. Required.
	Events EventLog
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	// Empty: the TCP peer is the client, X-Forwarded-For is ignored.
	TrustedProxies []netip.Prefix
	// MaxBody is the largest accepted body in bytes. Default 16 KiB.
	MaxBody int64
	// PerIPRate is the page views a second one client address may send
	// (both collect routes, whatever the site; burst: two seconds' worth),
	// checked before anything else: past it the answer is 429 with
	// Retry-After. 0 means DefaultPerIPRate; negative, no limit. Loopback
	// clients are not limited: behind a local proxy that is not in
	// TrustedProxies every visitor has the proxy's address.
	PerIPRate float64
	// Observer, when set, is told of every collect request once it is
	// answered (metrics). It is called on the request's goroutine and must
	// be quick. Nil: nothing is observed.
	Observer func(Observation)
	// Log receives errors. Default slog.Default().
	Log *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// DefaultMaxBody is the body limit of /v1/collect.
const DefaultMaxBody = 16 << 10

// DefaultPerIPRate is the default PerIPRate: far above what the visitors
// behind one office's address send, far below a flood.
const DefaultPerIPRate = 50

func (c *Config) withDefaults() {
	if c.MaxBody <= 0 {
		c.MaxBody = DefaultMaxBody
	}
	if c.PerIPRate == 0 {
		c.PerIPRate = DefaultPerIPRate
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}
