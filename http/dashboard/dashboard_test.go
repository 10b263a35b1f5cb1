package dashboard_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/firehook/firehook/http/dashboard"
	"github.com/firehook/firehook/internal/testkit"
)

// serve starts the dashboard alone on a test server.
func serve(t *testing.T, cfg dashboard.Config) (*dashboard.Handler, *httptest.Server) {
	t.Helper()
	h := dashboard.New(cfg)
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Client().CloseIdleConnections()
		srv.Close()
	})
	return h, srv
}

func TestHandler_ServesThePageAndAssetsWithTheirTypes(t *testing.T) {
	_, srv := serve(t, dashboard.Config{})
	for _, tc := range []struct {
		path, contentType, contains string
	}{
		{"/dashboard", "text/html; charset=utf-8", `<script src="/dashboard/app.js" defer></script>`},
		{"/dashboard/app.js", "text/javascript; charset=utf-8", `"use strict"`},
		{"/dashboard/app.css", "text/css; charset=utf-8", "--accent"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			r := testkit.Do(t, srv.Client(), http.MethodGet, srv.URL+tc.path, nil)
			if r.Status != http.StatusOK {
				t.Fatalf("status %d, want 200; body %s", r.Status, r.Body)
			}
			if ct := r.Header.Get("Content-Type"); ct != tc.contentType {
				t.Errorf("Content-Type %q, want %q", ct, tc.contentType)
			}
			if !bytes.Contains(r.Body, []byte(tc.contains)) {
				t.Errorf("body does not contain %q", tc.contains)
			}
			for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "ETag"} {
				if r.Header.Get(h) == "" {
					t.Errorf("no %s header", h)
				}
			}
			// A revalidation with the ETag costs no body.
			again := testkit.Do(t, srv.Client(), http.MethodGet, srv.URL+tc.path, nil, "If-None-Match", r.Header.Get("ETag"))
			if again.Status != http.StatusNotModified || len(again.Body) != 0 {
				t.Errorf("revalidation: status %d with %d bytes, want 304 and none", again.Status, len(again.Body))
			}
		})
	}
	t.Run("unknown asset", func(t *testing.T) {
		for _, p := range []string{"/dashboard/nope.js", "/dashboard/index.html", "/dashboard/static/app.js", "/elsewhere"} {
			testkit.AssertError(t, testkit.Do(t, srv.Client(), http.MethodGet, srv.URL+p, nil), http.StatusNotFound, "not_found")
		}
	})
	t.Run("other methods", func(t *testing.T) {
		r := testkit.Do(t, srv.Client(), http.MethodPost, srv.URL+"/dashboard", nil)
		testkit.AssertError(t, r, http.StatusMethodNotAllowed, "method_not_allowed")
		if r.Header.Get("Allow") != "GET" {
			t.Errorf("Allow %q, want GET", r.Header.Get("Allow"))
		}
		r = testkit.Do(t, srv.Client(), http.MethodGet, srv.URL+"/dashboard/login", nil)
		testkit.AssertError(t, r, http.StatusNotFound, "not_found") // GET of {asset} "login"
	})
}

// The page loads nothing from elsewhere: every src and href is the
// dashboard's own, a fragment, or a data: URL.
func TestHandler_PageLoadsOnlyItsOwnAssets(t *testing.T) {
	_, srv := serve(t, dashboard.Config{})
	page := testkit.Do(t, srv.Client(), http.MethodGet, srv.URL+"/dashboard", nil).Body
	refs := regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllSubmatch(page, -1)
	if len(refs) < 3 {
		t.Fatalf("found %d src/href attributes; the pattern is broken", len(refs))
	}
	for _, m := range refs {
		ref := string(m[1])
		if !strings.HasPrefix(ref, "/dashboard/") && !strings.HasPrefix(ref, "#") && !strings.HasPrefix(ref, "data:") {
			t.Errorf("the page refers to %q: not one of its own assets", ref)
		}
		if strings.HasPrefix(ref, "/dashboard/") {
			if r := testkit.Do(t, srv.Client(), http.MethodGet, srv.URL+ref, nil); r.Status != http.StatusOK {
				t.Errorf("%s: status %d", ref, r.Status)
			}
		}
	}
}

func login(t *testing.T, srv *httptest.Server, body string) testkit.Response {
	t.Helper()
	return testkit.Do(t, srv.Client(), http.MethodPost, srv.URL+"/dashboard/login", strings.NewReader(body),
		"Content-Type", "application/json")
}

func TestHandler_LoginCodeIsExchangedOnce(t *testing.T) {
	h, srv := serve(t, dashboard.Config{})
	code := h.NewLoginCode("fho_secret")
	other := h.NewLoginCode("fho_other")
	if code == other || len(code) < 32 {
		t.Fatalf("codes %q and %q: want distinct codes of 32+ characters", code, other)
	}
	r := login(t, srv, `{"code":"`+code+`"}`)
	got := testkit.AssertJSON[map[string]string](t, r, http.StatusOK)
	if got["token"] != "fho_secret" || len(got) != 1 {
		t.Errorf("login answered %v, want exactly the token fho_secret", got)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	// Spent: the same code again is refused, the other still works once.
	testkit.AssertError(t, login(t, srv, `{"code":"`+code+`"}`), http.StatusUnauthorized, "unauthorized")
	if got := testkit.AssertJSON[map[string]string](t, login(t, srv, `{"code":"`+other+`"}`), http.StatusOK); got["token"] != "fho_other" {
		t.Errorf("second code answered %v", got)
	}
	testkit.AssertError(t, login(t, srv, `{"code":"`+other+`"}`), http.StatusUnauthorized, "unauthorized")
}

func TestHandler_LoginRefusesBadRequests(t *testing.T) {
	h, srv := serve(t, dashboard.Config{})
	code := h.NewLoginCode("fho_secret")
	for _, tc := range []struct {
		body   string
		status int
		code   string
	}{
		{`{"code":"nope"}`, http.StatusUnauthorized, "unauthorized"},
		{`{"code":""}`, http.StatusBadRequest, "validation_failed"},
		{`{}`, http.StatusBadRequest, "validation_failed"},
		{`not json`, http.StatusBadRequest, "invalid_json"},
		{`{"code":"` + code + `","token":"x"}`, http.StatusBadRequest, "invalid_json"}, // unknown field
		{`{"code":"` + strings.Repeat("a", 2000) + `"}`, http.StatusRequestEntityTooLarge, "payload_too_large"},
	} {
		testkit.AssertError(t, login(t, srv, tc.body), tc.status, tc.code)
	}
	// None of that spent the code.
	if got := testkit.AssertJSON[map[string]string](t, login(t, srv, `{"code":"`+code+`"}`), http.StatusOK); got["token"] != "fho_secret" {
		t.Errorf("login answered %v", got)
	}
}

func TestHandler_LoginCodeExpires(t *testing.T) {
	clock := testkit.NewClock(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	h, srv := serve(t, dashboard.Config{CodeTTL: time.Minute, Now: clock.Now})
	fresh, stale := h.NewLoginCode("t1"), h.NewLoginCode("t2")
	clock.Advance(59 * time.Second)
	testkit.AssertJSON[map[string]string](t, login(t, srv, `{"code":"`+fresh+`"}`), http.StatusOK)
	clock.Advance(time.Second)
	testkit.AssertError(t, login(t, srv, `{"code":"`+stale+`"}`), http.StatusUnauthorized, "unauthorized")
}

func TestHandler_KeepsAtMostMaxCodes(t *testing.T) {
	h, srv := serve(t, dashboard.Config{MaxCodes: 3})
	codes := []string{h.NewLoginCode("t0"), h.NewLoginCode("t1"), h.NewLoginCode("t2"), h.NewLoginCode("t3")}
	testkit.AssertError(t, login(t, srv, `{"code":"`+codes[0]+`"}`), http.StatusUnauthorized, "unauthorized") // the oldest went
	for i, c := range codes[1:] {
		got := testkit.AssertJSON[map[string]string](t, login(t, srv, `{"code":"`+c+`"}`), http.StatusOK)
		if want := "t" + string(rune('1'+i)); got["token"] != want {
			t.Errorf("code %d answered %v, want %s", i+1, got, want)
		}
	}
}

// needNode returns the node binary, or skips (fails under FIREHOOK_CI=1).
func needNode(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("FIREHOOK_CI") == "1" {
			t.Fatal("node is not installed; FIREHOOK_CI=1 needs it")
		}
		t.Skip("node is not installed")
	}
	return p
}

func TestAppJS_HasNoSyntaxErrors(t *testing.T) {
	node := needNode(t)
	out, err := exec.Command(node, "--check", filepath.Join("static", "app.js")).CombinedOutput()
	if err != nil {
		t.Fatalf("node --check static/app.js: %v\n%s", err, out)
	}
}

// The script renders data as text: it never builds markup from strings.
func TestAppJS_NeverParsesMarkup(t *testing.T) {
	js, err := os.ReadFile(filepath.Join("static", "app.js"))
	if err != nil {
		t.Fatal(err)
	}
	for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "createContextualFragment"} {
		if bytes.Contains(js, []byte(sink)) {
			t.Errorf("app.js uses %s: render data with textContent", sink)
		}
	}
}
