package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/firehook/firehook/actors/webhook"
)

// receiver is the run's webhook endpoint, on 127.0.0.1: it verifies each
// delivery's signature as of its arrival, records it and answers 204
// (401 to a bad signature, which the node retries).
type receiver struct {
	url    string
	srv    *http.Server
	served chan error

	mu       sync.Mutex // guards verifier and got
	verifier webhook.Verifier
	got      []Arrival
}

func startReceiver() (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("receiver: %w", err)
	}
	rc := &receiver{url: "http://" + ln.Addr().String(), served: make(chan error, 1)}
	rc.srv = &http.Server{Handler: rc, ReadHeaderTimeout: 10 * time.Second}
	go func() { rc.served <- rc.srv.Serve(ln) }() // ends at stop
	return rc, nil
}

// setSecret gives the endpoint's secret, once it was created.
func (rc *receiver) setSecret(secret string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.verifier = webhook.Verifier{Secrets: []string{secret}}
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	a := Arrival{At: time.Now(), ID: r.Header.Get(webhook.HeaderID)}
	var p webhook.Payload
	if json.Unmarshal(body, &p) == nil && p.Data.Person != nil && p.ID == a.ID {
		a.Type, a.Sequence, a.Person = p.Type, p.Sequence, p.Data.Person.ID
	}
	rc.mu.Lock()
	v := rc.verifier
	v.Now = func() time.Time { return a.At }
	a.SigOK = v.Verify(r.Header, body) == nil
	rc.got = append(rc.got, a)
	rc.mu.Unlock()
	if !a.SigOK {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// arrivals returns a copy of what arrived so far, in order of arrival.
func (rc *receiver) arrivals() []Arrival {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Arrival(nil), rc.got...)
}

// missing returns those of ids that have not arrived (signed) yet.
func (rc *receiver) missing(ids []string) []string {
	rc.mu.Lock()
	seen := make(map[string]bool, len(rc.got))
	for _, a := range rc.got {
		if a.SigOK {
			seen[a.ID] = true
		}
	}
	rc.mu.Unlock()
	var out []string
	for _, id := range ids {
		if !seen[id] {
			out = append(out, id)
		}
	}
	return out
}

// stop stops the server: requests in flight get 2 s, then are cut.
func (rc *receiver) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := rc.srv.Shutdown(ctx); err != nil {
		_ = rc.srv.Close()
	}
	if err := <-rc.served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("receiver: %w", err)
	}
	return nil
}
