package ingest

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"strconv"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/http/api"
	"github.com/firehook/firehook/internal/keyrate"
)

// Handler serves the public ingest routes:
//
//	GET     /p.js              the pixel script
//	POST    /v1/collect        a page view (JSON or text/plain JSON)
//	OPTIONS /v1/collect        CORS preflight
//	GET     /v1/collect.gif    a page view from query parameters; a 1x1 GIF
//	GET     /healthz           liveness
type Handler struct {
	cfg    Config
	limits limiters
	perIP  *keyrate.Limiter // nil: no per-address limit
	router chi.Router
}

// New returns the ingest handler for cfg.
func New(cfg Config) *Handler {
	cfg.withDefaults()
	h := &Handler{cfg: cfg}
	if cfg.PerIPRate > 0 {
		h.perIP = keyrate.New(keyrate.Config{PerSecond: cfg.PerIPRate, Burst: max(1, int(2*cfg.PerIPRate))})
	}
	r := chi.NewRouter()
	r.Get("/p.js", servePixel)
	r.With(h.observe, h.limitPerIP).Post("/v1/collect", h.collect)
	r.Options("/v1/collect", preflight)
	r.With(h.observe, h.limitPerIP).Get("/v1/collect.gif", h.collectGIF)
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		api.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.NotFound(func(w http.ResponseWriter, _ *http.Request) {
		api.WriteError(w, nil, api.Errorf(api.CodeNotFound, "no such route"))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, _ *http.Request) {
		api.WriteError(w, nil, api.Errorf(api.CodeMethodNotAllowed, "method not allowed"))
	})
	h.router = r
	return h
}

// limitPerIP answers 429 to a client address over Config.PerIPRate.
func (h *Handler) limitPerIP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.perIP != nil {
			ip := clientIP(r, h.cfg.TrustedProxies)
			if a, err := netip.ParseAddr(ip); err == nil && !a.IsLoopback() {
				if ok, wait := h.perIP.Allow(ip, h.cfg.Now()); !ok {
					w.Header().Set("Retry-After", strconv.Itoa(retryAfter(wait)))
					h.fail(w, api.Errorf(api.CodeRateLimited, "this address is over the limit of %g page views/s", h.cfg.PerIPRate))
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.router.ServeHTTP(w, r) }

// Routes exposes the router so tests can walk the route table.
func (h *Handler) Routes() chi.Routes { return h.router }

// optedOut reports whether the browser asks not to be tracked.
func optedOut(r *http.Request) bool {
	return r.Header.Get("Sec-GPC") == "1" || r.Header.Get("DNT") == "1"
}

func (h *Handler) collect(w http.ResponseWriter, r *http.Request) {
	if optedOut(r) {
		h.optOut(w)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && mt != "text/plain") {
			h.fail(w, api.Errorf(api.CodeUnsupportedMedia, "content type must be application/json or text/plain"))
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(rawWriter(w), r.Body, h.cfg.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.fail(w, api.Errorf(api.CodeTooLarge, "body is larger than %d bytes", h.cfg.MaxBody))
			return
		}
		h.fail(w, api.Errorf(api.CodeInvalidJSON, "cannot read body"))
		return
	}
	var pv pageView
	if bytes.Equal(bytes.TrimSpace(body), []byte("null")) {
		h.fail(w, api.Errorf(api.CodeInvalidJSON, "body must be a JSON object, not null"))
		return
	}
	if err := api.DecodeBytes(body, &pv, false); err != nil {
		h.fail(w, err)
		return
	}
	h.accept(w, r, &pv, r.Header.Get("Origin"), false)
}

func (h *Handler) collectGIF(w http.ResponseWriter, r *http.Request) {
	if optedOut(r) {
		h.optOut(w)
		return
	}
	q := r.URL.Query()
	pv := pageView{
		Site:  q.Get("site"),
		VID:   q.Get("vid"),
		URL:   q.Get("url"),
		Ref:   q.Get("ref"),
		Title: q.Get("title"),
		SID:   q.Get("sid"),
	}
	for _, s := range []string{pv.Site, pv.VID, pv.URL, pv.Ref, pv.Title, pv.SID} {
		if !utf8.ValidString(s) {
			h.fail(w, api.Errorf(api.CodeInvalidUTF8, "query parameters must be valid UTF-8"))
			return
		}
	}
	if ts := q.Get("ts"); ts != "" {
		n, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			h.fail(w, api.Errorf(api.CodeValidation, "ts must be unix milliseconds"))
			return
		}
		pv.TS = n
	}
	if pv.VID == "" {
		// Without script there is no first-party id: each hit is its own
		// anonymous visitor.
		pv.VID = firehook.NewID("anon_")
	}
	h.accept(w, r, &pv, r.Header.Get("Origin"), true)
}

// accept runs the checks shared by both collect routes, stores the event
// and answers: 202 {"event_id"} (or the GIF) once it is on disk.
func (h *Handler) accept(w http.ResponseWriter, r *http.Request, pv *pageView, origin string, gif bool) {
	if pv.Site == "" {
		h.fail(w, api.Errorf(api.CodeMissingSite, "site is required"))
		return
	}
	site, ok := h.cfg.Sites.SiteByKey(pv.Site)
	if !ok {
		h.fail(w, api.Errorf(api.CodeUnknownSite, "unknown site"))
		return
	}
	obs := observation(w)
	if obs != nil {
		obs.TenantID, obs.SiteID = site.TenantID, site.ID
	}
	if !originAllowed(&site, origin) {
		h.fail(w, api.Errorf(api.CodeOriginNotAllowed, "origin %q may not send events for this site", origin))
		return
	}
	// Only an allowed origin may read the answer; errors before this point
	// carry no CORS grant.
	setCORS(w.Header(), origin)
	now := h.cfg.Now()
	ev := &firehook.Event{TenantID: site.TenantID, SiteID: site.ID, ReceivedAt: now.UTC()}
	if err := pv.normalise(ev, now); err != nil {
		h.fail(w, err)
		return
	}
	// Rate limit after validation, so that junk does not eat the budget of
	// real page views.
	if ok, wait := h.limits.allow(&site, now); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter(wait)))
		h.fail(w, api.Errorf(api.CodeRateLimited, "site is over its rate limit of %d events/s", site.RateLimitPerS))
		return
	}
	ev.IP = clientIP(r, h.cfg.TrustedProxies)
	ev.UserAgent = cleanText(r.UserAgent(), maxUALen)
	ev.ID = firehook.NewID(firehook.PrefixEvent)
	if err := h.cfg.Events.Append(r.Context(), ev); err != nil {
		if r.Context().Err() != nil {
			return // the client went away; nothing to answer
		}
		if errors.Is(err, firehook.ErrStorage) {
			// The disk is full or failing: the browser may send it again.
			w.Header().Set("Retry-After", "5")
		}
		h.fail(w, err)
		return
	}
	if obs != nil {
		obs.Accepted = true
	}
	if gif {
		writeGIF(w)
		return
	}
	writeAccepted(w, ev.ID)
}

var jsonContentType = []string{"application/json"}

// writeAccepted answers 202 {"event_id": id}. It is written by hand: it is
// the answer to every accepted page view, and an event id (evt_ + ULID)
// needs no JSON escaping.
func writeAccepted(w http.ResponseWriter, id string) {
	buf := make([]byte, 0, 64)
	buf = append(buf, `{"event_id":"`...)
	buf = append(buf, id...)
	buf = append(buf, "\"}\n"...)
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write(buf)
}

func (h *Handler) fail(w http.ResponseWriter, err error) {
	if obs := observation(w); obs != nil {
		obs.Code = api.FromStore(err).Code
	}
	api.WriteError(w, h.cfg.Log, err)
}

// optOut answers a request whose browser asks not to be tracked: 204,
// nothing stored.
func (h *Handler) optOut(w http.ResponseWriter) {
	if obs := observation(w); obs != nil {
		obs.OptedOut = true
	}
	w.WriteHeader(http.StatusNoContent)
}
