package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/firehook/firehook/actors/webhook"
)

// Behaviour is how a built-in receiver answers a verified delivery: after
// delay, with status.
type Behaviour func(r *rand.Rand) (status int, delay time.Duration)

// Healthy answers 200 after 5-40 ms.
func Healthy(r *rand.Rand) (int, time.Duration) {
	return http.StatusOK, time.Duration(5+r.IntN(36)) * time.Millisecond
}

// Flaky answers 500 to ~30 % of deliveries, 200 to the rest, after
// 10-60 ms.
func Flaky(r *rand.Rand) (int, time.Duration) {
	d := time.Duration(10+r.IntN(51)) * time.Millisecond
	if r.Float64() < 0.3 {
		return http.StatusInternalServerError, d
	}
	return http.StatusOK, d
}

// Slow answers 200 after 300-800 ms.
func Slow(r *rand.Rand) (int, time.Duration) {
	return http.StatusOK, time.Duration(300+r.IntN(501)) * time.Millisecond
}

// ReceiverStats counts what a receiver answered.
type ReceiverStats struct {
	OK       int64 // verified deliveries answered 2xx
	Failed   int64 // verified deliveries answered with a failure on purpose
	Rejected int64 // requests whose signature did not verify
}

// Receiver is a built-in webhook endpoint on 127.0.0.1: it verifies each
// delivery's signature with the endpoint's secret and answers as its
// Behaviour says.
type Receiver struct {
	Name string
	URL  string

	behave   Behaviour
	srv      *http.Server
	ln       net.Listener
	served   chan struct{}
	verifier atomic.Pointer[webhook.Verifier]

	mu  sync.Mutex // guards rng
	rng *rand.Rand

	ok, failed, rejected atomic.Int64
}

// StartReceiver listens on a free port of 127.0.0.1 and serves.
func StartReceiver(name string, b Behaviour, seed uint64) (*Receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("receiver %s: %w", name, err)
	}
	rc := &Receiver{Name: name, URL: "http://" + ln.Addr().String() + "/webhooks/" + name, behave: b, ln: ln,
		served: make(chan struct{}), rng: rand.New(rand.NewPCG(seed, 0x5eed))}
	rc.srv = &http.Server{Handler: rc, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(rc.served)
		_ = rc.srv.Serve(ln) // ErrServerClosed after Close
	}()
	return rc, nil
}

// SetSecret sets the endpoint secret that deliveries must be signed with.
func (rc *Receiver) SetSecret(secret string) {
	rc.verifier.Store(&webhook.Verifier{Secrets: []string{secret}})
}

// Stats returns what the receiver answered so far.
func (rc *Receiver) Stats() ReceiverStats {
	return ReceiverStats{OK: rc.ok.Load(), Failed: rc.failed.Load(), Rejected: rc.rejected.Load()}
}

func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "deliveries are POSTed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 8<<20))
	if err != nil {
		http.Error(w, "cannot read the body", http.StatusBadRequest)
		return
	}
	v := rc.verifier.Load()
	if v == nil || v.Verify(r.Header, body) != nil {
		rc.rejected.Add(1)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "signature does not verify"})
		return
	}
	rc.mu.Lock()
	status, delay := rc.behave(rc.rng)
	rc.mu.Unlock()
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done(): // the node gave up, or the receiver stops
		return
	}
	if status >= 200 && status < 300 {
		rc.ok.Add(1)
		writeJSON(w, status, map[string]string{"received": r.Header.Get(webhook.HeaderID), "receiver": rc.Name})
		return
	}
	rc.failed.Add(1)
	writeJSON(w, status, map[string]string{"error": fmt.Sprintf("%s receiver: simulated failure", rc.Name)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Close stops the receiver, waiting (up to ctx) for the requests in flight.
func (rc *Receiver) Close(ctx context.Context) error {
	err := rc.srv.Shutdown(ctx)
	if err != nil {
		_ = rc.srv.Close()
	}
	<-rc.served
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil // the slow receiver's requests were cut short: fine at exit
	}
	return err
}
