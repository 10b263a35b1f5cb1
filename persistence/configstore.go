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
type ConfigStore struct {
	db        *badger.DB
	tenants   *table[firehook.Tenant]
	sites     *table[firehook.Site]
	endpoints *table[firehook.Endpoint]
}

func newConfigStore(db *badger.DB) (*ConfigStore, error) {
	var err error
	c := &ConfigStore{db: db}
	if c.tenants, err = newTable(db, prefixTenant,
		func(t *firehook.Tenant) string { return t.ID },
		func(t *firehook.Tenant) string { return t.APIKeyHash },
		func(t *firehook.Tenant) firehook.Tenant { return *t }); err != nil {
		return nil, err
	}
	if c.sites, err = newTable(db, prefixSite,
		func(s *firehook.Site) string { return s.ID },
		func(s *firehook.Site) string { return s.Key }, cloneSite); err != nil {
		return nil, err
	}
	if c.endpoints, err = newTable(db, prefixEndpoint,
		func(e *firehook.Endpoint) string { return e.ID }, nil, cloneEndpoint); err != nil {
		return nil, err
	}
	return c, nil
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
