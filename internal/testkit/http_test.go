package testkit

import (
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
)

// recorder is a testing.TB that notes a failure instead of reporting it.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Helper()               { r.TB.Helper() }
func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true; runtime.Goexit() }

// fails reports whether check fails its test.
func fails(tb testing.TB, check func(testing.TB)) bool {
	r := &recorder{TB: tb}
	done := make(chan struct{})
	go func() { defer close(done); check(r) }()
	<-done
	return r.failed
}

func jsonAnswer(status int, body string) Response {
	return Response{Status: status, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(body)}
}

func TestAssertError(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    Response
		fail bool
	}{
		{"the error shape", jsonAnswer(404, `{"error":"no such site","code":"not_found"}`), false},
		{"another status", jsonAnswer(400, `{"error":"no such site","code":"not_found"}`), true},
		{"another code", jsonAnswer(404, `{"error":"no such site","code":"unknown_site"}`), true},
		{"no code", jsonAnswer(404, `{"error":"no such site","reason":"not_found"}`), true},
		{"an empty message", jsonAnswer(404, `{"error":"","code":"not_found"}`), true},
		{"a message that is no string", jsonAnswer(404, `{"error":1,"code":"not_found"}`), true},
		{"a third key", jsonAnswer(404, `{"error":"no such site","code":"not_found","site":"s"}`), true},
		{"not JSON", jsonAnswer(404, `not found`), true},
		{"not an object", jsonAnswer(404, `["not_found"]`), true},
		{"another content type", Response{Status: 404, Header: http.Header{"Content-Type": {"text/plain"}},
			Body: []byte(`{"error":"no such site","code":"not_found"}`)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fails(t, func(tb testing.TB) { AssertError(tb, tc.r, 404, "not_found") }); got != tc.fail {
				t.Errorf("AssertError failed = %v, want %v", got, tc.fail)
			}
		})
	}
}

func TestAssertJSON(t *testing.T) {
	if v := AssertJSON[map[string]int](t, jsonAnswer(200, `{"n":1}`), 200); v["n"] != 1 {
		t.Errorf("decoded %v, want n 1", v)
	}
	for _, tc := range []struct {
		name string
		r    Response
	}{
		{"another status", jsonAnswer(201, `{"n":1}`)},
		{"not JSON", jsonAnswer(200, `n=1`)},
		{"another content type", Response{Status: 200, Header: http.Header{"Content-Type": {"text/plain"}}, Body: []byte(`{"n":1}`)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !fails(t, func(tb testing.TB) { AssertJSON[map[string]int](tb, tc.r, 200) }) {
				t.Error("AssertJSON passed")
			}
		})
	}
}

func TestDo(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Echo", r.Method+" "+r.URL.Path+" "+r.Header.Get("X-A")+" "+string(b))
		w.WriteHeader(http.StatusTeapot)
		_, _ = io.WriteString(w, "answer")
	}))
	defer srv.Close()
	defer srv.Client().CloseIdleConnections()

	r := Do(t, srv.Client(), http.MethodPut, srv.URL+"/p", strings.NewReader("body"), "X-A", "first", "X-A", "last")
	if r.Status != http.StatusTeapot || string(r.Body) != "answer" || r.Header.Get("X-Echo") != "PUT /p last body" {
		t.Errorf("Do = %d %q, X-Echo %q; want 418 \"answer\", \"PUT /p last body\"", r.Status, r.Body, r.Header.Get("X-Echo"))
	}
	if !fails(t, func(tb testing.TB) { Do(tb, srv.Client(), http.MethodGet, srv.URL, nil, "X-A") }) {
		t.Error("Do accepted an odd number of header strings")
	}
}
