package admin

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/firehook/firehook/http/api"
	"github.com/firehook/firehook/internal/keyrate"
)

// Handler serves the admin API. Routes (all under Bearer auth except the
// probes and the OpenAPI document):
//
//	GET  /healthz, /readyz, /v1/openapi.json
//	POST /v1/tenants                          operator
//	GET  /v1/tenants, /v1/tenants/{id}
//	PATCH /v1/tenants/{id}                    operator
//	POST /v1/tenants/{id}/rotate-key
//	POST /v1/sites; GET /v1/sites; GET, PATCH, DELETE /v1/sites/{id}
//	POST /v1/endpoints; GET /v1/endpoints; GET, PATCH, DELETE /v1/endpoints/{id}
//	GET  /v1/endpoints/{id}/secret
//	POST /v1/endpoints/{id}/rotate-secret, /disable, /enable
//	GET  /v1/endpoints/{id}/deliveries; POST /v1/endpoints/{id}/replay
//	GET  /v1/deliveries/{id}; POST /v1/deliveries/{id}/replay
//	POST /v1/graph/import; GET /v1/graph/lookup, /v1/graph/stats;
//	DELETE /v1/graph/persons/{id}                        operator
//	POST, GET, DELETE /v1/tenants/{id}/suppressions
//	POST, GET, DELETE /v1/suppressions                   operator
//	GET  /metrics (no token from loopback, else operator); GET /v1/pipeline
//	GET  /v1/endpoints/{id}/health; GET /v1/actors, /v1/actors/{id}
//	GET  /v1/events, /v1/export.csv (observability.go)
//
// Every route is in the route table of routes_test.go, which says who may
// call it: a new route fails TestScoping_EveryRouteIsInTheTable until it
// joins, and then the tenant isolation audit and the contract test
// (answers against docs/openapi.json) cover it.
type Handler struct {
	cfg    Config
	router chi.Router
	// authFailures counts failed authentications by client address (nil:
	// not limited; see Config.AuthFailuresPerMinute).
	authFailures *keyrate.Limiter
}

// New returns the admin API for cfg. Routes added by later stages mount
// on Router() inside the authenticated group via Mount.
func New(cfg Config) *Handler {
	cfg.withDefaults()
	h := &Handler{cfg: cfg}
	if cfg.AuthFailuresPerMinute > 0 {
		h.authFailures = keyrate.New(keyrate.Config{PerSecond: cfg.AuthFailuresPerMinute / 60, Burst: cfg.AuthFailureBurst})
	}
	r := chi.NewRouter()
	r.NotFound(func(w http.ResponseWriter, _ *http.Request) {
		api.WriteError(w, nil, api.Errorf(api.CodeNotFound, "no such route"))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, req *http.Request) {
		// RFC 9110 §15.5.6: a 405 lists the methods the resource has.
		if allow := h.allowedMethods(req.URL.Path); allow != "" {
			w.Header().Set("Allow", allow)
		}
		api.WriteError(w, nil, api.Errorf(api.CodeMethodNotAllowed, "method not allowed"))
	})
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		api.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Get("/readyz", h.readyz)
	r.Get("/v1/openapi.json", h.openapi)
	if d := h.cfg.Dashboard; d != nil {
		r.Get("/dashboard", d.ServeHTTP)
		r.Get("/dashboard/{asset}", d.ServeHTTP)
		r.Post("/dashboard/login", d.ServeHTTP)
	}
	r.Group(func(r chi.Router) {
		r.Use(h.authenticate)
		r.With(operatorOnly).Post("/v1/tenants", h.createTenant)
		r.Get("/v1/tenants", h.listTenants)
		r.Get("/v1/tenants/{id}", h.getTenant)
		r.With(operatorOnly).Patch("/v1/tenants/{id}", h.patchTenant)
		r.Post("/v1/tenants/{id}/rotate-key", h.rotateTenantKey)

		r.Post("/v1/sites", h.createSite)
		r.Get("/v1/sites", h.listSites)
		r.Get("/v1/sites/{id}", h.getSite)
		r.Patch("/v1/sites/{id}", h.patchSite)
		r.Delete("/v1/sites/{id}", h.deleteSite)

		r.Post("/v1/endpoints", h.createEndpoint)
		r.Get("/v1/endpoints", h.listEndpoints)
		r.Get("/v1/endpoints/{id}", h.getEndpoint)
		r.Patch("/v1/endpoints/{id}", h.patchEndpoint)
		r.Delete("/v1/endpoints/{id}", h.deleteEndpoint)
		r.Get("/v1/endpoints/{id}/secret", h.getEndpointSecret)
		r.Post("/v1/endpoints/{id}/rotate-secret", h.rotateEndpointSecret)
		r.Post("/v1/endpoints/{id}/disable", h.disableEndpoint)
		r.Post("/v1/endpoints/{id}/enable", h.enableEndpoint)

		if h.cfg.Outbox != nil {
			r.Get("/v1/endpoints/{id}/deliveries", h.listDeliveries)
			r.Post("/v1/endpoints/{id}/replay", h.replayEndpoint)
			r.Get("/v1/deliveries/{id}", h.getDelivery)
			r.Post("/v1/deliveries/{id}/replay", h.replayDelivery)
		}
		if h.cfg.Graph != nil {
			r.With(operatorOnly).Post("/v1/graph/import", h.importGraph)
			r.With(operatorOnly).Get("/v1/graph/lookup", h.lookupGraph)
			r.With(operatorOnly).Get("/v1/graph/stats", h.graphStats)
			r.With(operatorOnly).Delete("/v1/graph/persons/{id}", h.erasePerson)
		}
		if h.cfg.MCP != nil {
			r.With(tenantOnly).Post("/mcp", h.cfg.MCP.ServeHTTP)
		}
		if h.cfg.Suppressions != nil {
			r.Post("/v1/tenants/{id}/suppressions", h.addSuppressions)
			r.Get("/v1/tenants/{id}/suppressions", h.listSuppressions)
			r.Delete("/v1/tenants/{id}/suppressions", h.removeSuppressions)
			r.With(operatorOnly).Post("/v1/suppressions", h.addSuppressions)
			r.With(operatorOnly).Get("/v1/suppressions", h.listSuppressions)
			r.With(operatorOnly).Delete("/v1/suppressions", h.removeSuppressions)
		}
	})
	h.mountObservability(r)
	h.mountCluster(r)
	h.router = r
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.router.ServeHTTP(w, r) }

// Routes exposes the router so tests can walk the route table.
func (h *Handler) Routes() chi.Routes { return h.router }

// allowedMethods lists the methods that have a route for path.
func (h *Handler) allowedMethods(path string) string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if h.router.Match(chi.NewRouteContext(), m, path) {
			out = append(out, m)
		}
	}
	return strings.Join(out, ", ")
}

func (h *Handler) readyz(w http.ResponseWriter, _ *http.Request) {
	if !h.cfg.Ready() {
		api.WriteError(w, nil, api.Errorf(api.CodeUnavailable, "not ready"))
		return
	}
	answer := map[string]any{"status": "ready"}
	if warnings := h.cfg.Warnings(); len(warnings) > 0 {
		answer["warnings"] = warnings
	}
	api.WriteJSON(w, http.StatusOK, answer)
}

func (h *Handler) openapi(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(h.cfg.OpenAPI)
}

// decode reads the JSON body of r into v (strict: unknown fields refused).
func (h *Handler) decode(r *http.Request, v any) error {
	return api.DecodeJSON(r.Body, h.cfg.MaxBody, v)
}

func (h *Handler) fail(w http.ResponseWriter, err error) { api.WriteError(w, h.cfg.Log, err) }

// scopeTenant decides the tenant a create or list acts on: a tenant key
// acts on its own tenant (naming another answers 404, as if it did not
// exist); the operator must name one for create, may omit it for list.
func scopeTenant(p principal, requested string, required bool) (string, error) {
	switch {
	case !p.operator && requested == "":
		return p.tenantID, nil
	case !p.operator && requested != p.tenantID:
		return "", api.Errorf(api.CodeNotFound, "tenant not found")
	case p.operator && requested == "" && required:
		return "", api.Errorf(api.CodeValidation, "tenant_id is required")
	}
	return requested, nil
}
