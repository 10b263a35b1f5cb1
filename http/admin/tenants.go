package admin

import (
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/http/api"
)

// tenantView is a tenant as the API shows it. APIKey is set only in the
// answers that create or rotate the key: it is never shown again.
type tenantView struct {
	ID        string        `json:"id"`
	Name      string        `json:"name"`
	Tier      firehook.Tier `json:"tier"`
	APIKey    string        `json:"api_key,omitempty"`
	CreatedAt time.Time     `json:"created_at"`
	UpdatedAt time.Time     `json:"updated_at"`
}

func viewTenant(t firehook.Tenant) tenantView {
	return tenantView{ID: t.ID, Name: t.Name, Tier: t.Tier, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
}

const maxNameLen = 200

func checkTenant(t *firehook.Tenant) error {
	t.Name = strings.TrimSpace(t.Name)
	if t.Name == "" || utf8.RuneCountInString(t.Name) > maxNameLen {
		return api.Errorf(api.CodeValidation, "name must be 1-%d characters", maxNameLen)
	}
	if !t.Tier.Valid() {
		return api.Errorf(api.CodeValidation, "tier must be free, pro or enterprise")
	}
	return nil
}

func newAPIKey() string { return firehook.RandomToken(firehook.PrefixAPIKey, 40) }

func (h *Handler) createTenant(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name string        `json:"name"`
		Tier firehook.Tier `json:"tier"`
	}
	if err := h.decode(r, &req); err != nil {
		h.fail(w, err)
		return
	}
	if req.Tier == "" {
		req.Tier = firehook.TierFree
	}
	now := h.cfg.Now().UTC()
	key := newAPIKey()
	t := firehook.Tenant{ID: firehook.NewID(firehook.PrefixTenant), Name: req.Name, Tier: req.Tier,
		APIKeyHash: HashToken(key), CreatedAt: now, UpdatedAt: now}
	if err := checkTenant(&t); err != nil {
		h.fail(w, err)
		return
	}
	if err := h.cfg.Store.CreateTenant(t); err != nil {
		h.fail(w, err)
		return
	}
	v := viewTenant(t)
	v.APIKey = key
	api.WriteJSON(w, http.StatusCreated, v)
}

func (h *Handler) listTenants(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	out := []tenantView{}
	for _, t := range h.cfg.Store.Tenants() {
		if p.sees(t.ID) {
			out = append(out, viewTenant(t))
		}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"tenants": out})
}

// tenant returns the tenant named in the path, if the caller may see it.
func (h *Handler) tenant(r *http.Request) (firehook.Tenant, error) {
	t, ok := h.cfg.Store.Tenant(chi.URLParam(r, "id"))
	if !ok || !principalFrom(r.Context()).sees(t.ID) {
		return firehook.Tenant{}, api.Errorf(api.CodeNotFound, "tenant not found")
	}
	return t, nil
}

func (h *Handler) getTenant(w http.ResponseWriter, r *http.Request) {
	t, err := h.tenant(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, viewTenant(t))
}

func (h *Handler) patchTenant(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name *string        `json:"name"`
		Tier *firehook.Tier `json:"tier"`
	}
	if err := h.decode(r, &req); err != nil {
		h.fail(w, err)
		return
	}
	t, err := h.cfg.Store.UpdateTenant(chi.URLParam(r, "id"), func(t *firehook.Tenant) error {
		if req.Name != nil {
			t.Name = *req.Name
		}
		if req.Tier != nil {
			t.Tier = *req.Tier
		}
		t.UpdatedAt = h.cfg.Now().UTC()
		return checkTenant(t)
	})
	if err != nil {
		h.fail(w, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, viewTenant(t))
}

// rotateTenantKey replaces the tenant's API key; the old key stops working
// at once.
func (h *Handler) rotateTenantKey(w http.ResponseWriter, r *http.Request) {
	t, err := h.tenant(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	key := newAPIKey()
	t, err = h.cfg.Store.UpdateTenant(t.ID, func(t *firehook.Tenant) error {
		t.APIKeyHash = HashToken(key)
		t.UpdatedAt = h.cfg.Now().UTC()
		return nil
	})
	if err != nil {
		h.fail(w, err)
		return
	}
	v := viewTenant(t)
	v.APIKey = key
	api.WriteJSON(w, http.StatusOK, v)
}
