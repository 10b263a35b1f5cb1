package admin_test

import (
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/http/admin"
)

// validEndpoint is a request body that creates an endpoint; edits
// override fields.
func validEndpoint(t testing.TB, edits map[string]any) string {
	t.Helper()
	body := map[string]any{"url": "https://hooks.example.com/firehook"}
	for k, v := range edits {
		body[k] = v
	}
	return jsonOf(t, body)
}

// wantWebhookSecret asserts a Standard Webhooks secret: whsec_ + base64
// of exactly 32 bytes.
func wantWebhookSecret(t testing.TB, secret string) {
	t.Helper()
	raw, found := strings.CutPrefix(secret, firehook.PrefixSecret)
	if !found {
		t.Fatalf("secret %q does not start with %s", secret, firehook.PrefixSecret)
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		t.Fatalf("secret %q: the part after whsec_ is not base64: %v", secret, err)
	}
	if len(key) != 32 {
		t.Fatalf("secret %q decodes to %d bytes, want 32", secret, len(key))
	}
}

func TestEndpoints_CreateAnswersTheSecretAndDefaults(t *testing.T) {
	e := newEnv(t)
	tenant := e.createTenant(t, "Acme")
	got := ok[endpointResp](t, e.do(t, http.MethodPost, "/v1/endpoints", tenant.APIKey, validEndpoint(t, nil)),
		http.StatusCreated)

	if !strings.HasPrefix(got.ID, firehook.PrefixEndpoint) {
		t.Errorf("id = %q, want prefix %s", got.ID, firehook.PrefixEndpoint)
	}
	wantWebhookSecret(t, got.Secret)
	if got.TenantID != tenant.ID || got.URL != "https://hooks.example.com/firehook" {
		t.Errorf("tenant_id, url = %q, %q", got.TenantID, got.URL)
	}
	if got.State != firehook.EndpointEnabled || got.DisabledReason != "" {
		t.Errorf("state = %q (%q), want enabled", got.State, got.DisabledReason)
	}
	if want := []string{firehook.EventIdentified, firehook.EventUpdated}; !slices.Equal(got.Events, want) {
		t.Errorf("events = %q, want both types %q", got.Events, want)
	}
	if got.MaxInFlight != 8 || got.TimeoutMS != 10_000 || got.RateLimitPerS != 0 {
		t.Errorf("max_in_flight, timeout_ms, rate_limit_per_s = %d, %d, %d; want 8, 10000, 0",
			got.MaxInFlight, got.TimeoutMS, got.RateLimitPerS)
	}
	if got.BatchWindowMS != 0 || got.RetryWindowS != 86_400 || got.AutoDisableS != 432_000 {
		t.Errorf("batch_window_ms, retry_window_s, auto_disable_after_s = %d, %d, %d; want 0, 86400, 432000",
			got.BatchWindowMS, got.RetryWindowS, got.AutoDisableS)
	}
	stored := e.storedEndpoint(t, got.ID)
	if stored.BatchWindowMS != 0 || stored.RetryWindowS != 86_400 || stored.AutoDisableAfterS != 432_000 {
		t.Errorf("stored batch window, retry window, auto-disable = %d, %d, %d; want the defaults stored explicitly",
			stored.BatchWindowMS, stored.RetryWindowS, stored.AutoDisableAfterS)
	}
	if stored.Secret != got.Secret || stored.PreviousSecret != "" {
		t.Errorf("stored secret = %q (previous %q), want the answered %q", stored.Secret, stored.PreviousSecret, got.Secret)
	}
	if secrets := stored.Secrets(e.clock.Now()); !slices.Equal(secrets, []string{got.Secret}) {
		t.Errorf("Secrets(now) = %q, want only the new secret", secrets)
	}
}

func TestEndpoints_SecretsDifferBetweenEndpoints(t *testing.T) {
	e := newEnv(t)
	tenant := e.createTenant(t, "Acme")
	a := ok[endpointResp](t, e.do(t, http.MethodPost, "/v1/endpoints", tenant.APIKey, validEndpoint(t, nil)), http.StatusCreated)
	b := ok[endpointResp](t, e.do(t, http.MethodPost, "/v1/endpoints", tenant.APIKey, validEndpoint(t, nil)), http.StatusCreated)
	if a.Secret == b.Secret {
		t.Errorf("two endpoints share the secret %q", a.Secret)
	}
}

func TestEndpoints_CreateNormalisesFields(t *testing.T) {
	e := newEnv(t)
	tenant := e.createTenant(t, "Acme")
	got := ok[endpointResp](t, e.do(t, http.MethodPost, "/v1/endpoints", tenant.APIKey, validEndpoint(t, map[string]any{
		"url":                  "  https://hooks.example.com/a?b=c  ",
		"events":               []string{firehook.EventUpdated, firehook.EventUpdated},
		"description":          "  CRM sync  ",
		"max_in_flight":        256,
		"rate_limit_per_s":     100_000,
		"timeout_ms":           100,
		"headers":              map[string]string{"x-api-key": "k1", "Authorization": "Bearer downstream"},
		"batch_window_ms":      250,
		"retry_window_s":       3600,
		"auto_disable_after_s": 7200,
	})), http.StatusCreated)
	if got.URL != "https://hooks.example.com/a?b=c" {
		t.Errorf("url = %q, want it trimmed", got.URL)
	}
	if !slices.Equal(got.Events, []string{firehook.EventUpdated}) {
		t.Errorf("events = %q, want the duplicate dropped", got.Events)
	}
	if got.Description != "CRM sync" {
		t.Errorf("description = %q, want it trimmed", got.Description)
	}
	if got.MaxInFlight != 256 || got.RateLimitPerS != 100_000 || got.TimeoutMS != 100 {
		t.Errorf("limits = %d, %d, %d; want the ones sent", got.MaxInFlight, got.RateLimitPerS, got.TimeoutMS)
	}
	if got.BatchWindowMS != 250 || got.RetryWindowS != 3600 || got.AutoDisableS != 7200 {
		t.Errorf("batch window, retry window, auto-disable = %d, %d, %d; want the ones sent",
			got.BatchWindowMS, got.RetryWindowS, got.AutoDisableS)
	}
	if want := map[string]string{"X-Api-Key": "k1", "Authorization": "Bearer downstream"}; !mapsEqual(got.Headers, want) {
		t.Errorf("headers = %v, want canonical names %v", got.Headers, want)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, found := b[k]; !found || w != v {
			return false
		}
	}
	return true
}

func TestEndpoints_GetHidesTheSecret(t *testing.T) {
	e := newEnv(t)
	tenant := e.createTenant(t, "Acme")
	ep := e.createEndpoint(t, tenant.APIKey, tenant.ID, "https://hooks.example.com/a")
	rotated := ok[secretResp](t, e.do(t, http.MethodPost, "/v1/endpoints/"+ep.ID+"/rotate-secret", tenant.APIKey, ""),
		http.StatusOK)
	for _, tc := range []struct{ name, method, path string }{
		{"get", http.MethodGet, "/v1/endpoints/" + ep.ID},
		{"list", http.MethodGet, "/v1/endpoints"},
		{"patch", http.MethodPatch, "/v1/endpoints/" + ep.ID},
		{"disable", http.MethodPost, "/v1/endpoints/" + ep.ID + "/disable"},
		{"enable", http.MethodPost, "/v1/endpoints/" + ep.ID + "/enable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := ""
			if tc.method == http.MethodPatch {
				body = `{"description":"patched"}`
			}
			r := e.do(t, tc.method, tc.path, tenant.APIKey, body)
			ok[map[string]any](t, r, http.StatusOK)
			for _, s := range []string{ep.Secret, rotated.Secret, strings.TrimPrefix(rotated.Secret, firehook.PrefixSecret),
				`"secret"`, `"previous_secret"`} {
				if contains(r.Body, s) {
					t.Errorf("the answer shows %s: %s", s, r.Body)
				}
			}
		})
	}
}

func TestEndpoints_SecretRouteRevealsTheSecret(t *testing.T) {
	e := newEnv(t)
	tenant := e.createTenant(t, "Acme")
	ep := e.createEndpoint(t, tenant.APIKey, tenant.ID, "https://hooks.example.com/a")
	got := ok[secretResp](t, e.do(t, http.MethodGet, "/v1/endpoints/"+ep.ID+"/secret", tenant.APIKey, ""), http.StatusOK)
	if got.Secret != ep.Secret || got.PreviousSecret != "" || got.PreviousSecretExpiresAt != nil {
		t.Errorf("secret = %+v, want only the secret answered at creation %q", got, ep.Secret)
	}
}

// invalidEndpointFields are values that create and PATCH must both refuse.
var invalidEndpointFields = []struct {
	name   string
	fields map[string]any
	code   string // 400 validation_failed unless this says private_target (422)
}{
	{"ftp URL", map[string]any{"url": "ftp://hooks.example.com/x"}, "validation_failed"},
	{"URL without scheme", map[string]any{"url": "hooks.example.com/x"}, "validation_failed"},
	{"URL without host", map[string]any{"url": "https:///x"}, "validation_failed"},
	{"URL with only a scheme", map[string]any{"url": "https://"}, "validation_failed"},
	{"opaque URL", map[string]any{"url": "https:hooks.example.com"}, "validation_failed"},
	{"empty URL", map[string]any{"url": ""}, "validation_failed"},
	{"blank URL", map[string]any{"url": "   "}, "validation_failed"},
	{"URL with userinfo", map[string]any{"url": "https://user:pass@hooks.example.com/x"}, "validation_failed"},
	{"URL with user only", map[string]any{"url": "https://user@hooks.example.com/x"}, "validation_failed"},
	{"URL with fragment", map[string]any{"url": "https://hooks.example.com/x#frag"}, "validation_failed"},
	{"URL with an empty fragment", map[string]any{"url": "https://hooks.example.com/x#"}, "validation_failed"},
	{"URL with port 0", map[string]any{"url": "https://hooks.example.com:0/x"}, "validation_failed"},
	{"URL with port over 65535", map[string]any{"url": "https://hooks.example.com:99999/x"}, "validation_failed"},
	{"URL with space in host", map[string]any{"url": "https://hooks example.com/x"}, "validation_failed"},
	{"URL over 2048 characters", map[string]any{"url": "https://hooks.example.com/" + strings.Repeat("a", 2048)}, "validation_failed"},
	{"javascript URL", map[string]any{"url": "javascript:alert(1)"}, "validation_failed"},

	{"loopback IPv4", map[string]any{"url": "http://127.0.0.1:8081/v1/tenants"}, "private_target"},
	{"loopback IPv4 elsewhere in 127/8", map[string]any{"url": "http://127.1.2.3/"}, "private_target"},
	{"private 10/8", map[string]any{"url": "http://10.0.0.5/hook"}, "private_target"},
	{"private 172.16/12", map[string]any{"url": "https://172.20.1.1/hook"}, "private_target"},
	{"private 192.168/16", map[string]any{"url": "http://192.168.1.10/hook"}, "private_target"},
	{"cloud metadata", map[string]any{"url": "http://169.254.169.254/latest/meta-data/"}, "private_target"},
	{"unspecified 0.0.0.0", map[string]any{"url": "http://0.0.0.0:8080/"}, "private_target"},
	{"loopback IPv6", map[string]any{"url": "http://[::1]:8081/"}, "private_target"},
	{"IPv4-mapped loopback", map[string]any{"url": "http://[::ffff:127.0.0.1]/"}, "private_target"},
	{"unique local IPv6", map[string]any{"url": "http://[fd00:ec2::254]/"}, "private_target"},
	{"link-local IPv6 with zone", map[string]any{"url": "http://[fe80::1%25eth0]/"}, "private_target"},
	{"localhost", map[string]any{"url": "http://localhost:8081/"}, "private_target"},
	{"localhost in capitals with dot", map[string]any{"url": "http://LOCALHOST./"}, "private_target"},
	{"subdomain of localhost", map[string]any{"url": "http://admin.localhost/"}, "private_target"},

	{"unknown event type", map[string]any{"events": []string{"visitor.identified", "visitor.deleted"}}, "validation_failed"},
	{"no event types", map[string]any{"events": []string{}}, "validation_failed"},
	{"max_in_flight 0", map[string]any{"max_in_flight": 0}, "validation_failed"},
	{"max_in_flight 1000", map[string]any{"max_in_flight": 1000}, "validation_failed"},
	{"negative rate", map[string]any{"rate_limit_per_s": -1}, "validation_failed"},
	{"rate over the maximum", map[string]any{"rate_limit_per_s": 100_001}, "validation_failed"},
	{"timeout_ms 5", map[string]any{"timeout_ms": 5}, "validation_failed"},
	{"timeout_ms over a minute", map[string]any{"timeout_ms": 60_001}, "validation_failed"},
	{"description over 512 characters", map[string]any{"description": strings.Repeat("d", 513)}, "validation_failed"},
	{"negative batch_window_ms", map[string]any{"batch_window_ms": -1}, "validation_failed"},
	{"batch_window_ms over a minute", map[string]any{"batch_window_ms": 60_001}, "validation_failed"},
	{"retry_window_s 0", map[string]any{"retry_window_s": 0}, "validation_failed"},
	{"retry_window_s under a minute", map[string]any{"retry_window_s": 59}, "validation_failed"},
	{"retry_window_s over a week", map[string]any{"retry_window_s": 604_801}, "validation_failed"},
	{"auto_disable_after_s 0", map[string]any{"auto_disable_after_s": 0}, "validation_failed"},
	{"auto_disable_after_s under an hour", map[string]any{"auto_disable_after_s": 3599}, "validation_failed"},
	{"auto_disable_after_s over 30 days", map[string]any{"auto_disable_after_s": 2_592_001}, "validation_failed"},
	{"retry_window_s as a string", map[string]any{"retry_window_s": "86400"}, "invalid_json"},
	{"reserved header Webhook-Signature", map[string]any{"headers": map[string]string{"Webhook-Signature": "v1,forged"}}, "validation_failed"},
	{"reserved header webhook-id", map[string]any{"headers": map[string]string{"webhook-id": "evt_forged"}}, "validation_failed"},
	{"reserved header Content-Type", map[string]any{"headers": map[string]string{"Content-Type": "text/plain"}}, "validation_failed"},
	{"reserved header host", map[string]any{"headers": map[string]string{"host": "internal.example"}}, "validation_failed"},
	{"reserved header Firehook-Attempt", map[string]any{"headers": map[string]string{"Firehook-Attempt": "1"}}, "validation_failed"},
	{"header value with CRLF", map[string]any{"headers": map[string]string{"X-Api-Key": "k\r\nX-Injected: 1"}}, "validation_failed"},
	{"header value with LF", map[string]any{"headers": map[string]string{"X-Api-Key": "k\nX-Injected: 1"}}, "validation_failed"},
	{"header value with NUL", map[string]any{"headers": map[string]string{"X-Api-Key": "k\x00"}}, "validation_failed"},
	{"header value over 1024 bytes", map[string]any{"headers": map[string]string{"X-Api-Key": strings.Repeat("v", 1025)}}, "validation_failed"},
	{"header name with space", map[string]any{"headers": map[string]string{"X Api Key": "k"}}, "validation_failed"},
	{"header name with colon", map[string]any{"headers": map[string]string{"X-Api-Key:": "k"}}, "validation_failed"},
	{"empty header name", map[string]any{"headers": map[string]string{"": "k"}}, "validation_failed"},
	{"header given twice", map[string]any{"headers": map[string]string{"x-api-key": "a", "X-API-KEY": "b"}}, "validation_failed"},
	{"21 headers", map[string]any{"headers": manyHeaders(21)}, "validation_failed"},
}

func manyHeaders(n int) map[string]string {
	out := map[string]string{}
	for i := range n {
		out["X-H"+strings.Repeat("h", i)] = "v"
	}
	return out
}

func statusOf(code string) int {
	if code == "private_target" {
		return http.StatusUnprocessableEntity
	}
	return http.StatusBadRequest
}

func TestEndpoints_CreateRefusesInvalidInput(t *testing.T) {
	e := newEnv(t)
	tenant := e.createTenant(t, "Acme")
	for _, tc := range invalidEndpointFields {
		t.Run(tc.name, func(t *testing.T) {
			e.refuses(t, http.MethodPost, "/v1/endpoints", tenant.APIKey, validEndpoint(t, tc.fields), statusOf(tc.code), tc.code)
		})
	}
	for _, tc := range []struct{ name, body string }{
		{"unknown field", `{"url":"https://hooks.example.com/","secret":"whsec_mine"}`},
		{"state is not writable", `{"url":"https://hooks.example.com/","state":"disabled"}`},
		{"events of the wrong type", `{"url":"https://hooks.example.com/","events":"visitor.updated"}`},
		{"malformed JSON", `{"url":`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.refuses(t, http.MethodPost, "/v1/endpoints", tenant.APIKey, tc.body, http.StatusBadRequest, "invalid_json")
		})
	}
}

func TestEndpoints_CreateAcceptsTheLimits(t *testing.T) {
	e := newEnv(t)
	tenant := e.createTenant(t, "Acme")
	for _, tc := range []struct {
		name   string
		fields map[string]any
	}{
		{"URL of 2048 characters", map[string]any{"url": "https://hooks.example.com/" + strings.Repeat("a", 2048-len("https://hooks.example.com/"))}},
		{"public IPv4 literal", map[string]any{"url": "https://93.184.215.14/hook"}},
		{"public IPv6 literal", map[string]any{"url": "https://[2606:4700::1111]/hook"}},
		{"http scheme", map[string]any{"url": "http://hooks.example.com/hook"}},
		{"explicit port", map[string]any{"url": "https://hooks.example.com:65535/hook"}},
		{"max_in_flight 1", map[string]any{"max_in_flight": 1}},
		{"max_in_flight 256", map[string]any{"max_in_flight": 256}},
		{"timeout_ms 100", map[string]any{"timeout_ms": 100}},
		{"timeout_ms 60000", map[string]any{"timeout_ms": 60_000}},
		{"description of 512 characters", map[string]any{"description": strings.Repeat("é", 512)}},
		{"20 headers", map[string]any{"headers": manyHeaders(20)}},
		{"header value of 1024 bytes", map[string]any{"headers": map[string]string{"X-Api-Key": strings.Repeat("v", 1024)}}},
		{"only First Match", map[string]any{"events": []string{firehook.EventIdentified}}},
		{"batch_window_ms 0", map[string]any{"batch_window_ms": 0}},
		{"batch_window_ms 60000", map[string]any{"batch_window_ms": 60_000}},
		{"retry_window_s 60", map[string]any{"retry_window_s": 60}},
		{"retry_window_s 604800", map[string]any{"retry_window_s": 604_800}},
		{"auto_disable_after_s 3600", map[string]any{"auto_disable_after_s": 3600}},
		{"auto_disable_after_s 2592000", map[string]any{"auto_disable_after_s": 2_592_000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok[endpointResp](t, e.do(t, http.MethodPost, "/v1/endpoints", tenant.APIKey, validEndpoint(t, tc.fields)),
				http.StatusCreated)
		})
	}
}

func TestEndpoints_AllowPrivateEndpointsAcceptsPrivateTargets(t *testing.T) {
	e := newEnv(t, func(c *admin.Config) { c.AllowPrivateEndpoints = true })
	tenant := e.createTenant(t, "Acme")
	for _, url := range []string{"http://127.0.0.1:9000/hook", "http://localhost:9000/hook", "http://[::1]/hook",
		"http://10.1.2.3/hook", "http://169.254.169.254/"} {
		t.Run(url, func(t *testing.T) {
			got := ok[endpointResp](t, e.do(t, http.MethodPost, "/v1/endpoints", tenant.APIKey,
				validEndpoint(t, map[string]any{"url": url})), http.StatusCreated)
			if got.URL != url {
				t.Errorf("url = %q, want %q", got.URL, url)
			}
		})
	}
	// The other URL rules still hold.
	apiError(t, e.do(t, http.MethodPost, "/v1/endpoints", tenant.APIKey,
		validEndpoint(t, map[string]any{"url": "http://user:pw@127.0.0.1/"})), http.StatusBadRequest, "validation_failed")
}

func TestEndpoints_PatchKeepsTheFieldsNotSent(t *testing.T) {
	e := newEnv(t)
	tenant := e.createTenant(t, "Acme")
	created := ok[endpointResp](t, e.do(t, http.MethodPost, "/v1/endpoints", tenant.APIKey, validEndpoint(t, map[string]any{
		"description": "CRM", "max_in_flight": 4, "headers": map[string]string{"X-Api-Key": "k1"},
	})), http.StatusCreated)
	before := e.storedEndpoint(t, created.ID)
	e.clock.Advance(time.Minute)

	got := ok[endpointResp](t, e.do(t, http.MethodPatch, "/v1/endpoints/"+created.ID, tenant.APIKey,
		`{"timeout_ms":2500,"events":["visitor.identified"]}`), http.StatusOK)

	want := before
	want.TimeoutMS, want.Events, want.UpdatedAt = 2500, []string{firehook.EventIdentified}, e.clock.Now()
	after := e.storedEndpoint(t, created.ID)
	if after.URL != want.URL || after.Description != want.Description || after.MaxInFlight != want.MaxInFlight ||
		after.TimeoutMS != want.TimeoutMS || !slices.Equal(after.Events, want.Events) ||
		!mapsEqual(after.Headers, want.Headers) || after.Secret != want.Secret || after.State != want.State ||
		!after.UpdatedAt.Equal(want.UpdatedAt) || !after.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("stored after PATCH = %+v, want %+v", after, want)
	}
	if got.TimeoutMS != 2500 || got.Description != "CRM" || got.MaxInFlight != 4 || got.Headers["X-Api-Key"] != "k1" {
		t.Errorf("PATCH answered %+v", got)
	}
}

func TestEndpoints_PatchRefusesInvalidInputAndChangesNothing(t *testing.T) {
	e := newEnv(t)
	tenant := e.createTenant(t, "Acme")
	ep := e.createEndpoint(t, tenant.APIKey, tenant.ID, "https://hooks.example.com/a")
	for _, tc := range invalidEndpointFields {
		t.Run(tc.name, func(t *testing.T) {
			// A valid change rides along: it must not be applied either.
			fields := map[string]any{"description": "changed"}
			for k, v := range tc.fields {
				fields[k] = v
			}
			e.refuses(t, http.MethodPatch, "/v1/endpoints/"+ep.ID, tenant.APIKey, jsonOf(t, fields), statusOf(tc.code), tc.code)
		})
	}
	for _, tc := range []struct{ name, body string }{
		{"secret is not writable", `{"secret":"whsec_mine"}`},
		{"tenant is not writable", `{"tenant_id":"ten_other"}`},
		{"state is not writable", `{"state":"disabled"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.refuses(t, http.MethodPatch, "/v1/endpoints/"+ep.ID, tenant.APIKey, tc.body, http.StatusBadRequest, "invalid_json")
		})
	}
}

func TestEndpoints_RotateSecretKeepsThePreviousOneFor24h(t *testing.T) {
	e := newEnv(t)
	tenant := e.createTenant(t, "Acme")
	ep := e.createEndpoint(t, tenant.APIKey, tenant.ID, "https://hooks.example.com/a")
	e.clock.Advance(time.Hour)
	rotatedAt := e.clock.Now()

	got := ok[secretResp](t, e.do(t, http.MethodPost, "/v1/endpoints/"+ep.ID+"/rotate-secret", tenant.APIKey, ""),
		http.StatusOK)
	wantWebhookSecret(t, got.Secret)
	if got.Secret == ep.Secret {
		t.Fatalf("rotate-secret answered the old secret %q", got.Secret)
	}
	if got.PreviousSecret != ep.Secret {
		t.Errorf("previous_secret = %q, want the old secret %q", got.PreviousSecret, ep.Secret)
	}
	wantExpiry := rotatedAt.Add(24 * time.Hour)
	if got.PreviousSecretExpiresAt == nil || !got.PreviousSecretExpiresAt.Equal(wantExpiry) {
		t.Errorf("previous_secret_expires_at = %v, want now+24h = %v", got.PreviousSecretExpiresAt, wantExpiry)
	}

	stored := e.storedEndpoint(t, ep.ID)
	if secrets := stored.Secrets(rotatedAt); !slices.Equal(secrets, []string{got.Secret, ep.Secret}) {
		t.Errorf("Secrets(now) = %q, want the new then the old secret", secrets)
	}
	if secrets := stored.Secrets(wantExpiry.Add(-time.Second)); len(secrets) != 2 {
		t.Errorf("Secrets(just before expiry) = %q, want both", secrets)
	}
	if secrets := stored.Secrets(wantExpiry); !slices.Equal(secrets, []string{got.Secret}) {
		t.Errorf("Secrets(expiry) = %q, want only the new secret", secrets)
	}

	// GET …/secret shows the previous secret while it still signs.
	during := ok[secretResp](t, e.do(t, http.MethodGet, "/v1/endpoints/"+ep.ID+"/secret", tenant.APIKey, ""), http.StatusOK)
	if during.Secret != got.Secret || during.PreviousSecret != ep.Secret {
		t.Errorf("GET secret during the overlap = %+v", during)
	}
	e.clock.Advance(24 * time.Hour)
	afterwards := ok[secretResp](t, e.do(t, http.MethodGet, "/v1/endpoints/"+ep.ID+"/secret", tenant.APIKey, ""), http.StatusOK)
	if afterwards.Secret != got.Secret || afterwards.PreviousSecret != "" || afterwards.PreviousSecretExpiresAt != nil {
		t.Errorf("GET secret after the overlap = %+v, want only the new secret", afterwards)
	}
}

func TestEndpoints_RotateSecretOverlapIsConfigurable(t *testing.T) {
	e := newEnv(t, func(c *admin.Config) { c.SecretOverlap = time.Hour })
	tenant := e.createTenant(t, "Acme")
	ep := e.createEndpoint(t, tenant.APIKey, tenant.ID, "https://hooks.example.com/a")
	got := ok[secretResp](t, e.do(t, http.MethodPost, "/v1/endpoints/"+ep.ID+"/rotate-secret", tenant.APIKey, ""),
		http.StatusOK)
	if want := e.clock.Now().Add(time.Hour); got.PreviousSecretExpiresAt == nil || !got.PreviousSecretExpiresAt.Equal(want) {
		t.Errorf("previous_secret_expires_at = %v, want %v", got.PreviousSecretExpiresAt, want)
	}
}

func TestEndpoints_DisableAndEnableToggleTheState(t *testing.T) {
	e := newEnv(t)
	tenant := e.createTenant(t, "Acme")
	ep := e.createEndpoint(t, tenant.APIKey, tenant.ID, "https://hooks.example.com/a")
	for _, step := range []struct {
		name       string
		action     string
		state      firehook.EndpointState
		withReason bool
	}{
		{"disable", "disable", firehook.EndpointDisabled, true},
		{"disable again", "disable", firehook.EndpointDisabled, true},
		{"enable", "enable", firehook.EndpointEnabled, false},
		{"enable again", "enable", firehook.EndpointEnabled, false},
		{"disable after enable", "disable", firehook.EndpointDisabled, true},
	} {
		t.Run(step.name, func(t *testing.T) {
			got := ok[endpointResp](t, e.do(t, http.MethodPost, "/v1/endpoints/"+ep.ID+"/"+step.action, tenant.APIKey, ""),
				http.StatusOK)
			stored := e.storedEndpoint(t, ep.ID)
			for _, s := range []struct {
				state  firehook.EndpointState
				reason string
			}{{got.State, got.DisabledReason}, {stored.State, stored.DisabledReason}} {
				if s.state != step.state || (s.reason != "") != step.withReason {
					t.Errorf("state, disabled_reason = %q, %q; want %q with reason %v", s.state, s.reason, step.state, step.withReason)
				}
			}
			if stored.Secret != ep.Secret || stored.URL != ep.URL {
				t.Errorf("%s changed more than the state: %+v", step.action, stored)
			}
		})
	}
}

func TestEndpoints_DeleteRemovesTheEndpoint(t *testing.T) {
	e := newEnv(t)
	tenant := e.createTenant(t, "Acme")
	ep := e.createEndpoint(t, tenant.APIKey, tenant.ID, "https://hooks.example.com/a")

	noContent(t, e.do(t, http.MethodDelete, "/v1/endpoints/"+ep.ID, tenant.APIKey, ""))

	if _, found := e.store.Config.Endpoint(ep.ID); found {
		t.Errorf("endpoint %s is still in the store", ep.ID)
	}
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/v1/endpoints/" + ep.ID},
		{http.MethodGet, "/v1/endpoints/" + ep.ID + "/secret"},
		{http.MethodPost, "/v1/endpoints/" + ep.ID + "/rotate-secret"},
		{http.MethodPost, "/v1/endpoints/" + ep.ID + "/enable"},
		{http.MethodDelete, "/v1/endpoints/" + ep.ID},
	} {
		apiError(t, e.do(t, tc.method, tc.path, tenant.APIKey, ""), http.StatusNotFound, "not_found")
	}
	list := ok[struct {
		Endpoints []endpointResp `json:"endpoints"`
	}](t, e.do(t, http.MethodGet, "/v1/endpoints", tenant.APIKey, ""), http.StatusOK)
	if list.Endpoints == nil || len(list.Endpoints) != 0 {
		t.Errorf("endpoints after delete = %#v, want []", list.Endpoints)
	}
}

func TestEndpoints_PatchFillsInTheDefaultsOfAnOlderRecord(t *testing.T) {
	e := newEnv(t)
	tenant := e.createTenant(t, "Acme")
	ep := e.createEndpoint(t, tenant.APIKey, tenant.ID, "https://hooks.example.com/a")
	// As stored before the batching, retry-window and auto-disable fields existed.
	if _, err := e.store.Config.UpdateEndpoint(ep.ID, func(s *firehook.Endpoint) error {
		s.BatchWindowMS, s.RetryWindowS, s.AutoDisableAfterS = 0, 0, 0
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	got := ok[endpointResp](t, e.do(t, http.MethodPatch, "/v1/endpoints/"+ep.ID, tenant.APIKey, `{"description":"patched"}`),
		http.StatusOK)

	if got.Description != "patched" || got.BatchWindowMS != 0 || got.RetryWindowS != 86_400 || got.AutoDisableS != 432_000 {
		t.Errorf("PATCH answered %+v; want the change, with the defaults filled in", got)
	}
	e.refuses(t, http.MethodPatch, "/v1/endpoints/"+ep.ID, tenant.APIKey, `{"retry_window_s":0}`, http.StatusBadRequest,
		"validation_failed")
}

func TestEndpoints_EveryChangeIsReportedToOnEndpointChange(t *testing.T) {
	changes := &recorder{}
	e := newEnv(t, func(c *admin.Config) { c.OnEndpointChange = changes.record })
	tenant := e.createTenant(t, "Acme")
	ep := e.createEndpoint(t, tenant.APIKey, tenant.ID, "https://hooks.example.com/a")
	if got := changes.take(); !slices.Equal(got, []string{ep.ID}) {
		t.Fatalf("after create: OnEndpointChange calls = %v, want [%s]", got, ep.ID)
	}
	for _, step := range []struct {
		name, method, path, body string
		status                   int
		changed                  bool
	}{
		{"patch", http.MethodPatch, "", `{"batch_window_ms":500}`, http.StatusOK, true},
		{"refused patch", http.MethodPatch, "", `{"batch_window_ms":-5}`, http.StatusBadRequest, false},
		{"disable", http.MethodPost, "/disable", "", http.StatusOK, true},
		{"enable", http.MethodPost, "/enable", "", http.StatusOK, true},
		{"rotate secret", http.MethodPost, "/rotate-secret", "", http.StatusOK, true},
		{"read", http.MethodGet, "", "", http.StatusOK, false},
		{"read the secret", http.MethodGet, "/secret", "", http.StatusOK, false},
		{"delete", http.MethodDelete, "", "", http.StatusNoContent, true},
		{"delete again", http.MethodDelete, "", "", http.StatusNotFound, false},
	} {
		t.Run(step.name, func(t *testing.T) {
			r := e.do(t, step.method, "/v1/endpoints/"+ep.ID+step.path, tenant.APIKey, step.body)
			if r.Status != step.status {
				t.Fatalf("status = %d, want %d; body %s", r.Status, step.status, r.Body)
			}
			var want []string
			if step.changed {
				want = []string{ep.ID}
			}
			if got := changes.take(); !slices.Equal(got, want) {
				t.Errorf("OnEndpointChange calls = %v, want %v", got, want)
			}
		})
	}
}
