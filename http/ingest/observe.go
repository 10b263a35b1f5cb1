package ingest

import (
	"net/http"
	"time"

	"github.com/firehook/firehook/http/api"
)

// Observation is one finished collect request (POST /v1/collect or GET
// /v1/collect.gif), as Config.Observer is told of it.
type Observation struct {
	// TenantID is the tenant of the request's site; "" when the site was
	// not resolved (no or unknown site key, or refused before).
	TenantID string
	// SiteID is the request's site, set with TenantID.
	SiteID string
	// Accepted is set when the event was stored and 202 (or the GIF) sent.
	Accepted bool
	// OptedOut is set when GPC or DNT asked not to be tracked (204).
	OptedOut bool
	// Code is the error code of a refused request, from the api
	// catalogue (a fixed set); "" when accepted or opted out, or when the
	// client went away before an answer.
	Code api.Code
	// Start is when the handler began; Took runs from it to the answer
	// (for an accepted event: after its fsync, when the 202 is written).
	Start time.Time
	Took  time.Duration
}

// observedWriter carries a request's Observation through the handler:
// accept and fail fill it in, observe reports it.
type observedWriter struct {
	http.ResponseWriter
	obs Observation
}

// Unwrap lets http.ResponseController reach the connection.
func (w *observedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observation returns the Observation that w carries, or nil when
// nobody observes.
func observation(w http.ResponseWriter) *Observation {
	if ow, ok := w.(*observedWriter); ok {
		return &ow.obs
	}
	return nil
}

// rawWriter is w without the observing wrapper: http.MaxBytesReader
// needs the server's own writer to close the connection of a body that
// is too large.
func rawWriter(w http.ResponseWriter) http.ResponseWriter {
	if ow, ok := w.(*observedWriter); ok {
		return ow.ResponseWriter
	}
	return w
}

// observe reports every request of next to Config.Observer.
func (h *Handler) observe(next http.Handler) http.Handler {
	if h.cfg.Observer == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ow := &observedWriter{ResponseWriter: w, obs: Observation{Start: time.Now()}}
		next.ServeHTTP(ow, r)
		ow.obs.Took = time.Since(ow.obs.Start)
		h.cfg.Observer(ow.obs)
	})
}
