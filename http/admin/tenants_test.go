package admin_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/http/admin"
	"github.com/firehook/firehook/internal/testkit"
)

func TestTenants_CreateAnswersTheKeyOnce(t *testing.T) {
	e := newEnv(t)
	r := e.do(t, http.MethodPost, "/v1/tenants", operatorToken, `{"name":"  Acme Corp  ","tier":"enterprise"}`)
	got := ok[tenantResp](t, r, http.StatusCreated)

	if !strings.HasPrefix(got.ID, firehook.PrefixTenant) {
		t.Errorf("id = %q, want prefix %s", got.ID, firehook.PrefixTenant)
	}
	if got.Name != "Acme Corp" || got.Tier != firehook.TierEnterprise {
		t.Errorf("name, tier = %q, %q; want the trimmed name and enterprise", got.Name, got.Tier)
	}
	if !strings.HasPrefix(got.APIKey, firehook.PrefixAPIKey) || len(got.APIKey) < len(firehook.PrefixAPIKey)+32 {
		t.Errorf("api_key = %q, want fhk_ and at least 32 random characters", got.APIKey)
	}
	if !got.CreatedAt.Equal(e.clock.Now()) {
		t.Errorf("created_at = %v, want the clock's %v", got.CreatedAt, e.clock.Now())
	}

	// The key is shown once: reading the tenant back never shows it, nor
	// its hash.
	for _, path := range []string{"/v1/tenants/" + got.ID, "/v1/tenants"} {
		for _, token := range []string{operatorToken, got.APIKey} {
			r := e.do(t, http.MethodGet, path, token, "")
			ok[map[string]any](t, r, http.StatusOK)
			if contains(r.Body, got.APIKey) || contains(r.Body, admin.HashToken(got.APIKey)) ||
				contains(r.Body, "api_key") {
				t.Errorf("GET %s shows the key or its hash: %s", path, r.Body)
			}
		}
	}
	// And the key works.
	ok[tenantResp](t, e.do(t, http.MethodGet, "/v1/tenants/"+got.ID, got.APIKey, ""), http.StatusOK)
}

func TestTenants_DefaultTierIsFree(t *testing.T) {
	e := newEnv(t)
	got := ok[tenantResp](t, e.do(t, http.MethodPost, "/v1/tenants", operatorToken, `{"name":"Acme"}`), http.StatusCreated)
	if got.Tier != firehook.TierFree {
		t.Errorf("tier = %q, want free", got.Tier)
	}
	stored, _ := e.store.Config.Tenant(got.ID)
	if stored.Tier != firehook.TierFree {
		t.Errorf("stored tier = %q, want free", stored.Tier)
	}
}

func TestTenants_APIKeyIsStoredOnlyAsItsHash(t *testing.T) {
	e := newEnv(t)
	created := e.createTenant(t, "Acme")
	rotated := ok[tenantResp](t, e.do(t, http.MethodPost, "/v1/tenants/"+created.ID+"/rotate-key", operatorToken, ""),
		http.StatusOK)

	if ten := stored(t, e.store.Config.Tenant, created.ID); ten.APIKeyHash != admin.HashToken(rotated.APIKey) {
		t.Errorf("stored hash = %q, want the sha256 of the current key", ten.APIKeyHash)
	}

	// Neither key, nor the random part of either, is anywhere in badger
	// (every version of every key and value).
	var needles [][]byte
	for _, k := range []string{created.APIKey, rotated.APIKey} {
		needles = append(needles, []byte(k), []byte(strings.TrimPrefix(k, firehook.PrefixAPIKey)))
	}
	records := testkit.EachRecord(t, e.store.DB(), func(key, value []byte) {
		for _, n := range needles {
			if bytes.Contains(key, n) || bytes.Contains(value, n) {
				t.Errorf("badger record %q holds a raw API key", key)
			}
		}
	})
	if records == 0 {
		t.Fatal("scanned no badger records: the scan proves nothing")
	}
}

func TestTenants_CreateRefusesInvalidInput(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"unknown tier", `{"name":"Acme","tier":"gold"}`, http.StatusBadRequest, "validation_failed"},
		{"tier in capitals", `{"name":"Acme","tier":"PRO"}`, http.StatusBadRequest, "validation_failed"},
		{"missing name", `{"tier":"pro"}`, http.StatusBadRequest, "validation_failed"},
		{"empty name", `{"name":"","tier":"pro"}`, http.StatusBadRequest, "validation_failed"},
		{"blank name", `{"name":"   ","tier":"pro"}`, http.StatusBadRequest, "validation_failed"},
		{"name of 201 characters", `{"name":"` + strings.Repeat("n", 201) + `"}`, http.StatusBadRequest, "validation_failed"},
		{"unknown field", `{"name":"Acme","api_key":"fhk_mine"}`, http.StatusBadRequest, "invalid_json"},
		{"unknown field api_key_hash", `{"name":"Acme","api_key_hash":"00"}`, http.StatusBadRequest, "invalid_json"},
		{"malformed JSON", `{"name":"Acme",`, http.StatusBadRequest, "invalid_json"},
		{"not JSON", `name=Acme`, http.StatusBadRequest, "invalid_json"},
		{"empty body", ``, http.StatusBadRequest, "invalid_json"},
		{"array body", `[{"name":"Acme"}]`, http.StatusBadRequest, "invalid_json"},
		{"name of the wrong type", `{"name":42}`, http.StatusBadRequest, "invalid_json"},
		{"two JSON values", `{"name":"Acme"}{"name":"Evil"}`, http.StatusBadRequest, "invalid_json"},
		{"invalid UTF-8", "{\"name\":\"Ac\xffme\"}", http.StatusBadRequest, "invalid_utf8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.refuses(t, http.MethodPost, "/v1/tenants", operatorToken, tc.body, tc.status, tc.code)
		})
	}
}

func TestTenants_RotateKeyRevokesTheOldKey(t *testing.T) {
	for _, tc := range []struct {
		name     string
		asTenant bool // the tenant rotates its own key; else the operator
	}{
		{"by the tenant", true},
		{"by the operator", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			tenant := e.createTenant(t, "Acme")
			token := operatorToken
			if tc.asTenant {
				token = tenant.APIKey
			}
			rotated := ok[tenantResp](t, e.do(t, http.MethodPost, "/v1/tenants/"+tenant.ID+"/rotate-key", token, ""),
				http.StatusOK)
			if rotated.ID != tenant.ID || !strings.HasPrefix(rotated.APIKey, firehook.PrefixAPIKey) ||
				rotated.APIKey == tenant.APIKey {
				t.Fatalf("rotate-key answered %+v, want the same tenant with a new fhk_ key", rotated)
			}
			apiError(t, e.do(t, http.MethodGet, "/v1/tenants/"+tenant.ID, tenant.APIKey, ""),
				http.StatusUnauthorized, "unauthorized")
			ok[tenantResp](t, e.do(t, http.MethodGet, "/v1/tenants/"+tenant.ID, rotated.APIKey, ""), http.StatusOK)
		})
	}
}

func TestTenants_PatchChangesOnlyTheSentFields(t *testing.T) {
	e := newEnv(t)
	tenant := e.createTenant(t, "Acme")
	e.clock.Advance(time.Second)

	got := ok[tenantResp](t, e.do(t, http.MethodPatch, "/v1/tenants/"+tenant.ID, operatorToken, `{"tier":"enterprise"}`),
		http.StatusOK)
	if got.Name != "Acme" || got.Tier != firehook.TierEnterprise {
		t.Errorf("after patching the tier: name, tier = %q, %q; want Acme, enterprise", got.Name, got.Tier)
	}
	if !got.UpdatedAt.Equal(e.clock.Now()) || !got.CreatedAt.Equal(tenant.CreatedAt) {
		t.Errorf("created_at, updated_at = %v, %v; want %v, %v", got.CreatedAt, got.UpdatedAt, tenant.CreatedAt, e.clock.Now())
	}
	got = ok[tenantResp](t, e.do(t, http.MethodPatch, "/v1/tenants/"+tenant.ID, operatorToken, `{"name":"Acme GmbH"}`),
		http.StatusOK)
	if got.Name != "Acme GmbH" || got.Tier != firehook.TierEnterprise {
		t.Errorf("after patching the name: name, tier = %q, %q; want Acme GmbH, enterprise", got.Name, got.Tier)
	}
	// The key survives a patch.
	ok[tenantResp](t, e.do(t, http.MethodGet, "/v1/tenants/"+tenant.ID, tenant.APIKey, ""), http.StatusOK)
}

func TestTenants_PatchRefusesInvalidInputAndChangesNothing(t *testing.T) {
	e := newEnv(t)
	tenant := e.createTenant(t, "Acme")
	for _, tc := range []struct {
		name, id, body string
		status         int
		code           string
	}{
		{"unknown tier", tenant.ID, `{"name":"Renamed","tier":"gold"}`, http.StatusBadRequest, "validation_failed"},
		{"empty tier", tenant.ID, `{"tier":""}`, http.StatusBadRequest, "validation_failed"},
		{"blank name", tenant.ID, `{"name":" ","tier":"free"}`, http.StatusBadRequest, "validation_failed"},
		{"unknown field", tenant.ID, `{"api_key_hash":"00"}`, http.StatusBadRequest, "invalid_json"},
		{"malformed JSON", tenant.ID, `{"name":`, http.StatusBadRequest, "invalid_json"},
		{"unknown tenant", "ten_01JZZZZZZZZZZZZZZZZZZZZZZZ", `{"name":"Ghost"}`, http.StatusNotFound, "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.refuses(t, http.MethodPatch, "/v1/tenants/"+tc.id, operatorToken, tc.body, tc.status, tc.code)
		})
	}
}

func TestTenants_UnknownTenantIsNotFound(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ name, method, path string }{
		{"get", http.MethodGet, "/v1/tenants/ten_01JZZZZZZZZZZZZZZZZZZZZZZZ"},
		{"rotate key", http.MethodPost, "/v1/tenants/ten_01JZZZZZZZZZZZZZZZZZZZZZZZ/rotate-key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			apiError(t, e.do(t, tc.method, tc.path, operatorToken, ""), http.StatusNotFound, "not_found")
		})
	}
}
