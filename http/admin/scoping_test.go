package admin_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/firehook/firehook"
)

// The tenant isolation audit: every route of the table (routes_test.go)
// is called with another tenant's key (404 where it names a resource,
// 403 where it is the operator's), without a token (401 unless public
// by design) and by each tenant on its own part (which must show and
// change nothing of the other's). A route missing from the table fails
// the first test.

func TestScoping_EveryRouteIsInTheTable(t *testing.T) {
	e, _, _ := newWorld(t)
	served := map[string]bool{}
	err := chi.Walk(e.handler.Routes(), func(method, pattern string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		served[method+" "+pattern] = true
		if !slices.ContainsFunc(routes, func(rt route) bool { return rt.key() == method+" "+pattern }) {
			t.Errorf("%s %s is served but not in the route table of routes_test.go: add it (who may call it, "+
				"and a valid request) so that the isolation audit and the contract test cover it", method, pattern)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk routes: %v", err)
	}
	if len(served) < 45 {
		t.Fatalf("only %d routes are served: the env does not mount every route", len(served))
	}
	for _, rt := range routes {
		if !served[rt.key()] {
			t.Errorf("route %q names %s, which the router does not serve", rt.name, rt.key())
		}
		if rt.access == 0 || (rt.access == public) != (rt.why != "") {
			t.Errorf("route %q: give it an access, and a why exactly when it is public", rt.name)
		}
		namesOne := strings.Contains(rt.pattern, "{") || strings.Contains(rt.query+rt.body, "{tenant}")
		if (rt.access == named && !namesOne) || (rt.access == own && namesOne) {
			t.Errorf("route %q: a tenant's route that names a resource (a path id, a {tenant}) is named, any other own", rt.name)
		}
	}
}

// secrets are what of p no other tenant may see: ids, keys, secrets.
func (p party) secrets() []string {
	return []string{p.tenant.ID, p.tenant.APIKey, p.site.ID, p.site.Key, p.site.Domain, p.endpoint.ID,
		p.endpoint.Secret, p.person, p.hem, p.delivery.ID, p.delivery.EventID}
}

// reveals returns the first of p's secrets that body holds.
func reveals(body []byte, p party, more ...string) string {
	for _, s := range append(p.secrets(), more...) {
		if s != "" && contains(body, s) {
			return s
		}
	}
	return ""
}

func TestScoping_WithoutATokenEveryRouteButThePublicOnesIsUnauthorized(t *testing.T) {
	e, a, _ := newWorld(t)
	for _, rt := range routesOf(operatorOnly, named, own) {
		t.Run(rt.name, func(t *testing.T) {
			path, body := rt.request(t, a)
			for _, authorization := range []string{"", "Bearer fhk_0123456789abcdefghijABCDEFGHIJ0123456789"} {
				before := e.snapshot()
				var headers []string
				if authorization != "" {
					headers = []string{"Authorization", authorization}
				}
				r := e.doRaw(t, rt.method, path, body, headers...)
				apiError(t, r, http.StatusUnauthorized, "unauthorized")
				if got := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
					t.Errorf("WWW-Authenticate = %q, want a Bearer challenge", got)
				}
				conforms(t, rt, r)
				e.unchanged(t, before)
			}
		})
	}
}

func TestScoping_PublicRoutesNeedNoToken(t *testing.T) {
	e, a, _ := newWorld(t)
	for _, rt := range routesOf(public) {
		t.Run(rt.name, func(t *testing.T) {
			of := a.ids()
			of.code = e.dashboard.NewLoginCode(operatorToken)
			path, body := rt.requestFor(t, of)
			before := e.snapshot()
			r := e.do(t, rt.method, path, "", body)
			if r.Status != rt.ok {
				t.Fatalf("status = %d, want %d; body %.300s", r.Status, rt.ok, r.Body)
			}
			e.unchanged(t, before)
		})
	}
}

func TestScoping_OperatorOnlyRoutesForbidTenantKeys(t *testing.T) {
	e, a, b := newWorld(t)
	for _, rt := range routesOf(operatorOnly) {
		t.Run(rt.name, func(t *testing.T) {
			// Aimed at the key's own tenant, at another's and at nothing:
			// the answer is 403 before anything is looked up.
			for _, target := range []ids{a.ids(), b.ids(), missing} {
				path, body := rt.requestFor(t, target)
				before := e.snapshot()
				r := e.do(t, rt.method, path, a.tenant.APIKey, body)
				apiError(t, r, http.StatusForbidden, "forbidden")
				conforms(t, rt, r)
				e.unchanged(t, before)
			}
		})
	}
}

func TestScoping_AnotherTenantsResourceIsNotFoundAndUnchanged(t *testing.T) {
	e, a, b := newWorld(t)
	e.populate(t, &a)
	e.populate(t, &b)
	for _, rt := range routesOf(named) {
		t.Run(rt.name, func(t *testing.T) {
			before := e.snapshot()
			path, body := rt.request(t, b)
			r := e.do(t, rt.method, path, a.tenant.APIKey, body)
			apiError(t, r, http.StatusNotFound, "not_found")
			conforms(t, rt, r)
			e.unchanged(t, before)
			if s := reveals(r.Body, b); s != "" {
				t.Errorf("the answer reveals B's %q: %s", s, r.Body)
			}

			// The answer is the same as for a resource that does not
			// exist: B's resource is not even revealed to exist.
			missingPath, missingBody := rt.requestFor(t, missing)
			other := e.do(t, rt.method, missingPath, a.tenant.APIKey, missingBody)
			if other.Status != r.Status || string(other.Body) != string(r.Body) {
				t.Errorf("B's resource answers %d %s but a missing one %d %s: the difference reveals that B's exists",
					r.Status, r.Body, other.Status, other.Body)
			}
		})
	}
	// B's key still works after all of A's attempts.
	ok[tenantResp](t, e.do(t, http.MethodGet, "/v1/tenants/"+b.tenant.ID, b.tenant.APIKey, ""), http.StatusOK)
}

// A tenant acting on its own part, through every route it may call,
// succeeds, shows nothing of the other tenant's and changes nothing of
// it (nor anything global: the graph, the global suppression list).
func TestScoping_OwnCallsWorkAndLeaveTheOtherTenantAlone(t *testing.T) {
	for _, rt := range routesOf(named, own) {
		t.Run(rt.name, func(t *testing.T) {
			e, a, b := newWorld(t)
			_, aDelivered := e.populate(t, &a)
			bEvent, bDelivered := e.populate(t, &b)
			before := e.snapshot()
			path, body := rt.request(t, a)
			r := e.do(t, rt.method, path, a.tenant.APIKey, body)
			if r.Status != rt.ok {
				t.Fatalf("status = %d, want %d; body %.300s", r.Status, rt.ok, r.Body)
			}
			if s := reveals(r.Body, b, bEvent.ID, bDelivered.ID, b.actor); s != "" {
				t.Errorf("A's answer reveals B's %q: %.500s", s, r.Body)
			}
			if rt.method == http.MethodGet && reveals(r.Body, a, aDelivered.ID) == "" {
				t.Errorf("A's own answer shows nothing of A: the leak check above proves nothing; %.300s", r.Body)
			}
			e.unchangedFor(t, b.tenant.ID, before)
		})
	}
}

func TestScoping_OperatorReachesEveryTenant(t *testing.T) {
	for _, rt := range routesOf(named, operatorOnly) {
		t.Run(rt.name, func(t *testing.T) {
			e, _, b := newWorld(t)
			path, body := rt.request(t, b)
			r := e.do(t, rt.method, path, operatorToken, body)
			if want := rt.operatorStatus(); r.Status != want {
				t.Fatalf("status = %d, want %d; body %.300s", r.Status, want, r.Body)
			}
		})
	}
}

func TestScoping_ListsShowOnlyTheCallersTenant(t *testing.T) {
	e, a, b := newWorld(t)
	type lists struct {
		Tenants   []tenantResp    `json:"tenants"`
		Sites     []firehook.Site `json:"sites"`
		Endpoints []endpointResp  `json:"endpoints"`
	}
	ids := func(l lists) []string {
		var out []string
		for _, x := range l.Tenants {
			out = append(out, x.ID)
		}
		for _, x := range l.Sites {
			out = append(out, x.ID)
		}
		for _, x := range l.Endpoints {
			out = append(out, x.ID)
		}
		return out
	}
	for _, tc := range []struct {
		name, token, path string
		want              []string
	}{
		{"tenant lists tenants", a.tenant.APIKey, "/v1/tenants", []string{a.tenant.ID}},
		{"tenant lists sites", a.tenant.APIKey, "/v1/sites", []string{a.site.ID}},
		{"tenant lists own sites by id", a.tenant.APIKey, "/v1/sites?tenant_id=" + a.tenant.ID, []string{a.site.ID}},
		{"tenant lists endpoints", a.tenant.APIKey, "/v1/endpoints", []string{a.endpoint.ID}},
		{"tenant lists own endpoints by id", a.tenant.APIKey, "/v1/endpoints?tenant_id=" + a.tenant.ID, []string{a.endpoint.ID}},
		{"other tenant lists its sites", b.tenant.APIKey, "/v1/sites", []string{b.site.ID}},
		{"operator lists tenants", operatorToken, "/v1/tenants", []string{a.tenant.ID, b.tenant.ID}},
		{"operator lists sites", operatorToken, "/v1/sites", []string{a.site.ID, b.site.ID}},
		{"operator lists endpoints", operatorToken, "/v1/endpoints", []string{a.endpoint.ID, b.endpoint.ID}},
		{"operator lists one tenant's sites", operatorToken, "/v1/sites?tenant_id=" + b.tenant.ID, []string{b.site.ID}},
		{"operator lists one tenant's endpoints", operatorToken, "/v1/endpoints?tenant_id=" + b.tenant.ID, []string{b.endpoint.ID}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, http.MethodGet, tc.path, tc.token, "")
			got := ids(ok[lists](t, r, http.StatusOK))
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tc.want))
			if !slices.Equal(got, want) {
				t.Errorf("listed %v, want %v", got, want)
			}
			for _, secret := range []string{a.endpoint.Secret, b.endpoint.Secret, a.tenant.APIKey, b.tenant.APIKey} {
				if contains(r.Body, secret) {
					t.Errorf("the list shows a secret or key: %s", r.Body)
				}
			}
		})
	}
}
