package testkit

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Received is one request a Receiver got.
type Received struct {
	Header http.Header
	Body   []byte
	At     time.Time // when its body had been read
	Call   int       // 1 for the receiver's first request, …
	// Status is the status code the receiver answered (0 while the
	// answer is being made, or when none was written).
	Status int
}

// Receiver is a real webhook endpoint on 127.0.0.1 that records every
// request it gets. Respond decides the answer: nil answers 200.
type Receiver struct {
	URL string

	srv     *httptest.Server
	respond func(w http.ResponseWriter, r *Received)
	mu      sync.Mutex
	got     []Received
	changed chan struct{}
}

// NewReceiver starts a receiver; it is closed when the test ends. respond
// is called after the request was recorded, on the server's goroutine; it
// may block (a black hole) until the request's context ends.
func NewReceiver(tb testing.TB, respond func(w http.ResponseWriter, r *Received)) *Receiver {
	tb.Helper()
	rc := &Receiver{respond: respond, changed: make(chan struct{})}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	rc.URL = rc.srv.URL
	tb.Cleanup(rc.Close)
	return rc
}

func (rc *Receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	rc.mu.Lock()
	got := Received{Header: r.Header.Clone(), Body: body, At: time.Now(), Call: len(rc.got) + 1}
	rc.got = append(rc.got, got)
	close(rc.changed)
	rc.changed = make(chan struct{})
	rc.mu.Unlock()
	sw := &statusWriter{ResponseWriter: w}
	if rc.respond == nil {
		sw.WriteHeader(http.StatusOK)
	} else {
		rc.respond(sw, &got)
	}
	// Recorded before the handler returns, that is before the answer is
	// sent: a client that saw the answer finds its status here.
	rc.mu.Lock()
	rc.got[got.Call-1].Status = sw.status
	rc.mu.Unlock()
}

// statusWriter remembers the status code written through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Hijack hands the connection to a respond function that resets or
// black-holes it.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Flush sends what was written so far.
func (w *statusWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

// Unwrap lets http.ResponseController reach the connection (Hijack, Flush).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Close stops the receiver and the requests it holds (CloseClientConnections
// ends black-holed ones).
func (rc *Receiver) Close() {
	rc.srv.CloseClientConnections()
	rc.srv.Close()
}

// Got returns a copy of what the receiver got so far.
func (rc *Receiver) Got() []Received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Received(nil), rc.got...)
}

// WaitFor waits (up to timeout) until the receiver has got at least n
// requests and returns them; it fails the test otherwise.
func (rc *Receiver) WaitFor(tb testing.TB, n int, timeout time.Duration) []Received {
	tb.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		rc.mu.Lock()
		got, ch := len(rc.got), rc.changed
		rc.mu.Unlock()
		if got >= n {
			return rc.Got()
		}
		select {
		case <-ch:
		case <-deadline.C:
			tb.Fatalf("receiver got %d requests within %s; want %d", got, timeout, n)
		}
	}
}

// Eventually polls cond every 10 ms until it holds or timeout passes, and
// then fails the test with msg.
func Eventually(tb testing.TB, timeout time.Duration, cond func() bool, msg string, args ...any) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("after %s: "+msg, append([]any{timeout}, args...)...)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
