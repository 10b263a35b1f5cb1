package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/firehook/firehook/http/api"
)

//go:embed static/index.html static/app.js static/app.css
var static embed.FS

// Config configures the dashboard. Zero values mean the defaults of
// DefaultConfig.
type Config struct {
	// CodeTTL is how long a login code of NewLoginCode stays valid.
	// Default 30 min: long enough to open the link the demo printed a
	// while ago, short enough that a stray link in a scrollback is dead.
	CodeTTL time.Duration
	// MaxCodes bounds the unused codes kept; minting one more drops the
	// oldest. Default 64.
	MaxCodes int
	// Log receives errors. Default slog.Default().
	Log *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// DefaultConfig returns the defaults of the dashboard.
func DefaultConfig() Config {
	return Config{CodeTTL: 30 * time.Minute, MaxCodes: 64, Log: slog.Default(), Now: time.Now}
}

func (c *Config) withDefaults() {
	d := DefaultConfig()
	if c.CodeTTL <= 0 {
		c.CodeTTL = d.CodeTTL
	}
	if c.MaxCodes <= 0 {
		c.MaxCodes = d.MaxCodes
	}
	if c.Log == nil {
		c.Log = d.Log
	}
	if c.Now == nil {
		c.Now = d.Now
	}
}

// asset is one embedded file with what serving it needs.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// Handler serves the dashboard page, its assets and the login-code
// exchange. It is safe for concurrent use.
type Handler struct {
	cfg    Config
	codes  *codes
	assets map[string]asset // by name: "index.html", "app.js", "app.css"
	mux    *http.ServeMux
}

var _ http.Handler = (*Handler)(nil)

// New returns the dashboard for cfg.
func New(cfg Config) *Handler {
	cfg.withDefaults()
	h := &Handler{cfg: cfg, codes: newCodes(cfg.CodeTTL, cfg.MaxCodes, cfg.Now), assets: map[string]asset{}}
	for name, ct := range map[string]string{
		"index.html": "text/html; charset=utf-8",
		"app.js":     "text/javascript; charset=utf-8",
		"app.css":    "text/css; charset=utf-8",
	} {
		b, err := static.ReadFile("static/" + name)
		if err != nil { // cannot happen: the files are embedded
			panic("dashboard: " + err.Error())
		}
		sum := sha256.Sum256(b)
		h.assets[name] = asset{body: b, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("GET /dashboard", h.page)
	h.mux.HandleFunc("GET /dashboard/{asset}", h.asset)
	h.mux.HandleFunc("POST /dashboard/login", h.login)
	return h
}

// NewLoginCode stores token under a new single-use code, valid for
// Config.CodeTTL, and returns the code. The link to give the user is
// http://ADMIN/dashboard#login=CODE.
func (h *Handler) NewLoginCode(token string) string { return h.codes.mint(token) }

// ServeHTTP serves the routes of the package doc; anything else is 404.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	// The ServeMux's own 404 and 405 are plain text; answer the API's shape.
	if _, pattern := h.mux.Handler(r); pattern == "" {
		if allow := allowed(r.URL.Path); allow != "" {
			w.Header().Set("Allow", allow)
			api.WriteError(w, nil, api.Errorf(api.CodeMethodNotAllowed, "method not allowed"))
			return
		}
		api.WriteError(w, nil, api.Errorf(api.CodeNotFound, "no such page"))
		return
	}
	h.mux.ServeHTTP(w, r)
}

// allowed is the Allow header of a path the dashboard serves with another
// method; "" for a path it does not serve.
func allowed(path string) string {
	switch {
	case path == "/dashboard/login":
		return "POST"
	case path == "/dashboard", strings.HasPrefix(path, "/dashboard/") && !strings.Contains(path[len("/dashboard/"):], "/"):
		return "GET"
	}
	return ""
}

// setSecurityHeaders locks the page down: its own scripts, styles and API
// only, no framing, no referrer.
func setSecurityHeaders(hd http.Header) {
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
}

func (h *Handler) page(w http.ResponseWriter, r *http.Request) { h.serveAsset(w, r, "index.html") }

func (h *Handler) asset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("asset")
	if name == "index.html" {
		name = "" // the page is /dashboard
	}
	h.serveAsset(w, r, name)
}

func (h *Handler) serveAsset(w http.ResponseWriter, r *http.Request, name string) {
	a, ok := h.assets[name]
	if !ok {
		api.WriteError(w, nil, api.Errorf(api.CodeNotFound, "no such asset"))
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", a.contentType)
	hd.Set("ETag", a.etag)
	// Revalidate every time: a new binary serves new files at once.
	hd.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// maxLoginBody bounds POST /dashboard/login: {"code": 32 characters}.
const maxLoginBody = 1 << 10

// login exchanges a login code for its token, once.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	var req struct {
		Code string `json:"code"`
	}
	if err := api.DecodeJSON(r.Body, maxLoginBody, &req); err != nil {
		api.WriteError(w, h.cfg.Log, err)
		return
	}
	if req.Code == "" {
		api.WriteError(w, nil, api.Errorf(api.CodeValidation, "code is required"))
		return
	}
	token, ok := h.codes.redeem(req.Code)
	if !ok {
		api.WriteError(w, nil, api.Errorf(api.CodeUnauthorized, "this login link is unknown, expired or already used; log in with the admin token"))
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]string{"token": token})
}
