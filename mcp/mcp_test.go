package mcp_test

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/goleak"

	"github.com/firehook/firehook/internal/testkit"
	"github.com/firehook/firehook/node"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var update = flag.Bool("update", false, "rewrite testdata/tools.json from the server's tool list")

const operator = "op-mcp"

// world is a real node with two tenants, A (with a site) and B, each with
// an endpoint.
type world struct {
	n          *node.Node
	admin      string
	keyA, keyB string
	tenantA    string
	epA, epB   string
	siteKeyA   string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	n, err := node.Start(node.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0",
		AdminToken: operator, AllowPrivateEndpoints: true, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Shutdown(context.Background()) })
	w := &world{n: n, admin: "http://" + n.AdminAddr()}
	call := func(method, path, token string, body any, out any) {
		t.Helper()
		b, _ := json.Marshal(body)
		r := testkit.Do(t, http.DefaultClient, method, w.admin+path, strings.NewReader(string(b)),
			"Authorization", "Bearer "+token, "Content-Type", "application/json")
		if r.Status >= 300 {
			t.Fatalf("%s %s: %d %s", method, path, r.Status, r.Body)
		}
		if out != nil {
			if err := json.Unmarshal(r.Body, out); err != nil {
				t.Fatal(err)
			}
		}
	}
	var a, b struct {
		ID     string
		APIKey string `json:"api_key"`
	}
	call("POST", "/v1/tenants", operator, map[string]any{"name": "Acme", "tier": "pro"}, &a)
	call("POST", "/v1/tenants", operator, map[string]any{"name": "Bravo", "tier": "pro"}, &b)
	w.keyA, w.keyB, w.tenantA = a.APIKey, b.APIKey, a.ID
	rc := testkit.NewReceiver(t, nil)
	var ep struct{ ID string }
	call("POST", "/v1/endpoints", w.keyA, map[string]any{"tenant_id": a.ID, "url": rc.URL + "/a", "description": "the AI SDR"}, &ep)
	w.epA = ep.ID
	call("POST", "/v1/endpoints", w.keyB, map[string]any{"tenant_id": b.ID, "url": rc.URL + "/b"}, &ep)
	w.epB = ep.ID
	var site struct{ Key string }
	call("POST", "/v1/sites", w.keyA, map[string]any{"tenant_id": a.ID, "domain": "acme.test"}, &site)
	w.siteKeyA = site.Key
	return w
}

// bearer adds a key to every request.
type bearer struct{ key string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.key)
	return http.DefaultTransport.RoundTrip(r)
}

// connect opens an MCP session with the node's /mcp as key.
func (w *world) connect(t *testing.T, key string) *sdk.ClientSession {
	t.Helper()
	c := sdk.NewClient(&sdk.Implementation{Name: "test-agent", Version: "1"}, nil)
	cs, err := c.Connect(context.Background(), &sdk.StreamableClientTransport{Endpoint: w.admin + "/mcp",
		HTTPClient: &http.Client{Transport: bearer{key}}, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// callTool calls name with args and returns its structured result, or
// the error text when the tool failed.
func callTool(t *testing.T, cs *sdk.ClientSession, name string, args any) (map[string]any, string) {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		return nil, err.Error()
	}
	if res.IsError {
		var text []string
		for _, c := range res.Content {
			if tc, ok := c.(*sdk.TextContent); ok {
				text = append(text, tc.Text)
			}
		}
		return nil, strings.Join(text, " ")
	}
	b, _ := json.Marshal(res.StructuredContent)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: structured content %s: %v", name, b, err)
	}
	return out, ""
}

// The tool list is what agents see: a golden file, so that a change of a
// name, a description or a schema is deliberate (go test ./mcp -update).
func TestTools_ListIsTheGoldenOne(t *testing.T) {
	w := newWorld(t)
	cs := w.connect(t, w.keyA)
	type tool struct {
		Name         string `json:"name"`
		Description  string `json:"description"`
		InputSchema  any    `json:"input_schema"`
		OutputSchema any    `json:"output_schema"`
	}
	var tools []tool
	for tl, err := range cs.Tools(context.Background(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		tools = append(tools, tool{tl.Name, tl.Description, tl.InputSchema, tl.OutputSchema})
	}
	got, err := json.MarshalIndent(tools, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "tools.json")
	if *update {
		if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./mcp -update to write it)", err)
	}
	if strings.TrimSpace(string(want)) != strings.TrimSpace(string(got)) {
		t.Errorf("the tool list differs from %s (go test ./mcp -update if on purpose):\n%s", golden, got)
	}
}

// Over streamable HTTP, each tool acts as the key's tenant through the
// admin API: the answers are the tenant's data, the actions change what
// the admin API then shows, and another tenant's resources are not found.
func TestTools_ActAsTheKeysTenantOverHTTP(t *testing.T) {
	w := newWorld(t)
	cs := w.connect(t, w.keyA)

	out, errText := callTool(t, cs, "list_endpoints", map[string]any{})
	eps, _ := out["endpoints"].([]any)
	if errText != "" || len(eps) != 1 || eps[0].(map[string]any)["id"] != w.epA {
		t.Fatalf("list_endpoints = %v %q; want only %s", out, errText, w.epA)
	}
	for i := range 2 { // two more: three endpoints in pages of two
		r := testkit.Do(t, http.DefaultClient, http.MethodPost, w.admin+"/v1/endpoints",
			strings.NewReader(`{"tenant_id":"`+w.tenantA+`","url":"https://hooks.acme.test/`+string(rune('x'+i))+`"}`),
			"Authorization", "Bearer "+w.keyA, "Content-Type", "application/json")
		if r.Status != http.StatusCreated {
			t.Fatalf("create endpoint: %d %s", r.Status, r.Body)
		}
	}
	first, _ := callTool(t, cs, "list_endpoints", map[string]any{"limit": 2})
	second, _ := callTool(t, cs, "list_endpoints", map[string]any{"limit": 2, "cursor": first["next_cursor"]})
	if len(first["endpoints"].([]any)) != 2 || len(second["endpoints"].([]any)) != 1 || second["next_cursor"] != nil {
		t.Fatalf("list_endpoints in pages of 2: %v then %v; want 2, then 1 and no cursor", first, second)
	}
	if _, errText := callTool(t, cs, "list_endpoints", map[string]any{"cursor": "-3"}); errText == "" {
		t.Error("list_endpoints with a bad cursor: no error")
	}
	if out, errText := callTool(t, cs, "endpoint_health", map[string]any{"endpoint_id": w.epA}); errText != "" || out["state"] == nil {
		t.Fatalf("endpoint_health = %v %q", out, errText)
	}
	if out, errText := callTool(t, cs, "pause_endpoint", map[string]any{"endpoint_id": w.epA}); errText != "" || out["state"] != "disabled" {
		t.Fatalf("pause_endpoint = %v %q; want state disabled", out, errText)
	}
	if out, errText := callTool(t, cs, "resume_endpoint", map[string]any{"endpoint_id": w.epA}); errText != "" || out["state"] != "enabled" {
		t.Fatalf("resume_endpoint = %v %q; want state enabled", out, errText)
	}
	if out, errText := callTool(t, cs, "add_suppression", map[string]any{"kind": "company_domain", "values": []string{"rival.example"}}); errText != "" || out["added"] != float64(1) {
		t.Fatalf("add_suppression = %v %q; want added 1", out, errText)
	}
	listed := func() string {
		r := testkit.Do(t, http.DefaultClient, http.MethodGet, w.admin+"/v1/tenants/"+w.tenantA+"/suppressions", nil, "Authorization", "Bearer "+w.keyA)
		return string(r.Body)
	}
	if !strings.Contains(listed(), "rival.example") {
		t.Fatalf("after add_suppression the admin API lists %s", listed())
	}
	if out, errText := callTool(t, cs, "remove_suppression", map[string]any{"kind": "company_domain", "values": []string{"rival.example"}}); errText != "" || out["done"] != true {
		t.Fatalf("remove_suppression = %v %q; want done", out, errText)
	}
	if strings.Contains(listed(), "rival.example") {
		t.Fatalf("after remove_suppression the admin API lists %s", listed())
	}
	if out, errText := callTool(t, cs, "failed_deliveries", map[string]any{"endpoint_id": w.epA}); errText != "" || len(out["deliveries"].([]any)) != 0 {
		t.Fatalf("failed_deliveries = %v %q; want none", out, errText)
	}
	out, errText = callTool(t, cs, "list_sites", map[string]any{})
	sites, _ := out["sites"].([]any)
	if errText != "" || len(sites) != 1 || sites[0].(map[string]any)["key"] != w.siteKeyA {
		t.Fatalf("list_sites = %v %q", out, errText)
	}
	r := testkit.Do(t, http.DefaultClient, http.MethodPost, "http://"+w.n.IngestAddr()+"/v1/collect",
		strings.NewReader(`{"site":"`+w.siteKeyA+`","vid":"v_1","url":"https://acme.test/pricing","title":"Pricing"}`), "Content-Type", "application/json")
	if r.Status != http.StatusAccepted {
		t.Fatalf("page view: %d %s", r.Status, r.Body)
	}
	siteID := sites[0].(map[string]any)["id"].(string)
	if out, errText := callTool(t, cs, "pixel_status", map[string]any{"site_id": siteID}); errText != "" || out["accepted"] != float64(1) || out["last_accepted_at"] == nil {
		t.Fatalf("pixel_status after one page view = %v %q; want 1 accepted", out, errText)
	}
	var views []any
	testkit.Eventually(t, 5*time.Second, func() bool {
		out, errText = callTool(t, cs, "recent_page_views", map[string]any{"since": "2000-01-01T00:00:00Z"})
		views, _ = out["events"].([]any)
		return errText == "" && len(views) == 1
	}, "the page view in recent_page_views")
	if v := views[0].(map[string]any); v["url"] != "https://acme.test/pricing" || v["visitor_id"] != "v_1" {
		t.Fatalf("recent_page_views = %v", out)
	}

	t.Run("another tenant's resources are not found and not changed", func(t *testing.T) {
		if _, errText := callTool(t, cs, "pixel_status", map[string]any{"site_id": "site_01JZZZZZZZZZZZZZZZZZZZZZZZ"}); !strings.Contains(errText, "404") {
			t.Errorf("pixel_status of an unknown site: %q; want not found", errText)
		}
		for _, tool := range []string{"endpoint_health", "pause_endpoint", "failed_deliveries"} {
			if _, errText := callTool(t, cs, tool, map[string]any{"endpoint_id": w.epB}); !strings.Contains(errText, "404") {
				t.Errorf("%s on tenant B's endpoint: %q; want a not-found error", tool, errText)
			}
		}
		csB := w.connect(t, w.keyB)
		out, _ := callTool(t, csB, "list_endpoints", map[string]any{})
		if eps := out["endpoints"].([]any); len(eps) != 1 || eps[0].(map[string]any)["state"] != "enabled" {
			t.Errorf("tenant B's endpoints after A's calls: %v", out)
		}
	})
	t.Run("bad input is an error that changes nothing", func(t *testing.T) {
		for _, c := range []struct {
			tool string
			args map[string]any
		}{
			{"endpoint_health", map[string]any{}},
			{"endpoint_health", map[string]any{"endpoint_id": 7}},
			{"add_suppression", map[string]any{"kind": "planet", "values": []string{"mars"}}},
			{"add_suppression", map[string]any{"kind": "email_domain"}},
			{"recent_page_views", map[string]any{"since": "yesterday"}},
			{"replay_delivery", map[string]any{"delivery_id": "../../v1/tenants"}},
			{"no_such_tool", map[string]any{}},
		} {
			if _, errText := callTool(t, cs, c.tool, c.args); errText == "" {
				t.Errorf("%s %v: no error", c.tool, c.args)
			}
		}
		out, _ := callTool(t, cs, "list_endpoints", map[string]any{})
		if eps := out["endpoints"].([]any); eps[0].(map[string]any)["state"] != "enabled" {
			t.Errorf("an endpoint changed: %v", out)
		}
	})
}

// /mcp answers only tenant API keys: 401 without one, 403 for the
// operator token (a session sees one tenant).
func TestHandler_RefusesNoKeyAndTheOperator(t *testing.T) {
	w := newWorld(t)
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`
	for _, c := range []struct {
		auth   []string
		status int
	}{
		{nil, http.StatusUnauthorized},
		{[]string{"Authorization", "Bearer " + operator}, http.StatusForbidden},
	} {
		r := testkit.Do(t, http.DefaultClient, http.MethodPost, w.admin+"/mcp", strings.NewReader(body),
			append([]string{"Content-Type", "application/json", "Accept", "application/json, text/event-stream"}, c.auth...)...)
		if r.Status != c.status {
			t.Errorf("%v: %d %s; want %d", c.auth, r.Status, r.Body, c.status)
		}
	}
}

// The identified-visitor tools: a page view that names a person in the
// graph is one visit, with the person and the company, found by each
// tool and filter that matches it and by none that does not; another
// tenant sees none.
func TestTools_IdentifiedVisitors(t *testing.T) {
	w := newWorld(t)
	email := "ada@engines.example"
	line, _ := json.Marshal(map[string]any{"person_id": "p_ada", "updated_at": "2026-01-01T00:00:00Z",
		"identifiers": []map[string]string{{"type": "hem_sha256", "value": testkit.HEMs(t, email).SHA256}},
		"person":      map[string]any{"first_name": "Ada", "last_name": "Lovelace", "job_title": "Analyst", "business_email": email},
		"company":     map[string]any{"name": "Analytical Engines", "domain": "engines.example"}})
	r := testkit.Do(t, http.DefaultClient, http.MethodPost, w.admin+"/v1/graph/import", strings.NewReader(string(line)+"\n"),
		"Authorization", "Bearer "+operator, "Content-Type", "application/x-ndjson")
	if r.Status != http.StatusOK {
		t.Fatalf("graph import: %d %s", r.Status, r.Body)
	}
	r = testkit.Do(t, http.DefaultClient, http.MethodPost, "http://"+w.n.IngestAddr()+"/v1/collect",
		strings.NewReader(`{"site":"`+w.siteKeyA+`","vid":"v_ada","url":"https://acme.test/pricing","email":"`+email+`"}`), "Content-Type", "application/json")
	if r.Status != http.StatusAccepted {
		t.Fatalf("page view: %d %s", r.Status, r.Body)
	}
	cs := w.connect(t, w.keyA)
	visits := func(tool string, args map[string]any) []any {
		t.Helper()
		out, errText := callTool(t, cs, tool, args)
		if errText != "" {
			t.Fatalf("%s %v: %s", tool, args, errText)
		}
		v, _ := out["visits"].([]any)
		return v
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return len(visits("recent_identified_visitors", map[string]any{})) == 1 },
		"the identified visit")
	v := visits("recent_identified_visitors", map[string]any{})[0].(map[string]any)
	person, company := v["person"].(map[string]any), v["company"].(map[string]any)
	if v["type"] != "visitor.identified" || v["url"] != "https://acme.test/pricing" || person["id"] != "p_ada" ||
		person["first_name"] != "Ada" || company["domain"] != "engines.example" {
		t.Fatalf("the visit is %v", v)
	}
	for _, c := range []struct {
		tool string
		args map[string]any
		want int
	}{
		{"recent_identified_visitors", map[string]any{"first_match_only": true, "page_pattern": "/pricing", "company_domain": "ENGINES.example"}, 1},
		{"recent_identified_visitors", map[string]any{"page_pattern": "/careers"}, 0},
		{"recent_identified_visitors", map[string]any{"since": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}, 0},
		{"company_visitors", map[string]any{"company_domain": "engines.example"}, 1},
		{"company_visitors", map[string]any{"company_domain": "rival.example"}, 0},
		{"person_visits", map[string]any{"person_id": "p_ada"}, 1},
		{"person_visits", map[string]any{"person_id": "p_bob"}, 0},
	} {
		if got := len(visits(c.tool, c.args)); got != c.want {
			t.Errorf("%s %v: %d visits; want %d", c.tool, c.args, got, c.want)
		}
	}
	// The visit's webhook to A's endpoint: its receipt, then a replay.
	var page struct {
		Deliveries []struct{ ID string } `json:"deliveries"`
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		r := testkit.Do(t, http.DefaultClient, http.MethodGet, w.admin+"/v1/endpoints/"+w.epA+"/deliveries?status=delivered", nil, "Authorization", "Bearer "+w.keyA)
		return json.Unmarshal(r.Body, &page) == nil && len(page.Deliveries) == 1
	}, "the visit's delivery is delivered")
	dlv := page.Deliveries[0].ID
	if out, errText := callTool(t, cs, "delivery", map[string]any{"delivery_id": dlv}); errText != "" || out["status"] != "delivered" || len(out["attempts"].([]any)) != 1 {
		t.Fatalf("delivery = %v %q; want delivered after one attempt", out, errText)
	}
	if out, errText := callTool(t, cs, "replay_delivery", map[string]any{"delivery_id": dlv}); errText != "" || out["id"] != dlv {
		t.Fatalf("replay_delivery = %v %q", out, errText)
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		out, _ := callTool(t, cs, "delivery", map[string]any{"delivery_id": dlv})
		return out["status"] == "delivered" && len(out["attempts"].([]any)) == 2
	}, "the replay is delivered: a second attempt")
	if _, errText := callTool(t, w.connect(t, w.keyB), "delivery", map[string]any{"delivery_id": dlv}); !strings.Contains(errText, "404") {
		t.Errorf("tenant B reads A's delivery: %q; want not found", errText)
	}

	hem := testkit.HEMs(t, email).SHA256
	if out, errText := callTool(t, cs, "lookup_identifier", map[string]any{"type": "hem_sha256", "value": hem}); errText != "" ||
		out["person_id"] != "p_ada" || out["company"].(map[string]any)["domain"] != "engines.example" {
		t.Errorf("lookup_identifier of Ada's hashed email: %v %q", out, errText)
	}
	csB := w.connect(t, w.keyB)
	if out, _ := callTool(t, csB, "recent_identified_visitors", map[string]any{}); len(out["visits"].([]any)) != 0 {
		t.Errorf("tenant B sees A's visits: %v", out)
	}
	if out, errText := callTool(t, csB, "lookup_identifier", map[string]any{"type": "hem_sha256", "value": hem}); !strings.Contains(errText, "404") {
		t.Errorf("tenant B looks up the person A identified: %v %q; want not found", out, errText)
	}
	if _, errText := callTool(t, cs, "company_visitors", map[string]any{}); errText == "" {
		t.Error("company_visitors without a domain: no error")
	}
}

// The resources an agent reads to understand the API and the webhooks:
// the OpenAPI document, the webhook payload's JSON Schema and the
// webhooks guide, each as the node serves it.
func TestResources_APIContractAndPayloadSchema(t *testing.T) {
	w := newWorld(t)
	cs := w.connect(t, w.keyA)
	var uris []string
	for r, err := range cs.Resources(context.Background(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		uris = append(uris, r.URI)
	}
	if len(uris) != 3 {
		t.Fatalf("resources %v; want 3", uris)
	}
	read := func(uri string) string {
		t.Helper()
		res, err := cs.ReadResource(context.Background(), &sdk.ReadResourceParams{URI: uri})
		if err != nil || len(res.Contents) != 1 {
			t.Fatalf("read %s: %v %+v", uri, err, res)
		}
		return res.Contents[0].Text
	}
	var openapi struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	if err := json.Unmarshal([]byte(read("firehook://docs/openapi.json")), &openapi); err != nil || openapi.Paths["/v1/identified"] == nil {
		t.Errorf("the OpenAPI resource: %v, %d paths", err, len(openapi.Paths))
	}
	var schema struct {
		Properties map[string]struct {
			Properties map[string]any `json:"properties"`
		} `json:"properties"`
	}
	if err := json.Unmarshal([]byte(read("firehook://docs/webhook-payload.schema.json")), &schema); err != nil ||
		schema.Properties["sequence"].Properties != nil || schema.Properties["data"].Properties["person"] == nil {
		t.Errorf("the payload schema resource: %v %+v", err, schema)
	}
	if md := read("firehook://docs/webhooks.md"); !strings.Contains(md, "webhook-signature") {
		t.Errorf("the webhooks guide resource: %.200s", md)
	}
	if _, err := cs.ReadResource(context.Background(), &sdk.ReadResourceParams{URI: "firehook://docs/../../etc/passwd"}); err == nil {
		t.Error("an unknown resource was read")
	}
}
