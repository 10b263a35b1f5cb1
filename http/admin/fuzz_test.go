package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/http/admin"
	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/internal/netguard"
	"github.com/firehook/firehook/internal/testkit"
)

// The fuzz targets of the admin API run the real handler in process over
// a fuzzEnv. Their seeds are the files in testdata/fuzz/<target>;
// docs/fuzzing.md has the long runs.

// The resources of a fuzzEnv have fixed ids, so that the seeds (and the
// fuzzer's mutations of them) can name them.
const (
	fuzzTenant    = "ten_fuzz_a"
	fuzzOther     = "ten_fuzz_b"
	fuzzTenantKey = "fhk_fuzz_tenant_a_key"
	fuzzSite      = "site_fuzz_a"
	fuzzEndpoint  = "ep_fuzz_a"
)

// fuzzEnv is an env with tenants fuzzTenant (API key fuzzTenantKey) and
// fuzzOther, and of fuzzTenant the site fuzzSite and the endpoint
// fuzzEndpoint, which has a delivered, a failed and a pending delivery.
type fuzzEnv struct {
	*env
	// The stored fuzzTenant, fuzzSite and fuzzEndpoint: a request that
	// changed them is undone, so that each input meets the same state.
	tenant   firehook.Tenant
	site     firehook.Site
	endpoint firehook.Endpoint
}

func newFuzzEnv(f *testing.F) *fuzzEnv {
	f.Helper()
	e := &fuzzEnv{env: newEnv(f)}
	now := e.clock.Now()
	for id, key := range map[string]string{fuzzTenant: fuzzTenantKey, fuzzOther: "fhk_fuzz_tenant_b_key"} {
		if err := e.store.Config.CreateTenant(firehook.Tenant{ID: id, Name: "Fuzz " + id, Tier: firehook.TierPro,
			APIKeyHash: admin.HashToken(key), CreatedAt: now, UpdatedAt: now}); err != nil {
			f.Fatalf("create tenant %s: %v", id, err)
		}
	}
	e.tenant = stored(f, e.store.Config.Tenant, fuzzTenant)
	e.site = testkit.CreateSite(f, e.store.Config, fuzzTenant, func(s *firehook.Site) {
		s.ID, s.Key, s.AllowedOrigins, s.RateLimitPerS = fuzzSite, "sk_fuzz_admin", []string{"https://example.com"}, 1000
	})
	e.endpoint = testkit.CreateEndpoint(f, e.store.Config, fuzzTenant, "https://hooks.example.com/fuzz",
		func(ep *firehook.Endpoint) { ep.ID = fuzzEndpoint })
	e.finish(f, e.dispatch(f, fuzzTenant, "p_fuzz_1", fuzzEndpoint)[0], firehook.DeliveryDelivered)
	e.finish(f, e.dispatch(f, fuzzTenant, "p_fuzz_2", fuzzEndpoint)[0], firehook.DeliveryFailed)
	e.dispatch(f, fuzzTenant, "p_fuzz_3", fuzzEndpoint)
	return e
}

// serve sends a request with the bearer token and body through the
// handler in process.
func (e *fuzzEnv) serve(method, path, token string, body []byte) testkit.Response {
	req := httptest.NewRequest(method, path, strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	return testkit.Serve(e.handler, req)
}

// resource is a kind of configuration the API creates and patches.
type resource struct {
	path     string   // of the collection
	writable []string // the fields PATCH takes
	secret   string   // the field only some answers show
}

var (
	tenants   = resource{"/v1/tenants", []string{"name", "tier"}, "api_key"}
	sites     = resource{"/v1/sites", []string{"domain", "allowed_origins", "rate_limit_per_s"}, ""}
	endpoints = resource{"/v1/endpoints", []string{"url", "events", "description", "max_in_flight",
		"rate_limit_per_s", "timeout_ms", "headers", "batch_window_ms", "retry_window_s", "auto_disable_after_s"}, "secret"}
)

// fuzzRoutes are the routes of FuzzAdminRequest: each writes what its
// body says.
var fuzzRoutes = []struct {
	method, path string
	ok           int       // the status of success
	res          *resource // created or patched; nil for the others
}{
	{http.MethodPost, "/v1/tenants", http.StatusCreated, &tenants},
	{http.MethodPatch, "/v1/tenants/" + fuzzTenant, http.StatusOK, &tenants},
	{http.MethodPost, "/v1/sites", http.StatusCreated, &sites},
	{http.MethodPatch, "/v1/sites/" + fuzzSite, http.StatusOK, &sites},
	{http.MethodPost, "/v1/endpoints", http.StatusCreated, &endpoints},
	{http.MethodPatch, "/v1/endpoints/" + fuzzEndpoint, http.StatusOK, &endpoints},
	{http.MethodPost, "/v1/tenants/" + fuzzTenant + "/suppressions", http.StatusOK, nil},
	{http.MethodDelete, "/v1/tenants/" + fuzzTenant + "/suppressions", http.StatusNoContent, nil},
	{http.MethodPost, "/v1/suppressions", http.StatusOK, nil},
	{http.MethodDelete, "/v1/suppressions", http.StatusNoContent, nil},
	{http.MethodPost, "/v1/endpoints/" + fuzzEndpoint + "/replay", http.StatusAccepted, nil},
}

// FuzzAdminRequest: a request body on a route that writes (fuzzRoutes),
// sent with the operator token or fuzzTenant's key, is answered either
//   - with the route's success status, and then what was created or
//     patched reads back the same (GET), and patching it with its own
//     writable fields changes nothing (normalising is idempotent); added
//     suppressions are listed, and adding them again as answered adds the
//     same entries; a replay counts at most the endpoint's deliveries; or
//   - with a 4xx in the one error shape whose code the catalogue maps to
//     that status, and nothing stored changed: configuration, graph,
//     suppression lists, deliveries.
//
// Never a 5xx.
func FuzzAdminRequest(f *testing.F) {
	e := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, route uint8, asTenant bool, body []byte) {
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		token := operatorToken
		if asTenant {
			token = fuzzTenantKey
		}
		before := e.snapshot()
		r := e.serve(rt.method, rt.path, token, body)
		if r.Status != rt.ok {
			testkit.AssertClientError(t, r)
			e.unchanged(t, before)
			return
		}
		switch {
		case rt.res != nil:
			id := e.readsBack(t, *rt.res, r.Body)
			e.cleanUp(t, *rt.res, id)
		case strings.HasSuffix(rt.path, "/suppressions") && rt.method == http.MethodPost:
			e.suppressionsAdded(t, rt.path, r.Body)
		case rt.method == http.MethodDelete:
			noContent(t, r)
		default: // replay
			got := ok[map[string]int](t, r, http.StatusAccepted)
			if n, all := got["replayed"], len(before.Deliveries[fuzzEndpoint]); len(got) != 1 || n < 0 || n > all {
				t.Fatalf("replay answered %s; want {\"replayed\": 0 to %d}", r.Body, all)
			}
		}
	})
}

// FuzzEndpointURL: POST /v1/endpoints with any url either creates the
// endpoint, with the url as sent but trimmed, an absolute http(s) URL
// without credentials or fragment, with a valid port, that the webhook
// client would not dial at a literal private address
// (checkDeliveryURL), and that reads back and patches idempotently; or
// refuses it with a 400 or 422 in the one error shape, storing nothing.
// Never a 5xx.
func FuzzEndpointURL(f *testing.F) {
	e := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, rawURL string) {
		if !utf8.ValidString(rawURL) {
			return // JSON cannot carry it: encoding/json would send U+FFFD instead
		}
		body := jsonOf(t, map[string]string{"tenant_id": fuzzTenant, "url": rawURL})
		before := e.snapshot()
		r := e.serve(http.MethodPost, "/v1/endpoints", operatorToken, []byte(body))
		if r.Status != http.StatusCreated {
			if code := testkit.AssertClientError(t, r); code != "validation_failed" && code != "private_target" {
				t.Fatalf("url %q refused with code %s; want validation_failed or private_target", rawURL, code)
			}
			e.unchanged(t, before)
			return
		}
		checkDeliveryURL(t, rawURL, ok[endpointResp](t, r, http.StatusCreated).URL)
		id := e.readsBack(t, endpoints, r.Body)
		e.cleanUp(t, endpoints, id)
	})
}

// readsBack asserts that the resource answered (a create's or patch's
// answer) reads back the same with GET, and that patching it with its own
// writable fields answers it unchanged; it returns the resource's id.
func (e *fuzzEnv) readsBack(t testing.TB, res resource, answer []byte) string {
	t.Helper()
	var want map[string]any
	if err := json.Unmarshal(answer, &want); err != nil {
		t.Fatalf("answer %s: %v", answer, err)
	}
	delete(want, res.secret)
	id, _ := want["id"].(string)
	got := ok[map[string]any](t, e.serve(http.MethodGet, res.path+"/"+id, operatorToken, nil), http.StatusOK)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s/%s answered\n%v\nbut reads back as\n%v", res.path, id, want, got)
	}
	patch := map[string]any{}
	for _, k := range res.writable {
		patch[k] = want[k]
	}
	body := jsonOf(t, patch)
	again := ok[map[string]any](t, e.serve(http.MethodPatch, res.path+"/"+id, operatorToken, []byte(body)), http.StatusOK)
	if !reflect.DeepEqual(again, want) {
		t.Fatalf("not idempotent: %s/%s\n%v\npatched with its own fields %s is\n%v", res.path, id, want, body, again)
	}
	return id
}

// cleanUp deletes a created site or endpoint and restores the fixed ones
// to their first state (a created tenant stays: tenants are not deleted).
func (e *fuzzEnv) cleanUp(t testing.TB, res resource, id string) {
	t.Helper()
	var err error
	switch id {
	case fuzzTenant:
		_, err = e.store.Config.UpdateTenant(id, func(tn *firehook.Tenant) error { *tn = e.tenant; return nil })
	case fuzzSite:
		_, err = e.store.Config.UpdateSite(id, func(s *firehook.Site) error { *s = e.site; return nil })
	case fuzzEndpoint:
		_, err = e.store.Config.UpdateEndpoint(id, func(ep *firehook.Endpoint) error { *ep = e.endpoint; return nil })
	default:
		if res.path != tenants.path {
			noContent(t, e.serve(http.MethodDelete, res.path+"/"+id, operatorToken, nil))
		}
	}
	if err != nil {
		t.Fatalf("restore %s: %v", id, err)
	}
}

// suppressionsAdded checks the answer of an add to the list at path:
// the entries added are listed, and adding them again as answered adds
// the same entries. It then removes them (DELETE), and they are no more
// listed.
func (e *fuzzEnv) suppressionsAdded(t testing.TB, path string, answer []byte) {
	t.Helper()
	var got struct {
		Added []identity.SuppressionEntry `json:"added"`
	}
	if err := json.Unmarshal(answer, &got); err != nil || len(got.Added) == 0 {
		t.Fatalf("add answered %s (%v); want the entries added", answer, err)
	}
	scope := identity.GlobalScope
	if strings.HasPrefix(path, "/v1/tenants/") {
		scope = fuzzTenant
	}
	kind := got.Added[0].Kind
	var values []string
	for _, a := range got.Added {
		if a.Kind != kind || !slices.Contains(e.sup.List(scope), a) {
			t.Fatalf("added %v: one kind expected, and each entry listed in %s", got.Added, scope)
		}
		values = append(values, a.Value)
	}
	body := jsonOf(t, map[string]any{"kind": kind, "values": values})
	again := ok[struct {
		Added []identity.SuppressionEntry `json:"added"`
	}](t, e.serve(http.MethodPost, path, operatorToken, []byte(body)), http.StatusOK)
	if !reflect.DeepEqual(again.Added, got.Added) {
		t.Fatalf("not idempotent: added %v, then adding %s added %v", got.Added, body, again.Added)
	}
	noContent(t, e.serve(http.MethodDelete, path, operatorToken, []byte(body)))
	for _, a := range got.Added {
		if slices.Contains(e.sup.List(scope), a) {
			t.Fatalf("%v still listed in %s after its removal", a, scope)
		}
	}
}

// errNoDial stops the transport of checkDeliveryURL at its dial.
var errNoDial = errors.New("fuzz: no dialling")

// checkDeliveryURL asserts that stored, the url of an endpoint created
// with sent, is sent trimmed, no longer than 2048 bytes, an absolute
// http(s) URL without credentials or fragment, with a port of 1-65535
// when it has one; that a delivery request to it can be built; and that
// net/http, which the webhook client is built on, would not dial it at a
// literal private or local address. (Names are checked again when they
// are dialled, by the webhook dialer.)
func checkDeliveryURL(t testing.TB, sent, stored string) {
	t.Helper()
	u, err := url.Parse(stored)
	switch {
	case stored != strings.TrimSpace(sent) || len(stored) > 2048:
		t.Fatalf("url %q stored as %q; want it trimmed, at most 2048 bytes", sent, stored)
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Opaque != "" || u.Hostname() == "":
		t.Fatalf("accepted url %q: not an absolute http(s) URL (%v)", stored, err)
	case u.User != nil || strings.Contains(stored, "#"):
		t.Fatalf("accepted url %q with credentials or a fragment", stored)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			t.Fatalf("accepted url %q with port %q", stored, p)
		}
	}
	req, err := http.NewRequest(http.MethodPost, stored, nil)
	if err != nil {
		t.Fatalf("accepted url %q, but no delivery request can be built to it: %v", stored, err)
	}
	var dialed string
	dial := func(_ context.Context, _, addr string) (net.Conn, error) {
		dialed = addr
		return nil, errNoDial
	}
	tr := &http.Transport{DialContext: dial, DialTLSContext: dial}
	defer tr.CloseIdleConnections()
	if resp, err := (&http.Client{Transport: tr}).Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("a request to %q went through a transport that cannot dial", stored)
	}
	if dialed == "" {
		return // net/http refused the URL before dialling: the delivery fails, nothing is reached
	}
	host, _, err := net.SplitHostPort(dialed)
	if err != nil {
		t.Fatalf("net/http dials %q for %q: %v", dialed, stored, err)
	}
	if a, err := netip.ParseAddr(host); (err == nil && netguard.Blocked(a)) || netguard.BlockedHost(host) {
		t.Fatalf("accepted url %q, which net/http dials at %s: a private or local address", stored, dialed)
	}
}
