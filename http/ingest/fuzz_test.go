package ingest_test

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/http/ingest"
	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/internal/testkit"
)

// The fuzz targets of the collect routes run the real handler in process
// (so that any bytes reach it, also those an HTTP client would not put on
// the wire) over a real store in a temporary directory. Their seeds are
// the files in testdata/fuzz/<target>; docs/fuzzing.md has the long runs.

// fuzzSiteKey is the key of the site that the seeds name: fixed, so that
// the fuzzer's mutations of a seed get past the site lookup.
const fuzzSiteKey = "sk_fuzzfuzzfuzzfuzzfuzzfuzz"

// fuzzEnv is an env on the clock testNow with a site of key fuzzSiteKey
// (for example.com, no allowed origins, no rate limit) as e.site, and no
// per-address limit: every fuzzed request comes from httptest's one
// address, and the clock stands still.
func fuzzEnv(f *testing.F) *env {
	f.Helper()
	e := newEnv(f, fixedClock(testkit.NewClock(testNow)), func(c *ingest.Config) { c.PerIPRate = -1 })
	e.site = e.addSite(f, func(s *firehook.Site) { s.Key = fuzzSiteKey })
	return e
}

// FuzzCollectBody: POST /v1/collect with any Content-Type and any body
// answers either
//   - 202 {"event_id"} with exactly that one event stored, in normal form
//     and true to the body as encoding/json reads it (checkStored), and
//     the stored event, sent again as a page view, is accepted and stored
//     the same (normalising is idempotent); or
//   - a 4xx in the one error shape whose code the catalogue maps to that
//     status, with nothing stored.
//
// Never a 5xx.
func FuzzCollectBody(f *testing.F) {
	e := fuzzEnv(f)
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/v1/collect", bytes.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		r, before, ok := e.serveOrRefuse(t, req, http.StatusAccepted)
		if !ok {
			return
		}
		ev := e.storedOne(t, before, accepted(t, r))
		var in pageViewIn
		if err := json.Unmarshal(body, &in); err != nil {
			t.Fatalf("accepted a body that encoding/json refuses (%v): %q", err, body)
		}
		e.checkStored(t, ev, in)
		e.roundTrip(t, ev)
	})
}

// FuzzCollectGIF: GET /v1/collect.gif with any query answers either the
// 1x1 GIF with exactly one event stored, in normal form and true to the
// query's parameters (checkStored; without vid, an anon_ visitor), which
// sent again as a page view is stored the same; or a 4xx in the one
// error shape, with nothing stored. Never a 5xx.
func FuzzCollectGIF(f *testing.F) {
	e := fuzzEnv(f)
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest(http.MethodGet, "/v1/collect.gif", nil)
		req.URL.RawQuery = query
		r, before, ok := e.serveOrRefuse(t, req, http.StatusOK)
		if !ok {
			return
		}
		isPixel(t, r)
		ev := e.storedOne(t, before, "")
		q := req.URL.Query() // what the handler reads: malformed pairs dropped
		in := pageViewIn{Site: q.Get("site"), VID: q.Get("vid"), URL: q.Get("url"), Ref: q.Get("ref"),
			Title: q.Get("title"), SID: q.Get("sid")}
		if ts := q.Get("ts"); ts != "" {
			n, err := strconv.ParseInt(ts, 10, 64)
			if err != nil {
				t.Fatalf("accepted ts=%q, which is not an integer", ts)
			}
			in.TS = n
		}
		if in.VID == "" {
			if !strings.HasPrefix(ev.VisitorID, "anon_") {
				t.Fatalf("a hit without vid stored visitor %q; want an anon_ id", ev.VisitorID)
			}
			in.VID = ev.VisitorID
		}
		e.checkStored(t, ev, in)
		e.roundTrip(t, ev)
	})
}

// pageViewIn is a page view with the fields of the contract (API.md),
// read by encoding/json: what an accepted request is checked against.
type pageViewIn struct {
	Site  string            `json:"site"`
	VID   string            `json:"vid"`
	URL   string            `json:"url"`
	Ref   string            `json:"ref"`
	Title string            `json:"title"`
	TS    int64             `json:"ts"`
	SID   string            `json:"sid"`
	HEM   string            `json:"hem"`
	Email string            `json:"email"`
	IDs   map[string]string `json:"ids"`
}

// serve runs req through the env's handler in process.
func (e *env) serve(req *http.Request) testkit.Response {
	return testkit.Serve(e.srv.Config.Handler, req)
}

// serveOrRefuse serves req and returns its answer, the event log's last
// sequence before it, and whether the answer has the status ok. Any
// other answer must be a client error in the one error shape, with
// nothing stored.
func (e *env) serveOrRefuse(t testing.TB, req *http.Request, ok int) (testkit.Response, uint64, bool) {
	t.Helper()
	before := e.store.Events.LastSeq()
	r := e.serve(req)
	if r.Status == ok {
		return r, before, true
	}
	testkit.AssertClientError(t, r)
	if after := e.store.Events.LastSeq(); after != before {
		t.Fatalf("a refused request moved the event log from sequence %d to %d", before, after)
	}
	return r, before, false
}

// storedOne asserts that the event log grew by one event since sequence
// before, with id when id is not empty, and returns that event.
func (e *env) storedOne(t testing.TB, before uint64, id string) firehook.Event {
	t.Helper()
	if after := e.store.Events.LastSeq(); after != before+1 {
		t.Fatalf("an accepted request moved the event log from sequence %d to %d; want one event", before, after)
	}
	evs, err := e.store.Events.Read(before+1, 2)
	if err != nil || len(evs) != 1 {
		t.Fatalf("read the new event: %d events, %v", len(evs), err)
	}
	if id != "" && evs[0].ID != id {
		t.Fatalf("the answer names event %s, the log holds %s", id, evs[0].ID)
	}
	return evs[0]
}

// checkStored asserts that ev, stored for the page view in, belongs to
// the env's site and holds in's fields in normal form: ids as sent,
// URLs absolute http(s) without credentials or fragment and with a
// lower-case host, text fields valid, bounded and trimmed, the time the
// one sent (or the clock's), hashes of the email sent (else the hem sent).
func (e *env) checkStored(t testing.TB, ev firehook.Event, in pageViewIn) {
	t.Helper()
	if in.Site != fuzzSiteKey || ev.TenantID != e.tenant.ID || ev.SiteID != e.site.ID {
		t.Fatalf("site %q stored for tenant %s site %s; want %q of %s, %s", in.Site, ev.TenantID, ev.SiteID,
			fuzzSiteKey, e.tenant.ID, e.site.ID)
	}
	if ev.VisitorID != in.VID || ev.SessionID != in.SID {
		t.Fatalf("vid, sid %q, %q stored as %q, %q", in.VID, in.SID, ev.VisitorID, ev.SessionID)
	}
	checkNormalURL(t, "url", in.URL, ev.URL)
	if (in.Ref == "") != (ev.Referrer == "") {
		t.Fatalf("ref %q stored as %q", in.Ref, ev.Referrer)
	}
	if in.Ref != "" {
		checkNormalURL(t, "ref", in.Ref, ev.Referrer)
	}
	checkCleanText(t, "title", ev.Title, 512)
	for k, v := range ev.UTM {
		if !slices.Contains([]string{"source", "medium", "campaign", "term", "content", "id"}, k) || v == "" {
			t.Fatalf("utm %v: unknown key or empty value", ev.UTM)
		}
		checkCleanText(t, "utm."+k, v, 256)
	}
	want := testNow
	if in.TS != 0 {
		want = time.UnixMilli(in.TS)
	}
	if !ev.ClientTS.Equal(want) || ev.ClientTS.Before(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)) ||
		ev.ClientTS.After(testNow.Add(24*time.Hour)) {
		t.Fatalf("ts %d stored as %v; want %v, between 2000 and a day ahead", in.TS, ev.ClientTS, want)
	}
	var hems firehook.HEMs
	switch {
	case in.Email != "":
		norm, err := identity.NormalizeEmail(in.Email)
		if err != nil {
			t.Fatalf("accepted email %q, which NormalizeEmail refuses: %v", in.Email, err)
		}
		hems = testkit.HEMs(t, norm)
	case in.HEM != "":
		hems.SHA256 = strings.ToLower(strings.TrimSpace(in.HEM))
	}
	if ev.HEMs != hems {
		t.Fatalf("email %q, hem %q stored as %+v; want %+v", in.Email, in.HEM, ev.HEMs, hems)
	}
	if len(ev.IDs) != len(in.IDs) {
		t.Fatalf("ids %q stored as %q", in.IDs, ev.IDs)
	}
	for k, v := range in.IDs {
		if ev.IDs[k] != strings.TrimSpace(v) {
			t.Fatalf("ids %q stored as %q", in.IDs, ev.IDs)
		}
	}
}

// checkNormalURL asserts that stored, the normal form of the URL sent,
// is an absolute http(s) URL with a lower-case host and without
// credentials or fragment.
func checkNormalURL(t testing.TB, field, sent, stored string) {
	t.Helper()
	u, err := url.Parse(stored)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" ||
		u.User != nil || strings.Contains(stored, "#") || u.Host != strings.ToLower(u.Host) {
		t.Fatalf("%s %q stored as %q: not an absolute http(s) URL with a lower-case host, without credentials or fragment (%v)",
			field, sent, stored, err)
	}
}

// checkCleanText asserts that s is valid UTF-8 of at most max runes,
// without control characters or surrounding white space.
func checkCleanText(t testing.TB, field, s string, max int) {
	t.Helper()
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max || strings.ContainsFunc(s, unicode.IsControl) ||
		s != strings.TrimSpace(s) {
		t.Fatalf("%s stored as %q: want valid UTF-8 of at most %d runes, trimmed, without control characters", field, s, max)
	}
}

// roundTrip sends the stored event ev again as a page view and asserts
// that it is accepted and stored with the same fields.
func (e *env) roundTrip(t testing.TB, ev firehook.Event) {
	t.Helper()
	pv := map[string]any{"site": fuzzSiteKey, "vid": ev.VisitorID, "sid": ev.SessionID, "url": ev.URL,
		"ref": ev.Referrer, "title": ev.Title, "ts": ev.ClientTS.UnixMilli(), "hem": ev.HEMs.SHA256, "ids": ev.IDs}
	body, err := json.Marshal(pv)
	if err != nil {
		t.Fatalf("marshal %v: %v", pv, err)
	}
	before := e.store.Events.LastSeq()
	req := httptest.NewRequest(http.MethodPost, "/v1/collect", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	r := e.serve(req)
	if r.Status != http.StatusAccepted {
		t.Fatalf("the stored event sent again, %s, answered %d %s", body, r.Status, r.Body)
	}
	again := e.storedOne(t, before, accepted(t, r))
	if again.VisitorID != ev.VisitorID || again.SessionID != ev.SessionID || again.URL != ev.URL ||
		again.Referrer != ev.Referrer || again.Title != ev.Title || !again.ClientTS.Equal(ev.ClientTS) ||
		again.HEMs.SHA256 != ev.HEMs.SHA256 || !maps.Equal(again.UTM, ev.UTM) || !maps.Equal(again.IDs, ev.IDs) {
		t.Fatalf("not idempotent: the stored event\n%+v\nsent again as %s is stored as\n%+v", ev, body, again)
	}
}
