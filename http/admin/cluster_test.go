package admin_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/firehook/firehook/http/admin"
)

// GET /v1/cluster and /v1/cluster/shards name every node of a
// deployment: the operator's alone.
func TestCluster_ViewIsTheOperators(t *testing.T) {
	view := map[string]any{"node": "n1", "members": []any{map[string]any{"name": "n1", "state": "alive"}}}
	e := newEnv(t, func(c *admin.Config) {
		c.Cluster = func(context.Context) any { return view }
		c.ClusterShards = func(context.Context) any { return view }
	})
	tenant := e.createTenant(t, "Acme")

	for _, path := range []string{"/v1/cluster", "/v1/cluster/shards"} {
		got := ok[map[string]any](t, e.do(t, http.MethodGet, path, operatorToken, ""), http.StatusOK)
		if got["node"] != "n1" {
			t.Fatalf("operator's %s: %v", path, got)
		}
		apiError(t, e.do(t, http.MethodGet, path, tenant.APIKey, ""), http.StatusForbidden, "forbidden")
		apiError(t, e.do(t, http.MethodGet, path, "", ""), http.StatusUnauthorized, "unauthorized")
	}
}

func TestCluster_NotServedWithoutAView(t *testing.T) {
	e := newEnv(t)
	apiError(t, e.do(t, http.MethodGet, "/v1/cluster", operatorToken, ""), http.StatusNotFound, "not_found")
}
