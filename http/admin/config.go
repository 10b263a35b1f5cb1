package admin

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/actors"
	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/metrics"
	"github.com/firehook/firehook/persistence"
)

// ActorSource is the node's live actors: actors.System in a node. Its
// methods are safe for concurrent use.
type ActorSource interface {
	Actors(kind string) []actors.ActorInfo
	Actor(id string) (actors.ActorInfo, bool)
}

// EventSource is the node's event log: persistence.EventLog in a node.
// Its methods are safe for concurrent use.
type EventSource interface {
	// Read returns up to limit events with sequence ≥ from, in order.
	Read(from uint64, limit int) ([]firehook.Event, error)
	// LastSeq is the highest durable sequence.
	LastSeq() uint64
}

// GraphCluster is the identity graph of a cluster as the graph routes use
// it. Its methods are called concurrently by requests.
type GraphCluster interface {
	// Upsert stores imported records on the owners of their shards and
	// returns once they are durable there.
	Upsert(recs []identity.Record) error
	// Lookup returns the record an identifier belongs to.
	Lookup(id identity.Identifier) (*identity.Record, bool, error)
	// Erase erases a person on every member; ok when any held it.
	Erase(personID string) (bool, error)
}

// Peers is the rest of a cluster as the receipts and health routes see
// it: a delivery lives on the member that owns its person, and each member
// runs the endpoint's actor for its own persons. Each method asks every
// other live member at once and returns what those that answered said,
// with the names of those that did not (answers are then partial). It is
// called concurrently by requests; the caller has checked the scope.
type Peers interface {
	// Delivery finds delivery id on another member, with its payload.
	Delivery(ctx context.Context, id string) (d firehook.Delivery, member string, found bool, err error)
	// Deliveries returns each other member's page of an endpoint's
	// receipts, newest first, from that member's cursor in cursors
	// (absent: the first page; PageDone: none asked).
	Deliveries(ctx context.Context, endpointID string, status firehook.DeliveryStatus, cursors map[string]string, limit int) (pages map[string]DeliveryPage, unreachable []string)
	// Health returns each other member's view of an endpoint's health.
	Health(ctx context.Context, endpointID string) (hs []metrics.Health, unreachable []string)
	// Identified reports whether another member holds the lane sequence
	// of personKey (firehook.PersonKey): the tenant identified the person.
	Identified(ctx context.Context, personKey string) (found bool, unreachable []string)
}

// DeliveryPage is one member's page of receipts.
type DeliveryPage struct {
	Items []firehook.Delivery `json:"items"`
	Next  string              `json:"next"`
}

// PageDone is the cursor of a member whose receipts a paged answer has
// listed to the end.
const PageDone = "-"

// ConfigStore is the configuration the admin API manages; it is the
// persistence.ConfigStore in a node. Implementations are safe for
// concurrent use, and every write is durable when it returns.
type ConfigStore interface {
	CreateTenant(firehook.Tenant) error
	Tenant(id string) (firehook.Tenant, bool)
	TenantByAPIKeyHash(h string) (firehook.Tenant, bool)
	Tenants() []firehook.Tenant
	UpdateTenant(id string, fn func(*firehook.Tenant) error) (firehook.Tenant, error)

	CreateSite(firehook.Site) error
	Site(id string) (firehook.Site, bool)
	Sites(tenantID string) []firehook.Site
	UpdateSite(id string, fn func(*firehook.Site) error) (firehook.Site, error)
	DeleteSite(id string) error

	CreateEndpoint(firehook.Endpoint) error
	Endpoint(id string) (firehook.Endpoint, bool)
	Endpoints(tenantID string) []firehook.Endpoint
	UpdateEndpoint(id string, fn func(*firehook.Endpoint) error) (firehook.Endpoint, error)
	DeleteEndpoint(id string) error
}

// Config configures the admin API.
type Config struct {
	// Store holds the configuration. Required.
	Store ConfigStore
	// OperatorTokenHash is the hex sha256 of the operator token. Required:
	// an empty hash would let nobody in as operator.
	OperatorTokenHash string
	// AllowPrivateEndpoints lets endpoints target loopback, private,
	// link-local and similar addresses. Default false (SSRF protection).
	AllowPrivateEndpoints bool
	// Ready reports whether the node serves; /readyz answers 503 while it
	// returns false. Default: always ready.
	Ready func() bool
	// Warnings lists what /readyz reports beside "ready": what the node
	// found wrong at start and repaired (damage cut out of the event
	// log). Default: none.
	Warnings func() []string
	// Graph is the identity graph (import, lookup, erasure). Nil: the
	// graph routes are not served.
	Graph *identity.Graph
	// Suppressions are the suppression lists. Nil: their routes are not
	// served.
	Suppressions *identity.Suppressions
	// Outbox holds the deliveries: their receipts and replay. Nil: the
	// delivery routes are not served.
	Outbox *persistence.Outbox
	// OnReplay is called with an endpoint's id after deliveries of it were
	// replayed (the change is durable by then), so that the endpoint's
	// actor picks them up. It runs on the request's goroutine: it must be
	// safe for concurrent use and must not block (hand the work over).
	// Nil: nobody is told.
	OnReplay func(endpointID string)
	// OnEndpointChange is called with an endpoint's id after it was
	// created, patched, deleted, enabled, disabled or given a new secret
	// (the change is durable by then), so that its actor reloads it. It
	// runs on the request's goroutine: it must be safe for concurrent use
	// and must not block. Nil: nobody is told.
	OnEndpointChange func(endpointID string)
	// Dashboard serves the web dashboard (package http/dashboard): GET
	// /dashboard, GET /dashboard/{asset} and POST /dashboard/login, outside
	// the token check (the page is public; its API calls carry the token).
	// Nil: no dashboard.
	Dashboard http.Handler
	// Metrics is the node's observability (package metrics): GET /metrics,
	// GET /v1/pipeline and GET /v1/endpoints/{id}/health. Nil: those
	// routes are not served.
	Metrics *metrics.Metrics
	// Actors lists the node's live actors (actors.System): GET /v1/actors
	// and GET /v1/actors/{id}. Nil: not served.
	Actors ActorSource
	// GraphCluster, when set, spreads the graph routes over a cluster:
	// imported records go to the owners of their shards, lookups to an
	// owner of the identifier's shard, erasures to every member. Nil: the
	// node's Graph is the whole graph.
	GraphCluster GraphCluster
	// Peers, when set, makes the receipts and health routes answer for a
	// whole cluster (GET /v1/deliveries/{id}, GET
	// /v1/endpoints/{id}/deliveries, GET /v1/endpoints/{id}/health);
	// ?local=1 answers for this member alone. NodeName must be set: it
	// keys this member's part of a paged answer's cursor.
	Peers Peers
	// Cluster answers GET /v1/cluster (the node's view of its cluster, a
	// JSON value). Nil: not served.
	Cluster func(ctx context.Context) any
	// ClusterShards answers GET /v1/cluster/shards (this member's graph
	// shards, a JSON value). Nil: not served.
	ClusterShards func(ctx context.Context) any
	// NodeName names this node in the answers of /v1/actors.
	NodeName string
	// Events is the event log (persistence.EventLog): GET /v1/events, and
	// with Outbox and Graph GET /v1/export.csv. Nil: not served.
	Events EventSource
	// OpenAPI is the OpenAPI document served at /v1/openapi.json.
	OpenAPI []byte
	// MCP, when set, serves the Model Context Protocol at /mcp (package
	// mcp's Handler) to tenant API keys: the operator token is refused
	// (403), since an MCP session sees one tenant.
	MCP http.Handler
	// OnErased is called after a person was erased from the graph on a
	// single node (a GraphCluster does the same on every member): it
	// removes the person from the payloads of their deliveries. Nil: none.
	OnErased func(personID string) error
	// MaxBody is the largest request body in bytes. Default 64 KiB.
	MaxBody int64
	// AuthFailuresPerMinute bounds the failed authentications (a missing,
	// unknown or malformed token) one client address may make: past
	// AuthFailureBurst of them it gets 429 with Retry-After, without its
	// token being looked at, until the allowance refills at this rate. 0
	// means 10 a minute; negative, no limit. The client address is the TCP
	// peer.
	AuthFailuresPerMinute float64
	// AuthFailureBurst is the failures allowed at once. Default 20.
	AuthFailureBurst int
	// SecretOverlap is how long the previous endpoint secret keeps signing
	// after a rotation. Default 24 h.
	SecretOverlap time.Duration
	// Log receives errors. Default slog.Default().
	Log *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (c *Config) withDefaults() {
	if c.Warnings == nil {
		c.Warnings = func() []string { return nil }
	}
	if c.Ready == nil {
		c.Ready = func() bool { return true }
	}
	if c.MaxBody <= 0 {
		c.MaxBody = 64 << 10
	}
	if c.AuthFailuresPerMinute == 0 {
		c.AuthFailuresPerMinute = 10
	}
	if c.AuthFailureBurst <= 0 {
		c.AuthFailureBurst = 20
	}
	if c.SecretOverlap <= 0 {
		c.SecretOverlap = 24 * time.Hour
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.OnErased == nil {
		c.OnErased = func(string) error { return nil }
	}
	if c.OnReplay == nil {
		c.OnReplay = func(string) {}
	}
	if c.OnEndpointChange == nil {
		c.OnEndpointChange = func(string) {}
	}
}
