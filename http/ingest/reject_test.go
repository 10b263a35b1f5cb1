package ingest_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/firehook/firehook/http/ingest"
	"github.com/firehook/firehook/internal/testkit"
)

// badInput is a request to /v1/collect that must be refused, storing nothing.
type badInput struct {
	name        string
	body        string
	contentType string // default application/json
	status      int
	code        string
}

func TestCollect_RejectsBadInput(t *testing.T) {
	clk := testkit.NewClock(testNow)
	e := newEnv(t, fixedClock(clk))
	pv := func(edits map[string]any) string { return pageView(e.site, edits) }
	valid := pv(nil)
	invalidJSON := func(name, body string) badInput {
		return badInput{name: name, body: body, status: http.StatusBadRequest, code: "invalid_json"}
	}
	invalid := func(name string, code string, edits map[string]any) badInput {
		return badInput{name: name, body: pv(edits), status: http.StatusBadRequest, code: code}
	}
	tooManyIDs := map[string]string{}
	for i := range 17 {
		tooManyIDs[fmt.Sprintf("id_%d", i)] = "x"
	}

	cases := []badInput{
		// Not JSON, or not the JSON we expect.
		invalidJSON("empty body", ""),
		invalidJSON("malformed JSON", `{"site": "`+e.site.Key+`", vid: "v_1"}`),
		invalidJSON("malformed JSON with a trailing comma", strings.TrimSuffix(valid, "}")+`,}`),
		invalidJSON("truncated JSON", valid[:len(valid)/2]),
		invalidJSON("truncated JSON missing the closing brace", strings.TrimSuffix(valid, "}")),
		invalidJSON("a JSON array", "["+valid+"]"),
		invalidJSON("a JSON number", "42"),
		invalidJSON("a JSON string", `"`+e.site.Key+`"`),
		invalidJSON("site as a number", `{"site": 12345, "vid": "v_1", "url": "https://example.com/"}`),
		invalidJSON("ts as a string", pv(map[string]any{"ts": fmt.Sprint(testNow.UnixMilli())})),
		invalidJSON("ts as a fraction", strings.TrimSuffix(valid, "}")+`,"ts":1749988800000.5}`),
		invalidJSON("ids as an array", pv(map[string]any{"ids": []string{"dev-1"}})),
		invalidJSON("an ids value as a number", pv(map[string]any{"ids": map[string]any{"device_id": 7}})),
		invalidJSON("vid as an object", pv(map[string]any{"vid": map[string]string{"a": "b"}})),
		invalidJSON("trailing garbage after the object", valid+"garbage"),
		invalidJSON("a second object after the first", valid+valid),
		invalidJSON("a stray closing brace after the object", valid+"}"),
		{name: "invalid UTF-8", body: strings.Replace(valid, "Pricing", "Pric\xffing", 1), status: http.StatusBadRequest, code: "invalid_utf8"},
		{name: "a truncated UTF-8 sequence", body: strings.Replace(valid, "Pricing", "Pricing \xe2\x82", 1), status: http.StatusBadRequest, code: "invalid_utf8"},

		// The site.
		invalid("missing site", "missing_site", map[string]any{"site": nil}),
		invalid("empty site", "missing_site", map[string]any{"site": ""}),
		{name: "unknown site", body: pv(map[string]any{"site": "sk_doesnotexist"}), status: http.StatusNotFound, code: "unknown_site"},

		// url and ref.
		invalid("missing url", "invalid_url", map[string]any{"url": nil}),
		invalid("empty url", "invalid_url", map[string]any{"url": ""}),
		invalid("relative url", "invalid_url", map[string]any{"url": "/pricing"}),
		invalid("scheme-relative url", "invalid_url", map[string]any{"url": "//example.com/pricing"}),
		invalid("javascript: url", "invalid_url", map[string]any{"url": "javascript:alert(document.cookie)"}),
		invalid("ftp: url", "invalid_url", map[string]any{"url": "ftp://example.com/file"}),
		invalid("data: url", "invalid_url", map[string]any{"url": "data:text/html,<script>alert(1)</script>"}),
		invalid("url with credentials", "invalid_url", map[string]any{"url": "https://user:hunter2@example.com/"}),
		invalid("url with a user name", "invalid_url", map[string]any{"url": "https://user@example.com/"}),
		invalid("url without host", "invalid_url", map[string]any{"url": "https:///pricing"}),
		invalid("url that does not parse", "invalid_url", map[string]any{"url": "https://exa mple.com/"}),
		invalid("url longer than 4096", "invalid_url", map[string]any{"url": "https://example.com/" + strings.Repeat("a", 4097-len("https://example.com/"))}),
		invalid("relative ref", "invalid_url", map[string]any{"ref": "/from"}),
		invalid("javascript: ref", "invalid_url", map[string]any{"ref": "javascript:void(0)"}),
		invalid("ftp: ref", "invalid_url", map[string]any{"ref": "ftp://example.com/"}),
		invalid("ref with credentials", "invalid_url", map[string]any{"ref": "http://a:b@example.com/"}),
		invalid("ref longer than 4096", "invalid_url", map[string]any{"ref": "https://example.com/" + strings.Repeat("r", 4096)}),

		// vid and sid.
		invalid("missing vid", "validation_failed", map[string]any{"vid": nil}),
		invalid("empty vid", "validation_failed", map[string]any{"vid": ""}),
		invalid("vid with a space", "validation_failed", map[string]any{"vid": "v 1"}),
		invalid("vid with a slash", "validation_failed", map[string]any{"vid": "v/1"}),
		invalid("vid with quotes", "validation_failed", map[string]any{"vid": `v"1`}),
		invalid("vid with non-ASCII letters", "validation_failed", map[string]any{"vid": "visiteur_é"}),
		invalid("vid with a control character", "validation_failed", map[string]any{"vid": "v\n1"}),
		invalid("vid longer than 128", "validation_failed", map[string]any{"vid": strings.Repeat("v", 129)}),
		invalid("sid with bad characters", "validation_failed", map[string]any{"sid": "s<1>"}),
		invalid("sid longer than 128", "validation_failed", map[string]any{"sid": strings.Repeat("s", 129)}),

		// hem and email.
		invalid("hem too short", "validation_failed", map[string]any{"hem": strings.Repeat("a", 63)}),
		invalid("hem too long", "validation_failed", map[string]any{"hem": strings.Repeat("a", 65)}),
		invalid("hem of sha1 length", "validation_failed", map[string]any{"hem": strings.Repeat("a", 40)}),
		invalid("hem not hex", "validation_failed", map[string]any{"hem": strings.Repeat("g", 64)}),
		invalid("hem all zeros", "validation_failed", map[string]any{"hem": strings.Repeat("0", 64)}),
		invalid("email without @", "validation_failed", map[string]any{"email": "jane.example.com"}),
		invalid("email without local part", "validation_failed", map[string]any{"email": "@example.com"}),
		invalid("email without dot in the domain", "validation_failed", map[string]any{"email": "jane@localhost"}),
		invalid("email with a space", "validation_failed", map[string]any{"email": "jane doe@example.com"}),
		invalid("email with two @", "validation_failed", map[string]any{"email": "jane@doe@example.com"}),
		invalid("gmail address that is only a +suffix", "validation_failed", map[string]any{"email": "+news@gmail.com"}),
		invalid("email longer than 254", "validation_failed", map[string]any{"email": strings.Repeat("a", 250) + "@example.com"}),

		// ts.
		invalid("ts before 2000", "validation_failed", map[string]any{"ts": time.Date(1999, 12, 31, 23, 59, 59, 999e6, time.UTC).UnixMilli()}),
		invalid("ts in seconds, not milliseconds", "validation_failed", map[string]any{"ts": testNow.Unix()}),
		invalid("negative ts", "validation_failed", map[string]any{"ts": -1}),
		invalid("ts more than 24 h ahead", "validation_failed", map[string]any{"ts": testNow.Add(24*time.Hour + time.Millisecond).UnixMilli()}),
		invalid("ts in microseconds", "validation_failed", map[string]any{"ts": testNow.UnixMicro()}),

		// ids.
		invalid("too many ids", "validation_failed", map[string]any{"ids": tooManyIDs}),
		invalid("ids key with upper case", "validation_failed", map[string]any{"ids": map[string]string{"DeviceID": "d"}}),
		invalid("ids key with a dash", "validation_failed", map[string]any{"ids": map[string]string{"device-id": "d"}}),
		invalid("empty ids key", "validation_failed", map[string]any{"ids": map[string]string{"": "d"}}),
		invalid("ids key longer than 32", "validation_failed", map[string]any{"ids": map[string]string{strings.Repeat("k", 33): "d"}}),
		invalid("empty ids value", "validation_failed", map[string]any{"ids": map[string]string{"device_id": "  "}}),
		invalid("ids value with a control character", "validation_failed", map[string]any{"ids": map[string]string{"device_id": "d\x01"}}),
		invalid("ids value longer than 256", "validation_failed", map[string]any{"ids": map[string]string{"device_id": strings.Repeat("d", 257)}}),

		// The content type.
		{name: "form content type", body: valid, contentType: "application/x-www-form-urlencoded", status: http.StatusUnsupportedMediaType, code: "unsupported_media_type"},
		{name: "multipart content type", body: valid, contentType: "multipart/form-data; boundary=x", status: http.StatusUnsupportedMediaType, code: "unsupported_media_type"},
		{name: "xml content type", body: valid, contentType: "application/xml", status: http.StatusUnsupportedMediaType, code: "unsupported_media_type"},
		{name: "unparsable content type", body: valid, contentType: "application/json; charset", status: http.StatusUnsupportedMediaType, code: "unsupported_media_type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ct := c.contentType
			if ct == "" {
				ct = "application/json"
			}
			e.storesNothing(t, func() {
				apiError(t, e.collect(t, c.body, "Content-Type", ct), c.status, c.code)
			})
		})
	}
	t.Run("a valid page view after all of them is stored as sequence 1", func(t *testing.T) {
		accepted(t, e.collect(t, valid))
		if ev := e.onlyEvent(t); ev.Seq != 1 {
			t.Errorf("seq = %d, want 1", ev.Seq)
		}
	})
}

func TestCollect_RejectsOversizeBody(t *testing.T) {
	e := newEnv(t)
	// sized builds a valid page view of exactly n bytes by padding its title.
	sized := func(t *testing.T, n int) string {
		t.Helper()
		base := pageView(e.site, map[string]any{"title": ""})
		body := strings.Replace(base, `"title":""`, `"title":"`+strings.Repeat("x", n-len(base))+`"`, 1)
		if len(body) != n {
			t.Fatalf("built a body of %d bytes, want %d", len(body), n)
		}
		return body
	}

	t.Run("one byte over 16 KiB", func(t *testing.T) {
		e.storesNothing(t, func() {
			apiError(t, e.collect(t, sized(t, ingest.DefaultMaxBody+1)), http.StatusRequestEntityTooLarge, "payload_too_large")
		})
	})
	t.Run("a megabyte", func(t *testing.T) {
		e.storesNothing(t, func() {
			apiError(t, e.collect(t, sized(t, 1<<20)), http.StatusRequestEntityTooLarge, "payload_too_large")
		})
	})
	t.Run("exactly 16 KiB is accepted", func(t *testing.T) {
		accepted(t, e.collect(t, sized(t, ingest.DefaultMaxBody)))
	})
}

func TestCollect_HonoursConfiguredMaxBody(t *testing.T) {
	e := newEnv(t, func(c *ingest.Config) { c.MaxBody = 256 })
	body := pageView(e.site, map[string]any{"title": strings.Repeat("t", 256)})
	e.storesNothing(t, func() {
		apiError(t, e.collect(t, body), http.StatusRequestEntityTooLarge, "payload_too_large")
	})
	accepted(t, e.collect(t, pageView(e.site, nil)))
}
