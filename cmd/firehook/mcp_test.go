package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// `firehook mcp` serves MCP on stdio for one tenant, through a node's
// admin API: the SDK's own client lists its tools and calls one, seeing
// the tenant's endpoint and not another tenant's.
func TestMCP_StdioActsAsTheKeysTenant(t *testing.T) {
	const token = "op-mcp-stdio"
	p := startServeArgs(t, t.TempDir(), nil, "FIREHOOK_ADMIN_TOKEN="+token)
	keyOf := func(name string) (id, key string) {
		var tn struct {
			ID     string
			APIKey string `json:"api_key"`
		}
		if s := call(t, "POST", p.admin+"/v1/tenants", token, map[string]any{"name": name, "tier": "pro"}, &tn); s != http.StatusCreated {
			t.Fatalf("create tenant: %d", s)
		}
		return tn.ID, tn.APIKey
	}
	a, keyA := keyOf("Acme")
	b, _ := keyOf("Bravo")
	var epA, epB struct{ ID string }
	call(t, "POST", p.admin+"/v1/endpoints", token, map[string]any{"tenant_id": a, "url": "https://hooks.acme.test/"}, &epA)
	call(t, "POST", p.admin+"/v1/endpoints", token, map[string]any{"tenant_id": b, "url": "https://hooks.bravo.test/"}, &epB)

	cmd := exec.Command(binPath, "mcp", "--admin", p.admin)
	cmd.Env = append(os.Environ(), "FIREHOOK_API_KEY="+keyA)
	c := sdk.NewClient(&sdk.Implementation{Name: "test-agent", Version: "1"}, nil)
	cs, err := c.Connect(context.Background(), &sdk.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	n := 0
	for _, err := range cs.Tools(context.Background(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n < 10 {
		t.Fatalf("%d tools listed; want the whole list", n)
	}
	res, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "list_endpoints", Arguments: map[string]any{}})
	if err != nil || res.IsError {
		t.Fatalf("list_endpoints: %v %+v", err, res)
	}
	var out struct{ Endpoints []struct{ ID string } }
	b2, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b2, &out); err != nil || len(out.Endpoints) != 1 || out.Endpoints[0].ID != epA.ID {
		t.Fatalf("list_endpoints = %s; want only %s", b2, epA.ID)
	}
	res, err = cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "endpoint_health", Arguments: map[string]any{"endpoint_id": epB.ID}})
	if err != nil || !res.IsError {
		t.Fatalf("endpoint_health of another tenant's endpoint: %v %+v; want a tool error", err, res)
	}

	// Every tool over stdio, each with arguments it takes: a result, not
	// a protocol error (a delivery that does not exist is a tool error).
	var site struct{ ID string }
	call(t, "POST", p.admin+"/v1/sites", token, map[string]any{"tenant_id": a, "domain": "acme.test"}, &site)
	args := map[string]map[string]any{
		"list_endpoints": {}, "endpoint_health": {"endpoint_id": epA.ID}, "failed_deliveries": {"endpoint_id": epA.ID},
		"delivery": {"delivery_id": "dlv_01JZZZZZZZZZZZZZZZZZZZZZZZ"}, "replay_delivery": {"delivery_id": "dlv_01JZZZZZZZZZZZZZZZZZZZZZZZ"},
		"pause_endpoint": {"endpoint_id": epA.ID}, "resume_endpoint": {"endpoint_id": epA.ID},
		"add_suppression":    {"kind": "company_domain", "values": []string{"rival.example"}},
		"remove_suppression": {"kind": "company_domain", "values": []string{"rival.example"}},
		"list_sites":         {}, "pixel_status": {"site_id": site.ID}, "recent_page_views": {},
		"recent_identified_visitors": {}, "company_visitors": {"company_domain": "acme.test"}, "person_visits": {"person_id": "p_x"},
		"lookup_identifier": {"type": "cookie", "value": "ck-1"},
	}
	wantError := map[string]bool{"delivery": true, "replay_delivery": true, "lookup_identifier": true}
	for tl, err := range cs.Tools(context.Background(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		in, ok := args[tl.Name]
		if !ok {
			t.Errorf("tool %s has no case here", tl.Name)
			continue
		}
		res, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: tl.Name, Arguments: in})
		if err != nil || res.IsError != wantError[tl.Name] {
			t.Errorf("%s over stdio: %v, error result %v; want error result %v", tl.Name, err, res != nil && res.IsError, wantError[tl.Name])
		}
	}
}
