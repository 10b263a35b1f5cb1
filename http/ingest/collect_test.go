package ingest_test

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/http/ingest"
	"github.com/firehook/firehook/internal/testkit"
	"github.com/firehook/firehook/persistence"
)

// testNow is the fixed clock of the tests that need one.
var testNow = time.Date(2025, 6, 15, 12, 0, 0, 0, time.UTC)

func fixedClock(c *testkit.Clock) func(*ingest.Config) {
	return func(cfg *ingest.Config) { cfg.Now = c.Now }
}

func TestCollect_AcceptsPageView(t *testing.T) {
	for _, ct := range []string{
		"application/json",
		"application/json; charset=utf-8",
		"text/plain;charset=UTF-8", // what navigator.sendBeacon sends for a string body
		"text/plain",
		"", // no Content-Type at all
	} {
		t.Run("content type "+strings.ReplaceAll(ct, "/", "_"), func(t *testing.T) {
			clk := testkit.NewClock(testNow)
			e := newEnv(t, fixedClock(clk))
			ts := testNow.Add(-1500 * time.Millisecond)
			body := pageView(e.site, map[string]any{
				"vid":   "3f2a9c1e-7b6d-4a8e-9c1f-0d2e3b4a5c6d",
				"sid":   "sess_42",
				"url":   "HTTPS://WWW.Example.COM:443/Pricing?plan=pro&utm_source=newsletter&utm_medium=email&utm_campaign=spring&utm_term=crm&utm_content=hero&utm_id=c9#plans",
				"ref":   "https://Www.Google.COM:443/search?q=firehook#top",
				"title": "  Pricing — Acme  ",
				"ts":    ts.UnixMilli(),
				"ids":   map[string]string{"device_id": "dev-123", "maid": " 38400000-8cf0-11bd-b23e-10b96e40000d "},
			})
			id := accepted(t, e.collect(t, body, "Content-Type", ct, "User-Agent", "Mozilla/5.0 (X11; Linux x86_64) FirehookTest/1.0"))

			ev := e.onlyEvent(t)
			want := firehook.Event{
				ID:        id,
				Seq:       1,
				TenantID:  e.tenant.ID,
				SiteID:    e.site.ID,
				VisitorID: "3f2a9c1e-7b6d-4a8e-9c1f-0d2e3b4a5c6d",
				SessionID: "sess_42",
				URL:       "https://www.example.com/Pricing?plan=pro&utm_source=newsletter&utm_medium=email&utm_campaign=spring&utm_term=crm&utm_content=hero&utm_id=c9",
				Referrer:  "https://www.google.com/search?q=firehook",
				Title:     "Pricing — Acme",
				UTM: map[string]string{"source": "newsletter", "medium": "email", "campaign": "spring",
					"term": "crm", "content": "hero", "id": "c9"},
				IP:        "127.0.0.1",
				UserAgent: "Mozilla/5.0 (X11; Linux x86_64) FirehookTest/1.0",
				IDs:       map[string]string{"device_id": "dev-123", "maid": "38400000-8cf0-11bd-b23e-10b96e40000d"},
			}
			assertEvent(t, ev, want)
			if !ev.ClientTS.Equal(ts) {
				t.Errorf("ts = %v, want %v", ev.ClientTS, ts)
			}
			if !ev.ReceivedAt.Equal(testNow) {
				t.Errorf("received_at = %v, want the node's clock %v", ev.ReceivedAt, testNow)
			}
			if ev.HEMs != (firehook.HEMs{}) {
				t.Errorf("hems = %+v, want none", ev.HEMs)
			}
		})
	}
}

// assertEvent compares the fields of an event that do not hold times.
func assertEvent(t testing.TB, got, want firehook.Event) {
	t.Helper()
	check := func(field string, g, w any) {
		t.Helper()
		if g != w {
			t.Errorf("%s = %q, want %q", field, g, w)
		}
	}
	check("id", got.ID, want.ID)
	check("seq", fmt.Sprint(got.Seq), fmt.Sprint(want.Seq))
	check("tenant_id", got.TenantID, want.TenantID)
	check("site_id", got.SiteID, want.SiteID)
	check("vid", got.VisitorID, want.VisitorID)
	check("sid", got.SessionID, want.SessionID)
	check("url", got.URL, want.URL)
	check("ref", got.Referrer, want.Referrer)
	check("title", got.Title, want.Title)
	check("ip", got.IP, want.IP)
	check("ua", got.UserAgent, want.UserAgent)
	if !maps.Equal(got.UTM, want.UTM) {
		t.Errorf("utm = %v, want %v", got.UTM, want.UTM)
	}
	if !maps.Equal(got.IDs, want.IDs) {
		t.Errorf("ids = %v, want %v", got.IDs, want.IDs)
	}
}

func TestCollect_NormalisesURL(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct{ name, in, want string }{
		{"lower-cases scheme and host", "HTTP://Shop.EXAMPLE.com/Cart", "http://shop.example.com/Cart"},
		{"drops the http default port", "http://example.com:80/a", "http://example.com/a"},
		{"drops the https default port", "https://example.com:443/a", "https://example.com/a"},
		{"keeps another port", "https://example.com:8443/a", "https://example.com:8443/a"},
		{"keeps port 443 on http", "http://example.com:443/a", "http://example.com:443/a"},
		{"drops the fragment", "https://example.com/a?b=c#section-2", "https://example.com/a?b=c"},
		{"keeps path and query case", "https://example.com/Docs/API?Q=Go", "https://example.com/Docs/API?Q=Go"},
		{"brackets an IPv6 host", "http://[2001:DB8::1]:80/x", "http://[2001:db8::1]/x"},
	} {
		t.Run(c.name, func(t *testing.T) {
			accepted(t, e.collect(t, pageView(e.site, map[string]any{"url": c.in})))
			evs := e.events(t)
			if got := evs[len(evs)-1].URL; got != c.want {
				t.Errorf("url %q stored as %q, want %q", c.in, got, c.want)
			}
		})
	}
}

func TestCollect_PullsUTMParameters(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		name, url string
		want      map[string]string
	}{
		{"none without utm_ params", "https://example.com/?a=1", nil},
		{"some", "https://example.com/?utm_source=google&utm_medium=cpc", map[string]string{"source": "google", "medium": "cpc"}},
		{"decoded and trimmed", "https://example.com/?utm_campaign=%20black%20friday%20", map[string]string{"campaign": "black friday"}},
		{"empty values dropped", "https://example.com/?utm_source=&utm_term=x", map[string]string{"term": "x"}},
		{"unknown utm_ params ignored", "https://example.com/?utm_foo=bar", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			accepted(t, e.collect(t, pageView(e.site, map[string]any{"url": c.url})))
			evs := e.events(t)
			if got := evs[len(evs)-1].UTM; !maps.Equal(got, c.want) {
				t.Errorf("utm of %q = %v, want %v", c.url, got, c.want)
			}
		})
	}
}

func TestCollect_CleansTitleAndUserAgent(t *testing.T) {
	e := newEnv(t)
	title := "Tab\there\x7f " + strings.Repeat("é", 600)
	ua := strings.Repeat("a", 700)
	accepted(t, e.collect(t, pageView(e.site, map[string]any{"title": title}), "User-Agent", ua))
	ev := e.onlyEvent(t)
	if want := "Tabhere " + strings.Repeat("é", 512-len("Tabhere ")); ev.Title != want {
		t.Errorf("title = %q, want control characters dropped and cut to 512 runes", ev.Title)
	}
	if len(ev.UserAgent) != 512 {
		t.Errorf("User-Agent is %d bytes, want it cut to 512", len(ev.UserAgent))
	}
}

func TestCollect_DefaultsTimestampToNow(t *testing.T) {
	clk := testkit.NewClock(testNow)
	e := newEnv(t, fixedClock(clk))
	accepted(t, e.collect(t, pageView(e.site, nil)))
	if ev := e.onlyEvent(t); !ev.ClientTS.Equal(testNow) {
		t.Errorf("ts = %v, want the node's clock %v when the pixel sends none", ev.ClientTS, testNow)
	}
}

func TestCollect_AcceptsTimestampsAtTheBounds(t *testing.T) {
	clk := testkit.NewClock(testNow)
	e := newEnv(t, fixedClock(clk))
	for _, c := range []struct {
		name string
		ts   time.Time
	}{
		{"2000-01-01 exactly", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"a day late", testNow.Add(-24 * time.Hour)},
		{"24 h ahead exactly", testNow.Add(24 * time.Hour)},
	} {
		t.Run(c.name, func(t *testing.T) {
			accepted(t, e.collect(t, pageView(e.site, map[string]any{"ts": c.ts.UnixMilli()})))
			evs := e.events(t)
			if got := evs[len(evs)-1].ClientTS; !got.Equal(c.ts) {
				t.Errorf("ts = %v, want %v", got, c.ts)
			}
		})
	}
}

func TestCollect_AssignsSequencesOneToN(t *testing.T) {
	e := newEnv(t)
	other := e.addSite(t, func(s *firehook.Site) { s.Domain = "other.example" })
	var ids []string
	for i := range 6 {
		site := e.site
		if i%2 == 1 {
			site = other
		}
		ct := "application/json"
		if i%3 == 0 {
			ct = "text/plain;charset=UTF-8"
		}
		body := pageView(site, map[string]any{"vid": fmt.Sprintf("v_%d", i), "url": fmt.Sprintf("https://example.com/p/%d", i)})
		ids = append(ids, accepted(t, e.collect(t, body, "Content-Type", ct)))
	}
	evs := e.events(t)
	if len(evs) != len(ids) {
		t.Fatalf("log holds %d events, want %d", len(evs), len(ids))
	}
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) || ev.ID != ids[i] || ev.VisitorID != fmt.Sprintf("v_%d", i) {
			t.Errorf("event %d = seq %d id %s vid %s, want seq %d id %s vid v_%d", i, ev.Seq, ev.ID, ev.VisitorID, i+1, ids[i], i)
		}
		wantSite := e.site.ID
		if i%2 == 1 {
			wantSite = other.ID
		}
		if ev.SiteID != wantSite || ev.TenantID != e.tenant.ID {
			t.Errorf("event %d belongs to site %s tenant %s, want site %s tenant %s", i, ev.SiteID, ev.TenantID, wantSite, e.tenant.ID)
		}
	}
	if got := e.store.Events.LastSeq(); got != uint64(len(ids)) {
		t.Errorf("LastSeq = %d, want %d", got, len(ids))
	}
}

func TestCollect_OptOutStoresNothing(t *testing.T) {
	e := newEnv(t)
	valid := pageView(e.site, nil)
	for _, h := range [][2]string{{"Sec-GPC", "1"}, {"DNT", "1"}} {
		t.Run("POST with "+h[0], func(t *testing.T) {
			e.storesNothing(t, func() {
				r := e.collect(t, valid, h[0], h[1])
				if r.Status != http.StatusNoContent || len(r.Body) != 0 {
					t.Errorf("got %d %q, want 204 with no body", r.Status, r.Body)
				}
			})
		})
		t.Run("POST with "+h[0]+" and a malformed body", func(t *testing.T) {
			e.storesNothing(t, func() {
				if r := e.collect(t, "{nope", h[0], h[1]); r.Status != http.StatusNoContent {
					t.Errorf("status = %d, want 204: an opted-out browser is not even parsed", r.Status)
				}
			})
		})
		t.Run("GIF with "+h[0], func(t *testing.T) {
			e.storesNothing(t, func() {
				r := e.do(t, http.MethodGet, "/v1/collect.gif?"+gifQuery(e.site, nil), nil, h[0], h[1])
				if r.Status != http.StatusNoContent || len(r.Body) != 0 {
					t.Errorf("got %d %q, want 204 with no body", r.Status, r.Body)
				}
			})
		})
	}
	t.Run("Sec-GPC 0 and DNT 0 do not opt out", func(t *testing.T) {
		accepted(t, e.collect(t, valid, "Sec-GPC", "0", "DNT", "0"))
	})
}

func TestCollect_CORS(t *testing.T) {
	e := newEnv(t)
	listed := e.addSite(t, func(s *firehook.Site) {
		s.Domain = "acme.test"
		s.AllowedOrigins = []string{"https://shop.acme.test", "https://acme.test"}
	})
	anyOrigin := e.addSite(t, func(s *firehook.Site) { s.AllowedOrigins = []string{"*"} })

	// corsCase is a request of a page view of site with an Origin header.
	type corsCase struct {
		name   string
		site   firehook.Site
		origin string
	}
	for _, c := range []corsCase{
		{"origin in allowed_origins", listed, "https://shop.acme.test"},
		{"origin in allowed_origins in another case", listed, "https://SHOP.acme.test"},
		{"any origin with *", anyOrigin, "https://anything.example.net"},
		{"empty list: the site's domain", e.site, "https://example.com"},
		{"empty list: a subdomain over http with a port", e.site, "http://blog.example.com:8080"},
		{"empty list: a deep subdomain", e.site, "https://a.b.example.com"},
	} {
		t.Run("allows "+c.name, func(t *testing.T) {
			r := e.collect(t, pageView(c.site, nil), "Origin", c.origin)
			accepted(t, r)
			if got := r.Header.Get("Access-Control-Allow-Origin"); got != c.origin {
				t.Errorf("Access-Control-Allow-Origin = %q, want the origin %q echoed", got, c.origin)
			}
			if !slices.Contains(r.Header.Values("Vary"), "Origin") {
				t.Errorf("Vary = %q, want Origin", r.Header.Values("Vary"))
			}
		})
	}

	t.Run("allows a request without Origin", func(t *testing.T) {
		r := e.collect(t, pageView(listed, nil))
		accepted(t, r)
		if got := r.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("Access-Control-Allow-Origin = %q, want none without Origin", got)
		}
	})

	for _, c := range []corsCase{
		{"an origin not in allowed_origins", listed, "https://evil.example.net"},
		{"a subdomain not in allowed_origins", listed, "https://blog.acme.test"},
		{"the site's domain over another scheme", listed, "http://acme.test"},
		{"empty list: another domain", e.site, "https://notexample.com"},
		{"empty list: the domain as a prefix", e.site, "https://example.com.evil.net"},
		{"empty list: a non-http scheme", e.site, "chrome-extension://example.com"},
		{"empty list: the opaque origin null", e.site, "null"},
	} {
		t.Run("refuses "+c.name, func(t *testing.T) {
			e.storesNothing(t, func() {
				r := e.collect(t, pageView(c.site, nil), "Origin", c.origin)
				apiError(t, r, http.StatusForbidden, "origin_not_allowed")
				if got := r.Header.Get("Access-Control-Allow-Origin"); got != "" {
					t.Errorf("Access-Control-Allow-Origin = %q on a refused origin, want none", got)
				}
			})
		})
	}

	t.Run("answers a preflight", func(t *testing.T) {
		var r testkit.Response
		e.storesNothing(t, func() {
			r = e.do(t, http.MethodOptions, "/v1/collect", nil,
				"Origin", "https://shop.acme.test",
				"Access-Control-Request-Method", "POST",
				"Access-Control-Request-Headers", "content-type")
		})
		if r.Status != http.StatusNoContent {
			t.Fatalf("status = %d, want 204", r.Status)
		}
		for name, want := range map[string]string{
			"Access-Control-Allow-Origin":  "https://shop.acme.test",
			"Access-Control-Allow-Methods": "POST, GET, OPTIONS",
			"Access-Control-Allow-Headers": "Content-Type",
			"Access-Control-Max-Age":       "86400",
		} {
			if got := r.Header.Get(name); got != want {
				t.Errorf("%s = %q, want %q", name, got, want)
			}
		}
	})
}

func TestCollect_RateLimitsPerSite(t *testing.T) {
	clk := testkit.NewClock(testNow)
	e := newEnv(t, fixedClock(clk))
	limited := e.addSite(t, func(s *firehook.Site) { s.RateLimitPerS = 2 }) // burst: 4
	body := pageView(limited, nil)

	for i := range 4 {
		if r := e.collect(t, body); r.Status != http.StatusAccepted {
			t.Fatalf("event %d of the burst: status %d, want 202; body %s", i+1, r.Status, r.Body)
		}
	}
	t.Run("invalid events do not spend the budget", func(t *testing.T) {
		// Sent after the burst, they are still refused for what they are.
		apiError(t, e.collect(t, pageView(limited, map[string]any{"url": "/relative"})), http.StatusBadRequest, "invalid_url")
	})
	t.Run("over the burst answers 429 with Retry-After", func(t *testing.T) {
		for range 3 {
			e.storesNothing(t, func() {
				r := e.collect(t, body)
				apiError(t, r, http.StatusTooManyRequests, "rate_limited")
				if got := r.Header.Get("Retry-After"); got != "1" {
					t.Errorf("Retry-After = %q, want 1 (a token comes back in 0.5 s)", got)
				}
			})
		}
	})
	t.Run("another site keeps its own budget", func(t *testing.T) {
		accepted(t, e.collect(t, pageView(e.site, nil)))
	})
	t.Run("a refilled token is accepted", func(t *testing.T) {
		clk.Advance(500 * time.Millisecond)
		accepted(t, e.collect(t, body))
		apiError(t, e.collect(t, body), http.StatusTooManyRequests, "rate_limited")
	})

	var fromLimited int
	for _, ev := range e.events(t) {
		if ev.SiteID == limited.ID {
			fromLimited++
		}
	}
	if fromLimited != 5 {
		t.Errorf("the limited site has %d events stored, want 5 (burst of 4 + 1 refilled)", fromLimited)
	}
}

func TestCollect_ConcurrentPostsGetUniqueGaplessSequences(t *testing.T) {
	const workers, perWorker = 64, 20
	e := newEnv(t)
	e.client.Transport.(*http.Transport).MaxIdleConnsPerHost = workers

	ids := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				body := pageView(e.site, map[string]any{"vid": fmt.Sprintf("w%d_%d", w, i)})
				req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/v1/collect", strings.NewReader(body))
				if err != nil {
					t.Errorf("worker %d: %v", w, err)
					return
				}
				req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
				resp, err := e.client.Do(req)
				if err != nil {
					t.Errorf("worker %d post %d: %v", w, i, err)
					return
				}
				r := testkit.Response{Status: resp.StatusCode, Header: resp.Header}
				r.Body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					t.Errorf("worker %d post %d: read: %v", w, i, err)
					return
				}
				if r.Status != http.StatusAccepted {
					t.Errorf("worker %d post %d: status %d, body %s", w, i, r.Status, r.Body)
					return
				}
				ids[w] = append(ids[w], accepted(t, r))
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	answered := map[string]bool{}
	for _, ws := range ids {
		for _, id := range ws {
			if answered[id] {
				t.Errorf("event id %s answered twice", id)
			}
			answered[id] = true
		}
	}
	if len(answered) != workers*perWorker {
		t.Fatalf("%d distinct event ids answered, want %d", len(answered), workers*perWorker)
	}

	evs := e.events(t)
	if len(evs) != workers*perWorker {
		t.Fatalf("log holds %d events, want %d", len(evs), workers*perWorker)
	}
	vids := map[string]bool{}
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d: sequences must be exactly 1..%d", i, ev.Seq, len(evs))
		}
		if !answered[ev.ID] {
			t.Errorf("stored event %s (seq %d) was never answered", ev.ID, ev.Seq)
		}
		delete(answered, ev.ID)
		vids[ev.VisitorID] = true
	}
	if len(vids) != workers*perWorker {
		t.Errorf("%d distinct visitors stored, want %d", len(vids), workers*perWorker)
	}
	if got := e.store.Events.LastSeq(); got != workers*perWorker {
		t.Errorf("LastSeq = %d, want %d", got, workers*perWorker)
	}
}

// One client address may send PerIPRate page views a second (burst: two
// seconds' worth) on both collect routes together, whatever the site;
// another address keeps its own budget, and loopback clients are not
// limited (behind an untrusted local proxy every visitor is 127.0.0.1).
func TestCollect_RateLimitsPerClientAddress(t *testing.T) {
	clk := testkit.NewClock(testNow)
	e := newEnv(t, fixedClock(clk), func(c *ingest.Config) {
		c.PerIPRate = 2 // burst: 4
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	other := e.addSite(t, nil)
	from := func(ip string) []string { return []string{"X-Forwarded-For", ip} }

	accepted(t, e.collect(t, pageView(e.site, nil), from("203.0.113.7")...))
	accepted(t, e.collect(t, pageView(other, nil), from("203.0.113.7")...))
	accepted(t, e.collect(t, pageView(e.site, nil), from("203.0.113.7")...))
	if r := e.do(t, http.MethodGet, "/v1/collect.gif?site="+e.site.Key+"&url=https%3A%2F%2Fexample.com%2F", nil, from("203.0.113.7")...); r.Status != http.StatusOK {
		t.Fatalf("the GIF route within the burst: status %d; body %s", r.Status, r.Body)
	}
	e.storesNothing(t, func() {
		r := e.collect(t, pageView(other, nil), from("203.0.113.7")...)
		apiError(t, r, http.StatusTooManyRequests, "rate_limited")
		if got := r.Header.Get("Retry-After"); got != "1" {
			t.Errorf("Retry-After = %q, want 1 (a token comes back in 0.5 s)", got)
		}
		r = e.do(t, http.MethodGet, "/v1/collect.gif?site="+e.site.Key+"&url=https%3A%2F%2Fexample.com%2F", nil, from("203.0.113.7")...)
		apiError(t, r, http.StatusTooManyRequests, "rate_limited")
		// Junk from the address is refused before it is read.
		apiError(t, e.collect(t, "{", from("203.0.113.7")...), http.StatusTooManyRequests, "rate_limited")
	})
	accepted(t, e.collect(t, pageView(e.site, nil), from("198.51.100.1")...))
	for range 10 { // the proxy itself, and a loopback client behind it
		accepted(t, e.collect(t, pageView(e.site, nil)))
		accepted(t, e.collect(t, pageView(e.site, nil), from("127.0.0.1")...))
	}
	clk.Advance(500 * time.Millisecond)
	accepted(t, e.collect(t, pageView(e.site, nil), from("203.0.113.7")...))
}

// When the disk cannot take the event (full, read-only), the page view is
// answered 503 with Retry-After and nothing is stored; the events accepted
// before stay, and the node takes page views again, with the next
// sequences, as soon as the disk has room — no restart.
func TestCollect_FullDiskAnswers503AndRecovers(t *testing.T) {
	var full atomic.Bool
	dir := t.TempDir()
	cfg := persistence.DefaultConfig(dir)
	cfg.MemTableSize, cfg.BlockCacheSize = 1<<20, 1<<20
	cfg.EventLog.WriteFile = func(f *os.File, b []byte) (int, error) {
		if full.Load() {
			return 0, syscall.ENOSPC
		}
		return f.Write(b)
	}
	st, err := persistence.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e := newEnvOn(t, dir, st)
	first := accepted(t, e.collect(t, pageView(e.site, nil)))

	full.Store(true)
	e.storesNothing(t, func() {
		for range 3 {
			r := e.collect(t, pageView(e.site, nil))
			apiError(t, r, http.StatusServiceUnavailable, "unavailable")
			if r.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
		}
	})
	full.Store(false)
	second := accepted(t, e.collect(t, pageView(e.site, nil)))
	evs := e.events(t)
	if len(evs) != 2 || evs[0].ID != first || evs[1].ID != second || evs[1].Seq != 2 {
		t.Fatalf("events after the disk recovered: %+v; want %s then %s with sequence 2", evs, first, second)
	}
}
