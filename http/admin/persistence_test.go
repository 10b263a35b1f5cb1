package admin_test

import (
	"net/http"
	"reflect"
	"slices"
	"testing"

	"github.com/firehook/firehook/http/admin"
)

func TestPersistence_ConfigSurvivesARestart(t *testing.T) {
	e, a, b := newWorld(t)
	// Some history beyond plain creates: a rotated key, a rotated secret,
	// a disabled endpoint, a patched and a deleted site.
	rotatedKey := ok[tenantResp](t, e.do(t, http.MethodPost, "/v1/tenants/"+a.tenant.ID+"/rotate-key", a.tenant.APIKey, ""),
		http.StatusOK).APIKey
	rotatedSecret := ok[secretResp](t, e.do(t, http.MethodPost, "/v1/endpoints/"+b.endpoint.ID+"/rotate-secret",
		b.tenant.APIKey, ""), http.StatusOK)
	ok[endpointResp](t, e.do(t, http.MethodPost, "/v1/endpoints/"+a.endpoint.ID+"/disable", rotatedKey, ""), http.StatusOK)
	ok[map[string]any](t, e.do(t, http.MethodPatch, "/v1/sites/"+b.site.ID, b.tenant.APIKey, `{"rate_limit_per_s":42}`),
		http.StatusOK)
	gone := e.createSite(t, b.tenant.APIKey, b.tenant.ID, "gone.example")
	noContent(t, e.do(t, http.MethodDelete, "/v1/sites/"+gone.ID, b.tenant.APIKey, ""))

	reads := []string{"/v1/tenants", "/v1/sites", "/v1/endpoints",
		"/v1/endpoints/" + a.endpoint.ID + "/secret", "/v1/endpoints/" + b.endpoint.ID + "/secret"}
	answers := map[string]string{}
	for _, path := range reads {
		answers[path] = string(ok[jsonBody](t, e.do(t, http.MethodGet, path, operatorToken, ""), http.StatusOK).raw)
	}
	stored := e.snapshot()

	e.restart(t)

	if after := e.snapshot(); !reflect.DeepEqual(after, stored) {
		t.Errorf("the store after reopening differs:\nbefore %+v\nafter  %+v", stored, after)
	}
	for _, path := range reads {
		if got := string(ok[jsonBody](t, e.do(t, http.MethodGet, path, operatorToken, ""), http.StatusOK).raw); got != answers[path] {
			t.Errorf("GET %s after the restart:\n got %s\nwant %s", path, got, answers[path])
		}
	}

	// Keys resolve as before: the rotated key works, the old one does not.
	ok[tenantResp](t, e.do(t, http.MethodGet, "/v1/tenants/"+a.tenant.ID, rotatedKey, ""), http.StatusOK)
	ok[tenantResp](t, e.do(t, http.MethodGet, "/v1/tenants/"+b.tenant.ID, b.tenant.APIKey, ""), http.StatusOK)
	apiError(t, e.do(t, http.MethodGet, "/v1/tenants", a.tenant.APIKey, ""), http.StatusUnauthorized, "unauthorized")
	// Scoping holds after the restart.
	apiError(t, e.do(t, http.MethodGet, "/v1/sites/"+b.site.ID, rotatedKey, ""), http.StatusNotFound, "not_found")
	// Site keys resolve for ingest; the deleted site's does not.
	if s, found := e.store.Config.SiteByKey(b.site.Key); !found || s.ID != b.site.ID || s.RateLimitPerS != 42 {
		t.Errorf("SiteByKey(%s) = %+v, %v; want the patched site", b.site.Key, s, found)
	}
	if _, found := e.store.Config.SiteByKey(gone.Key); found {
		t.Errorf("the deleted site's key %s resolves after the restart", gone.Key)
	}
	// The rotation overlap survives: both secrets still sign.
	ep := e.storedEndpoint(t, b.endpoint.ID)
	if got := ep.Secrets(e.clock.Now()); !slices.Equal(got, []string{rotatedSecret.Secret, b.endpoint.Secret}) {
		t.Errorf("Secrets(now) after the restart = %q, want the new and the old secret", got)
	}
	// And the restarted node keeps working.
	c := e.createTenant(t, "Charlie")
	ok[tenantResp](t, e.do(t, http.MethodGet, "/v1/tenants/"+c.ID, c.APIKey, ""), http.StatusOK)
}

func TestPersistence_NewOperatorTokenAfterARestart(t *testing.T) {
	const next = "the-next-operator-token"
	token := operatorToken
	e := newEnv(t, func(c *admin.Config) { c.OperatorTokenHash = admin.HashToken(token) })
	tenant := e.createTenant(t, "Acme")

	token = next
	e.restart(t)

	apiError(t, e.do(t, http.MethodGet, "/v1/tenants", operatorToken, ""), http.StatusUnauthorized, "unauthorized")
	ok[map[string]any](t, e.do(t, http.MethodGet, "/v1/tenants", next, ""), http.StatusOK)
	ok[tenantResp](t, e.do(t, http.MethodGet, "/v1/tenants/"+tenant.ID, tenant.APIKey, ""), http.StatusOK)
}

// jsonBody keeps a JSON answer as it was sent.
type jsonBody struct{ raw []byte }

func (j *jsonBody) UnmarshalJSON(b []byte) error {
	j.raw = append([]byte(nil), b...)
	return nil
}
