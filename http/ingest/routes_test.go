package ingest_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestPixelScript_IsServed(t *testing.T) {
	e := newEnv(t)
	r := e.do(t, http.MethodGet, "/p.js", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("status = %d, want 200", r.Status)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/javascript") && !strings.HasPrefix(ct, "text/javascript") {
		t.Errorf("Content-Type = %q, want JavaScript", ct)
	}
	if got := r.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
	}
	if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=") {
		t.Errorf("Cache-Control = %q, want the script cacheable", cc)
	}
	js := string(r.Body)
	for _, want := range []string{
		"sendBeacon",           // sends with navigator.sendBeacon
		"keepalive",            // falls back to fetch with keepalive
		"globalPrivacyControl", // sends nothing under GPC
		"fh_vid",               // keeps a first-party visitor id
		"/v1/collect",          // to our collect route
		"data-site",            // reads the site key of the snippet
		"text/plain",           // a CORS simple request: no preflight
	} {
		if !strings.Contains(js, want) {
			t.Errorf("p.js does not mention %q", want)
		}
	}
}

func TestRouter_UnknownRouteIs404JSON(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/", "/v1/collectx", "/v2/collect", "/p.json", "/v1/events"} {
		t.Run(path, func(t *testing.T) {
			apiError(t, e.do(t, http.MethodGet, path, nil), http.StatusNotFound, "not_found")
		})
	}
}

func TestRouter_WrongMethodIs405JSON(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, "/v1/collect"},
		{http.MethodPut, "/v1/collect"},
		{http.MethodDelete, "/v1/collect"},
		{http.MethodPost, "/p.js"},
		{http.MethodPost, "/v1/collect.gif"},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			e.storesNothing(t, func() {
				apiError(t, e.do(t, c.method, c.path, strings.NewReader("{}")), http.StatusMethodNotAllowed, "method_not_allowed")
			})
		})
	}
}

func TestRouter_HealthzAnswersOK(t *testing.T) {
	e := newEnv(t)
	r := e.do(t, http.MethodGet, "/healthz", nil)
	if r.Status != http.StatusOK || strings.TrimSpace(string(r.Body)) != `{"status":"ok"}` {
		t.Errorf("got %d %s, want 200 {\"status\":\"ok\"}", r.Status, r.Body)
	}
}
