package admin_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/firehook/firehook"
)

func TestSites_CreateAppliesDefaults(t *testing.T) {
	e := newEnv(t)
	tenant := e.createTenant(t, "Acme")
	got := ok[firehook.Site](t, e.do(t, http.MethodPost, "/v1/sites", tenant.APIKey, `{"domain":"Shop.Example.COM."}`),
		http.StatusCreated)

	if !strings.HasPrefix(got.ID, firehook.PrefixSite) {
		t.Errorf("id = %q, want prefix %s", got.ID, firehook.PrefixSite)
	}
	if !strings.HasPrefix(got.Key, firehook.PrefixSiteKey) || len(got.Key) != len(firehook.PrefixSiteKey)+24 {
		t.Errorf("key = %q, want sk_ and 24 random characters", got.Key)
	}
	if got.TenantID != tenant.ID {
		t.Errorf("tenant_id = %q, want the key's tenant %s", got.TenantID, tenant.ID)
	}
	if got.Domain != "shop.example.com" {
		t.Errorf("domain = %q, want it lower-cased without the trailing dot", got.Domain)
	}
	if got.RateLimitPerS != 1000 {
		t.Errorf("rate_limit_per_s = %d, want the default 1000", got.RateLimitPerS)
	}
	if got.AllowedOrigins == nil || len(got.AllowedOrigins) != 0 {
		t.Errorf("allowed_origins = %#v, want []", got.AllowedOrigins)
	}
	if stored := e.storedSite(t, got.ID); stored.Key != got.Key || stored.Domain != got.Domain {
		t.Errorf("stored site %+v differs from the answer %+v", stored, got)
	}
	if byKey, found := e.store.Config.SiteByKey(got.Key); !found || byKey.ID != got.ID {
		t.Errorf("SiteByKey(%q) = %v, %v; want the new site (the ingest lookup)", got.Key, byKey.ID, found)
	}
}

func TestSites_CreateNormalisesAllowedOrigins(t *testing.T) {
	e := newEnv(t)
	tenant := e.createTenant(t, "Acme")
	got := ok[firehook.Site](t, e.do(t, http.MethodPost, "/v1/sites", tenant.APIKey, jsonOf(t, map[string]any{
		"domain":          "example.com",
		"allowed_origins": []string{"HTTPS://Example.COM/", "http://localhost:3000", "*", "https://www.example.com"},
	})), http.StatusCreated)
	want := []string{"https://example.com", "http://localhost:3000", "*", "https://www.example.com"}
	if !slices.Equal(got.AllowedOrigins, want) {
		t.Errorf("allowed_origins = %q, want %q", got.AllowedOrigins, want)
	}
	if stored := e.storedSite(t, got.ID); !slices.Equal(stored.AllowedOrigins, want) {
		t.Errorf("stored allowed_origins = %q, want %q", stored.AllowedOrigins, want)
	}
}

func TestSites_OperatorNamesTheTenant(t *testing.T) {
	e := newEnv(t)
	tenant := e.createTenant(t, "Acme")
	t.Run("named tenant", func(t *testing.T) {
		got := ok[firehook.Site](t, e.do(t, http.MethodPost, "/v1/sites", operatorToken,
			jsonOf(t, map[string]any{"tenant_id": tenant.ID, "domain": "example.com"})), http.StatusCreated)
		if got.TenantID != tenant.ID {
			t.Errorf("tenant_id = %q, want %q", got.TenantID, tenant.ID)
		}
	})
	t.Run("no tenant", func(t *testing.T) {
		e.refuses(t, http.MethodPost, "/v1/sites", operatorToken, `{"domain":"example.com"}`,
			http.StatusBadRequest, "validation_failed")
	})
	t.Run("unknown tenant", func(t *testing.T) {
		e.refuses(t, http.MethodPost, "/v1/sites", operatorToken, `{"tenant_id":"ten_01JZZZZZZZZZZZZZZZZZZZZZZZ","domain":"example.com"}`,
			http.StatusNotFound, "not_found")
	})
}

// invalidSiteFields are values that create and PATCH must both refuse
// with 400 validation_failed.
var invalidSiteFields = []struct {
	name   string
	fields map[string]any
}{
	{"domain with scheme", map[string]any{"domain": "https://example.com"}},
	{"domain with path", map[string]any{"domain": "example.com/shop"}},
	{"domain with port", map[string]any{"domain": "example.com:8080"}},
	{"domain with space", map[string]any{"domain": "exa mple.com"}},
	{"domain with space after a dot", map[string]any{"domain": "example. com"}},
	{"empty domain", map[string]any{"domain": ""}},
	{"domain with empty label", map[string]any{"domain": "example..com"}},
	{"domain label starting with hyphen", map[string]any{"domain": "-example.com"}},
	{"domain label over 63 characters", map[string]any{"domain": strings.Repeat("a", 64) + ".com"}},
	{"domain with underscore", map[string]any{"domain": "my_site.com"}},
	{"domain with wildcard", map[string]any{"domain": "*.example.com"}},
	{"origin without scheme", map[string]any{"allowed_origins": []string{"example.com"}}},
	{"origin with ftp scheme", map[string]any{"allowed_origins": []string{"ftp://example.com"}}},
	{"origin with path", map[string]any{"allowed_origins": []string{"https://example.com/shop"}}},
	{"origin with query", map[string]any{"allowed_origins": []string{"https://example.com?a=1"}}},
	{"origin with fragment", map[string]any{"allowed_origins": []string{"https://example.com#top"}}},
	{"origin with credentials", map[string]any{"allowed_origins": []string{"https://user:pw@example.com"}}},
	{"origin without host", map[string]any{"allowed_origins": []string{"https://"}}},
	{"second origin bad", map[string]any{"allowed_origins": []string{"https://example.com", "nope"}}},
	{"51 origins", map[string]any{"allowed_origins": manyOrigins(51)}},
	{"negative rate", map[string]any{"rate_limit_per_s": -1}},
	{"rate over the maximum", map[string]any{"rate_limit_per_s": 1_000_001}},
}

func manyOrigins(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("https://s%d.example.com", i)
	}
	return out
}

func TestSites_CreateRefusesInvalidInput(t *testing.T) {
	e := newEnv(t)
	tenant := e.createTenant(t, "Acme")
	for _, tc := range invalidSiteFields {
		t.Run(tc.name, func(t *testing.T) {
			body := map[string]any{"domain": "example.com"}
			for k, v := range tc.fields {
				body[k] = v
			}
			e.refuses(t, http.MethodPost, "/v1/sites", tenant.APIKey, jsonOf(t, body), http.StatusBadRequest, "validation_failed")
		})
	}
	t.Run("unknown field", func(t *testing.T) {
		e.refuses(t, http.MethodPost, "/v1/sites", tenant.APIKey, `{"domain":"example.com","key":"sk_mine"}`,
			http.StatusBadRequest, "invalid_json")
	})
}

func TestSites_CreateAcceptsTheLimits(t *testing.T) {
	e := newEnv(t)
	tenant := e.createTenant(t, "Acme")
	for _, tc := range []struct {
		name   string
		fields map[string]any
	}{
		{"unlimited rate", map[string]any{"rate_limit_per_s": 0}},
		{"maximum rate", map[string]any{"rate_limit_per_s": 1_000_000}},
		{"50 origins", map[string]any{"allowed_origins": manyOrigins(50)}},
		{"single-label domain", map[string]any{"domain": "localhost"}},
		{"punycode domain", map[string]any{"domain": "xn--bcher-kva.example"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := map[string]any{"domain": "example.com"}
			for k, v := range tc.fields {
				body[k] = v
			}
			ok[firehook.Site](t, e.do(t, http.MethodPost, "/v1/sites", tenant.APIKey, jsonOf(t, body)), http.StatusCreated)
		})
	}
}

func TestSites_PatchKeepsTheFieldsNotSent(t *testing.T) {
	e := newEnv(t)
	tenant := e.createTenant(t, "Acme")
	site := e.createSite(t, tenant.APIKey, tenant.ID, "example.com")
	e.clock.Advance(time.Minute)

	got := ok[firehook.Site](t, e.do(t, http.MethodPatch, "/v1/sites/"+site.ID, tenant.APIKey, `{"rate_limit_per_s":50}`),
		http.StatusOK)
	want := site
	want.RateLimitPerS = 50
	want.UpdatedAt = e.clock.Now()
	if !sameSite(got, want) {
		t.Errorf("after PATCH rate_limit_per_s: %+v, want %+v", got, want)
	}

	got = ok[firehook.Site](t, e.do(t, http.MethodPatch, "/v1/sites/"+site.ID, tenant.APIKey,
		`{"domain":"Shop.Example.com","allowed_origins":["HTTPS://Shop.Example.com"]}`), http.StatusOK)
	want.Domain, want.AllowedOrigins = "shop.example.com", []string{"https://shop.example.com"}
	if !sameSite(got, want) {
		t.Errorf("after PATCH domain and origins: %+v, want %+v", got, want)
	}
	if stored := e.storedSite(t, site.ID); !sameSite(stored, want) {
		t.Errorf("stored %+v, want %+v", stored, want)
	}

	// The site key is not writable: it stays what ingest knows.
	apiError(t, e.do(t, http.MethodPatch, "/v1/sites/"+site.ID, tenant.APIKey, `{"key":"sk_mine"}`),
		http.StatusBadRequest, "invalid_json")
	if stored := e.storedSite(t, site.ID); stored.Key != site.Key {
		t.Errorf("key changed to %q", stored.Key)
	}
}

func sameSite(a, b firehook.Site) bool {
	return a.ID == b.ID && a.TenantID == b.TenantID && a.Key == b.Key && a.Domain == b.Domain &&
		slices.Equal(a.AllowedOrigins, b.AllowedOrigins) && a.RateLimitPerS == b.RateLimitPerS &&
		a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt)
}

func TestSites_PatchRefusesInvalidInputAndChangesNothing(t *testing.T) {
	e := newEnv(t)
	tenant := e.createTenant(t, "Acme")
	site := e.createSite(t, tenant.APIKey, tenant.ID, "example.com")
	for _, tc := range invalidSiteFields {
		t.Run(tc.name, func(t *testing.T) {
			// A valid change rides along: it must not be applied either.
			body := map[string]any{"rate_limit_per_s": 7}
			for k, v := range tc.fields {
				body[k] = v
			}
			e.refuses(t, http.MethodPatch, "/v1/sites/"+site.ID, tenant.APIKey, jsonOf(t, body),
				http.StatusBadRequest, "validation_failed")
		})
	}
}

func TestSites_DeleteRemovesTheSite(t *testing.T) {
	e := newEnv(t)
	tenant := e.createTenant(t, "Acme")
	site := e.createSite(t, tenant.APIKey, tenant.ID, "example.com")
	other := e.createSite(t, tenant.APIKey, tenant.ID, "other.example.com")

	noContent(t, e.do(t, http.MethodDelete, "/v1/sites/"+site.ID, tenant.APIKey, ""))

	apiError(t, e.do(t, http.MethodGet, "/v1/sites/"+site.ID, tenant.APIKey, ""), http.StatusNotFound, "not_found")
	apiError(t, e.do(t, http.MethodDelete, "/v1/sites/"+site.ID, tenant.APIKey, ""), http.StatusNotFound, "not_found")
	apiError(t, e.do(t, http.MethodPatch, "/v1/sites/"+site.ID, tenant.APIKey, `{"rate_limit_per_s":1}`),
		http.StatusNotFound, "not_found")
	if _, found := e.store.Config.SiteByKey(site.Key); found {
		t.Errorf("the deleted site's key %s still resolves for ingest", site.Key)
	}
	list := ok[struct {
		Sites []firehook.Site `json:"sites"`
	}](t, e.do(t, http.MethodGet, "/v1/sites", tenant.APIKey, ""), http.StatusOK)
	if len(list.Sites) != 1 || list.Sites[0].ID != other.ID {
		t.Errorf("sites after delete = %+v, want only %s", list.Sites, other.ID)
	}
}
