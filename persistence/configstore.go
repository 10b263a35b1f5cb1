package persistence

import (
	"fmt"
	"maps"
	"slices"

	"github.com/dgraph-io/badger/v4"

	"github.com/firehook/firehook"
)

// ConfigStore holds tenants, sites and endpoints: small, read on every
// request, written rarely. Everything is in memory; every write is synced
// to disk before it becomes visible. Validation is the caller's job (the
// admin API); the store keeps ids and secondary keys unique.
//
// It is replicated record by record (replica.go): every write gets a
// Version from the node's Clock, local writes are handed to the OnChange
// hook for the other nodes, and their changes come in through Apply, last
// writer wins. Snapshot is the whole state, for a joining node.
type ConfigStore struct {
	db        *badger.DB
	hook      changeHook
	tenants   *table[firehook.Tenant]
	sites     *table[firehook.Site]
	endpoints *table[firehook.Endpoint]
}

func newConfigStore(db *badger.DB, clock *Clock, box *secretBox) (*ConfigStore, error) {
	var err error
	c := &ConfigStore{db: db}
	if c.tenants, err = newTable(db, prefixTenant, KindTenant, clock, &c.hook,
		func(t *firehook.Tenant) string { return t.ID },
		func(t *firehook.Tenant) string { return t.APIKeyHash },
		func(t *firehook.Tenant) firehook.Tenant { return *t }, nil, nil); err != nil {
		return nil, err
	}
	if c.sites, err = newTable(db, prefixSite, KindSite, clock, &c.hook,
		func(s *firehook.Site) string { return s.ID },
		func(s *firehook.Site) string { return s.Key }, cloneSite, nil, nil); err != nil {
		return nil, err
	}
	if c.endpoints, err = newTable(db, prefixEndpoint, KindEndpoint, clock, &c.hook,
		func(e *firehook.Endpoint) string { return e.ID }, nil, cloneEndpoint,
		box.sealEndpoint, box.openEndpoint); err != nil {
		return nil, err
	}
	if box != nil {
		if err := c.endpoints.sealStored(sealedEndpoint); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// SetOnChange sets the function told of every local write (create,
// update, delete through this store's methods), once it is durable and
// visible, in the order of the writes of each record; changes applied
// with Apply are not passed to it. Set it before the first write; nil
// removes it.
//
// fn is called with the record's table locked: it must not block (queue
// the change for sending and return) and must not call the ConfigStore.
// The change's Value must not be modified.
func (c *ConfigStore) SetOnChange(fn func(Change)) { c.hook.set(fn) }

// Apply applies a change of another node: a tenant, site or endpoint (by
// Kind) is written, or deleted, when ch.Version is newer than the version
// of the record's row or tombstone here, or when there is neither. It
// reports whether it changed anything: an older version, or the same
// version again, is a no-op (false, nil), which makes Apply idempotent and
// the outcome independent of the order changes arrive in. The node's clock
// is advanced past ch.Version either way.
//
// A remote record is applied without the checks of local writes: a site
// or endpoint is stored even when its tenant is unknown here (the tenant
// may arrive later), and a secondary key held by another record is shared,
// the newer version keeping it (see table.index). When Apply returns true
// for an endpoint, the node restarts (or, for a deletion, stops) the
// endpoint's actor, as after a local change; Apply calls no hook itself.
// Each applied change costs one fsync; one that is not applied writes
// nothing and is not even decoded, so a periodic exchange of snapshots
// is cheap. A change of another Kind or without ID is an ErrInvalid
// error, and so is a newer change whose Value is not the JSON of a record
// with ID.
func (c *ConfigStore) Apply(ch Change) (applied bool, err error) {
	switch ch.Kind {
	case KindTenant:
		return c.tenants.apply(ch)
	case KindSite:
		return c.sites.apply(ch)
	case KindEndpoint:
		return c.endpoints.apply(ch)
	}
	return false, fmt.Errorf("apply change of kind %q: %w", ch.Kind, firehook.ErrInvalid)
}

// Snapshot returns every record and every tombstone, each with its
// version, as Changes: tenants, then sites, then endpoints (so that
// applying them in order never meets a site before its tenant), each kind
// in id order. Applying a snapshot with Apply brings a node up to date
// with the snapshot's node. Values are shared with the store: do not
// modify them.
func (c *ConfigStore) Snapshot() []Change {
	out := c.tenants.snapshot(nil)
	out = c.sites.snapshot(out)
	return c.endpoints.snapshot(out)
}

// cloneSite copies a site and its slices. Keep it in step with the
// reference-typed fields of firehook.Site.
func cloneSite(s *firehook.Site) firehook.Site {
	c := *s
	c.AllowedOrigins = slices.Clone(s.AllowedOrigins)
	return c
}

// cloneEndpoint copies an endpoint and its slices, maps and pointers. Keep
// it in step with the reference-typed fields of firehook.Endpoint.
func cloneEndpoint(e *firehook.Endpoint) firehook.Endpoint {
	c := *e
	c.Events = slices.Clone(e.Events)
	c.Headers = maps.Clone(e.Headers)
	if e.FailingSince != nil {
		since := *e.FailingSince
		c.FailingSince = &since
	}
	if e.PreviousSecretExpiresAt != nil {
		exp := *e.PreviousSecretExpiresAt
		c.PreviousSecretExpiresAt = &exp
	}
	return c
}

// CreateTenant stores a new tenant.
func (c *ConfigStore) CreateTenant(t firehook.Tenant) error { return c.tenants.create(t) }

// Tenant returns the tenant with id.
func (c *ConfigStore) Tenant(id string) (firehook.Tenant, bool) { return c.tenants.get(id) }

// TenantByAPIKeyHash returns the tenant whose API key hashes to h.
func (c *ConfigStore) TenantByAPIKeyHash(h string) (firehook.Tenant, bool) {
	return c.tenants.getByIndex(h)
}

// Tenants lists every tenant in creation order.
func (c *ConfigStore) Tenants() []firehook.Tenant { return c.tenants.list(nil) }

// UpdateTenant applies fn to the tenant with id; see table.update.
func (c *ConfigStore) UpdateTenant(id string, fn func(*firehook.Tenant) error) (firehook.Tenant, error) {
	return c.tenants.update(id, fn)
}

// CreateSite stores a new site of an existing tenant.
func (c *ConfigStore) CreateSite(s firehook.Site) error {
	if _, ok := c.tenants.get(s.TenantID); !ok {
		return fmt.Errorf("create site: tenant %s: %w", s.TenantID, firehook.ErrNotFound)
	}
	return c.sites.create(s)
}

// Site returns the site with id.
func (c *ConfigStore) Site(id string) (firehook.Site, bool) { return c.sites.get(id) }

// SiteByKey returns the site whose public key is key: the ingest lookup.
func (c *ConfigStore) SiteByKey(key string) (firehook.Site, bool) { return c.sites.getByIndex(key) }

// Sites lists the sites of tenantID (every site when tenantID is empty).
func (c *ConfigStore) Sites(tenantID string) []firehook.Site {
	return c.sites.list(func(s *firehook.Site) bool { return tenantID == "" || s.TenantID == tenantID })
}

// UpdateSite applies fn to the site with id.
func (c *ConfigStore) UpdateSite(id string, fn func(*firehook.Site) error) (firehook.Site, error) {
	return c.sites.update(id, fn)
}

// DeleteSite removes the site with id.
func (c *ConfigStore) DeleteSite(id string) error { return c.sites.remove(id) }

// CreateEndpoint stores a new endpoint of an existing tenant.
func (c *ConfigStore) CreateEndpoint(e firehook.Endpoint) error {
	if _, ok := c.tenants.get(e.TenantID); !ok {
		return fmt.Errorf("create endpoint: tenant %s: %w", e.TenantID, firehook.ErrNotFound)
	}
	return c.endpoints.create(e)
}

// Endpoint returns the endpoint with id.
func (c *ConfigStore) Endpoint(id string) (firehook.Endpoint, bool) { return c.endpoints.get(id) }

// Endpoints lists the endpoints of tenantID (every endpoint when empty).
func (c *ConfigStore) Endpoints(tenantID string) []firehook.Endpoint {
	return c.endpoints.list(func(e *firehook.Endpoint) bool { return tenantID == "" || e.TenantID == tenantID })
}

// UpdateEndpoint applies fn to the endpoint with id.
func (c *ConfigStore) UpdateEndpoint(id string, fn func(*firehook.Endpoint) error) (firehook.Endpoint, error) {
	return c.endpoints.update(id, fn)
}

// DeleteEndpoint removes the endpoint with id.
func (c *ConfigStore) DeleteEndpoint(id string) error { return c.endpoints.remove(id) }
