package docs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/actors"
	"github.com/firehook/firehook/docs"
	"github.com/firehook/firehook/http/admin"
	"github.com/firehook/firehook/http/dashboard"
	"github.com/firehook/firehook/http/ingest"
	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/internal/testkit"
	"github.com/firehook/firehook/mcp"
	"github.com/firehook/firehook/metrics"
)

// httpMethods are the keys of an OpenAPI path item that name operations.
var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// operation is the part of an OpenAPI operation the tests look at.
type operation struct {
	OperationID string                     `json:"operationId"`
	Summary     string                     `json:"summary"`
	Security    *[]map[string][]string     `json:"security"`
	Parameters  []map[string]any           `json:"parameters"`
	Responses   map[string]json.RawMessage `json:"responses"`
}

// spec is the parsed document: raw for $ref resolution, ops keyed by
// "METHOD path" for everything else.
type spec struct {
	raw  map[string]any
	ops  map[string]operation
	path map[string]map[string]any // path -> path item (raw)
}

func loadSpec(t *testing.T) *spec {
	t.Helper()
	s := &spec{ops: map[string]operation{}, path: map[string]map[string]any{}}
	if err := json.Unmarshal(docs.OpenAPI, &s.raw); err != nil {
		t.Fatalf("docs/openapi.json is not valid JSON: %v", err)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(docs.OpenAPI, &doc); err != nil {
		t.Fatalf("paths: %v", err)
	}
	for p, item := range doc.Paths {
		s.path[p] = s.raw["paths"].(map[string]any)[p].(map[string]any)
		for key, raw := range item {
			if !slices.Contains(httpMethods, key) {
				continue
			}
			var op operation
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", strings.ToUpper(key), p, err)
			}
			s.ops[strings.ToUpper(key)+" "+p] = op
		}
	}
	return s
}

// route is one (method, pattern) pair a router serves.
type route struct{ method, pattern string }

func (r route) key() string { return r.method + " " + r.pattern }

func walk(t *testing.T, name string, routes chi.Routes) []route {
	t.Helper()
	var out []route
	err := chi.Walk(routes, func(method, pattern string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		out = append(out, route{method, pattern})
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s router: %v", name, err)
	}
	if len(out) == 0 {
		t.Fatalf("%s router has no routes", name)
	}
	return out
}

// operatorToken and tenantKey are the tokens adminHandler knows.
const (
	operatorToken = "docs-test-operator-token"
	tenantKey     = firehook.PrefixAPIKey + "docsTestTenantKey0123456789abcdefghijklmno"
)

// adminHandler builds the admin API as a node does: over a real store in
// a temporary directory, with the identity graph and the suppression
// lists, the metrics, an actor system and the event log, so that the
// route table holds every route a node serves (the graph and suppression
// routes are only mounted when the Config has them, the delivery routes
// when it has the outbox, the observability routes when it has their
// sources). The store holds one tenant, whose API key is tenantKey.
func adminHandler(t *testing.T) *admin.Handler {
	t.Helper()
	store := testkit.OpenStore(t, t.TempDir())
	graph, err := identity.OpenGraph(identity.GraphConfig{Store: store.Graph(), ProfileCacheSize: 100,
		Log: testkit.Logger(t, slog.LevelWarn)})
	if err != nil {
		t.Fatalf("open graph: %v", err)
	}
	t.Cleanup(graph.Close) // before the store closes (cleanups are LIFO)
	sup, err := identity.OpenSuppressions(store.Graph())
	if err != nil {
		t.Fatalf("open suppressions: %v", err)
	}
	sys, err := actors.New(actors.Config{Log: testkit.Logger(t, slog.LevelWarn)})
	if err != nil {
		t.Fatalf("actor system: %v", err)
	}
	t.Cleanup(func() { _ = sys.Close(context.Background()) })
	m, err := metrics.New(metrics.Config{Store: store, System: sys})
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	t.Cleanup(m.Close)
	tenant := testkit.CreateTenant(t, store.Config, "Docs")
	if _, err := store.Config.UpdateTenant(tenant.ID, func(tn *firehook.Tenant) error {
		tn.APIKeyHash = admin.HashToken(tenantKey)
		return nil
	}); err != nil {
		t.Fatalf("set the tenant's key: %v", err)
	}
	return admin.New(admin.Config{
		Store:             store.Config,
		OperatorTokenHash: admin.HashToken(operatorToken),
		Graph:             graph,
		Suppressions:      sup,
		Outbox:            store.Outbox(),
		Metrics:           m,
		Actors:            sys,
		Events:            store.Events,
		Dashboard:         dashboard.New(dashboard.Config{}),
		Cluster:           func(context.Context) any { return map[string]any{"node": "docs", "members": []any{}} },
		ClusterShards:     func(context.Context) any { return map[string]any{"node": "docs", "shards": []any{}} },
		OpenAPI:           docs.OpenAPI,
		MCP:               mcp.Handler(func() http.Handler { return nil }, "docs"),
		Log:               testkit.Logger(t, slog.LevelWarn),
		// The checks probe every route without a token from one address.
		AuthFailuresPerMinute: -1,
	})
}

func ingestHandler() *ingest.Handler { return ingest.New(ingest.Config{}) }

func adminRoutes(t *testing.T) []route  { return walk(t, "admin", adminHandler(t).Routes()) }
func ingestRoutes(t *testing.T) []route { return walk(t, "ingest", ingestHandler().Routes()) }

func TestOpenAPI_IsVersion31WithInfo(t *testing.T) {
	s := loadSpec(t)
	if v, _ := s.raw["openapi"].(string); !strings.HasPrefix(v, "3.1") {
		t.Errorf("openapi = %q, want 3.1.x", v)
	}
	info, _ := s.raw["info"].(map[string]any)
	if info["title"] != "Firehook" {
		t.Errorf("info.title = %v, want Firehook", info["title"])
	}
	if v, _ := info["version"].(string); v == "" {
		t.Error("info.version is empty")
	}
}

func TestOpenAPI_CoversEveryRoute(t *testing.T) {
	s := loadSpec(t)
	for _, r := range append(adminRoutes(t), ingestRoutes(t)...) {
		if _, ok := s.ops[r.key()]; !ok {
			t.Errorf("route %s is served but not documented in docs/openapi.json", r.key())
		}
	}
}

func TestOpenAPI_DocumentsNoPhantomRoutes(t *testing.T) {
	s := loadSpec(t)
	served := map[string]bool{}
	for _, r := range append(adminRoutes(t), ingestRoutes(t)...) {
		served[r.key()] = true
	}
	for key := range s.ops {
		if !served[key] {
			t.Errorf("%s is documented but no router serves it", key)
		}
	}
}

func TestOpenAPI_EveryOperationHasSummaryAndAnOutcome(t *testing.T) {
	s := loadSpec(t)
	for key, op := range s.ops {
		if strings.TrimSpace(op.Summary) == "" {
			t.Errorf("%s has no summary", key)
		}
		if op.OperationID == "" {
			t.Errorf("%s has no operationId", key)
		}
		var success, clientErr bool
		for status := range op.Responses {
			success = success || strings.HasPrefix(status, "2")
			clientErr = clientErr || strings.HasPrefix(status, "4")
		}
		if !success && !clientErr {
			t.Errorf("%s documents neither a 2xx nor a 4xx response", key)
		}
	}
}

func TestOpenAPI_OperationIDsAreUnique(t *testing.T) {
	s := loadSpec(t)
	seen := map[string]string{}
	for key, op := range s.ops {
		if prev, dup := seen[op.OperationID]; dup && op.OperationID != "" {
			t.Errorf("operationId %q is used by %s and %s", op.OperationID, prev, key)
		}
		seen[op.OperationID] = key
	}
}

func TestOpenAPI_EveryRefResolves(t *testing.T) {
	s := loadSpec(t)
	var refs int
	var visit func(at string, v any)
	visit = func(at string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				refs++
				if _, err := resolve(s.raw, ref); err != "" {
					t.Errorf("%s: $ref %q: %s", at, ref, err)
				}
			}
			for k, c := range v {
				visit(at+"/"+strings.NewReplacer("~", "~0", "/", "~1").Replace(k), c)
			}
		case []any:
			for i, c := range v {
				visit(at+"/"+strconv.Itoa(i), c)
			}
		}
	}
	visit("#", s.raw)
	if refs == 0 {
		t.Fatal("no $ref found; the walk is broken")
	}
}

// resolve follows a local JSON pointer ref ("#/a/b") in doc; a non-empty
// second result says why it does not resolve.
func resolve(doc map[string]any, ref string) (any, string) {
	if !strings.HasPrefix(ref, "#/") {
		return nil, "only local references (#/...) are allowed"
	}
	var cur any = doc
	for _, tok := range strings.Split(ref[2:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, "parent of " + strconv.Quote(tok) + " is not an object"
		}
		if cur, ok = m[tok]; !ok {
			return nil, strconv.Quote(tok) + " does not exist"
		}
	}
	return cur, ""
}

// deref returns v, or what it refers to when it is a {"$ref"} object.
func deref(t *testing.T, s *spec, v map[string]any) map[string]any {
	t.Helper()
	ref, ok := v["$ref"].(string)
	if !ok {
		return v
	}
	got, why := resolve(s.raw, ref)
	if why != "" {
		t.Fatalf("$ref %q: %s", ref, why)
	}
	m, _ := got.(map[string]any)
	return m
}

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

func TestOpenAPI_PathParametersAreDeclared(t *testing.T) {
	s := loadSpec(t)
	for key, op := range s.ops {
		path := key[strings.IndexByte(key, ' ')+1:]
		declared := map[string]bool{}
		var params []map[string]any
		if pp, ok := s.path[path]["parameters"].([]any); ok {
			for _, p := range pp {
				params = append(params, p.(map[string]any))
			}
		}
		params = append(params, op.Parameters...)
		for _, p := range params {
			p = deref(t, s, p)
			if p["in"] == "path" {
				if p["required"] != true {
					t.Errorf("%s: path parameter %v must be required", key, p["name"])
				}
				declared[p["name"].(string)] = true
			}
		}
		for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
			if !declared[m[1]] {
				t.Errorf("%s: path parameter {%s} is not declared", key, m[1])
			}
			delete(declared, m[1])
		}
		for name := range declared {
			t.Errorf("%s: declares path parameter %q that the path does not have", key, name)
		}
	}
}

// probe calls route r of h with token (none when empty), every path
// parameter "x" and no body, and returns the status; a handler that
// panics has gone past authentication, which is all most callers ask.
func probe(h http.Handler, r route, token string) (status int) {
	defer func() {
		if recover() != nil {
			status = 0
		}
	}()
	path := pathParam.ReplaceAllString(r.pattern, "x")
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(r.method, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	h.ServeHTTP(rec, req)
	return rec.Code
}

func TestOpenAPI_SecurityMatchesAuthentication(t *testing.T) {
	s := loadSpec(t)
	if _, ok := deref(t, s, map[string]any{"$ref": "#/components/securitySchemes/bearer"})["scheme"]; !ok {
		t.Fatal("components.securitySchemes.bearer is missing its scheme")
	}
	public := func(op operation) bool { return op.Security != nil && len(*op.Security) == 0 }

	// Admin routes: a route that answers 401 without a token must be
	// documented as authenticated (and list the 401); any other must
	// declare security: [].
	h := adminHandler(t)
	for _, r := range walk(t, "admin", h.Routes()) {
		op, ok := s.ops[r.key()]
		if !ok {
			continue // reported by TestOpenAPI_CoversEveryRoute
		}
		if probe(h, r, "") == http.StatusUnauthorized {
			if public(op) {
				t.Errorf("%s answers 401 without a token but is documented with security: []", r.key())
			}
			if _, ok := op.Responses["401"]; !ok {
				t.Errorf("%s answers 401 without a token but does not document 401", r.key())
			}
		} else if !public(op) {
			t.Errorf("%s needs no token but does not declare security: []", r.key())
		}
	}
	// Every ingest route is public.
	for _, r := range ingestRoutes(t) {
		if op, ok := s.ops[r.key()]; ok && !public(op) {
			t.Errorf("ingest route %s must declare security: []", r.key())
		}
	}
}

// A route that refuses a tenant API key with 403 is operator-only: it
// must document the 403, and the routes that take a tenant key must not,
// unless they refuse the operator token (/mcp acts as one tenant).
func TestOpenAPI_OperatorOnlyRoutesDocument403(t *testing.T) {
	s := loadSpec(t)
	h := adminHandler(t)
	var operatorOnly int
	for _, r := range walk(t, "admin", h.Routes()) {
		op, ok := s.ops[r.key()]
		if !ok {
			continue // reported by TestOpenAPI_CoversEveryRoute
		}
		_, documented := op.Responses["403"]
		switch status := probe(h, r, tenantKey); {
		case status == http.StatusForbidden:
			operatorOnly++
			if !documented {
				t.Errorf("%s answers 403 to a tenant API key but does not document 403", r.key())
			}
		case documented && status != 0 && probe(h, r, operatorToken) != http.StatusForbidden:
			t.Errorf("%s documents 403 but answers %d to a tenant API key and takes the operator token", r.key(), status)
		}
	}
	if operatorOnly == 0 {
		t.Fatal("no route answered 403 to the tenant key: the probe is broken")
	}
}

// Every status a route answers to a request without a body (with the
// operator token, every path parameter "x") is one it documents.
func TestOpenAPI_ProbedStatusesAreDocumented(t *testing.T) {
	s := loadSpec(t)
	h := adminHandler(t)
	for _, r := range walk(t, "admin", h.Routes()) {
		op, ok := s.ops[r.key()]
		if !ok {
			continue // reported by TestOpenAPI_CoversEveryRoute
		}
		status := probe(h, r, operatorToken)
		if status == 0 {
			t.Errorf("%s panics", r.key())
			continue
		}
		if _, ok := op.Responses[strconv.Itoa(status)]; !ok {
			t.Errorf("%s answers %d without a body but does not document it", r.key(), status)
		}
	}
}

// errorCodes reads the string values of the Code constants in
// http/api/errors.go, the error catalogue.
func errorCodes(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../http/api/errors.go", nil, 0)
	if err != nil {
		t.Fatalf("read the error catalogue: %v", err)
	}
	var codes []string
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		if typ, ok := vs.Type.(*ast.Ident); !ok || typ.Name != "Code" {
			return true
		}
		for _, v := range vs.Values {
			if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				c, _ := strconv.Unquote(lit.Value)
				codes = append(codes, c)
			}
		}
		return true
	})
	if len(codes) == 0 {
		t.Fatal("found no Code constants in http/api/errors.go")
	}
	sort.Strings(codes)
	return codes
}

func TestOpenAPI_ErrorCodesMatchTheCatalogue(t *testing.T) {
	s := loadSpec(t)
	errSchema := deref(t, s, map[string]any{"$ref": "#/components/schemas/Error"})
	props, _ := errSchema["properties"].(map[string]any)
	code, _ := props["code"].(map[string]any)
	if _, ok := props["error"]; !ok {
		t.Error("Error schema has no error property")
	}
	var documented []string
	for _, c := range code["enum"].([]any) {
		documented = append(documented, c.(string))
	}
	sort.Strings(documented)
	if want := errorCodes(t); !slices.Equal(documented, want) {
		t.Errorf("Error.code enum = %v\nhttp/api/errors.go has %v", documented, want)
	}
}

// The node hands docs.OpenAPI to the admin API; the route must serve it
// byte for byte as JSON.
func TestOpenAPI_IsServedByTheAdminListener(t *testing.T) {
	rec := httptest.NewRecorder()
	adminHandler(t).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/openapi.json", nil))
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != http.StatusOK || !bytes.Equal(body, docs.OpenAPI) {
		t.Errorf("GET /v1/openapi.json = %d with %d bytes, want 200 with the embedded document (%d bytes)",
			rec.Code, len(body), len(docs.OpenAPI))
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
}
