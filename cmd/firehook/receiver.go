package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/firehook/firehook/actors/webhook"
	"github.com/firehook/firehook/http/api"
)

// receiverConfig is what firehook receiver does with each request.
type receiverConfig struct {
	// secrets verify the deliveries; two while the endpoint rotates.
	secrets []string
	// status answers a verified delivery; 0 means 204.
	status int
	// failEvery answers every Nth verified delivery with 500; 0 never.
	failEvery int
	// delay is waited before answering any request; 0 answers at once.
	delay time.Duration
}

const (
	// receiverBodyLimit caps a delivery's body (deliveries are a few KiB;
	// a batch of Every Update events a few hundred).
	receiverBodyLimit = 8 << 20
	// receiverShutdownTimeout is how long a stopping receiver waits for
	// requests in flight.
	receiverShutdownTimeout = 5 * time.Second
)

// secretFlags is --secret, which may be given more than once (or, from
// FIREHOOK_RECEIVER_SECRET, as a comma-separated list).
type secretFlags []string

func (s *secretFlags) String() string { return fmt.Sprintf("%d secrets", len(*s)) }

func (s *secretFlags) Set(v string) error {
	for _, secret := range strings.Split(v, ",") {
		secret = strings.TrimSpace(secret)
		if _, err := webhook.ParseSecret(secret); err != nil {
			return err
		}
		*s = append(*s, secret)
	}
	return nil
}

// runReceiver runs a webhook receiver: it verifies every POST with the
// endpoint's secrets and prints one JSON line per delivery on stdout (the
// rejected ones on stderr), like `stripe listen`.
//
//	firehook receiver --listen ADDR --secret whsec_… [--secret whsec_…]
//	    [--status CODE] [--fail-every N] [--delay DURATION]
func runReceiver(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("firehook receiver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg receiverConfig
	var secrets secretFlags
	listen := fs.String("listen", "127.0.0.1:9000", "address to listen on (port 0 picks a free one)")
	fs.Var(&secrets, "secret", "the endpoint's signing secret, whsec_…; give it twice during a rotation")
	fs.IntVar(&cfg.status, "status", http.StatusNoContent, "status to answer verified deliveries with (200-599)")
	fs.IntVar(&cfg.failEvery, "fail-every", 0, "answer every Nth verified delivery with 500 (0: never)")
	fs.DurationVar(&cfg.delay, "delay", 0, "wait this long before answering each request")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: firehook receiver --listen ADDR --secret whsec_... [--secret ...] [flags]")
		fmt.Fprintln(stderr, "Flags can also be set as FIREHOOK_RECEIVER_<NAME> (FIREHOOK_RECEIVER_SECRET=whsec_a,whsec_b).")
		fs.PrintDefaults()
	}
	// FIREHOOK_RECEIVER_*, not FIREHOOK_*: a receiver started beside a
	// node must not pick up the node's FIREHOOK_LISTEN.
	getenv := func(name string) string {
		return os.Getenv(strings.Replace(name, "FIREHOOK_", "FIREHOOK_RECEIVER_", 1))
	}
	if err := parseFlags(fs, args, getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("receiver: %w", err)
	}
	cfg.secrets = secrets
	switch {
	case len(cfg.secrets) == 0:
		return fmt.Errorf("receiver: --secret is required (the endpoint's whsec_… secret): %w", errUsage)
	case cfg.status < 200 || cfg.status > 599:
		return fmt.Errorf("receiver: --status %d: want 200-599: %w", cfg.status, errUsage)
	case cfg.failEvery < 0:
		return fmt.Errorf("receiver: --fail-every %d: want 0 or more: %w", cfg.failEvery, errUsage)
	case cfg.delay < 0:
		return fmt.Errorf("receiver: --delay %s: want 0 or more: %w", cfg.delay, errUsage)
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("receiver: %w", err)
	}
	fmt.Fprintf(stderr, "firehook receiver: listening on http://%s (%d secret(s)); Ctrl-C stops\n", ln.Addr(), len(cfg.secrets))
	return serveReceiver(ctx, ln, cfg, stdout, stderr)
}

// serveReceiver serves the receiver on ln until ctx is done, then waits
// for the requests in flight (up to receiverShutdownTimeout) and returns
// nil. It closes ln.
func serveReceiver(ctx context.Context, ln net.Listener, cfg receiverConfig, stdout, stderr io.Writer) error {
	srv := &http.Server{
		Handler:           newReceiver(cfg, stdout, stderr),
		ReadHeaderTimeout: 10 * time.Second,
		// Requests see ctx: a stop ends their --delay at once.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("receiver: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), receiverShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		srv.Close()
	}
	<-served // http.ErrServerClosed
	if err != nil {
		return fmt.Errorf("receiver: shutdown: %w", err)
	}
	return nil
}

// receiver is the HTTP handler of firehook receiver.
type receiver struct {
	cfg      receiverConfig
	verifier webhook.Verifier
	verified atomic.Int64 // verified deliveries so far, for --fail-every

	mu             sync.Mutex // guards stdout and stderr: one whole line a write
	stdout, stderr io.Writer
}

func newReceiver(cfg receiverConfig, stdout, stderr io.Writer) *receiver {
	if cfg.status == 0 {
		cfg.status = http.StatusNoContent
	}
	return &receiver{cfg: cfg, verifier: webhook.Verifier{Secrets: cfg.secrets}, stdout: stdout, stderr: stderr}
}

// deliveryLine is what the receiver prints for each request: on stdout
// for a verified delivery, on stderr (with Error, without Body) for one
// that was refused.
type deliveryLine struct {
	ReceivedAt time.Time `json:"received_at"`
	WebhookID  string    `json:"webhook_id"`
	Attempt    int       `json:"attempt"`
	Type       string    `json:"type,omitempty"`     // absent for a batch (a JSON array)
	Sequence   int64     `json:"sequence,omitempty"` // absent for a batch
	Verified   bool      `json:"verified"`
	Status     int       `json:"status"` // what the receiver answered
	Error      string    `json:"error,omitempty"`
	Body       any       `json:"body,omitempty"` // the JSON body as sent (a string if it is not JSON)
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	line := deliveryLine{ReceivedAt: time.Now().UTC(), WebhookID: r.Header.Get(webhook.HeaderID)}
	line.Attempt, _ = strconv.Atoi(r.Header.Get(webhook.HeaderAttempt))
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		rc.refuse(w, &line, api.Errorf(api.CodeMethodNotAllowed, "deliveries are POSTed, not %s", r.Method))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, receiverBodyLimit))
	if err != nil {
		rc.refuse(w, &line, api.Errorf(api.CodeTooLarge, "cannot read the body: %v", err))
		return
	}
	if rc.cfg.delay > 0 {
		t := time.NewTimer(rc.cfg.delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			// The sender gave up, or the receiver is stopping: never let
			// an unanswered delivery look like a 2xx.
			rc.refuse(w, &line, api.Errorf(api.CodeUnavailable, "stopped before answering (--delay %s)", rc.cfg.delay))
			return
		}
	}
	if err := rc.verifier.Verify(r.Header, body); err != nil {
		rc.refuse(w, &line, api.Errorf(api.CodeUnauthorized, "%v", err))
		return
	}

	line.Verified = true
	line.Status = rc.cfg.status
	if n := rc.verified.Add(1); rc.cfg.failEvery > 0 && n%int64(rc.cfg.failEvery) == 0 {
		line.Status = http.StatusInternalServerError
	}
	var fields struct {
		Type     string `json:"type"`
		Sequence int64  `json:"sequence"`
	}
	if json.Unmarshal(body, &fields) == nil { // a batch (array) has none
		line.Type, line.Sequence = fields.Type, fields.Sequence
	}
	if json.Valid(body) {
		line.Body = json.RawMessage(body) // compacted to one line by Marshal
	} else {
		line.Body = string(body)
	}
	rc.print(rc.stdout, &line)
	switch {
	case line.Status == http.StatusNoContent:
		w.WriteHeader(line.Status)
	case line.Status < 300:
		api.WriteJSON(w, line.Status, map[string]any{"received": line.WebhookID})
	default: // a failure asked for with --status or --fail-every
		api.WriteJSON(w, line.Status, map[string]any{"error": fmt.Sprintf("verified, answering %d on purpose", line.Status)})
	}
}

// refuse answers e and prints the refusal on stderr.
func (rc *receiver) refuse(w http.ResponseWriter, line *deliveryLine, e *api.Error) {
	line.Status = e.Code.Status()
	line.Error = e.Message
	rc.print(rc.stderr, line)
	api.WriteError(w, nil, e)
}

// print writes line as one JSON line on w.
func (rc *receiver) print(w io.Writer, line *deliveryLine) {
	b, err := json.Marshal(line)
	if err != nil { // cannot happen: every field marshals
		b = []byte(`{"error":` + strconv.Quote(err.Error()) + `}`)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	_, _ = w.Write(append(b, '\n'))
}
