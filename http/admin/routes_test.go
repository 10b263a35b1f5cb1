package admin_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/docs"
	"github.com/firehook/firehook/http/admin"
	"github.com/firehook/firehook/http/dashboard"
	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/internal/testkit"
	"github.com/firehook/firehook/mcp"
	"github.com/firehook/firehook/node"
)

// This file is the table of every route of the admin API: who may call
// it, and a valid request for it. The isolation audit (scoping_test.go)
// and the contract test (contract_test.go) walk it; a route the router
// serves but the table lacks fails TestScoping_EveryRouteIsInTheTable.

// access is who may call a route.
type access int

const (
	// public routes need no token, by design (route.why says why).
	public access = iota + 1
	// operatorOnly routes answer 403 to every tenant key.
	operatorOnly
	// named routes act on the resource or the tenant the request names
	// (an id in the path, a tenant_id in the query or body): a tenant key
	// naming another tenant's answers 404, as if it did not exist.
	named
	// own routes act on the caller's own tenant without naming one
	// (lists, creates): a tenant key sees and changes its own part only.
	own
)

func (a access) String() string {
	return [...]string{"", "public", "operator only", "named", "own"}[a]
}

// route is one case of a route: a request for it and what it answers.
// A route may have several cases (GET /v1/sites names a tenant or not).
type route struct {
	name    string
	method  string
	pattern string // exactly as registered in the router
	// query and body are sent with the placeholders of ids.fill
	// replaced; the path parameter of pattern becomes the target's
	// resource of the kind the pattern starts with.
	query, body string
	access      access
	// ok is the status when the request is made by the caller the route
	// is for, on its own: a tenant key on its own tenant's resources
	// (named, own), the operator (operatorOnly), no token (public).
	ok int
	// operator, when not zero, is the status when the operator makes a
	// named route's request on any tenant's resources; zero means ok.
	operator int
	// why a public route needs no token.
	why string
}

// operatorStatus is the status the operator gets for a named or
// operatorOnly route aimed at anyone's resources.
func (rt route) operatorStatus() int {
	if rt.operator != 0 {
		return rt.operator
	}
	return rt.ok
}

// key is the route's method and pattern, as chi.Walk reports them.
func (rt route) key() string { return rt.method + " " + rt.pattern }

var routes = []route{
	{name: "liveness probe", method: http.MethodGet, pattern: "/healthz", access: public, ok: http.StatusOK,
		why: "load balancers and orchestrators probe it"},
	{name: "readiness probe", method: http.MethodGet, pattern: "/readyz", access: public, ok: http.StatusOK,
		why: "load balancers and orchestrators probe it"},
	{name: "openapi document", method: http.MethodGet, pattern: "/v1/openapi.json", access: public, ok: http.StatusOK,
		why: "the API's description reveals no tenant's data"},
	{name: "metrics", method: http.MethodGet, pattern: "/metrics", access: public, ok: http.StatusOK,
		why: "only from a loopback address (a local Prometheus); from anywhere else it is operator only " +
			"(TestMetrics_FromElsewhereNeedsTheOperatorToken)"},
	{name: "dashboard page", method: http.MethodGet, pattern: "/dashboard", access: public, ok: http.StatusOK,
		why: "the page holds no data: its API calls carry the token"},
	{name: "dashboard asset", method: http.MethodGet, pattern: "/dashboard/{asset}", access: public, ok: http.StatusOK,
		why: "the page's script and style sheet hold no data"},
	{name: "dashboard login", method: http.MethodPost, pattern: "/dashboard/login", body: `{"code":"{code}"}`,
		access: public, ok: http.StatusOK, why: "the one-time login code is the credential"},

	{name: "create tenant", method: http.MethodPost, pattern: "/v1/tenants", body: `{"name":"Mallory","tier":"enterprise"}`,
		access: operatorOnly, ok: http.StatusCreated},
	{name: "patch tenant", method: http.MethodPatch, pattern: "/v1/tenants/{id}", body: `{"name":"Renamed","tier":"enterprise"}`,
		access: operatorOnly, ok: http.StatusOK},
	{name: "import graph", method: http.MethodPost, pattern: "/v1/graph/import",
		body:   `{"person_id":"person_planted","identifiers":[{"type":"cookie","value":"planted"}],"person":{"first_name":"Planted"}}` + "\n",
		access: operatorOnly, ok: http.StatusOK},
	{name: "look up identifier", method: http.MethodGet, pattern: "/v1/graph/lookup", query: "?type=hem_sha256&value={hem}",
		access: operatorOnly, ok: http.StatusOK},
	{name: "graph stats", method: http.MethodGet, pattern: "/v1/graph/stats", access: operatorOnly, ok: http.StatusOK},
	{name: "erase person", method: http.MethodDelete, pattern: "/v1/graph/persons/{id}", access: operatorOnly, ok: http.StatusNoContent},
	{name: "add global suppressions", method: http.MethodPost, pattern: "/v1/suppressions",
		body: `{"kind":"company_domain","values":["planted.example"]}`, access: operatorOnly, ok: http.StatusOK},
	{name: "list global suppressions", method: http.MethodGet, pattern: "/v1/suppressions", access: operatorOnly, ok: http.StatusOK},
	{name: "remove global suppressions", method: http.MethodDelete, pattern: "/v1/suppressions",
		body: `{"kind":"email_domain","values":["` + listedDomain + `"]}`, access: operatorOnly, ok: http.StatusNoContent},
	{name: "cluster view", method: http.MethodGet, pattern: "/v1/cluster", access: operatorOnly, ok: http.StatusOK},
	{name: "cluster shards", method: http.MethodGet, pattern: "/v1/cluster/shards", access: operatorOnly, ok: http.StatusOK},

	{name: "list tenants", method: http.MethodGet, pattern: "/v1/tenants", access: own, ok: http.StatusOK},
	{name: "get tenant", method: http.MethodGet, pattern: "/v1/tenants/{id}", access: named, ok: http.StatusOK},
	{name: "rotate tenant key", method: http.MethodPost, pattern: "/v1/tenants/{id}/rotate-key", access: named, ok: http.StatusOK},

	{name: "list sites", method: http.MethodGet, pattern: "/v1/sites", access: own, ok: http.StatusOK},
	{name: "list sites of tenant", method: http.MethodGet, pattern: "/v1/sites", query: "?tenant_id={tenant}",
		access: named, ok: http.StatusOK},
	{name: "create site", method: http.MethodPost, pattern: "/v1/sites", body: `{"domain":"planted.example"}`,
		access: own, ok: http.StatusCreated},
	{name: "create site for tenant", method: http.MethodPost, pattern: "/v1/sites",
		body: `{"tenant_id":"{tenant}","domain":"planted.example"}`, access: named, ok: http.StatusCreated},
	{name: "get site", method: http.MethodGet, pattern: "/v1/sites/{id}", access: named, ok: http.StatusOK},
	{name: "patch site", method: http.MethodPatch, pattern: "/v1/sites/{id}",
		body: `{"allowed_origins":["*"],"rate_limit_per_s":0}`, access: named, ok: http.StatusOK},
	{name: "delete site", method: http.MethodDelete, pattern: "/v1/sites/{id}", access: named, ok: http.StatusNoContent},

	{name: "list endpoints", method: http.MethodGet, pattern: "/v1/endpoints", access: own, ok: http.StatusOK},
	{name: "list endpoints of tenant", method: http.MethodGet, pattern: "/v1/endpoints", query: "?tenant_id={tenant}",
		access: named, ok: http.StatusOK},
	{name: "create endpoint", method: http.MethodPost, pattern: "/v1/endpoints", body: `{"url":"https://planted.example/hook"}`,
		access: own, ok: http.StatusCreated},
	{name: "create endpoint for tenant", method: http.MethodPost, pattern: "/v1/endpoints",
		body: `{"tenant_id":"{tenant}","url":"https://attacker.example/collect"}`, access: named, ok: http.StatusCreated},
	{name: "get endpoint", method: http.MethodGet, pattern: "/v1/endpoints/{id}", access: named, ok: http.StatusOK},
	{name: "patch endpoint", method: http.MethodPatch, pattern: "/v1/endpoints/{id}",
		body: `{"url":"https://attacker.example/collect","headers":{"X-Stolen":"1"}}`, access: named, ok: http.StatusOK},
	{name: "delete endpoint", method: http.MethodDelete, pattern: "/v1/endpoints/{id}", access: named, ok: http.StatusNoContent},
	{name: "get endpoint secret", method: http.MethodGet, pattern: "/v1/endpoints/{id}/secret", access: named, ok: http.StatusOK},
	{name: "rotate endpoint secret", method: http.MethodPost, pattern: "/v1/endpoints/{id}/rotate-secret", access: named, ok: http.StatusOK},
	{name: "disable endpoint", method: http.MethodPost, pattern: "/v1/endpoints/{id}/disable", access: named, ok: http.StatusOK},
	{name: "enable endpoint", method: http.MethodPost, pattern: "/v1/endpoints/{id}/enable", access: named, ok: http.StatusOK},
	{name: "list endpoint deliveries", method: http.MethodGet, pattern: "/v1/endpoints/{id}/deliveries",
		query: "?status=pending&limit=10", access: named, ok: http.StatusOK},
	{name: "replay endpoint deliveries", method: http.MethodPost, pattern: "/v1/endpoints/{id}/replay",
		body: `{"since":"2000-01-01T00:00:00Z"}`, access: named, ok: http.StatusAccepted},
	{name: "endpoint health", method: http.MethodGet, pattern: "/v1/endpoints/{id}/health", access: named, ok: http.StatusOK},

	{name: "get delivery", method: http.MethodGet, pattern: "/v1/deliveries/{id}", access: named, ok: http.StatusOK},
	{name: "replay delivery", method: http.MethodPost, pattern: "/v1/deliveries/{id}/replay", access: named, ok: http.StatusAccepted},

	{name: "add tenant suppressions", method: http.MethodPost, pattern: "/v1/tenants/{id}/suppressions",
		body: `{"kind":"company_domain","values":["planted.example"]}`, access: named, ok: http.StatusOK},
	{name: "list tenant suppressions", method: http.MethodGet, pattern: "/v1/tenants/{id}/suppressions", access: named, ok: http.StatusOK},
	{name: "remove tenant suppressions", method: http.MethodDelete, pattern: "/v1/tenants/{id}/suppressions",
		body: `{"kind":"email_domain","values":["` + listedDomain + `"]}`, access: named, ok: http.StatusNoContent},

	{name: "pipeline", method: http.MethodGet, pattern: "/v1/pipeline", access: own, ok: http.StatusOK},
	{name: "list actors", method: http.MethodGet, pattern: "/v1/actors", access: own, ok: http.StatusOK},
	{name: "get actor", method: http.MethodGet, pattern: "/v1/actors/{id}", access: named, ok: http.StatusOK},
	{name: "pull events", method: http.MethodGet, pattern: "/v1/events", query: "?limit=10", access: own, ok: http.StatusOK},
	{name: "pull events of tenant", method: http.MethodGet, pattern: "/v1/events", query: "?tenant_id={tenant}&limit=10",
		access: named, ok: http.StatusOK},
	{name: "pixel status", method: http.MethodGet, pattern: "/v1/sites/{id}/pixel", access: named, ok: http.StatusOK},
	{name: "identified visits", method: http.MethodGet, pattern: "/v1/identified", query: "?limit=10", access: own, ok: http.StatusOK},
	{name: "identified visits of tenant", method: http.MethodGet, pattern: "/v1/identified",
		query: "?tenant_id={tenant}&limit=10", access: named, ok: http.StatusOK},
	{name: "look up an identified person", method: http.MethodGet, pattern: "/v1/identified/lookup",
		query: "?type=hem_sha256&value={hem}", access: own, ok: http.StatusOK},
	{name: "look up an identified person of tenant", method: http.MethodGet, pattern: "/v1/identified/lookup",
		query: "?tenant_id={tenant}&type=hem_sha256&value={hem}", access: named, ok: http.StatusOK},
	{name: "export", method: http.MethodGet, pattern: "/v1/export.csv", access: own, ok: http.StatusOK},
	{name: "MCP tool list", method: http.MethodPost, pattern: "/mcp", body: `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`,
		access: own, ok: http.StatusOK, operator: http.StatusForbidden},
	{name: "MCP tool call", method: http.MethodPost, pattern: "/mcp",
		body:   `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_endpoints","arguments":{}}}`,
		access: own, ok: http.StatusOK, operator: http.StatusForbidden},
	{name: "export of tenant", method: http.MethodGet, pattern: "/v1/export.csv", query: "?tenant_id={tenant}",
		access: named, ok: http.StatusOK},
}

// routesOf returns the cases of the table whose access is one of as.
func routesOf(as ...access) []route {
	return slices.DeleteFunc(slices.Clone(routes), func(rt route) bool { return !slices.Contains(as, rt.access) })
}

// routeNamed returns the case of the table called name.
func routeNamed(t testing.TB, name string) route {
	t.Helper()
	i := slices.IndexFunc(routes, func(rt route) bool { return rt.name == name })
	if i < 0 {
		t.Fatalf("no route %q in the table", name)
	}
	return routes[i]
}

// ids names what a request of the table aims at.
type ids struct {
	tenant, site, endpoint, person, delivery, actor string
	hem                                             string // the sha256 of an email of the person
	code                                            string // a dashboard login code
}

// missing names resources that do not exist.
var missing = ids{tenant: "ten_01JZZZZZZZZZZZZZZZZZZZZZZZ", site: "site_01JZZZZZZZZZZZZZZZZZZZZZZZ",
	endpoint: "ep_01JZZZZZZZZZZZZZZZZZZZZZZZ", person: "person_missing", delivery: "dlv_01JZZZZZZZZZZZZZZZZZZZZZZZ",
	actor: "ep_01JZZZZZZZZZZZZZZZZZZZZZZZ", hem: sha256Hex("nobody@missing.example"), code: "no-such-code"}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// request returns the path and body of rt aimed at p's resources.
func (rt route) request(t testing.TB, p party) (path, body string) {
	t.Helper()
	return rt.requestFor(t, p.ids())
}

func (rt route) requestFor(t testing.TB, of ids) (path, body string) {
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
	case strings.HasPrefix(rt.pattern, "/dashboard/"):
		id = "app.js"
	}
	start, end := strings.IndexByte(rt.pattern, '{'), strings.IndexByte(rt.pattern, '}')
	path = rt.pattern
	if start >= 0 {
		if id == "" || end < start || strings.Count(rt.pattern, "{") != 1 {
			t.Fatalf("route %q: teach requestFor how to fill the parameters of %s", rt.name, rt.pattern)
		}
		path = rt.pattern[:start] + id + rt.pattern[end+1:]
	}
	r := strings.NewReplacer("{tenant}", of.tenant, "{hem}", of.hem, "{code}", of.code)
	return path + r.Replace(rt.query), r.Replace(rt.body)
}

// withEveryRoute mounts every optional route: the dashboard, the cluster
// routes, and the real OpenAPI document.
// withEveryRoute configures every optional route; handler returns the
// admin handler (its MCP tools call it), read at request time.
func withEveryRoute(d *dashboard.Handler, handler func() http.Handler) func(*admin.Config) {
	return func(c *admin.Config) {
		c.Dashboard = d
		c.OpenAPI = docs.OpenAPI
		c.Cluster = func(context.Context) any { return clusterView }
		c.ClusterShards = func(context.Context) any { return clusterShards }
		c.MCP = mcp.Handler(handler, "test")
	}
}

// clusterView and clusterShards are what a member of a cluster answers
// to GET /v1/cluster and /v1/cluster/shards, with every field that may
// show set (the admin API serves the JSON value that Config gives it;
// package node builds it from these types).
var (
	since       = time.Date(2025, 3, 14, 15, 0, 0, 0, time.UTC)
	clusterView = node.ClusterStatus{Node: "node-test", Clustered: true, Shards: 256, Replicas: 2,
		Members: []node.MemberStatus{
			{Name: "node-test", State: "alive", Since: since, Gossip: "127.0.0.1:7946", Actor: "127.0.0.1:7947",
				Admin: "127.0.0.1:8081", Ingest: "127.0.0.1:8080", Version: "test", PrimaryShards: []int{0},
				ReplicaShards: []int{1}, Stats: &node.NodeStats{Actors: map[string]int{"visitor": 1, "person": 1, "endpoint": 1},
					HandoffPending: 1, LastEventSeq: 9, ProcessedUpTo: 8, ReplicasHeld: 1,
					ShardCopy: &node.ShardCopyStats{Pending: 1, CaughtUp: true, LastError: "a member did not answer"}}},
			{Name: "node-gone", State: "dead", Since: since, PrimaryShards: []int{}, ReplicaShards: []int{}},
		}}
	clusterShards = node.ShardsStatus{Node: "node-test", Graph: identity.GraphStats{Persons: 2, IndexEntries: 2},
		Shards: []node.ShardStatus{{Shard: 0, Owners: []string{"node-test", "node-gone"}, Owned: true, Entries: 2,
			Digest: "00112233445566778899aabbccddeeff"}},
		Copy: &node.ShardCopyStats{Confirmed: 1}}
)

// party is a tenant with one site, one endpoint and one entry on its
// suppression list, all made through the API with the tenant's own key,
// one person in the identity graph (imported by the operator: persons
// belong to no tenant, but the erasure route takes a person's id, so each
// party brings one to aim it at), one delivery of an event of that person
// to the endpoint (made by the store's Dispatch, as the pipeline makes
// them), and a live actor.
type party struct {
	tenant   tenantResp
	site     firehook.Site
	endpoint endpointResp
	person   string // a person id in the graph
	hem      string // the sha256 of the person's email
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
	p.hem = testkit.HEMs(t, email).SHA256
	res := e.importGraph(t, jsonOf(t, map[string]any{
		"person_id":   p.person,
		"identifiers": []map[string]string{{"type": "hem_sha256", "value": p.hem}},
		"person":      map[string]any{"first_name": name, "business_email": email},
	})+"\n")
	if res.Imported != 1 || res.Rejected != 0 {
		t.Fatalf("import the person of %s: %+v", name, res)
	}
	p.delivery = e.dispatch(t, p.tenant.ID, p.person, p.endpoint.ID)[0]
	p.actor = e.spawnEndpointActor(t, p.endpoint.ID)
	return p
}

func (p party) ids() ids {
	return ids{tenant: p.tenant.ID, site: p.site.ID, endpoint: p.endpoint.ID, person: p.person,
		delivery: p.delivery.ID, actor: p.actor, hem: p.hem}
}

// world is two tenants, A and B, on one env that serves every route.
func newWorld(t testing.TB) (e *env, a, b party) {
	t.Helper()
	d := dashboard.New(dashboard.Config{})
	e = newEnv(t, withEveryRoute(d, func() http.Handler { return e.handler }))
	e.dashboard = d
	return e, newParty(t, e, "Acme", "acme.example"), newParty(t, e, "Bravo", "bravo.example")
}

// populate gives p a page view in the event log, matched to its person
// (so that the events and the export have rows of it), a delivered
// receipt with an attempt beside the pending one, and an entry of its
// own on its suppression list (company_domain "only-" + its domain).
func (e *env) populate(t testing.TB, p *party) (ev firehook.Event, delivered firehook.Delivery) {
	t.Helper()
	ev = e.appendEvent(t, p.tenant.ID, "vid_"+p.person, "Pricing", e.clock.Now())
	e.decide(t, ev, p.tenant.ID, p.person)
	delivered = e.finish(t, e.dispatch(t, p.tenant.ID, p.person, p.endpoint.ID)[0], firehook.DeliveryDelivered)
	ok[map[string]any](t, e.do(t, http.MethodPost, "/v1/tenants/"+p.tenant.ID+"/suppressions", p.tenant.APIKey,
		`{"kind":"company_domain","values":["only-`+p.site.Domain+`"]}`), http.StatusOK)
	return ev, delivered
}
