package ingest

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/firehook/firehook"
)

// originAllowed reports whether a browser page at origin may send events
// to site. A request without Origin (server-side senders, the GIF in an
// <img>) is allowed. An empty allowed_origins list means the site's own
// domain and its subdomains, over http or https; "*" allows any origin.
func originAllowed(site *firehook.Site, origin string) bool {
	if origin == "" {
		return true
	}
	if len(site.AllowedOrigins) == 0 {
		u, err := url.Parse(origin)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			return false
		}
		h, d := strings.ToLower(u.Hostname()), strings.ToLower(site.Domain)
		return d != "" && (h == d || strings.HasSuffix(h, "."+d))
	}
	for _, o := range site.AllowedOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

// setCORS adds the headers that let the page at origin read our answer.
func setCORS(h http.Header, origin string) {
	h.Add("Vary", "Origin")
	if origin != "" {
		h.Set("Access-Control-Allow-Origin", origin)
	}
}

// preflight answers a CORS preflight. The site is not known before the
// body arrives, so the origin is checked on the request itself.
func preflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	setCORS(h, r.Header.Get("Origin"))
	h.Set("Access-Control-Allow-Methods", "POST, GET, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Content-Type")
	h.Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
}
