package admin

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/firehook/firehook/http/api"
)

// The cluster route:
//
//	GET /v1/cluster   members, their states and addresses, the shards each
//	                  owns, each live member's actor counts (operator only:
//	                  it names every node of the deployment)
func (h *Handler) mountCluster(r chi.Router) {
	if h.cfg.Cluster == nil {
		return
	}
	r.Group(func(r chi.Router) {
		r.Use(h.authenticate, operatorOnly)
		r.Get("/v1/cluster", h.clusterView)
	})
}

func (h *Handler) clusterView(w http.ResponseWriter, r *http.Request) {
	api.WriteJSON(w, http.StatusOK, h.cfg.Cluster(r.Context()))
}
