package firehook

import "time"

// Tier is a tenant's service tier. Tiers order the shared resources of a
// node when it is saturated (enterprise first) and set latency budgets.
type Tier string

// The tiers, best first.
const (
	TierEnterprise Tier = "enterprise"
	TierPro        Tier = "pro"
	TierFree       Tier = "free"
)

// Valid reports whether t is one of the known tiers.
func (t Tier) Valid() bool {
	return t == TierEnterprise || t == TierPro || t == TierFree
}

// Tenant is a customer of Firehook. Its API key is stored only as a hash.
type Tenant struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Tier       Tier      `json:"tier"`
	APIKeyHash string    `json:"api_key_hash"` // hex sha256 of the fhk_ key; never served
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Site is a web property of a tenant that embeds the pixel. Key is the
// public SITE_KEY of the snippet.
type Site struct {
	ID             string    `json:"id"`
	TenantID       string    `json:"tenant_id"`
	Key            string    `json:"key"`
	Domain         string    `json:"domain"`
	AllowedOrigins []string  `json:"allowed_origins"`
	RateLimitPerS  int       `json:"rate_limit_per_s"` // accepted events per second; 0 = unlimited
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// Webhook event types.
const (
	EventIdentified = "visitor.identified" // First Match
	EventUpdated    = "visitor.updated"    // Every Update
)

// EndpointState is whether an endpoint receives deliveries.
type EndpointState string

// Endpoint states as stored. Health adds the derived states degraded and
// circuit_open on top of enabled.
const (
	EndpointEnabled  EndpointState = "enabled"
	EndpointDisabled EndpointState = "disabled"
)

// Endpoint is a tenant's webhook target.
type Endpoint struct {
	ID            string            `json:"id"`
	TenantID      string            `json:"tenant_id"`
	URL           string            `json:"url"`
	Events        []string          `json:"events"`
	Description   string            `json:"description"`
	MaxInFlight   int               `json:"max_in_flight"`    // concurrent requests, ≥ 1
	RateLimitPerS int               `json:"rate_limit_per_s"` // requests per second; 0 = unlimited
	TimeoutMS     int               `json:"timeout_ms"`       // per-request timeout
	Headers       map[string]string `json:"headers"`          // extra request headers
	// BatchWindowMS > 0 opts the endpoint into batching: Every Update
	// deliveries that become due within the window go out as one POST
	// carrying an array (one event id per item). 0: one POST per event.
	BatchWindowMS int `json:"batch_window_ms"`
	// RetryWindowS is how long a delivery is retried, counted from its
	// first attempt, before it is failed (terminal). 0 means the default
	// (DefaultRetryWindow, 24 h).
	RetryWindowS int `json:"retry_window_s"`
	// AutoDisableAfterS disables the endpoint after this long of nothing
	// but failures. 0 means the default (DefaultAutoDisableAfter, 5 days).
	AutoDisableAfterS int           `json:"auto_disable_after_s"`
	State             EndpointState `json:"state"`
	// DisabledReason says why the endpoint is disabled ("operator", "410 Gone", …).
	DisabledReason string `json:"disabled_reason,omitempty"`
	// FailingSince is when the endpoint's current run of failed attempts
	// began (nil after a success): auto-disable counts from it.
	FailingSince *time.Time `json:"failing_since,omitempty"`
	// Secret signs deliveries (whsec_…). PreviousSecret keeps signing as a
	// second signature until PreviousSecretExpiresAt, after a rotation.
	Secret                  string     `json:"secret"`
	PreviousSecret          string     `json:"previous_secret,omitempty"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at,omitempty"`
	CreatedAt               time.Time  `json:"created_at"`
	UpdatedAt               time.Time  `json:"updated_at"`
}

// Endpoint delivery defaults (API.md): what a zero field of Endpoint means.
const (
	DefaultMaxInFlight      = 8
	DefaultTimeout          = 10 * time.Second
	DefaultRetryWindow      = 24 * time.Hour
	DefaultAutoDisableAfter = 5 * 24 * time.Hour
)

// RetryWindow returns how long a delivery of e is retried.
func (e *Endpoint) RetryWindow() time.Duration {
	if e.RetryWindowS > 0 {
		return time.Duration(e.RetryWindowS) * time.Second
	}
	return DefaultRetryWindow
}

// AutoDisableAfter returns how long e may fail without a success before it
// is disabled.
func (e *Endpoint) AutoDisableAfter() time.Duration {
	if e.AutoDisableAfterS > 0 {
		return time.Duration(e.AutoDisableAfterS) * time.Second
	}
	return DefaultAutoDisableAfter
}

// Timeout returns the request timeout of e.
func (e *Endpoint) Timeout() time.Duration {
	if e.TimeoutMS > 0 {
		return time.Duration(e.TimeoutMS) * time.Millisecond
	}
	return DefaultTimeout
}

// InFlightLimit returns how many requests e may have in flight.
func (e *Endpoint) InFlightLimit() int {
	if e.MaxInFlight > 0 {
		return e.MaxInFlight
	}
	return DefaultMaxInFlight
}

// Subscribes reports whether the endpoint wants events of type typ.
func (e *Endpoint) Subscribes(typ string) bool {
	for _, t := range e.Events {
		if t == typ {
			return true
		}
	}
	return false
}

// Secrets returns the secrets that sign a delivery at time now: the current
// one and, during a rotation, the previous one.
func (e *Endpoint) Secrets(now time.Time) []string {
	if e.PreviousSecret != "" && e.PreviousSecretExpiresAt != nil && now.Before(*e.PreviousSecretExpiresAt) {
		return []string{e.Secret, e.PreviousSecret}
	}
	return []string{e.Secret}
}
