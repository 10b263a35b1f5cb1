package admin

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/http/api"
)

// Site limits and defaults.
const (
	maxOrigins        = 50
	maxSiteRate       = 1_000_000
	defaultSiteRate   = 1000 // events/s a site may send unless configured
	maxDomainLen      = 253
	siteKeyRandomChar = 24
)

// siteFields are the writable fields of a site; pointers tell PATCH which
// were sent.
type siteFields struct {
	Domain         *string   `json:"domain"`
	AllowedOrigins *[]string `json:"allowed_origins"`
	RateLimitPerS  *int      `json:"rate_limit_per_s"`
}

func (f *siteFields) apply(s *firehook.Site) {
	if f.Domain != nil {
		s.Domain = *f.Domain
	}
	if f.AllowedOrigins != nil {
		s.AllowedOrigins = *f.AllowedOrigins
	}
	if f.RateLimitPerS != nil {
		s.RateLimitPerS = *f.RateLimitPerS
	}
}

// checkSite validates and normalises a site in place.
func checkSite(s *firehook.Site) error {
	s.Domain = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s.Domain)), ".")
	if !validHostname(s.Domain) {
		return api.Errorf(api.CodeValidation, "domain must be a host name such as example.com (no scheme or path)")
	}
	if len(s.AllowedOrigins) > maxOrigins {
		return api.Errorf(api.CodeValidation, "allowed_origins has more than %d entries", maxOrigins)
	}
	origins := []string{}
	for i, o := range s.AllowedOrigins {
		if o != "*" {
			u, err := url.Parse(o)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" ||
				(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
				return api.Errorf(api.CodeValidation, "allowed_origins[%d] must be an origin such as https://example.com, or *", i)
			}
			// A browser's Origin never names the default port: drop it so
			// that https://example.com:443 matches.
			host := u.Host
			if (u.Scheme == "https" && u.Port() == "443") || (u.Scheme == "http" && u.Port() == "80") {
				host = strings.TrimSuffix(host, ":"+u.Port())
			}
			o = strings.ToLower(u.Scheme + "://" + host)
		}
		if !slices.Contains(origins, o) {
			origins = append(origins, o)
		}
	}
	s.AllowedOrigins = origins
	if s.RateLimitPerS < 0 || s.RateLimitPerS > maxSiteRate {
		return api.Errorf(api.CodeValidation, "rate_limit_per_s must be 0 (unlimited) to %d", maxSiteRate)
	}
	return nil
}

// validHostname accepts dot-separated labels of letters, digits and
// hyphens (and a bare single label such as localhost).
func validHostname(h string) bool {
	if h == "" || len(h) > maxDomainLen {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

func (h *Handler) createSite(w http.ResponseWriter, r *http.Request) {
	var req struct {
		TenantID string `json:"tenant_id"`
		siteFields
	}
	if err := h.decode(r, &req); err != nil {
		h.fail(w, err)
		return
	}
	tenantID, err := scopeTenant(principalFrom(r.Context()), req.TenantID, true)
	if err != nil {
		h.fail(w, err)
		return
	}
	now := h.cfg.Now().UTC()
	s := firehook.Site{ID: firehook.NewID(firehook.PrefixSite), TenantID: tenantID,
		Key: firehook.RandomToken(firehook.PrefixSiteKey, siteKeyRandomChar), RateLimitPerS: defaultSiteRate,
		CreatedAt: now, UpdatedAt: now}
	req.siteFields.apply(&s)
	if err := checkSite(&s); err != nil {
		h.fail(w, err)
		return
	}
	if err := h.cfg.Store.CreateSite(s); err != nil {
		h.fail(w, err)
		return
	}
	api.WriteJSON(w, http.StatusCreated, s)
}

func (h *Handler) listSites(w http.ResponseWriter, r *http.Request) {
	tenantID, err := scopeTenant(principalFrom(r.Context()), r.URL.Query().Get("tenant_id"), false)
	if err != nil {
		h.fail(w, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"sites": h.cfg.Store.Sites(tenantID)})
}

// site returns the site named in the path, if the caller may see it.
func (h *Handler) site(r *http.Request) (firehook.Site, error) {
	s, ok := h.cfg.Store.Site(chi.URLParam(r, "id"))
	if !ok || !principalFrom(r.Context()).sees(s.TenantID) {
		return firehook.Site{}, api.Errorf(api.CodeNotFound, "site not found")
	}
	return s, nil
}

func (h *Handler) getSite(w http.ResponseWriter, r *http.Request) {
	s, err := h.site(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, s)
}

// sitePixel answers GET /v1/sites/{id}/pixel: what this node saw of the
// site's pixel since it started (metrics.PixelStatus). In a cluster each
// member sees the page views that reached it.
func (h *Handler) sitePixel(w http.ResponseWriter, r *http.Request) {
	s, err := h.site(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, h.cfg.Metrics.Pixel(s.ID))
}

func (h *Handler) patchSite(w http.ResponseWriter, r *http.Request) {
	var req siteFields
	if err := h.decode(r, &req); err != nil {
		h.fail(w, err)
		return
	}
	s, err := h.site(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	s, err = h.cfg.Store.UpdateSite(s.ID, func(s *firehook.Site) error {
		req.apply(s)
		s.UpdatedAt = h.cfg.Now().UTC()
		return checkSite(s)
	})
	if err != nil {
		h.fail(w, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, s)
}

func (h *Handler) deleteSite(w http.ResponseWriter, r *http.Request) {
	s, err := h.site(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	if err := h.cfg.Store.DeleteSite(s.ID); err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
