package admin_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/internal/testkit"
)

// party is a tenant with one site, one endpoint and one entry on its
// suppression list, all made through the API with the tenant's own key,
// one person in the identity graph (imported by the operator: persons
// belong to no tenant, but the erasure route takes a person's id, so each
// party brings one to aim it at), and one delivery of an event of that
// person to the endpoint (made by the store's Dispatch, as the pipeline
// makes them).
type party struct {
	tenant   tenantResp
	site     firehook.Site
	endpoint endpointResp
	person   string // a person id in the graph
	delivery firehook.Delivery
	actor    string // a live actor of the tenant's: its endpoint's
}

// listedDomain is on every party's suppression list (as email_domain).
const listedDomain = "listed.example"

func newParty(t testing.TB, e *env, name, domain string) party {
	t.Helper()
	p := party{tenant: e.createTenant(t, name)}
	p.site = e.createSite(t, p.tenant.APIKey, p.tenant.ID, domain)
	p.endpoint = e.createEndpoint(t, p.tenant.APIKey, p.tenant.ID, "https://hooks."+domain+"/firehook")
	ok[map[string]any](t, e.do(t, http.MethodPost, "/v1/tenants/"+p.tenant.ID+"/suppressions", p.tenant.APIKey,
		`{"kind":"email_domain","values":["`+listedDomain+`"]}`), http.StatusOK)
	p.person = "person_" + strings.ToLower(name)
	email := "someone@" + domain
	res := e.importGraph(t, jsonOf(t, map[string]any{
		"person_id":   p.person,
		"identifiers": []map[string]string{{"type": "hem_sha256", "value": testkit.HEMs(t, email).SHA256}},
		"person":      map[string]any{"first_name": name, "business_email": email},
	})+"\n")
	if res.Imported != 1 || res.Rejected != 0 {
		t.Fatalf("import the person of %s: %+v", name, res)
	}
	p.delivery = e.dispatch(t, p.tenant.ID, p.person, p.endpoint.ID)[0]
	p.actor = e.spawnEndpointActor(t, p.endpoint.ID)
	return p
}

// world is two tenants, A and B, on one env.
func newWorld(t testing.TB) (e *env, a, b party) {
	t.Helper()
	e = newEnv(t)
	return e, newParty(t, e, "Acme", "acme.example"), newParty(t, e, "Bravo", "bravo.example")
}

// scopedRoute is a route that acts on one tenant's resources: by an id in
// the path, or by a tenant_id in the query or body. Every route whose
// pattern has a path parameter must be listed in scopedRoutes (see
// TestScoping_EveryRouteWithAnIDHasAScopingCase).
type scopedRoute struct {
	name    string
	method  string
	pattern string // exactly as registered in the router
	// query and body are sent with {tenant} replaced by the target
	// tenant's id; {id} in pattern becomes the id of the target's
	// resource of the kind the pattern starts with.
	query, body string
	// own is the status when a tenant key acts on its own resource, and
	// when the operator acts on anyone's.
	own int
	// operatorOnly routes answer 403 to every tenant key.
	operatorOnly bool
	// operator, when not zero, is the status when the operator acts on
	// anyone's resource; zero means own, or 200 for an operatorOnly route.
	operator int
}

// operatorStatus is the status the operator gets on anyone's resource.
func (rt scopedRoute) operatorStatus() int {
	switch {
	case rt.operator != 0:
		return rt.operator
	case rt.operatorOnly:
		return http.StatusOK
	}
	return rt.own
}

var scopedRoutes = []scopedRoute{
	{name: "get tenant", method: http.MethodGet, pattern: "/v1/tenants/{id}", own: http.StatusOK},
	{name: "patch tenant", method: http.MethodPatch, pattern: "/v1/tenants/{id}", body: `{"name":"Renamed","tier":"enterprise"}`,
		own: http.StatusForbidden, operatorOnly: true},
	{name: "rotate tenant key", method: http.MethodPost, pattern: "/v1/tenants/{id}/rotate-key", own: http.StatusOK},

	{name: "list sites of tenant", method: http.MethodGet, pattern: "/v1/sites", query: "?tenant_id={tenant}", own: http.StatusOK},
	{name: "create site for tenant", method: http.MethodPost, pattern: "/v1/sites",
		body: `{"tenant_id":"{tenant}","domain":"planted.example"}`, own: http.StatusCreated},
	{name: "get site", method: http.MethodGet, pattern: "/v1/sites/{id}", own: http.StatusOK},
	{name: "patch site", method: http.MethodPatch, pattern: "/v1/sites/{id}",
		body: `{"allowed_origins":["*"],"rate_limit_per_s":0}`, own: http.StatusOK},
	{name: "delete site", method: http.MethodDelete, pattern: "/v1/sites/{id}", own: http.StatusNoContent},

	{name: "list endpoints of tenant", method: http.MethodGet, pattern: "/v1/endpoints", query: "?tenant_id={tenant}", own: http.StatusOK},
	{name: "create endpoint for tenant", method: http.MethodPost, pattern: "/v1/endpoints",
		body: `{"tenant_id":"{tenant}","url":"https://attacker.example/collect"}`, own: http.StatusCreated},
	{name: "get endpoint", method: http.MethodGet, pattern: "/v1/endpoints/{id}", own: http.StatusOK},
	{name: "patch endpoint", method: http.MethodPatch, pattern: "/v1/endpoints/{id}",
		body: `{"url":"https://attacker.example/collect","headers":{"X-Stolen":"1"}}`, own: http.StatusOK},
	{name: "delete endpoint", method: http.MethodDelete, pattern: "/v1/endpoints/{id}", own: http.StatusNoContent},
	{name: "get endpoint secret", method: http.MethodGet, pattern: "/v1/endpoints/{id}/secret", own: http.StatusOK},
	{name: "rotate endpoint secret", method: http.MethodPost, pattern: "/v1/endpoints/{id}/rotate-secret", own: http.StatusOK},
	{name: "disable endpoint", method: http.MethodPost, pattern: "/v1/endpoints/{id}/disable", own: http.StatusOK},
	{name: "enable endpoint", method: http.MethodPost, pattern: "/v1/endpoints/{id}/enable", own: http.StatusOK},
	{name: "list endpoint deliveries", method: http.MethodGet, pattern: "/v1/endpoints/{id}/deliveries",
		query: "?status=pending&limit=10", own: http.StatusOK},
	{name: "replay endpoint deliveries", method: http.MethodPost, pattern: "/v1/endpoints/{id}/replay",
		body: `{"since":"2000-01-01T00:00:00Z"}`, own: http.StatusAccepted},
	{name: "endpoint health", method: http.MethodGet, pattern: "/v1/endpoints/{id}/health", own: http.StatusOK},

	{name: "get actor", method: http.MethodGet, pattern: "/v1/actors/{id}", own: http.StatusOK},
	{name: "pull events of tenant", method: http.MethodGet, pattern: "/v1/events", query: "?tenant_id={tenant}&limit=10",
		own: http.StatusOK},

	{name: "get delivery", method: http.MethodGet, pattern: "/v1/deliveries/{id}", own: http.StatusOK},
	{name: "replay delivery", method: http.MethodPost, pattern: "/v1/deliveries/{id}/replay", own: http.StatusAccepted},

	{name: "add tenant suppressions", method: http.MethodPost, pattern: "/v1/tenants/{id}/suppressions",
		body: `{"kind":"company_domain","values":["planted.example"]}`, own: http.StatusOK},
	{name: "list tenant suppressions", method: http.MethodGet, pattern: "/v1/tenants/{id}/suppressions", own: http.StatusOK},
	{name: "remove tenant suppressions", method: http.MethodDelete, pattern: "/v1/tenants/{id}/suppressions",
		body: `{"kind":"email_domain","values":["` + listedDomain + `"]}`, own: http.StatusNoContent},

	{name: "erase person", method: http.MethodDelete, pattern: "/v1/graph/persons/{id}",
		own: http.StatusForbidden, operatorOnly: true, operator: http.StatusNoContent},
}

// ids names one resource of each kind that a route pattern can take.
type ids struct{ tenant, site, endpoint, person, delivery, actor string }

// request returns the path and body of rt aimed at p's resources.
func (rt scopedRoute) request(t testing.TB, p party) (path, body string) {
	t.Helper()
	return rt.requestFor(t, ids{tenant: p.tenant.ID, site: p.site.ID, endpoint: p.endpoint.ID, person: p.person,
		delivery: p.delivery.ID, actor: p.actor})
}

func (rt scopedRoute) requestFor(t testing.TB, of ids) (path, body string) {
	t.Helper()
	var id string
	switch {
	case strings.HasPrefix(rt.pattern, "/v1/tenants/"):
		id = of.tenant
	case strings.HasPrefix(rt.pattern, "/v1/sites/"):
		id = of.site
	case strings.HasPrefix(rt.pattern, "/v1/endpoints/"):
		id = of.endpoint
	case strings.HasPrefix(rt.pattern, "/v1/graph/persons/"):
		id = of.person
	case strings.HasPrefix(rt.pattern, "/v1/deliveries/"):
		id = of.delivery
	case strings.HasPrefix(rt.pattern, "/v1/actors/"):
		id = of.actor
	}
	if strings.Contains(rt.pattern, "{") && (id == "" || strings.Count(rt.pattern, "{") != 1 || !strings.Contains(rt.pattern, "{id}")) {
		t.Fatalf("scopedRoute %q: teach request how to fill the parameters of %s", rt.name, rt.pattern)
	}
	r := strings.NewReplacer("{id}", id, "{tenant}", of.tenant)
	return r.Replace(rt.pattern) + r.Replace(rt.query), r.Replace(rt.body)
}

func TestScoping_EveryRouteWithAnIDHasAScopingCase(t *testing.T) {
	e := newEnv(t)
	registered := map[string]bool{}
	err := chi.Walk(e.handler.Routes(), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		registered[method+" "+route] = true
		if !strings.Contains(route, "{") {
			return nil
		}
		if !slices.ContainsFunc(scopedRoutes, func(rt scopedRoute) bool { return rt.method == method && rt.pattern == route }) {
			t.Errorf("%s %s takes a resource id but has no case in scopedRoutes: add one so that "+
				"another tenant's key is proven to get 404 there", method, route)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk routes: %v", err)
	}
	for _, rt := range scopedRoutes {
		if !registered[rt.method+" "+rt.pattern] {
			t.Errorf("scopedRoutes case %q names %s %s, which the router does not have", rt.name, rt.method, rt.pattern)
		}
	}
}

func TestScoping_AnotherTenantsResourceIsNotFoundAndUnchanged(t *testing.T) {
	e, a, b := newWorld(t)
	for _, rt := range scopedRoutes {
		t.Run(rt.name, func(t *testing.T) {
			before := e.snapshot()
			path, body := rt.request(t, b)
			r := e.do(t, rt.method, path, a.tenant.APIKey, body)
			if rt.operatorOnly {
				apiError(t, r, http.StatusForbidden, "forbidden")
			} else {
				apiError(t, r, http.StatusNotFound, "not_found")
			}
			e.unchanged(t, before)
			if contains(r.Body, b.endpoint.Secret) || contains(r.Body, b.site.Key) {
				t.Errorf("the answer reveals B's secrets: %s", r.Body)
			}

			// The answer is the same as for a resource that does not
			// exist: B's resource is not even revealed to exist.
			missingPath, missingBody := rt.requestFor(t, ids{tenant: "ten_01JZZZZZZZZZZZZZZZZZZZZZZZ",
				site: "site_01JZZZZZZZZZZZZZZZZZZZZZZZ", endpoint: "ep_01JZZZZZZZZZZZZZZZZZZZZZZZ",
				person: "person_missing", delivery: "dlv_01JZZZZZZZZZZZZZZZZZZZZZZZ", actor: "ep_01JZZZZZZZZZZZZZZZZZZZZZZZ"})
			missing := e.do(t, rt.method, missingPath, a.tenant.APIKey, missingBody)
			if missing.Status != r.Status || string(missing.Body) != string(r.Body) {
				t.Errorf("B's resource answers %d %s but a missing one %d %s: the difference reveals that B's exists",
					r.Status, r.Body, missing.Status, missing.Body)
			}
		})
	}
	// B's key still works after all of A's attempts.
	ok[tenantResp](t, e.do(t, http.MethodGet, "/v1/tenants/"+b.tenant.ID, b.tenant.APIKey, ""), http.StatusOK)
}

func TestScoping_OwnResourcesWork(t *testing.T) {
	for _, rt := range scopedRoutes {
		t.Run(rt.name, func(t *testing.T) {
			e, a, _ := newWorld(t)
			path, body := rt.request(t, a)
			r := e.do(t, rt.method, path, a.tenant.APIKey, body)
			switch {
			case rt.operatorOnly:
				apiError(t, r, http.StatusForbidden, "forbidden")
			case r.Status != rt.own:
				t.Fatalf("status = %d, want %d; body %s", r.Status, rt.own, r.Body)
			}
			if r.Status == http.StatusOK || r.Status == http.StatusCreated {
				if m := jsonKeys(t, r.Body); m["tenant_id"] != nil && string(m["tenant_id"]) != `"`+a.tenant.ID+`"` {
					t.Errorf("answer belongs to tenant %s, want %s", m["tenant_id"], a.tenant.ID)
				}
			}
		})
	}
}

func TestScoping_OperatorReachesEveryTenant(t *testing.T) {
	for _, rt := range scopedRoutes {
		t.Run(rt.name, func(t *testing.T) {
			e, _, b := newWorld(t)
			path, body := rt.request(t, b)
			r := e.do(t, rt.method, path, operatorToken, body)
			if want := rt.operatorStatus(); r.Status != want {
				t.Fatalf("status = %d, want %d; body %s", r.Status, want, r.Body)
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
