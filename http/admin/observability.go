package admin

import (
	"net/http"
	"net/netip"

	"github.com/go-chi/chi/v5"

	"github.com/firehook/firehook/http/api"
)

// The observability routes (issue 5):
//
//	GET /metrics                      Prometheus; no token from loopback, else operator
//	GET /v1/pipeline                  stage latencies, queue saturation, tenants' budgets
//	GET /v1/endpoints/{id}/health     an endpoint's health window
//	GET /v1/actors, /v1/actors/{id}   live actors (a tenant key sees its own)
//	GET /v1/sites/{id}/pixel          what this node saw of a site's pixel
//	GET /v1/events                    pull a tenant's events, by log cursor
//	GET /v1/identified                a tenant's identified page views (identified.go)
//	GET /v1/export.csv                a tenant's identified visits, streamed
//
// Each group is served only when its source is configured.
func (h *Handler) mountObservability(r chi.Router) {
	if m := h.cfg.Metrics; m != nil {
		r.With(h.loopbackOrOperator).Get("/metrics", m.Handler().ServeHTTP)
	}
	r.Group(func(r chi.Router) {
		r.Use(h.authenticate)
		if h.cfg.Metrics != nil {
			r.Get("/v1/pipeline", h.pipelineView)
			r.Get("/v1/endpoints/{id}/health", h.endpointHealth)
			r.Get("/v1/sites/{id}/pixel", h.sitePixel)
		}
		if h.cfg.Actors != nil {
			r.Get("/v1/actors", h.listActors)
			r.Get("/v1/actors/{id}", h.getActor)
		}
		if h.cfg.Events != nil {
			r.Get("/v1/events", h.listEvents)
			if h.cfg.Outbox != nil && h.cfg.Graph != nil {
				r.Get("/v1/export.csv", h.exportCSV)
				r.Get("/v1/identified", h.listIdentified)
				r.Get("/v1/identified/lookup", h.lookupIdentified)
			}
		}
	})
}

// loopbackOrOperator lets a request from the loopback interface through
// without a token (a Prometheus or an agent on the host), and asks any
// other for the operator token. Behind a reverse proxy on the same host
// every request comes from loopback: such a proxy must not forward
// /metrics, or the admin listener must not be on loopback.
func (h *Handler) loopbackOrOperator(next http.Handler) http.Handler {
	authed := h.authenticate(operatorOnly(next))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fromLoopback(r) {
			next.ServeHTTP(w, r)
			return
		}
		authed.ServeHTTP(w, r)
	})
}

// fromLoopback reports whether r's TCP peer is a loopback address.
func fromLoopback(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// visibleTenants returns the filter of the tenants the caller may see:
// nil (every tenant) for the operator.
func visibleTenants(p principal) func(tenantID string) bool {
	if p.operator {
		return nil
	}
	return p.sees
}

func (h *Handler) pipelineView(w http.ResponseWriter, r *http.Request) {
	api.WriteJSON(w, http.StatusOK, h.cfg.Metrics.Pipeline(visibleTenants(principalFrom(r.Context()))))
}

func (h *Handler) endpointHealth(w http.ResponseWriter, r *http.Request) {
	e, err := h.endpoint(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	if h.clustered(r) {
		h.clusterHealth(w, r, e)
		return
	}
	api.WriteJSON(w, http.StatusOK, h.cfg.Metrics.Health(e))
}
