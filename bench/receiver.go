package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/firehook/firehook/actors/webhook"
)

// rawPrefix starts the webhook ids of the raw baseline's POSTs; the
// pipeline's are event ids (evt_…).
const rawPrefix = "raw-"

// arrival is when a webhook id first reached an endpoint, and how many
// times it did.
type arrival struct {
	at int64 // ns since the benchmark's epoch (monotonic)
	n  int32
}

// recvEndpoint is the receiving side of one endpoint.
type recvEndpoint struct {
	kind     endpointKind
	requests atomic.Int64 // every request, whatever the answer

	mu       sync.Mutex
	verifier webhook.Verifier // set once the endpoint is created
	got      map[string]arrival
}

func (e *recvEndpoint) lookup(id string) (arrival, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	a, ok := e.got[id]
	return a, ok
}

// receivers is one HTTP server on loopback with a path per endpoint,
// /e/INDEX. Healthy endpoints verify the signature, record the arrival
// time of each webhook id and answer 204; failing ones answer 500; black
// holes read nothing and never answer (until the sender gives up or the
// benchmark stops).
type receivers struct {
	epoch time.Time
	eps   []*recvEndpoint
	url   string // http://127.0.0.1:PORT

	// Online counters for the backlog: first arrivals at healthy
	// endpoints of pipeline and of raw webhook ids.
	pipelineFirst, rawFirst atomic.Int64
	badSignatures           atomic.Int64

	srv    *http.Server
	quit   chan struct{} // closed at stop: black holes let go
	served chan error
}

// startReceivers listens on addr (127.0.0.1:0 for a free port) and
// serves the endpoints of kinds.
func startReceivers(addr string, epoch time.Time, kinds []endpointKind) (*receivers, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("receivers: %w", err)
	}
	rc := &receivers{epoch: epoch, url: "http://" + ln.Addr().String(), quit: make(chan struct{}), served: make(chan error, 1)}
	for _, k := range kinds {
		rc.eps = append(rc.eps, &recvEndpoint{kind: k, got: map[string]arrival{}})
	}
	rc.srv = &http.Server{
		Handler:           rc,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          nil,
	}
	go func() { rc.served <- rc.srv.Serve(ln) }()
	return rc, nil
}

// setSecret gives endpoint i the secret its deliveries are signed with.
func (rc *receivers) setSecret(i int, secret string) {
	e := rc.eps[i]
	e.mu.Lock()
	e.verifier = webhook.Verifier{Secrets: []string{secret}}
	e.mu.Unlock()
}

// stop lets the black holes go, then stops the server: it waits up to 2 s
// for requests in flight, then closes what is left. What is left is
// harmless: a node that goes on running (--target) keeps connections it
// opened and never used, which Shutdown would wait 5 s for.
func (rc *receivers) stop() error {
	close(rc.quit)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := rc.srv.Shutdown(ctx); err != nil {
		_ = rc.srv.Close()
	}
	if err := <-rc.served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("receivers: %w", err)
	}
	return nil
}

func (rc *receivers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	idx, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/e/"))
	if err != nil || idx < 0 || idx >= len(rc.eps) || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	e := rc.eps[idx]
	e.requests.Add(1)
	switch e.kind {
	case kindBlackHole:
		select {
		case <-r.Context().Done(): // the sender gave up
		case <-rc.quit:
		}
		// Close the connection without a word: never anything that
		// could read as an answer.
		panic(http.ErrAbortHandler)
	case kindFailing:
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		return
	}
	at := int64(time.Since(rc.epoch))
	e.mu.Lock()
	v := e.verifier
	e.mu.Unlock()
	if err := v.Verify(r.Header, body); err != nil {
		rc.badSignatures.Add(1)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	id := r.Header.Get(webhook.HeaderID)
	e.mu.Lock()
	a, seen := e.got[id]
	if !seen {
		a.at = at
	}
	a.n++
	e.got[id] = a
	e.mu.Unlock()
	if !seen {
		if strings.HasPrefix(id, rawPrefix) {
			rc.rawFirst.Add(1)
		} else {
			rc.pipelineFirst.Add(1)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}
