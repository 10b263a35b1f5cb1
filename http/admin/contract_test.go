package admin_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/firehook/firehook/docs"
	"github.com/firehook/firehook/internal/openapi"
	"github.com/firehook/firehook/internal/testkit"
)

// The contract test: every route of the table (routes_test.go) is called
// as its caller would, with valid data, on a real handler over a real
// store, and its answer is held against docs/openapi.json: a documented
// status and media type, and a body that the documented schema accepts,
// with every required field, the right types and no undocumented field
// (package internal/openapi). The isolation audit holds its 401, 403 and
// 404 answers against the document the same way.

// contract is docs/openapi.json, parsed once.
var contract = sync.OnceValues(func() (*openapi.Doc, error) { return openapi.Parse(docs.OpenAPI) })

// conforms asserts that r, an answer of rt's route, is one that
// docs/openapi.json describes for it.
func conforms(t testing.TB, rt route, r testkit.Response) {
	t.Helper()
	doc, err := contract()
	if err != nil {
		t.Fatalf("docs/openapi.json: %v", err)
	}
	for _, problem := range doc.CheckAnswer(openapi.Operation{Method: rt.method, Path: rt.pattern}, r.Status, r.Header, r.Body) {
		t.Errorf("%s: %s (docs/openapi.json)", rt.key(), problem)
	}
}

// caller is the token that rt's requests are made with in the contract
// test: the operator for its routes, the target's key for a tenant's,
// none for a public one.
func caller(rt route, p party) string {
	switch rt.access {
	case operatorOnly:
		return operatorToken
	case public:
		return ""
	}
	return p.tenant.APIKey
}

func TestContract_EveryRouteAnswersAsDocumented(t *testing.T) {
	// Reads share one world; a write gets a world of its own.
	shared, sharedA, _ := newWorld(t)
	shared.populate(t, &sharedA)
	for _, rt := range routes {
		t.Run(rt.name, func(t *testing.T) {
			e, a := shared, sharedA
			if rt.method != http.MethodGet {
				e, a, _ = newWorld(t)
				e.populate(t, &a)
			}
			of := a.ids()
			of.code = e.dashboard.NewLoginCode(operatorToken)
			path, body := rt.requestFor(t, of)
			r := e.do(t, rt.method, path, caller(rt, a), body)
			if r.Status != rt.ok {
				t.Fatalf("status = %d, want %d; body %.300s", r.Status, rt.ok, r.Body)
			}
			conforms(t, rt, r)
		})
	}
}

// The variants of answers that the table's requests do not reach: a
// finished receipt, a secret during its overlap, a page of receipts of
// one status, a lookup by another identifier, a tenant's new key.
func TestContract_VariantsAnswerAsDocumented(t *testing.T) {
	e, a, _ := newWorld(t)
	_, delivered := e.populate(t, &a)
	ok[secretResp](t, e.do(t, http.MethodPost, "/v1/endpoints/"+a.endpoint.ID+"/rotate-secret", a.tenant.APIKey, ""), http.StatusOK)
	for _, tc := range []struct {
		route, path, token string
		status             int
	}{
		{"get delivery", "/v1/deliveries/" + delivered.ID, a.tenant.APIKey, http.StatusOK},
		{"list endpoint deliveries", "/v1/endpoints/" + a.endpoint.ID + "/deliveries?status=delivered", a.tenant.APIKey, http.StatusOK},
		{"list endpoint deliveries", "/v1/endpoints/" + a.endpoint.ID + "/deliveries?limit=1", a.tenant.APIKey, http.StatusOK},
		{"get endpoint secret", "/v1/endpoints/" + a.endpoint.ID + "/secret", a.tenant.APIKey, http.StatusOK},
		{"list actors", "/v1/actors", operatorToken, http.StatusOK},
		{"pipeline", "/v1/pipeline", operatorToken, http.StatusOK},
		{"list tenants", "/v1/tenants", operatorToken, http.StatusOK},
		{"pull events of tenant", "/v1/events?tenant_id=" + a.tenant.ID + "&since=2000-01-01T00:00:00Z", operatorToken, http.StatusOK},
		{"look up identifier", "/v1/graph/lookup?type=hem_sha256&value=" + missing.hem, operatorToken, http.StatusNotFound},
		{"get delivery", "/v1/deliveries/" + missing.delivery, a.tenant.APIKey, http.StatusNotFound},
		{"list endpoint deliveries", "/v1/endpoints/" + a.endpoint.ID + "/deliveries?limit=0", a.tenant.APIKey, http.StatusBadRequest},
	} {
		rt := routeNamed(t, tc.route)
		t.Run(tc.route+" "+tc.path, func(t *testing.T) {
			r := e.do(t, rt.method, tc.path, tc.token, "")
			if r.Status != tc.status {
				t.Fatalf("status = %d, want %d; body %.300s", r.Status, tc.status, r.Body)
			}
			conforms(t, rt, r)
		})
	}
	r := e.do(t, http.MethodPost, "/v1/deliveries/"+delivered.ID+"/replay", a.tenant.APIKey, "")
	conforms(t, routeNamed(t, "replay delivery"), r)
	r = e.do(t, http.MethodPost, "/v1/tenants/"+a.tenant.ID+"/rotate-key", a.tenant.APIKey, "")
	conforms(t, routeNamed(t, "rotate tenant key"), r)
}

// API.md: a receipt is {id, event_id, endpoint_id, status, attempts:
// [...], next_attempt_at}; next_attempt_at is null, not absent, once no
// attempt is due, in every answer that shows a receipt.
func TestContract_ReceiptsShowNextAttemptAtAlways(t *testing.T) {
	e, a, _ := newWorld(t)
	_, delivered := e.populate(t, &a)
	receipts := func(t *testing.T, path string) []map[string]json.RawMessage {
		r := e.do(t, http.MethodGet, path, a.tenant.APIKey, "")
		page := ok[struct {
			Deliveries []map[string]json.RawMessage `json:"deliveries"`
		}](t, r, http.StatusOK)
		return page.Deliveries
	}
	one := func(t *testing.T, method, path string, status int) []map[string]json.RawMessage {
		return []map[string]json.RawMessage{ok[map[string]json.RawMessage](t, e.do(t, method, path, a.tenant.APIKey, ""), status)}
	}
	for _, tc := range []struct {
		name     string
		receipts func(t *testing.T) []map[string]json.RawMessage
		due      bool // whether an attempt is due
	}{
		{"GET a delivered receipt", func(t *testing.T) []map[string]json.RawMessage {
			return one(t, http.MethodGet, "/v1/deliveries/"+delivered.ID, http.StatusOK)
		}, false},
		{"GET a pending receipt", func(t *testing.T) []map[string]json.RawMessage {
			return one(t, http.MethodGet, "/v1/deliveries/"+a.delivery.ID, http.StatusOK)
		}, true},
		{"list delivered receipts", func(t *testing.T) []map[string]json.RawMessage {
			return receipts(t, "/v1/endpoints/"+a.endpoint.ID+"/deliveries?status=delivered")
		}, false},
		{"list pending receipts", func(t *testing.T) []map[string]json.RawMessage {
			return receipts(t, "/v1/endpoints/"+a.endpoint.ID+"/deliveries?status=pending")
		}, true},
		// Last: the replay makes the delivered receipt due again.
		{"replay a delivered receipt", func(t *testing.T) []map[string]json.RawMessage {
			return one(t, http.MethodPost, "/v1/deliveries/"+delivered.ID+"/replay", http.StatusAccepted)
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.receipts(t)
			if len(got) != 1 {
				t.Fatalf("%d receipts, want 1", len(got))
			}
			for _, k := range []string{"id", "event_id", "endpoint_id", "status", "attempts", "next_attempt_at"} {
				if _, found := got[0][k]; !found {
					t.Errorf("the receipt has no %q: %v", k, got[0])
				}
			}
			next := string(got[0]["next_attempt_at"])
			if tc.due == (next == "null") {
				t.Errorf("next_attempt_at = %s, want %s", next, map[bool]string{true: "a time", false: "null"}[tc.due])
			}
			if string(got[0]["attempts"]) == "null" {
				t.Errorf("attempts = null, want an array")
			}
		})
	}
}

// apiMD is what ../shared/API.md, the external contract, lists of the
// answers of the admin API: field paths (items of an array as name[]).
// Each must be in the real answer and required by docs/openapi.json.
var apiMD = []struct {
	route  string // a name in the route table
	path   string // the request's path and query, when not the table's
	body   string // the request's body, when not the table's
	fields []string
}{
	{route: "create tenant", fields: []string{"id", "name", "tier", "api_key"}},
	{route: "create site for tenant", fields: []string{"id", "key", "tenant_id", "domain", "allowed_origins"}},
	{route: "create endpoint for tenant", fields: []string{"id", "secret", "state", "tenant_id", "url", "events",
		"description", "max_in_flight", "rate_limit_per_s", "timeout_ms", "headers"}},
	{route: "rotate endpoint secret", fields: []string{"secret"}},
	{route: "endpoint health", fields: []string{"state", "delivered", "failed", "pending", "retrying", "success_rate",
		"p50_ms", "p99_ms", "retries", "last_success_at", "last_failure_at"}},
	{route: "get delivery", path: "/v1/deliveries/{delivered}", fields: receiptFields("")},
	{route: "list endpoint deliveries", path: "/v1/endpoints/{endpoint}/deliveries?status=delivered",
		fields: append([]string{"deliveries"}, receiptFields("deliveries[].")...)},
	{route: "import graph", body: "{\"person_id\":\"p_1\"}\nnot json\n",
		fields: []string{"imported", "rejected", "errors", "errors[].line", "errors[].error"}},
	{route: "look up identifier", fields: []string{"person_id", "person", "company", "identifiers"}},
	{route: "list actors", fields: []string{"actors", "actors[].kind", "actors[].id", "actors[].node", "actors[].mailbox_depth",
		"actors[].in_flight", "actors[].restarts", "actors[].state"}},
	{route: "get endpoint", path: "/v1/endpoints/" + missing.endpoint, fields: []string{"error", "code"}},
}

// receiptFields are the fields of a receipt in API.md, under prefix.
func receiptFields(prefix string) []string {
	var out []string
	for _, f := range []string{"id", "event_id", "endpoint_id", "status", "attempts", "attempts[].n", "attempts[].at",
		"attempts[].status_code", "attempts[].duration_ms", "attempts[].error", "attempts[].response_snippet", "next_attempt_at"} {
		out = append(out, prefix+f)
	}
	return out
}

func TestContract_AnswersHaveTheFieldsOfAPIMD(t *testing.T) {
	e, a, _ := newWorld(t)
	_, delivered := e.populate(t, &a)
	for _, tc := range apiMD {
		rt := routeNamed(t, tc.route)
		t.Run(tc.route, func(t *testing.T) {
			path, body := rt.request(t, a)
			if tc.path != "" {
				path = strings.NewReplacer("{delivered}", delivered.ID, "{endpoint}", a.endpoint.ID).Replace(tc.path)
			}
			if tc.body != "" {
				body = tc.body
			}
			r := e.do(t, rt.method, path, caller(rt, a), body)
			conforms(t, rt, r)
			var answer any
			if err := json.Unmarshal(r.Body, &answer); err != nil {
				t.Fatalf("answer %d %.300s: %v", r.Status, r.Body, err)
			}
			doc, _ := contract()
			res, err := doc.Response(openapi.Operation{Method: rt.method, Path: rt.pattern}, r.Status)
			if err != nil {
				t.Fatal(err)
			}
			schema, err := res.Schema("application/json")
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range tc.fields {
				// Present in the answer; and the document requires it: the
				// answer without it no longer conforms.
				without, found := drop(answer, strings.Split(f, "."))
				if !found {
					t.Errorf("API.md lists %q, which the answer lacks: %.500s", f, r.Body)
					continue
				}
				b, _ := json.Marshal(without)
				if problems := schema.Check(b); !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, "required") }) {
					t.Errorf("API.md lists %q, which docs/openapi.json does not require (%d %s)", f, r.Status, rt.key())
				}
			}
		})
	}
}

// drop returns a deep copy of v without the field at path (name, or
// name[] for every item of an array, then the rest of the path), and
// whether the field was there (in every item, and in at least one).
func drop(v any, path []string) (any, bool) {
	obj, isObj := v.(map[string]any)
	if !isObj || len(path) == 0 {
		return v, false
	}
	name, each := strings.CutSuffix(path[0], "[]")
	x, present := obj[name]
	if !present {
		return v, false
	}
	out := make(map[string]any, len(obj))
	for k, y := range obj {
		out[k] = y
	}
	switch {
	case !each && len(path) == 1:
		delete(out, name)
		return out, true
	case !each:
		sub, found := drop(x, path[1:])
		out[name] = sub
		return out, found
	}
	items, _ := x.([]any)
	if len(items) == 0 {
		return v, false
	}
	copied := make([]any, len(items))
	for i, item := range items {
		sub, found := drop(item, path[1:])
		if !found {
			return v, false
		}
		copied[i] = sub
	}
	out[name] = copied
	return out, true
}
