package ingest_test

import (
	"bytes"
	"image/gif"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/internal/testkit"
)

// gifQuery is the query of a valid no-script page view of site; params
// override it, an empty value removes the parameter.
func gifQuery(site firehook.Site, params map[string]string) string {
	q := url.Values{
		"site":  {site.Key},
		"vid":   {"v_gif"},
		"url":   {"https://example.com/noscript"},
		"ref":   {"https://news.example.org/story"},
		"title": {"No script"},
	}
	for k, v := range params {
		if v == "" {
			q.Del(k)
			continue
		}
		q.Set(k, v)
	}
	return q.Encode()
}

// isPixel asserts that r is the 1x1 GIF.
func isPixel(t testing.TB, r testkit.Response) {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", r.Status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "image/gif" {
		t.Errorf("Content-Type = %q, want image/gif", ct)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store (every hit must reach us)", cc)
	}
	img, err := gif.Decode(bytes.NewReader(r.Body))
	if err != nil {
		t.Fatalf("body does not decode as a GIF: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1 || b.Dy() != 1 {
		t.Errorf("the GIF is %dx%d, want 1x1", b.Dx(), b.Dy())
	}
}

func TestCollectGIF_StoresPageViewAndAnswersPixel(t *testing.T) {
	clk := testkit.NewClock(testNow)
	e := newEnv(t, fixedClock(clk))
	r := e.do(t, http.MethodGet, "/v1/collect.gif?"+gifQuery(e.site, map[string]string{
		"url": "https://Example.com:443/noscript?utm_source=mail#x",
		"sid": "s_9",
		"ts":  strconv.FormatInt(testNow.Add(-time.Second).UnixMilli(), 10),
	}), nil, "User-Agent", "NoScript/1.0")
	isPixel(t, r)

	ev := e.onlyEvent(t)
	if !strings.HasPrefix(ev.ID, firehook.PrefixEvent) {
		t.Errorf("event id = %q, want evt_...", ev.ID)
	}
	assertEvent(t, ev, firehook.Event{
		ID: ev.ID, Seq: 1, TenantID: e.tenant.ID, SiteID: e.site.ID,
		VisitorID: "v_gif", SessionID: "s_9",
		URL:      "https://example.com/noscript?utm_source=mail",
		Referrer: "https://news.example.org/story", Title: "No script",
		UTM: map[string]string{"source": "mail"},
		IP:  "127.0.0.1", UserAgent: "NoScript/1.0",
	})
	if want := testNow.Add(-time.Second); !ev.ClientTS.Equal(want) {
		t.Errorf("ts = %v, want %v", ev.ClientTS, want)
	}
}

func TestCollectGIF_GivesAnonymousVisitorWithoutVID(t *testing.T) {
	e := newEnv(t)
	for range 2 {
		isPixel(t, e.do(t, http.MethodGet, "/v1/collect.gif?"+gifQuery(e.site, map[string]string{"vid": ""}), nil))
	}
	evs := e.events(t)
	if len(evs) != 2 {
		t.Fatalf("log holds %d events, want 2", len(evs))
	}
	for _, ev := range evs {
		if !strings.HasPrefix(ev.VisitorID, "anon_") {
			t.Errorf("vid = %q, want anon_...", ev.VisitorID)
		}
	}
	if evs[0].VisitorID == evs[1].VisitorID {
		t.Errorf("two hits without vid share the visitor %q; each must be its own", evs[0].VisitorID)
	}
}

func TestCollectGIF_RejectsBadInputWithJSON(t *testing.T) {
	e := newEnv(t)
	listed := e.addSite(t, func(s *firehook.Site) { s.AllowedOrigins = []string{"https://example.com"} })
	for _, c := range []struct {
		name   string
		query  string
		origin string
		status int
		code   string
	}{
		{"missing site", gifQuery(e.site, map[string]string{"site": ""}), "", 400, "missing_site"},
		{"unknown site", gifQuery(e.site, map[string]string{"site": "sk_nope"}), "", 404, "unknown_site"},
		{"missing url", gifQuery(e.site, map[string]string{"url": ""}), "", 400, "invalid_url"},
		{"javascript: url", gifQuery(e.site, map[string]string{"url": "javascript:alert(1)"}), "", 400, "invalid_url"},
		{"relative ref", gifQuery(e.site, map[string]string{"ref": "/back"}), "", 400, "invalid_url"},
		{"vid with bad characters", gifQuery(e.site, map[string]string{"vid": "<script>"}), "", 400, "validation_failed"},
		{"vid longer than 128", gifQuery(e.site, map[string]string{"vid": strings.Repeat("v", 129)}), "", 400, "validation_failed"},
		{"ts not a number", gifQuery(e.site, map[string]string{"ts": "yesterday"}), "", 400, "validation_failed"},
		{"ts before 2000", gifQuery(e.site, map[string]string{"ts": "946684799999"}), "", 400, "validation_failed"},
		{"invalid UTF-8 in the title", gifQuery(e.site, map[string]string{"title": ""}) + "&title=%FF%FE", "", 400, "invalid_utf8"},
		{"a refused origin", gifQuery(listed, nil), "https://evil.example.net", 403, "origin_not_allowed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.storesNothing(t, func() {
				var headers []string
				if c.origin != "" {
					headers = []string{"Origin", c.origin}
				}
				apiError(t, e.do(t, http.MethodGet, "/v1/collect.gif?"+c.query, nil, headers...), c.status, c.code)
			})
		})
	}
}
