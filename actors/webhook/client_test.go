package webhook_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/actors/webhook"
)

// The package's TestMain (sign_test.go) runs goleak.VerifyTestMain over
// these tests too: every test must leave no connection goroutine behind.

// loopback lets the test servers on 127.0.0.1 through the SSRF guard.
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// newClient returns a client closed when the test ends (before the
// servers the test started earlier).
func newClient(tb testing.TB, cfg webhook.ClientConfig) *webhook.Client {
	tb.Helper()
	c := webhook.NewClient(cfg)
	tb.Cleanup(c.Close)
	return c
}

// loopbackClient returns a default client that may reach 127.0.0.1.
func loopbackClient(tb testing.TB) *webhook.Client {
	tb.Helper()
	return newClient(tb, webhook.ClientConfig{Dialer: webhook.DialerConfig{Allow: loopback}})
}

// receiver is a real HTTP server on 127.0.0.1 that counts the requests
// and the connections it sees.
type receiver struct {
	*httptest.Server
	requests atomic.Int64
	conns    atomic.Int64 // opened
	closed   atomic.Int64 // closed or hijacked
}

// newReceiver starts a receiver running h, closed when the test ends.
func newReceiver(tb testing.TB, h http.HandlerFunc) *receiver {
	tb.Helper()
	r := &receiver{}
	r.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.requests.Add(1)
		h(w, req)
	}))
	r.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			r.conns.Add(1)
		case http.StateClosed, http.StateHijacked:
			r.closed.Add(1)
		}
	}
	r.Start()
	tb.Cleanup(r.Close)
	return r
}

// closeAtEnd closes ch when the test ends. Called after starting the
// servers whose handlers wait on ch, it runs before their Close (cleanups
// run last in, first out), which waits for those handlers to return.
func closeAtEnd(tb testing.TB, ch chan struct{}) {
	tb.Helper()
	tb.Cleanup(func() { close(ch) })
}

// eventually polls cond until it holds, failing the test after timeout.
func eventually(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// within fails the test unless want ≤ got ≤ want+slack.
func within(tb testing.TB, what string, got, want, slack time.Duration) {
	tb.Helper()
	if got < want || got > want+slack {
		tb.Fatalf("%s = %v; want %v … %v", what, got, want, want+slack)
	}
}

// slack is how much later than its timeout an attempt may end on a busy
// machine under the race detector.
const slack = 3 * time.Second

func TestClient_Do_status(t *testing.T) {
	for _, tc := range []struct {
		status int
		want   webhook.Outcome
	}{
		{200, webhook.Delivered},
		{201, webhook.Delivered},
		{202, webhook.Delivered},
		{204, webhook.Delivered},
		{299, webhook.Delivered},
		{400, webhook.Retry},
		{401, webhook.Retry},
		{404, webhook.Retry},
		{408, webhook.Retry},
		{410, webhook.Gone},
		{413, webhook.Retry},
		{429, webhook.Retry},
		{500, webhook.Retry},
		{502, webhook.Retry},
		{503, webhook.Retry},
		{504, webhook.Retry},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			body := fmt.Sprintf(`{"status":%d}`, tc.status)
			if tc.status == http.StatusNoContent {
				body = ""
			}
			srv := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tc.status)
				io.WriteString(w, body)
			})
			res := loopbackClient(t).Do(context.Background(), webhook.Request{URL: srv.URL, Body: []byte(`{}`)})
			if res.Err != nil || res.StatusCode != tc.status || res.Snippet != body {
				t.Fatalf("Do = %+v; want status %d, snippet %q, no error", res, tc.status, body)
			}
			if res.Duration <= 0 {
				t.Fatalf("Duration = %v; want > 0", res.Duration)
			}
			if res.RetryAfter != 0 {
				t.Fatalf("RetryAfter = %v without a header; want 0", res.RetryAfter)
			}
			if got := webhook.Classify(res); got != tc.want {
				t.Fatalf("Classify = %v; want %v", got, tc.want)
			}
		})
	}
}

// The request arrives as given: POST, body, headers, a default
// user-agent unless the headers name one, over HTTP/1.1.
func TestClient_Do_request(t *testing.T) {
	type seen struct {
		method, ua, custom, ct string
		body                   []byte
		proto                  int
		length                 int64
	}
	got := make(chan seen, 1)
	srv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.UserAgent(), r.Header.Get("X-Custom"), r.Header.Get("Content-Type"), b, r.ProtoMajor, r.ContentLength}
	})
	body := []byte(`{"id":"evt_1"}`)
	for _, tc := range []struct {
		name   string
		cfgUA  string
		header string
		wantUA string
	}{
		{"default user-agent", "", "", webhook.DefaultUserAgent},
		{"configured user-agent", "Firehook/1.2.3", "", "Firehook/1.2.3"},
		{"header wins", "Firehook/1.2.3", "Other/9", "Other/9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, webhook.ClientConfig{Dialer: webhook.DialerConfig{Allow: loopback}, UserAgent: tc.cfgUA})
			h := http.Header{"Content-Type": {"application/json"}, "X-Custom": {"yes"}}
			if tc.header != "" {
				h.Set("User-Agent", tc.header)
			}
			res := c.Do(context.Background(), webhook.Request{URL: srv.URL + "/hook", Headers: h, Body: body})
			if webhook.Classify(res) != webhook.Delivered {
				t.Fatalf("Do = %+v", res)
			}
			s := <-got
			want := seen{http.MethodPost, tc.wantUA, "yes", "application/json", body, 1, int64(len(body))}
			if s.method != want.method || s.ua != want.ua || s.custom != want.custom || s.ct != want.ct ||
				!bytes.Equal(s.body, want.body) || s.proto != want.proto || s.length != want.length {
				t.Fatalf("server saw %+v; want %+v", s, want)
			}
			if h.Get("User-Agent") != tc.header {
				t.Fatalf("Do modified the caller's headers: %v", h)
			}
		})
	}
}

// A signed delivery verifies at a receiver with the package's Verifier:
// the client sends the bytes and headers exactly as signed.
func TestClient_Do_signedDelivery(t *testing.T) {
	secret := firehook.NewWebhookSecret()
	verified := make(chan error, 1)
	srv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		verified <- webhook.Verifier{Secrets: []string{secret}}.Verify(r.Header, b)
	})
	body := []byte(`{"id":"evt_7","type":"visitor.identified","sequence":1}`)
	ts := time.Now()
	sig, err := webhook.Sign([]string{secret}, "evt_7", ts, body)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	webhook.Headers(h, "evt_7", ts, 1, sig, "Firehook/test")
	res := loopbackClient(t).Do(context.Background(), webhook.Request{URL: srv.URL, Headers: h, Body: body})
	if webhook.Classify(res) != webhook.Delivered {
		t.Fatalf("Do = %+v", res)
	}
	if err := <-verified; err != nil {
		t.Fatalf("receiver: Verify = %v", err)
	}
}

func TestClient_Do_retryAfter(t *testing.T) {
	date := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		status  int
		headers map[string][]string
		want    time.Duration
		slack   time.Duration
	}{
		{"429 seconds", 429, map[string][]string{"Retry-After": {"120"}}, 120 * time.Second, 0},
		{"503 seconds", 503, map[string][]string{"Retry-After": {"7"}}, 7 * time.Second, 0},
		{"429 zero", 429, map[string][]string{"Retry-After": {"0"}}, 0, 0},
		{"429 HTTP date against Date", 429, map[string][]string{
			"Retry-After": {date.Add(90 * time.Second).Format(http.TimeFormat)},
			"Date":        {date.Format(http.TimeFormat)}, // the receiver's clock is off: its own Date counts
		}, 90 * time.Second, 0},
		{"503 HTTP date against Date", 503, map[string][]string{
			"Retry-After": {date.Add(time.Hour).Format(http.TimeFormat)},
			"Date":        {date.Format(http.TimeFormat)},
		}, time.Hour, 0},
		{"503 HTTP date without Date", 503, map[string][]string{
			"Retry-After": {time.Now().Add(120 * time.Second).UTC().Format(http.TimeFormat)},
			"Date":        nil, // suppresses the server's automatic Date
		}, 118 * time.Second, 2 * time.Second},
		{"429 HTTP date in the past", 429, map[string][]string{
			"Retry-After": {date.Add(-time.Minute).Format(http.TimeFormat)},
			"Date":        {date.Format(http.TimeFormat)},
		}, 0, 0},
		{"429 absent", 429, nil, 0, 0},
		{"429 garbage", 429, map[string][]string{"Retry-After": {"soon"}}, 0, 0},
		{"429 negative", 429, map[string][]string{"Retry-After": {"-5"}}, 0, 0},
		{"429 beyond a Duration", 429, map[string][]string{"Retry-After": {"99999999999999999999999"}}, math.MaxInt64, 0},
		{"500 ignores it", 500, map[string][]string{"Retry-After": {"120"}}, 0, 0},
		{"301 ignores it", 301, map[string][]string{"Retry-After": {"120"}}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) {
				for k, v := range tc.headers {
					w.Header()[k] = v
				}
				w.WriteHeader(tc.status)
			})
			res := loopbackClient(t).Do(context.Background(), webhook.Request{URL: srv.URL})
			if res.Err != nil || res.StatusCode != tc.status {
				t.Fatalf("Do = %+v", res)
			}
			within(t, "RetryAfter", res.RetryAfter, tc.want, tc.slack)
			if webhook.Classify(res) != webhook.Retry {
				t.Fatalf("Classify = %v; want retry", webhook.Classify(res))
			}
		})
	}
}

// Redirects are outcomes: the Location is never fetched, whether it is
// another receiver (which sees no request) or a private address.
func TestClient_Do_redirectNotFollowed(t *testing.T) {
	target := newReceiver(t, func(http.ResponseWriter, *http.Request) {})
	for _, status := range []int{301, 302, 303, 307, 308} {
		for _, location := range []string{
			target.URL + "/elsewhere",
			"http://169.254.169.254/latest/meta-data/",
			"http://10.0.0.1/admin",
		} {
			t.Run(fmt.Sprintf("%d to %s", status, location), func(t *testing.T) {
				srv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, location, status)
				})
				res := loopbackClient(t).Do(context.Background(), webhook.Request{URL: srv.URL, Body: []byte(`{}`)})
				if res.Err != nil || res.StatusCode != status {
					t.Fatalf("Do = %+v; want status %d and no error", res, status)
				}
				if got := webhook.Classify(res); got != webhook.Retry {
					t.Fatalf("Classify = %v; want retry", got)
				}
				if srv.requests.Load() != 1 {
					t.Fatalf("redirecting server saw %d requests; want 1", srv.requests.Load())
				}
			})
		}
	}
	if n := target.requests.Load(); n != 0 {
		t.Fatalf("redirect target saw %d requests; want none", n)
	}
}

// A receiver that does not answer within the timeout: the attempt ends
// at the timeout with ErrTimeout, and the client hangs up.
func TestClient_Do_timeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	var hungUp atomic.Bool
	done := make(chan struct{})
	srv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // the server notices a hang-up only once the body is read
		select {
		case <-r.Context().Done():
			hungUp.Store(true)
		case <-done:
		}
	})
	closeAtEnd(t, done)
	res := loopbackClient(t).Do(context.Background(), webhook.Request{URL: srv.URL, Body: []byte(`{}`), Timeout: timeout})
	if res.StatusCode != 0 || !errors.Is(res.Err, webhook.ErrTimeout) {
		t.Fatalf("Do = %+v; want no status and ErrTimeout", res)
	}
	within(t, "Duration", res.Duration, timeout, slack)
	if webhook.Classify(res) != webhook.Retry {
		t.Fatalf("Classify = %v; want retry", webhook.Classify(res))
	}
	eventually(t, 5*time.Second, "the server to see the client hang up", hungUp.Load)
}

// The caller's context ending abandons the attempt: its error, not
// ErrTimeout.
func TestClient_Do_callerCancels(t *testing.T) {
	done := make(chan struct{})
	arrived := make(chan struct{}, 1)
	srv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-done:
		}
	})
	closeAtEnd(t, done)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-arrived
		cancel()
	}()
	res := loopbackClient(t).Do(ctx, webhook.Request{URL: srv.URL, Timeout: time.Minute})
	if !errors.Is(res.Err, context.Canceled) || errors.Is(res.Err, webhook.ErrTimeout) || res.StatusCode != 0 {
		t.Fatalf("Do = %+v; want context.Canceled and not ErrTimeout", res)
	}
}

// A receiver that resets the connection instead of answering.
func TestClient_Do_connectionReset(t *testing.T) {
	srv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.SetLinger(0) // close with RST, not FIN
		}
		conn.Close()
	})
	res := loopbackClient(t).Do(context.Background(), webhook.Request{URL: srv.URL, Body: []byte(`{}`), Timeout: 10 * time.Second})
	if res.StatusCode != 0 || res.Err == nil || errors.Is(res.Err, webhook.ErrTimeout) {
		t.Fatalf("Do = %+v; want a transport error that is not a timeout", res)
	}
	if res.Duration > 5*time.Second {
		t.Fatalf("Duration = %v; a reset must end the attempt at once", res.Duration)
	}
	if webhook.Classify(res) != webhook.Retry {
		t.Fatalf("Classify = %v; want retry", webhook.Classify(res))
	}
	t.Logf("reset: %v", res.Err)
}

// blackHole accepts connections and never answers. It counts the
// connections the client closed.
type blackHole struct {
	ln     net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex // guards conns
	conns  []net.Conn
	closed atomic.Int64
}

func newBlackHole(tb testing.TB) *blackHole {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	b := &blackHole{ln: ln}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.conns = append(b.conns, c)
			b.mu.Unlock()
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				io.Copy(io.Discard, c) // swallow the request; ends when the client hangs up
				b.closed.Add(1)
			}()
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		for _, c := range b.conns {
			c.Close()
		}
		b.mu.Unlock()
		b.wg.Wait()
	})
	return b
}

func TestClient_Do_blackHole(t *testing.T) {
	const timeout = 300 * time.Millisecond
	hole := newBlackHole(t)
	res := loopbackClient(t).Do(context.Background(), webhook.Request{
		URL: "http://" + hole.ln.Addr().String() + "/hook", Body: []byte(`{}`), Timeout: timeout,
	})
	if res.StatusCode != 0 || !errors.Is(res.Err, webhook.ErrTimeout) {
		t.Fatalf("Do = %+v; want no status and ErrTimeout", res)
	}
	within(t, "Duration", res.Duration, timeout, slack)
	if webhook.Classify(res) != webhook.Retry {
		t.Fatalf("Classify = %v; want retry", webhook.Classify(res))
	}
	eventually(t, 5*time.Second, "the client to close its connection to the black hole", func() bool {
		return hole.closed.Load() == 1
	})
}

// trickle writes the status, then chunks of body every interval until
// the body is written or stop.
func trickle(w http.ResponseWriter, chunks []string, interval time.Duration, stop <-chan struct{}) {
	rc := http.NewResponseController(w)
	w.WriteHeader(http.StatusOK)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i, c := range chunks {
		if i > 0 {
			select {
			case <-tick.C:
			case <-stop:
				return
			}
		}
		if _, err := io.WriteString(w, c); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

func TestClient_Do_slowBody(t *testing.T) {
	t.Run("within the timeout", func(t *testing.T) {
		chunks := []string{"slow", " but", " in", " time"}
		srv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
			trickle(w, chunks, 20*time.Millisecond, r.Context().Done())
		})
		res := loopbackClient(t).Do(context.Background(), webhook.Request{URL: srv.URL, Timeout: 10 * time.Second})
		if res.Err != nil || res.StatusCode != 200 || res.Snippet != strings.Join(chunks, "") {
			t.Fatalf("Do = %+v", res)
		}
		if res.Duration < 60*time.Millisecond {
			t.Fatalf("Duration = %v; want it to include reading the body (≥ 60ms)", res.Duration)
		}
	})
	t.Run("beyond the timeout", func(t *testing.T) {
		// The 2xx arrived in time; the body does not. The status decides
		// (Delivered), Err records the body's fate.
		const timeout = 300 * time.Millisecond
		done := make(chan struct{})
		srv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
			trickle(w, []string{"first", "never"}, time.Hour, done)
		})
		closeAtEnd(t, done)
		res := loopbackClient(t).Do(context.Background(), webhook.Request{URL: srv.URL, Timeout: timeout})
		if res.StatusCode != 200 || res.Snippet != "first" || !errors.Is(res.Err, webhook.ErrTimeout) {
			t.Fatalf("Do = %+v; want 200, snippet \"first\" and ErrTimeout", res)
		}
		within(t, "Duration", res.Duration, timeout, slack)
		if webhook.Classify(res) != webhook.Delivered {
			t.Fatalf("Classify = %v; want delivered", webhook.Classify(res))
		}
	})
}

// pattern returns n bytes of a repeating, recognisable text.
func pattern(n int) []byte {
	const p = "0123456789abcdefghijklmnopqrstuvwxyz"
	return bytes.Repeat([]byte(p), n/len(p)+1)[:n]
}

// An endless body: the client stops at the limit and hangs up instead of
// draining it, so the attempt ends long before its timeout and the
// server's writes fail.
func TestClient_Do_responseBeyondLimit(t *testing.T) {
	var written atomic.Int64
	writeFailed := make(chan struct{})
	srv := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) {
		chunk := pattern(32 << 10)
		for {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				close(writeFailed)
				return
			}
		}
	})
	res := loopbackClient(t).Do(context.Background(), webhook.Request{URL: srv.URL, Timeout: 30 * time.Second})
	if res.Err != nil || res.StatusCode != 200 {
		t.Fatalf("Do = %+v; want 200 without error", res)
	}
	if want := string(pattern(webhook.DefaultSnippetSize)); res.Snippet != want {
		t.Fatalf("Snippet = %d bytes %.40q…; want the first %d bytes of the body", len(res.Snippet), res.Snippet, len(want))
	}
	if res.Duration > 10*time.Second {
		t.Fatalf("Duration = %v; the client must stop at the limit", res.Duration)
	}
	select {
	case <-writeFailed:
	case <-time.After(10 * time.Second):
		t.Fatalf("the server could still write after %d bytes: the client kept reading", written.Load())
	}
}

// Connections are kept alive and reused while bodies fit in the limit; a
// body longer than the limit costs its connection.
func TestClient_Do_keepAlive(t *testing.T) {
	srv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		size := 100
		fmt.Sscan(r.URL.Query().Get("size"), &size)
		// With its length known, a body that ends exactly at the limit is
		// seen to end; a chunked one of that length costs its connection.
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.Write(pattern(size))
	})
	c := newClient(t, webhook.ClientConfig{Dialer: webhook.DialerConfig{Allow: loopback}, ResponseLimit: 16 << 10})
	do := func(size int) {
		t.Helper()
		res := c.Do(context.Background(), webhook.Request{URL: fmt.Sprintf("%s/?size=%d", srv.URL, size)})
		if res.Err != nil || res.StatusCode != 200 || len(res.Snippet) != min(size, webhook.DefaultSnippetSize) {
			t.Fatalf("Do(size %d) = %+v", size, res)
		}
	}
	do(10)
	do(10 << 10) // longer than the snippet, within the limit: drained, kept
	do(16 << 10) // exactly the limit
	do(10)
	if n := srv.conns.Load(); n != 1 {
		t.Fatalf("%d connections for bodies within the limit; want 1", n)
	}
	do(1 << 20) // beyond the limit: not drained, the connection is closed
	do(10)
	if n := srv.conns.Load(); n != 2 {
		t.Fatalf("%d connections after a body beyond the limit; want 2", n)
	}
}

func TestClient_Do_snippetUTF8(t *testing.T) {
	const size = 16
	for _, tc := range []struct {
		name, body, want string
	}{
		{"ascii", "hello", "hello"},
		{"rune cut at the end", strings.Repeat("a", 15) + "é and more", strings.Repeat("a", 15)},
		{"rune ending at the end", strings.Repeat("a", 14) + "é", strings.Repeat("a", 14) + "é"},
		{"four-byte rune cut", strings.Repeat("a", 14) + "😀", strings.Repeat("a", 14)},
		{"invalid bytes", "ok\xff\xfeok", "ok\uFFFDok"},
		{"invalid bytes grow", "a\xffb\xffc\xffd\xffe\xfff", "a\uFFFDb\uFFFDc\uFFFDd\uFFFD"}, // 16 bytes of 24
		{"truncated body ends mid-rune", "ab\xe2\x82", "ab"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) {
				io.WriteString(w, tc.body)
			})
			c := newClient(t, webhook.ClientConfig{Dialer: webhook.DialerConfig{Allow: loopback}, SnippetSize: size})
			res := c.Do(context.Background(), webhook.Request{URL: srv.URL})
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			if res.Snippet != tc.want || !utf8.ValidString(res.Snippet) || len(res.Snippet) > size {
				t.Fatalf("Snippet = %q; want %q, valid UTF-8 of at most %d bytes", res.Snippet, tc.want, size)
			}
		})
	}
}

// HTTP/2 over TLS is negotiated with a receiver that offers it, through
// the guarded dialer, and one connection carries concurrent attempts.
func TestClient_Do_http2(t *testing.T) {
	var protos sync.Map
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		protos.Store(r.Proto, true)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	c := newClient(t, webhook.ClientConfig{Dialer: webhook.DialerConfig{Allow: loopback}, TLS: &tls.Config{RootCAs: roots}})
	do := func() webhook.Result {
		return c.Do(context.Background(), webhook.Request{URL: srv.URL, Body: []byte(`{}`)})
	}
	if res := do(); webhook.Classify(res) != webhook.Delivered || res.Err != nil {
		t.Fatalf("first request: %+v", res)
	}
	var wg sync.WaitGroup
	results := make([]webhook.Result, 8)
	for i := range results {
		wg.Go(func() { results[i] = do() })
	}
	wg.Wait()
	for i, res := range results {
		if webhook.Classify(res) != webhook.Delivered || res.Err != nil {
			t.Fatalf("request %d: %+v", i, res)
		}
	}
	var got []string
	protos.Range(func(k, _ any) bool { got = append(got, k.(string)); return true })
	if len(got) != 1 || got[0] != "HTTP/2.0" {
		t.Fatalf("server saw protocols %v; want only HTTP/2.0", got)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections; want one multiplexed HTTP/2 connection", n)
	}
}

func TestClient_Do_badURL(t *testing.T) {
	c := loopbackClient(t)
	for _, u := range []string{"://nope", "ftp://example.com/", "http://[::1", ""} {
		res := c.Do(context.Background(), webhook.Request{URL: u})
		if res.Err == nil || res.StatusCode != 0 || webhook.Classify(res) != webhook.Retry {
			t.Fatalf("Do(%q) = %+v; want an error", u, res)
		}
	}
}

// Many attempts at once on one client: no race, all delivered, over a
// bounded number of connections.
func TestClient_Do_concurrent(t *testing.T) {
	srv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(w, r.Body)
	})
	c := loopbackClient(t)
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			body := fmt.Sprintf(`{"n":%d}`, i)
			res := c.Do(context.Background(), webhook.Request{URL: srv.URL, Body: []byte(body)})
			if webhook.Classify(res) != webhook.Delivered || res.Snippet != body {
				t.Errorf("request %d: %+v", i, res)
			}
		})
	}
	wg.Wait()
	if n := srv.conns.Load(); n > 64 || n < 1 {
		t.Fatalf("%d connections for 64 requests", n)
	}
}

func TestClient_Close(t *testing.T) {
	srv := newReceiver(t, func(http.ResponseWriter, *http.Request) {})
	c := loopbackClient(t)
	if res := c.Do(context.Background(), webhook.Request{URL: srv.URL}); res.Err != nil {
		t.Fatal(res.Err)
	}
	c.Close()
	c.Close() // twice is fine
	// The kept-alive connection is gone: the server sees it closed.
	eventually(t, 5*time.Second, "the idle connection to close", func() bool {
		return srv.conns.Load() == 1 && srv.closed.Load() == 1
	})
}

func TestClassify(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		res  webhook.Result
		want webhook.Outcome
	}{
		{webhook.Result{StatusCode: 200}, webhook.Delivered},
		{webhook.Result{StatusCode: 299}, webhook.Delivered},
		{webhook.Result{StatusCode: 200, Err: boom}, webhook.Delivered}, // body read failed after the 2xx
		{webhook.Result{StatusCode: 410}, webhook.Gone},
		{webhook.Result{StatusCode: 410, Err: boom}, webhook.Gone},
		{webhook.Result{StatusCode: 0, Err: boom}, webhook.Retry},
		{webhook.Result{StatusCode: 0, Err: webhook.ErrBlockedAddress}, webhook.Retry},
		{webhook.Result{}, webhook.Retry},
		{webhook.Result{StatusCode: 100}, webhook.Retry},
		{webhook.Result{StatusCode: 199}, webhook.Retry},
		{webhook.Result{StatusCode: 300}, webhook.Retry},
		{webhook.Result{StatusCode: 302}, webhook.Retry},
		{webhook.Result{StatusCode: 404}, webhook.Retry},
		{webhook.Result{StatusCode: 429, RetryAfter: time.Minute}, webhook.Retry},
		{webhook.Result{StatusCode: 503}, webhook.Retry},
	} {
		if got := webhook.Classify(tc.res); got != tc.want {
			t.Errorf("Classify(%+v) = %v; want %v", tc.res, got, tc.want)
		}
	}
}

func TestOutcome_String(t *testing.T) {
	var zero webhook.Outcome
	for o, want := range map[webhook.Outcome]string{
		webhook.Delivered: "delivered", webhook.Retry: "retry", webhook.Gone: "gone", zero: "retry", 99: "unknown",
	} {
		if got := o.String(); got != want {
			t.Errorf("Outcome(%d).String() = %q; want %q", int(o), got, want)
		}
	}
}
