package admin

import (
	"net/http"
	"net/url"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/firehook/firehook/actors"
	"github.com/firehook/firehook/actors/pipeline"
	"github.com/firehook/firehook/http/api"
)

// actorView is a live actor as GET /v1/actors shows it.
type actorView struct {
	Kind         string    `json:"kind"`
	ID           string    `json:"id"`
	Node         string    `json:"node"`
	TenantID     string    `json:"tenant_id,omitempty"`
	MailboxDepth int64     `json:"mailbox_depth"`
	InFlight     int64     `json:"in_flight"`
	Restarts     int64     `json:"restarts"`
	State        string    `json:"state"`
	LastActivity time.Time `json:"last_activity"`
}

// actorTenant returns the tenant an actor works for: from the id of a
// visitor or person actor, from the configuration for an endpoint actor;
// "" for any other (only the operator sees those).
func (h *Handler) actorTenant(a *actors.ActorInfo) string {
	if t, ok := pipeline.ActorTenant(a.Kind, a.ID); ok {
		return t
	}
	if a.Kind == pipeline.KindEndpoint {
		if e, ok := h.cfg.Store.Endpoint(a.ID); ok {
			return e.TenantID
		}
	}
	return ""
}

// actorView returns a's view if p may see it.
func (h *Handler) actorView(p principal, a *actors.ActorInfo) (actorView, bool) {
	tenant := h.actorTenant(a)
	if !p.operator && (tenant == "" || !p.sees(tenant)) {
		return actorView{}, false
	}
	return actorView{Kind: a.Kind, ID: a.ID, Node: h.cfg.NodeName, TenantID: tenant, MailboxDepth: a.MailboxDepth,
		InFlight: a.InFlight, Restarts: a.Restarts, State: a.State, LastActivity: a.LastActivity.UTC()}, true
}

// listActors answers the node's live actors, of one kind when asked:
// every actor to the operator, a tenant's own to its key.
func (h *Handler) listActors(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	infos := h.cfg.Actors.Actors(r.URL.Query().Get("kind"))
	out := make([]actorView, 0, len(infos))
	for i := range infos {
		if v, ok := h.actorView(p, &infos[i]); ok {
			out = append(out, v)
		}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"actors": out})
}

// getActor answers one live actor. Visitor and person actor ids hold a
// "/": it is sent escaped (%2F).
func (h *Handler) getActor(w http.ResponseWriter, r *http.Request) {
	id, err := url.PathUnescape(chi.URLParam(r, "id"))
	a, ok := h.cfg.Actors.Actor(id)
	ok = ok && err == nil
	var v actorView
	if ok {
		v, ok = h.actorView(principalFrom(r.Context()), &a)
	}
	if !ok {
		h.fail(w, api.Errorf(api.CodeNotFound, "actor not found"))
		return
	}
	api.WriteJSON(w, http.StatusOK, v)
}
