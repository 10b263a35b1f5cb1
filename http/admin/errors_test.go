package admin_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/firehook/firehook/http/admin"
)

func TestErrors_BodyOverTheLimitIs413(t *testing.T) {
	e := newEnv(t)
	tenant := e.createTenant(t, "Acme")
	site := e.createSite(t, tenant.APIKey, tenant.ID, "example.com")
	// padded is a valid body of exactly n bytes: JSON allows trailing
	// white space.
	padded := func(json string, n int) string { return json + strings.Repeat(" ", n-len(json)) }
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
	}{
		{"create tenant of exactly 64 KiB", http.MethodPost, "/v1/tenants", padded(`{"name":"Acme"}`, 64<<10), http.StatusCreated},
		{"create tenant one byte over 64 KiB", http.MethodPost, "/v1/tenants", padded(`{"name":"Acme"}`, 64<<10+1), http.StatusRequestEntityTooLarge},
		{"create tenant of 1 MiB", http.MethodPost, "/v1/tenants", padded(`{"name":"Acme"}`, 1<<20), http.StatusRequestEntityTooLarge},
		{"create site over 64 KiB", http.MethodPost, "/v1/sites", padded(`{"domain":"big.example"}`, 100<<10), http.StatusRequestEntityTooLarge},
		{"patch site over 64 KiB", http.MethodPatch, "/v1/sites/" + site.ID, padded(`{"rate_limit_per_s":1}`, 100<<10), http.StatusRequestEntityTooLarge},
		{"create endpoint over 64 KiB", http.MethodPost, "/v1/endpoints",
			`{"url":"https://hooks.example.com/","description":"` + strings.Repeat("d", 70<<10) + `"}`, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.snapshot()
			token := tenant.APIKey
			if tc.path == "/v1/tenants" {
				token = operatorToken
			}
			r := e.do(t, tc.method, tc.path, token, tc.body)
			if tc.status != http.StatusRequestEntityTooLarge {
				if r.Status != tc.status {
					t.Fatalf("status = %d, want %d; body %s", r.Status, tc.status, r.Body)
				}
				return
			}
			apiError(t, r, http.StatusRequestEntityTooLarge, "payload_too_large")
			e.unchanged(t, before)
		})
	}
}

func TestErrors_MaxBodyIsConfigurable(t *testing.T) {
	e := newEnv(t, func(c *admin.Config) { c.MaxBody = 100 })
	ok[tenantResp](t, e.do(t, http.MethodPost, "/v1/tenants", operatorToken, `{"name":"Acme"}`+strings.Repeat(" ", 85)),
		http.StatusCreated)
	apiError(t, e.do(t, http.MethodPost, "/v1/tenants", operatorToken, `{"name":"Acme"}`+strings.Repeat(" ", 86)),
		http.StatusRequestEntityTooLarge, "payload_too_large")
}

func TestErrors_UnknownRouteIsJSON404(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ name, method, path, token string }{
		{"unknown v1 route", http.MethodGet, "/v1/nope", operatorToken},
		{"unknown v1 route without token", http.MethodGet, "/v1/nope", ""},
		{"unknown top-level route", http.MethodGet, "/nope", ""},
		{"root", http.MethodGet, "/", ""},
		{"too deep under a resource", http.MethodGet, "/v1/endpoints/ep_x/secret/more", operatorToken},
		{"unknown action", http.MethodPost, "/v1/endpoints/ep_x/explode", operatorToken},
		{"trailing slash", http.MethodGet, "/v1/tenants/", operatorToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			apiError(t, e.do(t, tc.method, tc.path, tc.token, ""), http.StatusNotFound, "not_found")
		})
	}
}

func TestErrors_WrongMethodIsJSON405(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name, method, path string
		allow              []string
	}{
		{"PUT tenants", http.MethodPut, "/v1/tenants", []string{"GET", "POST"}},
		{"DELETE tenants", http.MethodDelete, "/v1/tenants", []string{"GET", "POST"}},
		{"DELETE a tenant", http.MethodDelete, "/v1/tenants/ten_x", []string{"GET", "PATCH"}},
		{"PUT a site", http.MethodPut, "/v1/sites/site_x", []string{"GET", "PATCH", "DELETE"}},
		{"GET rotate-secret", http.MethodGet, "/v1/endpoints/ep_x/rotate-secret", []string{"POST"}},
		{"POST healthz", http.MethodPost, "/healthz", []string{"GET"}},
		{"DELETE readyz", http.MethodDelete, "/readyz", []string{"GET"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, token := range []string{"", operatorToken} {
				r := e.do(t, tc.method, tc.path, token, "")
				apiError(t, r, http.StatusMethodNotAllowed, "method_not_allowed")
				// RFC 9110 §15.5.6: a 405 lists the allowed methods.
				allow := strings.Split(r.Header.Get("Allow"), ", ")
				slices.Sort(allow)
				if want := slices.Sorted(slices.Values(tc.allow)); !slices.Equal(allow, want) {
					t.Errorf("Allow = %q, want %q", r.Header.Get("Allow"), want)
				}
			}
		})
	}
}
