package ingest_test

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/docs"
	"github.com/firehook/firehook/http/ingest"
	"github.com/firehook/firehook/internal/openapi"
	"github.com/firehook/firehook/internal/testkit"
)

// The ingest listener's contract: each route is called as a browser or a
// probe would, for each answer it can give (accepted, opted out, each
// kind of refusal), and every answer is held against docs/openapi.json:
// a documented status and media type and a body the documented schema
// accepts (internal/openapi). Every route of the router is called at
// least once, so a new route must join the table.
func TestContract_EveryIngestAnswerIsDocumented(t *testing.T) {
	doc, err := openapi.Parse(docs.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	clk := testkit.NewClock(testNow)
	e := newEnv(t, fixedClock(clk), func(c *ingest.Config) {
		c.PerIPRate = 1 // burst 2: the third page view from one address is refused
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	limited := e.addSite(t, func(s *firehook.Site) { s.RateLimitPerS = 1 }) // burst 2
	strict := e.addSite(t, func(s *firehook.Site) { s.AllowedOrigins = []string{"https://example.com"} })
	gif := func(site firehook.Site, extra string) string {
		return "/v1/collect.gif?site=" + site.Key + "&vid=v_1&url=https%3A%2F%2Fexample.com%2F" + extra
	}
	json := []string{"Content-Type", "application/json"}
	from := func(ip string, h ...string) []string { return append([]string{"X-Forwarded-For", ip}, h...) }

	cases := []struct {
		name, method, pattern, path, body string
		headers                           []string
		status                            int
	}{
		{"the pixel script", http.MethodGet, "/p.js", "/p.js", "", nil, http.StatusOK},
		{"liveness", http.MethodGet, "/healthz", "/healthz", "", nil, http.StatusOK},
		{"a page view", http.MethodPost, "/v1/collect", "/v1/collect", pageView(e.site, nil), json, http.StatusAccepted},
		{"opted out (GPC)", http.MethodPost, "/v1/collect", "/v1/collect", pageView(e.site, nil), append([]string{"Sec-GPC", "1"}, json...), http.StatusNoContent},
		{"bad JSON", http.MethodPost, "/v1/collect", "/v1/collect", "{", json, http.StatusBadRequest},
		{"invalid field", http.MethodPost, "/v1/collect", "/v1/collect", pageView(e.site, map[string]any{"url": "/relative"}), json, http.StatusBadRequest},
		{"unknown site", http.MethodPost, "/v1/collect", "/v1/collect", pageView(firehook.Site{Key: "sk_unknown0000000000000000"}, nil), json, http.StatusNotFound},
		{"origin not allowed", http.MethodPost, "/v1/collect", "/v1/collect", pageView(strict, nil), append([]string{"Origin", "https://evil.test"}, json...), http.StatusForbidden},
		{"too large", http.MethodPost, "/v1/collect", "/v1/collect", `{"site":"` + strings.Repeat("x", 20<<10) + `"}`, json, http.StatusRequestEntityTooLarge},
		{"wrong media type", http.MethodPost, "/v1/collect", "/v1/collect", "site=x", []string{"Content-Type", "application/x-www-form-urlencoded"}, http.StatusUnsupportedMediaType},
		{"site over its rate", http.MethodPost, "/v1/collect", "/v1/collect", pageView(limited, nil), json, http.StatusAccepted},
		{"site over its rate", http.MethodPost, "/v1/collect", "/v1/collect", pageView(limited, nil), json, http.StatusAccepted},
		{"site over its rate", http.MethodPost, "/v1/collect", "/v1/collect", pageView(limited, nil), json, http.StatusTooManyRequests},
		{"address over its rate", http.MethodPost, "/v1/collect", "/v1/collect", pageView(e.site, nil), from("203.0.113.9", json...), http.StatusAccepted},
		{"address over its rate", http.MethodPost, "/v1/collect", "/v1/collect", pageView(e.site, nil), from("203.0.113.9", json...), http.StatusAccepted},
		{"address over its rate", http.MethodPost, "/v1/collect", "/v1/collect", pageView(e.site, nil), from("203.0.113.9", json...), http.StatusTooManyRequests},
		{"preflight", http.MethodOptions, "/v1/collect", "/v1/collect", "", []string{"Origin", "https://example.com", "Access-Control-Request-Method", "POST"}, http.StatusNoContent},
		{"a GIF page view", http.MethodGet, "/v1/collect.gif", gif(e.site, ""), "", nil, http.StatusOK},
		{"a GIF opted out", http.MethodGet, "/v1/collect.gif", gif(e.site, ""), "", []string{"DNT", "1"}, http.StatusNoContent},
		{"a GIF with a bad ts", http.MethodGet, "/v1/collect.gif", gif(e.site, "&ts=soon"), "", nil, http.StatusBadRequest},
		{"a GIF of an unknown site", http.MethodGet, "/v1/collect.gif", gif(firehook.Site{Key: "sk_unknown0000000000000000"}, ""), "", nil, http.StatusNotFound},
		{"a GIF over the site's rate", http.MethodGet, "/v1/collect.gif", gif(limited, ""), "", nil, http.StatusTooManyRequests},
	}
	called := map[string]bool{}
	for _, c := range cases {
		r := e.do(t, c.method, c.path, strings.NewReader(c.body), c.headers...)
		if r.Status != c.status {
			t.Errorf("%s: %s %s answered %d; want %d (body %.200s)", c.name, c.method, c.path, r.Status, c.status, r.Body)
			continue
		}
		called[c.method+" "+c.pattern] = true
		for _, problem := range doc.CheckAnswer(openapi.Operation{Method: c.method, Path: c.pattern}, r.Status, r.Header, r.Body) {
			t.Errorf("%s: %s %s: %s (docs/openapi.json)", c.name, c.method, c.pattern, problem)
		}
	}
	err = chi.Walk(ingest.New(ingest.Config{}).Routes(), func(method, pattern string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if !called[method+" "+pattern] {
			t.Errorf("%s %s is not in the contract test's table", method, pattern)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
