package admin

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/firehook/firehook/http/api"
)

// The cluster routes (operator only: they name every node of the
// deployment):
//
//	GET /v1/cluster          members, their states and addresses, the shards
//	                         each owns, each live member's figures
//	GET /v1/cluster/shards   this member's graph shards: owners, entries and
//	                         digest of each, and the progress of the copies
func (h *Handler) mountCluster(r chi.Router) {
	if h.cfg.Cluster == nil {
		return
	}
	r.Group(func(r chi.Router) {
		r.Use(h.authenticate, operatorOnly)
		r.Get("/v1/cluster", h.clusterView)
		if h.cfg.ClusterShards != nil {
			r.Get("/v1/cluster/shards", h.clusterShards)
		}
	})
}

func (h *Handler) clusterShards(w http.ResponseWriter, r *http.Request) {
	api.WriteJSON(w, http.StatusOK, h.cfg.ClusterShards(r.Context()))
}

func (h *Handler) clusterView(w http.ResponseWriter, r *http.Request) {
	api.WriteJSON(w, http.StatusOK, h.cfg.Cluster(r.Context()))
}
