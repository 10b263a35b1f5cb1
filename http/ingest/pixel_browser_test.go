package ingest_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/internal/browsertest"
	"github.com/firehook/firehook/internal/testkit"
	"github.com/firehook/firehook/node"
)

// pixelWorld is a node and a web page on another origin that embeds the
// real pixel snippet of one of the node's sites.
type pixelWorld struct {
	n      *node.Node
	site   firehook.Site
	page   string // the page's URL
	origin string
}

func newPixelWorld(t *testing.T) *pixelWorld {
	t.Helper()
	cfg := node.Config{
		DataDir:     t.TempDir(),
		Listen:      "127.0.0.1:0",
		AdminListen: "127.0.0.1:0",
		AdminToken:  "op",
		Log:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	cfg.Store.MemTableSize, cfg.Store.BlockCacheSize = 8<<20, 8<<20
	n, err := node.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Shutdown(context.Background()) })
	w := &pixelWorld{n: n}

	var snippet string // set once the site exists, before any request
	pages := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(rw, "<!doctype html><html><head><title>Pricing · Pixel test</title>%s</head><body><h1>Pricing</h1></body></html>", snippet)
	}))
	t.Cleanup(func() {
		pages.CloseClientConnections()
		pages.Close()
	})
	w.origin, w.page = pages.URL, pages.URL+"/pricing?utm_source=browser-test"

	tenant := testkit.CreateTenant(t, n.Store().Config, "pixel")
	w.site = testkit.CreateSite(t, n.Store().Config, tenant.ID, func(s *firehook.Site) {
		s.AllowedOrigins = []string{w.origin} // the page is on 127.0.0.1:PORT, not on the site's domain
	})
	snippet = fmt.Sprintf(`<script async src="http://%s/p.js" data-site="%s"></script>`, n.IngestAddr(), w.site.Key)
	return w
}

// pixelLoaded is a JS expression: the page has loaded and fetched p.js.
const pixelLoaded = `document.readyState === "complete" &&
	performance.getEntriesByType("resource").some(function (e) { return /\/p\.js$/.test(e.name); })`

func TestBrowser_PixelSendsThePageViewAndNothingUnderGPC(t *testing.T) {
	b := browsertest.New(t, 90*time.Second)
	w := newPixelWorld(t)
	events := w.n.Store().Events

	t.Run("GPC on: nothing reaches the node", func(t *testing.T) {
		tab := b.Tab(t)
		before := events.LastSeq()
		// Global Privacy Control, as a browser with it on exposes it.
		if _, err := chromedp.Call(tab, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: `Object.defineProperty(Navigator.prototype, "globalPrivacyControl", {get: function () { return true; }, configurable: true});`,
		}); err != nil {
			t.Fatal(err)
		}
		browsertest.Do(t, tab, "load the page", chromedp.Navigate(w.page))
		browsertest.WaitFor(t, tab, 10*time.Second, pixelLoaded, `location.href`)
		if gpc := browsertest.Eval[bool](t, tab, `navigator.globalPrivacyControl === true && window.firehook === undefined`); !gpc {
			t.Fatal("GPC is not on, or the pixel started anyway")
		}
		// A beacon would take milliseconds; give it a generous second.
		time.Sleep(time.Second)
		if after := events.LastSeq(); after != before {
			t.Fatalf("the event log went from %d to %d with GPC on", before, after)
		}
	})

	t.Run("GPC off: the page view is stored", func(t *testing.T) {
		tab := b.Tab(t)
		before := events.LastSeq()
		browsertest.Do(t, tab, "load the page", chromedp.Navigate(w.page))
		browsertest.WaitFor(t, tab, 10*time.Second, pixelLoaded+` && !!window.firehook`, `location.href`)
		vid := browsertest.Eval[string](t, tab, `window.firehook.visitorId()`)
		testkit.Eventually(t, 10*time.Second, func() bool { return events.LastSeq() > before }, "no page view reached the node")
		evs, err := events.Read(before+1, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 {
			t.Fatalf("%d events stored, want the one page view", len(evs))
		}
		ev := evs[0]
		if ev.SiteID != w.site.ID || ev.VisitorID != vid || vid == "" {
			t.Errorf("event site %s vid %q; want site %s and the pixel's visitor id %q", ev.SiteID, ev.VisitorID, w.site.ID, vid)
		}
		if !strings.HasPrefix(ev.URL, w.origin+"/pricing") || ev.Title != "Pricing · Pixel test" || ev.UTM["source"] != "browser-test" {
			t.Errorf("event url %q title %q utm %v; want the page's", ev.URL, ev.Title, ev.UTM)
		}
		if !strings.Contains(ev.UserAgent, "Chrome") {
			t.Errorf("user agent %q: not the browser's", ev.UserAgent)
		}
		// The visitor id is first-party: the page's cookie holds it.
		if c := browsertest.Eval[string](t, tab, `document.cookie`); !strings.Contains(c, "fh_vid="+vid) {
			t.Errorf("cookie %q does not hold fh_vid=%s", c, vid)
		}
	})
	if errs := b.Errors(); len(errs) > 0 {
		t.Errorf("page errors: %q", errs)
	}
}
