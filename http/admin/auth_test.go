package admin_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/firehook/firehook/http/admin"
)

func TestAuth_RefusesMissingOrInvalidToken(t *testing.T) {
	e := newEnv(t)
	tenant := e.createTenant(t, "Acme")
	for _, tc := range []struct {
		name          string
		authorization string // "" sends no header
	}{
		{"no header", ""},
		{"basic scheme", "Basic " + operatorToken},
		{"scheme only", "Bearer"},
		{"empty token", "Bearer "},
		{"blank token", "Bearer    "},
		{"token without scheme", operatorToken},
		{"wrong operator token", "Bearer " + operatorToken + "x"},
		{"operator token prefix", "Bearer " + operatorToken[:len(operatorToken)-1]},
		{"unknown tenant key", "Bearer fhk_0123456789abcdefghijABCDEFGHIJ0123456789"},
		{"tenant key truncated", "Bearer " + tenant.APIKey[:len(tenant.APIKey)-1]},
		{"tenant key hash as token", "Bearer " + admin.HashToken(tenant.APIKey)},
		{"operator token hash as token", "Bearer " + admin.HashToken(operatorToken)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var headers []string
			if tc.authorization != "" {
				headers = []string{"Authorization", tc.authorization}
			}
			r := e.doRaw(t, http.MethodGet, "/v1/tenants", "", headers...)
			apiError(t, r, http.StatusUnauthorized, "unauthorized")
			if got := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
				t.Errorf("WWW-Authenticate = %q, want a Bearer challenge", got)
			}
		})
	}
}

func TestAuth_AcceptsValidTokens(t *testing.T) {
	e := newEnv(t)
	tenant := e.createTenant(t, "Acme")
	for _, tc := range []struct {
		name          string
		authorization string
	}{
		{"operator token", "Bearer " + operatorToken},
		{"tenant key", "Bearer " + tenant.APIKey},
		{"lower-case scheme", "bearer " + tenant.APIKey},
		{"operator token after extra spaces", "Bearer   " + operatorToken},
		{"tenant key after extra spaces", "Bearer   " + tenant.APIKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.doRaw(t, http.MethodGet, "/v1/tenants", "", "Authorization", tc.authorization)
			ok[map[string]any](t, r, http.StatusOK)
		})
	}
}

func TestAuth_ProbesAndOpenAPINeedNoToken(t *testing.T) {
	e := newEnv(t)
	t.Run("healthz", func(t *testing.T) {
		got := ok[map[string]string](t, e.do(t, http.MethodGet, "/healthz", "", ""), http.StatusOK)
		if got["status"] != "ok" {
			t.Errorf("healthz = %v, want status ok", got)
		}
	})
	t.Run("readyz", func(t *testing.T) {
		got := ok[map[string]string](t, e.do(t, http.MethodGet, "/readyz", "", ""), http.StatusOK)
		if got["status"] != "ready" {
			t.Errorf("readyz = %v, want status ready", got)
		}
	})
	t.Run("openapi", func(t *testing.T) {
		r := e.do(t, http.MethodGet, "/v1/openapi.json", "", "")
		ok[map[string]any](t, r, http.StatusOK)
		if string(r.Body) != string(openAPIDoc) {
			t.Errorf("openapi.json = %s, want the configured document %s", r.Body, openAPIDoc)
		}
	})
}

func TestAuth_ReadyzAnswers503UntilReady(t *testing.T) {
	var ready atomic.Bool
	e := newEnv(t, func(c *admin.Config) { c.Ready = ready.Load })

	apiError(t, e.do(t, http.MethodGet, "/readyz", "", ""), http.StatusServiceUnavailable, "unavailable")
	ok[map[string]string](t, e.do(t, http.MethodGet, "/healthz", "", ""), http.StatusOK)

	ready.Store(true)
	ok[map[string]string](t, e.do(t, http.MethodGet, "/readyz", "", ""), http.StatusOK)

	ready.Store(false)
	apiError(t, e.do(t, http.MethodGet, "/readyz", "", ""), http.StatusServiceUnavailable, "unavailable")
}

// One client address may fail to authenticate AuthFailureBurst times,
// then AuthFailuresPerMinute times a minute: past that it gets 429 with
// Retry-After before its token is looked at, even a valid one, until the
// allowance refills. Successful requests spend nothing.
func TestAuth_LimitsFailuresPerAddress(t *testing.T) {
	e := newEnv(t, func(c *admin.Config) { c.AuthFailuresPerMinute, c.AuthFailureBurst = 6, 3 })
	tenant := e.createTenant(t, "Acme")
	for range 5 {
		r := e.doRaw(t, http.MethodGet, "/v1/tenants", "", "Authorization", "Bearer "+operatorToken)
		if r.Status != http.StatusOK {
			t.Fatalf("a valid token: status %d; body %s", r.Status, r.Body)
		}
	}
	for i := range 3 {
		r := e.doRaw(t, http.MethodGet, "/v1/tenants", "", "Authorization", "Bearer wrong")
		if r.Status != http.StatusUnauthorized {
			t.Fatalf("failure %d of the burst: status %d, want 401", i+1, r.Status)
		}
	}
	for _, auth := range []string{"Bearer wrong", "Bearer " + operatorToken, "Bearer " + tenant.APIKey} {
		r := e.doRaw(t, http.MethodGet, "/v1/tenants", "", "Authorization", auth)
		apiError(t, r, http.StatusTooManyRequests, "rate_limited")
		if got := r.Header.Get("Retry-After"); got != "10" {
			t.Errorf("Retry-After = %q, want 10 (6 failures a minute)", got)
		}
	}
	e.clock.Advance(10 * time.Second)
	if r := e.doRaw(t, http.MethodGet, "/v1/tenants", "", "Authorization", "Bearer "+operatorToken); r.Status != http.StatusOK {
		t.Fatalf("after the refill a valid token: status %d; body %s", r.Status, r.Body)
	}
}
