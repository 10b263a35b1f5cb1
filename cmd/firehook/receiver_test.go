package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/actors/webhook"
)

// lineBuffer collects what the receiver prints; safe for concurrent use.
type lineBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lineBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines decodes every JSON line printed so far.
func (b *lineBuffer) lines(tb testing.TB) []deliveryLine {
	tb.Helper()
	var out []deliveryLine
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if l == "" {
			continue
		}
		var d deliveryLine
		if err := json.Unmarshal([]byte(l), &d); err != nil {
			tb.Fatalf("printed line is not JSON: %v\n%s", err, l)
		}
		out = append(out, d)
	}
	return out
}

// testReceiver is a receiver served in-process on 127.0.0.1:0.
type testReceiver struct {
	url            string
	stdout, stderr *lineBuffer
	cancel         context.CancelFunc
	done           chan error
}

func startReceiver(tb testing.TB, cfg receiverConfig) *testReceiver {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &testReceiver{url: "http://" + ln.Addr().String(), stdout: &lineBuffer{}, stderr: &lineBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- serveReceiver(ctx, ln, cfg, r.stdout, r.stderr) }()
	tb.Cleanup(func() { _ = r.stop(tb) })
	return r
}

// stop cancels the receiver's context and returns what serveReceiver
// returned.
func (r *testReceiver) stop(tb testing.TB) error {
	tb.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
		}
		return err
	case <-time.After(10 * time.Second):
		tb.Fatal("the receiver did not stop within 10 s of its context's end")
		return nil
	}
}

// delivery is one signed POST, which tests may tamper with before sending.
type delivery struct {
	header http.Header
	body   []byte
}

func signedDelivery(tb testing.TB, secrets []string, id string, attempt int, body string) delivery {
	tb.Helper()
	ts := time.Now()
	sig, err := webhook.Sign(secrets, id, ts, []byte(body))
	if err != nil {
		tb.Fatal(err)
	}
	h := http.Header{}
	webhook.Headers(h, id, ts, attempt, sig, "Firehook/test")
	return delivery{header: h, body: []byte(body)}
}

// send POSTs d to url and returns the status and the answer's body.
func (d delivery) send(tb testing.TB, url string) (int, string) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(d.body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header = d.header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

const testEventBody = `{"id": "evt_01", "type": "visitor.identified", "created_at": "2027-01-15T08:00:00Z",
 "tenant_id": "ten_1", "sequence": 3, "data": {"person": {"id": "p_1"}}}`

func TestReceiver_VerifiesAndPrintsDeliveries(t *testing.T) {
	secret := firehook.NewWebhookSecret()
	r := startReceiver(t, receiverConfig{secrets: []string{secret}})

	good := signedDelivery(t, []string{secret}, "evt_01", 2, testEventBody)
	if status, body := good.send(t, r.url); status != http.StatusNoContent || body != "" {
		t.Fatalf("signed delivery: %d %q; want 204 and no body", status, body)
	}
	lines := r.stdout.lines(t)
	if len(lines) != 1 {
		t.Fatalf("stdout has %d lines; want 1\n%s", len(lines), r.stdout.String())
	}
	got := lines[0]
	if got.WebhookID != "evt_01" || got.Attempt != 2 || got.Type != "visitor.identified" || got.Sequence != 3 ||
		!got.Verified || got.Status != http.StatusNoContent || got.Error != "" || time.Since(got.ReceivedAt) > time.Minute {
		t.Fatalf("printed delivery = %+v", got)
	}
	var compact bytes.Buffer
	_ = json.Compact(&compact, []byte(testEventBody))
	var printed struct {
		Body json.RawMessage `json:"body"`
	}
	if err := json.Unmarshal([]byte(r.stdout.String()), &printed); err != nil || string(printed.Body) != compact.String() {
		t.Fatalf("printed body = %s (%v); want the body as sent, compacted: %s", printed.Body, err, compact.String())
	}
	if !strings.Contains(r.stdout.String(), `"verified":true`) {
		t.Fatalf("stdout line lacks \"verified\":true: %s", r.stdout.String())
	}

	tamper := []struct {
		name string
		edit func(d *delivery)
		want string // in the error
	}{
		{"body", func(d *delivery) { d.body = bytes.Replace(d.body, []byte(`"sequence": 3`), []byte(`"sequence": 4`), 1) }, "no matching"},
		{"body re-encoded", func(d *delivery) { d.body = compact.Bytes() }, "no matching"},
		{"id", func(d *delivery) { d.header.Set(webhook.HeaderID, "evt_02") }, "no matching"},
		{"timestamp", func(d *delivery) {
			ts, _ := strconv.ParseInt(d.header.Get(webhook.HeaderTimestamp), 10, 64)
			d.header.Set(webhook.HeaderTimestamp, strconv.FormatInt(ts-1, 10)) // within the tolerance
		}, "no matching"},
		{"stale timestamp", func(d *delivery) {
			*d = signedDeliveryAt(t, secret, time.Now().Add(-time.Hour))
		}, "timestamp"},
		{"signature from another secret", func(d *delivery) {
			*d = signedDelivery(t, []string{firehook.NewWebhookSecret()}, "evt_01", 1, testEventBody)
		}, "no matching"},
		{"no signature headers", func(d *delivery) {
			d.header.Del(webhook.HeaderSignature)
			d.header.Del(webhook.HeaderTimestamp)
		}, "webhook-timestamp, webhook-signature"},
	}
	for _, c := range tamper {
		t.Run("tampered "+c.name, func(t *testing.T) {
			d := signedDelivery(t, []string{secret}, "evt_01", 1, testEventBody)
			c.edit(&d)
			before := len(r.stderr.lines(t))
			status, body := d.send(t, r.url)
			var e struct{ Error, Code string }
			if status != http.StatusUnauthorized || json.Unmarshal([]byte(body), &e) != nil || e.Code != "unauthorized" || !strings.Contains(e.Error, c.want) {
				t.Fatalf("answer: %d %s; want 401 {error: …%s…, code: unauthorized}", status, body, c.want)
			}
			errLines := r.stderr.lines(t)
			if len(errLines) != before+1 {
				t.Fatalf("stderr has %d lines; want %d\n%s", len(errLines), before+1, r.stderr.String())
			}
			if l := errLines[before]; l.Verified || l.Status != http.StatusUnauthorized || !strings.Contains(l.Error, c.want) || l.Body != nil {
				t.Fatalf("stderr line = %+v; want verified:false, status 401, the reason, no body", l)
			}
			if !strings.Contains(r.stderr.String(), `"verified":false`) {
				t.Fatalf("stderr line lacks \"verified\":false: %s", r.stderr.String())
			}
		})
	}
	if n := len(r.stdout.lines(t)); n != 1 {
		t.Fatalf("a refused delivery reached stdout: %d lines\n%s", n, r.stdout.String())
	}

	t.Run("GET", func(t *testing.T) {
		resp, err := http.Get(r.url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodPost {
			t.Fatalf("GET: %d, Allow %q; want 405, POST", resp.StatusCode, resp.Header.Get("Allow"))
		}
	})
	if err := r.stop(t); err != nil {
		t.Fatalf("stop: %v; want nil", err)
	}
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(r.url, "http://"), time.Second); err == nil {
		c.Close()
		t.Fatal("the receiver still accepts connections after it stopped")
	}
}

func signedDeliveryAt(tb testing.TB, secret string, ts time.Time) delivery {
	tb.Helper()
	sig, err := webhook.Sign([]string{secret}, "evt_01", ts, []byte(testEventBody))
	if err != nil {
		tb.Fatal(err)
	}
	h := http.Header{}
	webhook.Headers(h, "evt_01", ts, 1, sig, "Firehook/test")
	return delivery{header: h, body: []byte(testEventBody)}
}

// During a rotation the receiver may know the old secret, the new one or
// both; Firehook signs with both, and every combination verifies.
func TestReceiver_Rotation(t *testing.T) {
	current, previous := firehook.NewWebhookSecret(), firehook.NewWebhookSecret()
	rotating := signedDelivery(t, []string{current, previous}, "evt_r", 1, `{"type":"visitor.updated","sequence":9}`)
	for name, known := range map[string][]string{
		"receiver knows the old secret": {previous},
		"receiver knows the new secret": {current},
		"receiver knows both":           {previous, current},
	} {
		t.Run(name, func(t *testing.T) {
			r := startReceiver(t, receiverConfig{secrets: known})
			if status, body := rotating.send(t, r.url); status != http.StatusNoContent {
				t.Fatalf("delivery signed with both secrets: %d %s", status, body)
			}
			for _, s := range known { // and a delivery signed after the rotation ended
				if status, body := signedDelivery(t, []string{s}, "evt_s", 1, "{}").send(t, r.url); status != http.StatusNoContent {
					t.Fatalf("delivery signed with one known secret: %d %s", status, body)
				}
			}
			if l := r.stdout.lines(t); len(l) != 1+len(known) || l[0].Type != "visitor.updated" || l[0].Sequence != 9 {
				t.Fatalf("stdout: %s", r.stdout.String())
			}
		})
	}
}

func TestReceiver_FailureModes(t *testing.T) {
	secret := firehook.NewWebhookSecret()
	send := func(t *testing.T, r *testReceiver, i int) (int, string) {
		t.Helper()
		return signedDelivery(t, []string{secret}, fmt.Sprintf("evt_%d", i), 1, "{}").send(t, r.url)
	}
	t.Run("fail-every", func(t *testing.T) {
		r := startReceiver(t, receiverConfig{secrets: []string{secret}, failEvery: 3})
		want := []int{204, 204, 500, 204, 204, 500}
		for i, w := range want {
			if s, body := send(t, r, i); s != w {
				t.Fatalf("delivery %d: %d %s; want %d", i+1, s, body, w)
			}
		}
		// A refused delivery does not count.
		if s, _ := (delivery{header: http.Header{}, body: []byte("{}")}).send(t, r.url); s != http.StatusUnauthorized {
			t.Fatalf("unsigned: %d; want 401", s)
		}
		if s, _ := send(t, r, 7); s != 204 {
			t.Fatalf("7th verified delivery: %d; want 204", s)
		}
		lines := r.stdout.lines(t)
		if len(lines) != 7 || lines[2].Status != 500 || !lines[2].Verified {
			t.Fatalf("stdout: %s", r.stdout.String())
		}
	})
	t.Run("status", func(t *testing.T) {
		for _, status := range []int{200, 202, 410, 429, 503} {
			r := startReceiver(t, receiverConfig{secrets: []string{secret}, status: status})
			s, body := send(t, r, 0)
			if s != status || !json.Valid([]byte(body)) {
				t.Fatalf("--status %d: answered %d %q", status, s, body)
			}
			if l := r.stdout.lines(t); len(l) != 1 || l[0].Status != status {
				t.Fatalf("--status %d: stdout %s", status, r.stdout.String())
			}
		}
	})
	t.Run("delay", func(t *testing.T) {
		const delay = 50 * time.Millisecond
		r := startReceiver(t, receiverConfig{secrets: []string{secret}, delay: delay})
		start := time.Now()
		if s, _ := send(t, r, 0); s != http.StatusNoContent {
			t.Fatalf("status %d", s)
		}
		if took := time.Since(start); took < delay {
			t.Fatalf("answered after %s; want at least --delay %s", took, delay)
		}
	})
	t.Run("delay ended by a stop answers 503", func(t *testing.T) {
		// ServeHTTP directly: a request whose context ends during the
		// delay (a stopping receiver, or a sender that timed out).
		var stdout, stderr lineBuffer
		rc := newReceiver(receiverConfig{secrets: []string{secret}, delay: time.Hour}, &stdout, &stderr)
		d := signedDelivery(t, []string{secret}, "evt_1", 1, "{}")
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/", bytes.NewReader(d.body))
		req.Header = d.header
		rec := httptest.NewRecorder()
		rc.ServeHTTP(rec, req)
		if rec.Code != http.StatusServiceUnavailable || stdout.String() != "" {
			t.Fatalf("answered %d %s, stdout %q; want 503 and nothing on stdout", rec.Code, rec.Body, stdout.String())
		}
		if l := stderr.lines(t); len(l) != 1 || l[0].Verified || l[0].Status != 503 {
			t.Fatalf("stderr: %s", stderr.String())
		}
	})
	t.Run("batch and non-JSON bodies", func(t *testing.T) {
		r := startReceiver(t, receiverConfig{secrets: []string{secret}})
		for _, body := range []string{`[{"type":"visitor.updated","sequence":1},{"type":"visitor.updated","sequence":2}]`, "not json\n"} {
			if s, _ := signedDelivery(t, []string{secret}, "evt_b", 1, body).send(t, r.url); s != http.StatusNoContent {
				t.Fatalf("status %d", s)
			}
		}
		out := r.stdout.String()
		if strings.Count(out, "\n") != 2 || !strings.Contains(out, `"body":[{"type":"visitor.updated","sequence":1}`) || !strings.Contains(out, `"body":"not json\n"`) {
			t.Fatalf("stdout: %s", out)
		}
	})
}

var listeningLine = regexp.MustCompile(`listening on (http://[0-9.:]+)`)

// The whole command through Run: flags from the environment
// (FIREHOOK_RECEIVER_*, not a node's FIREHOOK_*), the listening line, and a
// clean stop when the context ends.
func TestReceiver_Run(t *testing.T) {
	current, previous := firehook.NewWebhookSecret(), firehook.NewWebhookSecret()
	t.Setenv("FIREHOOK_RECEIVER_SECRET", current+","+previous)
	t.Setenv("FIREHOOK_STATUS", "500") // not the receiver's variable: ignored
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr lineBuffer
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"receiver", "--listen", "127.0.0.1:0"}, &stdout, &stderr)
	}()
	var url string
	for deadline := time.Now().Add(10 * time.Second); url == ""; {
		if m := listeningLine.FindStringSubmatch(stderr.String()); m != nil {
			url = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no listening line in 10 s: %s", stderr.String())
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned %v before serving: %s", err, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	for i, secret := range []string{current, previous} {
		if s, body := signedDelivery(t, []string{secret}, fmt.Sprint("evt_", i), 1, "{}").send(t, url); s != http.StatusNoContent {
			t.Fatalf("delivery signed with secret %d of FIREHOOK_RECEIVER_SECRET: %d %s; want 204", i+1, s, body)
		}
	}
	if s, _ := signedDelivery(t, []string{firehook.NewWebhookSecret()}, "evt_x", 1, "{}").send(t, url); s != http.StatusUnauthorized {
		t.Fatalf("delivery signed with another secret: %d; want 401", s)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel: %v; want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10 s of cancel")
	}
}

func TestReceiver_UsageErrors(t *testing.T) {
	good := firehook.NewWebhookSecret()
	for name, args := range map[string][]string{
		"no secret":           {"--listen", "127.0.0.1:0"},
		"malformed secret":    {"--secret", "whsec_short"},
		"secret of no prefix": {"--secret", strings.TrimPrefix(good, "whsec_")},
		"status below 200":    {"--secret", good, "--status", "199"},
		"status above 599":    {"--secret", good, "--status", "600"},
		"negative fail-every": {"--secret", good, "--fail-every", "-1"},
		"negative delay":      {"--secret", good, "--delay", "-1s"},
		"unknown flag":        {"--secret", good, "--verbose"},
		"stray argument":      {"--secret", good, "extra"},
	} {
		t.Run(name, func(t *testing.T) {
			var stderr lineBuffer
			err := Run(context.Background(), append([]string{"receiver"}, args...), io.Discard, &stderr)
			if !errors.Is(err, errUsage) || exitCode(err) != 2 {
				t.Fatalf("Run: %v; want a usage error (exit 2)", err)
			}
		})
	}
	t.Run("help", func(t *testing.T) {
		var stderr lineBuffer
		if err := Run(context.Background(), []string{"receiver", "-h"}, io.Discard, &stderr); err != nil {
			t.Fatalf("-h: %v", err)
		}
		if !strings.Contains(stderr.String(), "--secret") && !strings.Contains(stderr.String(), "-secret") {
			t.Fatalf("-h printed no flags: %s", stderr.String())
		}
	})
}

// The built binary: SIGTERM (what Ctrl-C's SIGINT also does) stops it with
// exit code 0 after it has printed what it received.
func TestReceiver_SIGTERMStopsCleanly(t *testing.T) {
	secret := firehook.NewWebhookSecret()
	cmd := exec.Command(binPath, "receiver", "--listen", "127.0.0.1:0", "--secret", secret)
	var stdout lineBuffer
	cmd.Stdout = &stdout
	stderrPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	urls := make(chan string, 1)
	var stderr lineBuffer
	go func() {
		sc := bufio.NewScanner(stderrPipe)
		for sc.Scan() {
			fmt.Fprintln(&stderr, sc.Text())
			if m := listeningLine.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	var url string
	select {
	case url = <-urls:
	case err := <-exited:
		t.Fatalf("exited before listening: %v\n%s", err, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("no listening line in 30 s\n%s", stderr.String())
	}
	if s, body := signedDelivery(t, []string{secret}, "evt_1", 1, `{"type":"visitor.identified","sequence":1}`).send(t, url); s != http.StatusNoContent {
		t.Fatalf("delivery: %d %s", s, body)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v; want 0\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10 s after SIGTERM")
	}
	if l := stdout.lines(t); len(l) != 1 || l[0].WebhookID != "evt_1" || !l[0].Verified {
		t.Fatalf("stdout: %s", stdout.String())
	}
}
