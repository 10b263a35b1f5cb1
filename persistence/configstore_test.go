package persistence

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/firehook/firehook"
)

// Fixed UTC times: they survive the JSON round trip to disk unchanged, so
// whole records compare with reflect.DeepEqual.
var (
	t0 = time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)
	t1 = t0.Add(time.Hour)
)

func newTenant(name string) firehook.Tenant {
	return firehook.Tenant{
		ID:         firehook.NewID(firehook.PrefixTenant),
		Name:       name,
		Tier:       firehook.TierPro,
		APIKeyHash: firehook.RandomToken("hash-", 16),
		CreatedAt:  t0,
		UpdatedAt:  t0,
	}
}

func newSite(tenantID string) firehook.Site {
	return firehook.Site{
		ID:             firehook.NewID(firehook.PrefixSite),
		TenantID:       tenantID,
		Key:            firehook.RandomToken(firehook.PrefixSiteKey, 20),
		Domain:         "shop.example.com",
		AllowedOrigins: []string{"https://shop.example.com", "https://www.example.com"},
		RateLimitPerS:  100,
		CreatedAt:      t0,
		UpdatedAt:      t0,
	}
}

func newEndpoint(tenantID string) firehook.Endpoint {
	exp := t1
	return firehook.Endpoint{
		ID:                      firehook.NewID(firehook.PrefixEndpoint),
		TenantID:                tenantID,
		URL:                     "https://hooks.example.com/firehook",
		Events:                  []string{firehook.EventIdentified, firehook.EventUpdated},
		Description:             "CRM",
		MaxInFlight:             4,
		RateLimitPerS:           50,
		TimeoutMS:               5000,
		Headers:                 map[string]string{"X-Team": "growth"},
		State:                   firehook.EndpointEnabled,
		Secret:                  firehook.NewWebhookSecret(),
		PreviousSecret:          firehook.NewWebhookSecret(),
		PreviousSecretExpiresAt: &exp,
		CreatedAt:               t0,
		UpdatedAt:               t0,
	}
}

// mustCreate stores rec with create (c.CreateTenant, c.CreateSite or
// c.CreateEndpoint) and returns it.
func mustCreate[T any](t testing.TB, create func(T) error, rec T) T {
	t.Helper()
	if err := create(rec); err != nil {
		t.Fatalf("create %T: %v", rec, err)
	}
	return rec
}

func mustCreateTenant(t testing.TB, c *ConfigStore, name string) firehook.Tenant {
	t.Helper()
	return mustCreate(t, c.CreateTenant, newTenant(name))
}

func mustCreateSite(t testing.TB, c *ConfigStore, tenantID string) firehook.Site {
	t.Helper()
	return mustCreate(t, c.CreateSite, newSite(tenantID))
}

func mustCreateEndpoint(t testing.TB, c *ConfigStore, tenantID string) firehook.Endpoint {
	t.Helper()
	return mustCreate(t, c.CreateEndpoint, newEndpoint(tenantID))
}

// assertFound asserts that find (c.Tenant, c.Site or c.Endpoint) answers
// want for id.
func assertFound[T any](t testing.TB, what string, find func(id string) (T, bool), id string, want T) {
	t.Helper()
	got, ok := find(id)
	if !ok {
		t.Fatalf("%s: %s not found", what, id)
	}
	assertEqual(t, what, got, want)
}

func assertEqual[T any](t testing.TB, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func assertErrIs(t testing.TB, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: err = %v, want %v", what, err, want)
	}
}

// records is one tenant with one site and one endpoint of it.
type records struct {
	ten  firehook.Tenant
	site firehook.Site
	ep   firehook.Endpoint
}

// mustCreateRecords stores a tenant named name with one site and one
// endpoint.
func mustCreateRecords(t testing.TB, c *ConfigStore, name string) records {
	t.Helper()
	r := records{ten: mustCreateTenant(t, c, name)}
	r.site = mustCreateSite(t, c, r.ten.ID)
	r.ep = mustCreateEndpoint(t, c, r.ten.ID)
	return r
}

// openTempStore opens a store in a new temporary directory and returns it
// with the directory, to reopen it.
func openTempStore(t testing.TB) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	return openStore(t, testConfig(dir)), dir
}

// reopenKeeps closes s, opens dir again and asserts that the config store
// answers exactly as in before. It returns the reopened store.
func reopenKeeps(t testing.TB, s *Store, dir string, before configSnapshot) *Store {
	t.Helper()
	s = reopen(t, s, testConfig(dir))
	assertEqual(t, "config after reopen", snapshot(s.Config), before)
	return s
}

// failingOp is an operation on the config store that must fail.
type failingOp struct {
	name string
	op   func() error
}

// assertFailuresChangeNothing runs each op in a subtest, where checkErr
// judges its error, and asserts that the config store then still answers
// exactly as before the first op. It returns that state, for reopenKeeps.
func assertFailuresChangeNothing(t *testing.T, c *ConfigStore, ops []failingOp, checkErr func(t *testing.T, err error)) configSnapshot {
	t.Helper()
	before := snapshot(c)
	for _, o := range ops {
		t.Run(o.name, func(t *testing.T) {
			checkErr(t, o.op())
			assertEqual(t, "config after the failed "+o.name, snapshot(c), before)
		})
	}
	return before
}

// configSnapshot is everything the config store answers, for comparing a
// store before and after an operation or a reopen.
type configSnapshot struct {
	Tenants   []firehook.Tenant
	Sites     []firehook.Site
	Endpoints []firehook.Endpoint
	ByAPIKey  map[string]string // api key hash → tenant id
	ByKey     map[string]string // site key → site id
}

// snapshot takes a deep copy (through JSON), so that a later change to the
// store's records cannot reach into it.
func snapshot(c *ConfigStore) configSnapshot {
	s := configSnapshot{
		Tenants:   c.Tenants(),
		Sites:     c.Sites(""),
		Endpoints: c.Endpoints(""),
		ByAPIKey:  map[string]string{},
		ByKey:     map[string]string{},
	}
	for _, t := range s.Tenants {
		if got, ok := c.TenantByAPIKeyHash(t.APIKeyHash); ok {
			s.ByAPIKey[t.APIKeyHash] = got.ID
		}
	}
	for _, site := range s.Sites {
		if got, ok := c.SiteByKey(site.Key); ok {
			s.ByKey[site.Key] = got.ID
		}
	}
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	var out configSnapshot
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

func TestConfigStore_TenantLifecycle(t *testing.T) {
	s, dir := openTempStore(t)
	c := s.Config

	a := mustCreateTenant(t, c, "Acme")
	b := mustCreateTenant(t, c, "Bolt")

	assertFound(t, "Tenant", c.Tenant, a.ID, a)
	assertEqual(t, "Tenants (creation order)", c.Tenants(), []firehook.Tenant{a, b})
	if got, ok := c.TenantByAPIKeyHash(b.APIKeyHash); !ok || got.ID != b.ID {
		t.Errorf("TenantByAPIKeyHash(b) = %v, %v; want %s", got.ID, ok, b.ID)
	}
	if _, ok := c.Tenant("ten_missing"); ok {
		t.Error("Tenant(unknown) found something")
	}

	oldHash := a.APIKeyHash
	updated, err := c.UpdateTenant(a.ID, func(t *firehook.Tenant) error {
		t.Name, t.Tier, t.APIKeyHash, t.UpdatedAt = "Acme Corp", firehook.TierEnterprise, "rotated-hash", t1
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateTenant: %v", err)
	}
	want := a
	want.Name, want.Tier, want.APIKeyHash, want.UpdatedAt = "Acme Corp", firehook.TierEnterprise, "rotated-hash", t1
	assertEqual(t, "UpdateTenant result", updated, want)
	assertFound(t, "Tenant after update", c.Tenant, a.ID, want)

	// The API key index follows the rotation.
	if _, ok := c.TenantByAPIKeyHash(oldHash); ok {
		t.Error("the old API key hash still finds the tenant after rotation")
	}
	if got, ok := c.TenantByAPIKeyHash("rotated-hash"); !ok || got.ID != a.ID {
		t.Errorf("TenantByAPIKeyHash(new) = %v, %v; want %s", got.ID, ok, a.ID)
	}

	_, err = c.UpdateTenant("ten_missing", func(*firehook.Tenant) error { return nil })
	assertErrIs(t, "UpdateTenant(unknown)", err, firehook.ErrNotFound)

	s = reopenKeeps(t, s, dir, snapshot(c))
	assertEqual(t, "Tenants after reopen", s.Config.Tenants(), []firehook.Tenant{want, b})
	if got, ok := s.Config.TenantByAPIKeyHash("rotated-hash"); !ok || got.ID != a.ID {
		t.Errorf("after reopen TenantByAPIKeyHash(new) = %v, %v; want %s", got.ID, ok, a.ID)
	}
	if _, ok := s.Config.TenantByAPIKeyHash(oldHash); ok {
		t.Error("after reopen the old API key hash finds a tenant")
	}
}

func TestConfigStore_TenantWithoutAPIKeyIsNotIndexed(t *testing.T) {
	s := openStore(t, testConfig(t.TempDir()))
	for _, name := range []string{"first", "second"} {
		ten := newTenant(name)
		ten.APIKeyHash = ""
		if err := s.Config.CreateTenant(ten); err != nil {
			t.Fatalf("CreateTenant(%s) without key: %v (an empty key is no key, not a duplicate)", name, err)
		}
	}
	if got, ok := s.Config.TenantByAPIKeyHash(""); ok {
		t.Errorf("TenantByAPIKeyHash(\"\") found %s", got.ID)
	}
}

func TestConfigStore_SiteLifecycle(t *testing.T) {
	s, dir := openTempStore(t)
	c := s.Config
	ta := mustCreateTenant(t, c, "A")
	tb := mustCreateTenant(t, c, "B")
	a1 := mustCreateSite(t, c, ta.ID)
	b1 := mustCreateSite(t, c, tb.ID)
	a2 := mustCreateSite(t, c, ta.ID)

	assertFound(t, "Site", c.Site, a1.ID, a1)
	assertEqual(t, "Sites(A)", c.Sites(ta.ID), []firehook.Site{a1, a2})
	assertEqual(t, "Sites(B)", c.Sites(tb.ID), []firehook.Site{b1})
	assertEqual(t, "Sites(all)", c.Sites(""), []firehook.Site{a1, b1, a2})
	assertEqual(t, "Sites(unknown)", c.Sites("ten_missing"), []firehook.Site{})
	if got, ok := c.SiteByKey(a2.Key); !ok || got.ID != a2.ID {
		t.Errorf("SiteByKey(a2) = %v, %v; want %s", got.ID, ok, a2.ID)
	}

	// Rotating the public key moves the index.
	updated, err := c.UpdateSite(a1.ID, func(s *firehook.Site) error {
		s.Key, s.Domain, s.AllowedOrigins, s.UpdatedAt = "sk_rotated", "new.example.com", []string{"https://new.example.com"}, t1
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateSite: %v", err)
	}
	want := a1
	want.Key, want.Domain, want.AllowedOrigins, want.UpdatedAt = "sk_rotated", "new.example.com", []string{"https://new.example.com"}, t1
	assertEqual(t, "UpdateSite result", updated, want)
	if _, ok := c.SiteByKey(a1.Key); ok {
		t.Error("the old site key still finds the site after rotation")
	}
	if got, ok := c.SiteByKey("sk_rotated"); !ok || got.ID != a1.ID {
		t.Errorf("SiteByKey(new) = %v, %v; want %s", got.ID, ok, a1.ID)
	}

	// Delete removes the record and its key.
	if err := c.DeleteSite(a2.ID); err != nil {
		t.Fatalf("DeleteSite: %v", err)
	}
	if _, ok := c.Site(a2.ID); ok {
		t.Error("Site found after delete")
	}
	if _, ok := c.SiteByKey(a2.Key); ok {
		t.Error("SiteByKey finds a deleted site")
	}
	assertEqual(t, "Sites(A) after delete", c.Sites(ta.ID), []firehook.Site{want})
	assertErrIs(t, "DeleteSite twice", c.DeleteSite(a2.ID), firehook.ErrNotFound)
	_, err = c.UpdateSite(a2.ID, func(*firehook.Site) error { return nil })
	assertErrIs(t, "UpdateSite(deleted)", err, firehook.ErrNotFound)

	// A deleted site's key is free again.
	reuse := newSite(tb.ID)
	reuse.Key = a2.Key
	if err := c.CreateSite(reuse); err != nil {
		t.Fatalf("CreateSite with a deleted site's key: %v", err)
	}

	s = reopenKeeps(t, s, dir, snapshot(c))
	if _, ok := s.Config.Site(a2.ID); ok {
		t.Error("deleted site is back after reopen")
	}
	if got, ok := s.Config.SiteByKey(a2.Key); !ok || got.ID != reuse.ID {
		t.Errorf("after reopen SiteByKey(reused key) = %v, %v; want %s", got.ID, ok, reuse.ID)
	}
}

func TestConfigStore_EndpointLifecycle(t *testing.T) {
	s, dir := openTempStore(t)
	c := s.Config
	ta := mustCreateTenant(t, c, "A")
	tb := mustCreateTenant(t, c, "B")
	a1 := mustCreateEndpoint(t, c, ta.ID)
	b1 := mustCreateEndpoint(t, c, tb.ID)

	assertFound(t, "Endpoint", c.Endpoint, a1.ID, a1)
	assertEqual(t, "Endpoints(A)", c.Endpoints(ta.ID), []firehook.Endpoint{a1})
	assertEqual(t, "Endpoints(all)", c.Endpoints(""), []firehook.Endpoint{a1, b1})

	updated, err := c.UpdateEndpoint(a1.ID, func(e *firehook.Endpoint) error {
		e.State, e.DisabledReason = firehook.EndpointDisabled, "410 Gone"
		e.Headers["X-Extra"] = "1"
		e.PreviousSecret, e.PreviousSecretExpiresAt = "", nil
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateEndpoint: %v", err)
	}
	want := a1
	want.State, want.DisabledReason = firehook.EndpointDisabled, "410 Gone"
	want.Headers = map[string]string{"X-Team": "growth", "X-Extra": "1"}
	want.PreviousSecret, want.PreviousSecretExpiresAt = "", nil
	assertEqual(t, "UpdateEndpoint result", updated, want)
	assertFound(t, "Endpoint after update", c.Endpoint, a1.ID, want)

	if err := c.DeleteEndpoint(b1.ID); err != nil {
		t.Fatalf("DeleteEndpoint: %v", err)
	}
	if _, ok := c.Endpoint(b1.ID); ok {
		t.Error("Endpoint found after delete")
	}
	assertEqual(t, "Endpoints(B) after delete", c.Endpoints(tb.ID), []firehook.Endpoint{})
	assertErrIs(t, "DeleteEndpoint twice", c.DeleteEndpoint(b1.ID), firehook.ErrNotFound)

	s = reopenKeeps(t, s, dir, snapshot(c))
	assertEqual(t, "Endpoints after reopen", s.Config.Endpoints(""), []firehook.Endpoint{want})
}

func TestConfigStore_CreateForUnknownTenantIsNotFound(t *testing.T) {
	s := openStore(t, testConfig(t.TempDir()))
	c := s.Config
	cases := []struct {
		name   string
		create func() error
	}{
		{"site", func() error { return c.CreateSite(newSite("ten_missing")) }},
		{"endpoint", func() error { return c.CreateEndpoint(newEndpoint("ten_missing")) }},
		{"site without tenant", func() error { return c.CreateSite(newSite("")) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assertErrIs(t, "create", tc.create(), firehook.ErrNotFound)
		})
	}
	if n := len(c.Sites("")) + len(c.Endpoints("")); n != 0 {
		t.Errorf("%d records stored by failed creates", n)
	}
}

func TestConfigStore_DuplicatesConflict(t *testing.T) {
	s, dir := openTempStore(t)
	c := s.Config
	ta := mustCreateTenant(t, c, "A")
	tb := mustCreateTenant(t, c, "B")
	sa := mustCreateSite(t, c, ta.ID)
	sb := mustCreateSite(t, c, tb.ID)
	ea := mustCreateEndpoint(t, c, ta.ID)

	assertFailuresChangeNothing(t, c, []failingOp{
		{"tenant with an existing id", func() error {
			dup := newTenant("dup")
			dup.ID = ta.ID
			return c.CreateTenant(dup)
		}},
		{"tenant with an existing API key hash", func() error {
			dup := newTenant("dup")
			dup.APIKeyHash = ta.APIKeyHash
			return c.CreateTenant(dup)
		}},
		{"site with an existing id", func() error {
			dup := newSite(tb.ID)
			dup.ID = sa.ID
			return c.CreateSite(dup)
		}},
		{"site with another tenant's site key", func() error {
			dup := newSite(tb.ID)
			dup.Key = sa.Key
			return c.CreateSite(dup)
		}},
		{"endpoint with an existing id", func() error {
			dup := newEndpoint(tb.ID)
			dup.ID = ea.ID
			return c.CreateEndpoint(dup)
		}},
		{"update tenant to another tenant's API key hash", func() error {
			_, err := c.UpdateTenant(tb.ID, func(t *firehook.Tenant) error { t.APIKeyHash = ta.APIKeyHash; return nil })
			return err
		}},
		{"update site to another site's key", func() error {
			_, err := c.UpdateSite(sb.ID, func(s *firehook.Site) error { s.Key = sa.Key; return nil })
			return err
		}},
	}, func(t *testing.T, err error) {
		assertErrIs(t, "the duplicate", err, firehook.ErrConflict)
	})

	// Keeping one's own secondary key is no conflict.
	if _, err := c.UpdateSite(sa.ID, func(s *firehook.Site) error { s.Domain = "same-key.example.com"; return nil }); err != nil {
		t.Errorf("update that keeps the site key: %v", err)
	}

	reopenKeeps(t, s, dir, snapshot(c))
}

// An update whose fn fails changes nothing, even when fn modified its
// argument (including the secondary key) before failing.
func TestConfigStore_FailedUpdateChangesNothing(t *testing.T) {
	s, dir := openTempStore(t)
	c := s.Config
	r := mustCreateRecords(t, c, "A")
	boom := errors.New("validation failed")

	before := assertFailuresChangeNothing(t, c, []failingOp{
		{"tenant", func() error {
			_, err := c.UpdateTenant(r.ten.ID, func(t *firehook.Tenant) error {
				t.Name, t.APIKeyHash = "changed", "changed-hash"
				return boom
			})
			return err
		}},
		{"site", func() error {
			_, err := c.UpdateSite(r.site.ID, func(s *firehook.Site) error {
				s.Key = "sk_changed"
				s.AllowedOrigins[0] = "https://evil.example"
				s.AllowedOrigins = append(s.AllowedOrigins, "https://more.example")
				return boom
			})
			return err
		}},
		{"endpoint", func() error {
			_, err := c.UpdateEndpoint(r.ep.ID, func(e *firehook.Endpoint) error {
				e.URL = "https://changed.example"
				e.Events[0] = "changed"
				e.Headers["X-Team"] = "changed"
				*e.PreviousSecretExpiresAt = t0.Add(-time.Hour)
				return boom
			})
			return err
		}},
	}, func(t *testing.T, err error) {
		if !errors.Is(err, boom) {
			t.Fatalf("update = %v, want fn's error", err)
		}
		if _, ok := c.SiteByKey("sk_changed"); ok {
			t.Error("the failed update's site key is indexed")
		}
		if _, ok := c.TenantByAPIKeyHash("changed-hash"); ok {
			t.Error("the failed update's API key hash is indexed")
		}
	})
	reopenKeeps(t, s, dir, before)
}

func TestConfigStore_UpdateCannotChangeID(t *testing.T) {
	s, dir := openTempStore(t)
	c := s.Config
	r := mustCreateRecords(t, c, "A")

	before := assertFailuresChangeNothing(t, c, []failingOp{
		{"tenant", func() error {
			_, err := c.UpdateTenant(r.ten.ID, func(t *firehook.Tenant) error { t.ID = "ten_other"; return nil })
			return err
		}},
		{"site", func() error {
			_, err := c.UpdateSite(r.site.ID, func(s *firehook.Site) error { s.ID = "site_other"; return nil })
			return err
		}},
		{"endpoint", func() error {
			_, err := c.UpdateEndpoint(r.ep.ID, func(e *firehook.Endpoint) error { e.ID = "ep_other"; return nil })
			return err
		}},
	}, func(t *testing.T, err error) {
		assertErrIs(t, "update changing the id", err, firehook.ErrInvalid)
	})
	for _, found := range []bool{
		func() bool { _, ok := c.Tenant("ten_other"); return ok }(),
		func() bool { _, ok := c.Site("site_other"); return ok }(),
		func() bool { _, ok := c.Endpoint("ep_other"); return ok }(),
	} {
		if found {
			t.Error("a record appeared under the new id")
		}
	}
	reopenKeeps(t, s, dir, before)
}

// Records handed out are copies: a caller that changes one, down to the
// elements of its slices and maps, does not change the store. Nor does a
// caller that changes the record it passed to Create afterwards.
func TestConfigStore_RecordsAreCopies(t *testing.T) {
	s := openStore(t, testConfig(t.TempDir()))
	c := s.Config

	scribbleSite := func(s *firehook.Site) {
		s.Domain = "scribbled"
		s.AllowedOrigins[0] = "https://scribbled.example"
	}
	scribbleEndpoint := func(e *firehook.Endpoint) {
		e.URL = "https://scribbled.example"
		e.Events[0] = "scribbled"
		e.Headers["X-Team"] = "scribbled"
		e.Headers["X-New"] = "scribbled"
		*e.PreviousSecretExpiresAt = time.Time{}
	}
	cases := []struct {
		name     string
		scribble func(t *testing.T, f *records)
	}{
		{"Tenant", func(t *testing.T, f *records) { got, _ := c.Tenant(f.ten.ID); got.Name = "scribbled" }},
		{"Tenants", func(t *testing.T, f *records) { c.Tenants()[0].Name = "scribbled" }},
		{"TenantByAPIKeyHash", func(t *testing.T, f *records) {
			got, _ := c.TenantByAPIKeyHash(f.ten.APIKeyHash)
			got.Name = "scribbled"
		}},
		{"Site", func(t *testing.T, f *records) { got, _ := c.Site(f.site.ID); scribbleSite(&got) }},
		{"SiteByKey", func(t *testing.T, f *records) { got, _ := c.SiteByKey(f.site.Key); scribbleSite(&got) }},
		{"Sites", func(t *testing.T, f *records) { scribbleSite(&c.Sites(f.ten.ID)[0]) }},
		{"UpdateSite result", func(t *testing.T, f *records) {
			got, err := c.UpdateSite(f.site.ID, func(*firehook.Site) error { return nil })
			if err != nil {
				t.Fatal(err)
			}
			scribbleSite(&got)
		}},
		{"CreateSite argument", func(t *testing.T, f *records) { scribbleSite(&f.site) }},
		{"Endpoint", func(t *testing.T, f *records) { got, _ := c.Endpoint(f.ep.ID); scribbleEndpoint(&got) }},
		{"Endpoints", func(t *testing.T, f *records) { scribbleEndpoint(&c.Endpoints(f.ten.ID)[0]) }},
		{"UpdateEndpoint result", func(t *testing.T, f *records) {
			got, err := c.UpdateEndpoint(f.ep.ID, func(*firehook.Endpoint) error { return nil })
			if err != nil {
				t.Fatal(err)
			}
			scribbleEndpoint(&got)
		}},
		{"CreateEndpoint argument", func(t *testing.T, f *records) { scribbleEndpoint(&f.ep) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Fresh records for every case, so one case's damage cannot
			// hide in the next one's baseline.
			for _, ten := range c.Tenants() {
				for _, site := range c.Sites(ten.ID) {
					_ = c.DeleteSite(site.ID)
				}
				for _, ep := range c.Endpoints(ten.ID) {
					_ = c.DeleteEndpoint(ep.ID)
				}
			}
			f := mustCreateRecords(t, c, tc.name)

			before := snapshot(c)
			tc.scribble(t, &f)
			assertEqual(t, "config after changing a record outside the store", snapshot(c), before)
		})
	}
}

func TestConfigStore_EverythingSurvivesReopen(t *testing.T) {
	s, dir := openTempStore(t)
	c := s.Config
	for i := range 3 {
		ten := mustCreateTenant(t, c, "tenant")
		for range i + 1 {
			mustCreateSite(t, c, ten.ID)
			mustCreateEndpoint(t, c, ten.ID)
		}
	}
	// A mix of updates and deletes after the creates.
	sites := c.Sites("")
	if err := c.DeleteSite(sites[1].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateSite(sites[2].ID, func(s *firehook.Site) error { s.Key = "sk_moved"; return nil }); err != nil {
		t.Fatal(err)
	}
	eps := c.Endpoints("")
	if _, err := c.UpdateEndpoint(eps[0].ID, func(e *firehook.Endpoint) error { e.State = firehook.EndpointDisabled; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteEndpoint(eps[3].ID); err != nil {
		t.Fatal(err)
	}

	before := snapshot(c)
	if len(before.Tenants) != 3 || len(before.Sites) != 5 || len(before.Endpoints) != 5 {
		t.Fatalf("unexpected setup: %d tenants, %d sites, %d endpoints", len(before.Tenants), len(before.Sites), len(before.Endpoints))
	}
	s = reopenKeeps(t, s, dir, before)
	reopenKeeps(t, s, dir, before) // a second time
}
