package testkit

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/firehook/firehook/http/api"
)

// Response is a fully read HTTP answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends a request with body (nil for none) and headers (name, value
// pairs, set in order, so a later one wins) through client and reads the
// whole answer.
func Do(tb testing.TB, client *http.Client, method, url string, body io.Reader, headers ...string) Response {
	tb.Helper()
	if len(headers)%2 != 0 {
		tb.Fatalf("headers must be name, value pairs: %q", headers)
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		tb.Fatalf("new request: %v", err)
	}
	for i := 0; i < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// Serve runs req through h in process and returns the whole answer: for
// tests that send what an HTTP client would not put on the wire, or that
// send many requests quickly (fuzz targets).
func Serve(h http.Handler, req *http.Request) Response {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return Response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

// AssertJSON asserts an application/json answer with status and decodes
// its body into a T.
func AssertJSON[T any](tb testing.TB, r Response, status int) T {
	tb.Helper()
	var v T
	if r.Status != status {
		tb.Fatalf("status = %d, want %d; body %s", r.Status, status, r.Body)
	}
	assertJSONType(tb, r)
	if err := json.Unmarshal(r.Body, &v); err != nil {
		tb.Fatalf("body %s: %v", r.Body, err)
	}
	return v
}

// AssertError asserts an error answer with status and code whose body is
// exactly {"error": non-empty string, "code": string}, as
// application/json: the one error shape of every Firehook API.
func AssertError(tb testing.TB, r Response, status int, code string) {
	tb.Helper()
	if r.Status != status {
		tb.Errorf("status = %d, want %d; body %s", r.Status, status, r.Body)
	}
	assertJSONType(tb, r)
	var body map[string]any
	if err := json.Unmarshal(r.Body, &body); err != nil {
		tb.Fatalf("error body %q is not a JSON object: %v", r.Body, err)
	}
	if len(body) != 2 {
		tb.Errorf("error body %s has keys other than error and code", r.Body)
	}
	if msg, isStr := body["error"].(string); !isStr || msg == "" {
		tb.Errorf("error body %s: \"error\" must be a non-empty string", r.Body)
	}
	if got, _ := body["code"].(string); got != code {
		tb.Errorf("code = %v, want %q (body %s)", body["code"], code, r.Body)
	}
}

// AssertClientError asserts a refusal in the one error shape (see
// AssertError) whose status is a 4xx and is the status the error
// catalogue gives its code (api.Code.Status), and returns the code: for
// tests that send input whose refusal reason they do not predict, such as
// fuzz targets.
func AssertClientError(tb testing.TB, r Response) api.Code {
	tb.Helper()
	var body struct {
		Code api.Code `json:"code"`
	}
	if r.Status < 400 || r.Status > 499 {
		tb.Fatalf("status = %d, want a client error (4xx); body %s", r.Status, r.Body)
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		tb.Fatalf("error body %q is not a JSON object: %v", r.Body, err)
	}
	AssertError(tb, r, body.Code.Status(), string(body.Code))
	return body.Code
}

func assertJSONType(tb testing.TB, r Response) {
	tb.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		tb.Errorf("Content-Type = %q, want application/json", ct)
	}
}
