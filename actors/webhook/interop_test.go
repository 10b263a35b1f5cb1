package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/identity"
)

// The JavaScript side of the interop test: testdata/interop/verify.mjs
// and the official Standard Webhooks library (npm "standardwebhooks")
// pinned by testdata/interop/package-lock.json.
const (
	interopDir     = "testdata/interop"
	interopInstall = "npm ci --prefix actors/webhook/testdata/interop --no-audit --no-fund" // from the repository root
	// jsNoMatch is how the library rejects a delivery whose signatures
	// match none: a negative case must fail for this reason, not for its
	// timestamp or its headers.
	jsNoMatch = "WebhookVerificationError: No matching signature found"
)

// interopCase is one delivery as a receiver sees it: the secret it
// knows, the three webhook headers (lower case, as Node gives them) and
// the raw body.
type interopCase struct {
	Secret  string            `json:"secret"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

// interopResult is what new Webhook(secret).verify(body, headers) did.
type interopResult struct {
	OK    bool   `json:"ok"`
	Error string `json:"error"`
}

// requireNode returns the path of node, skipping the test when node or
// the library is not installed, or failing it under FIREHOOK_CI=1, where
// CI has installed them and the test must run.
func requireNode(t *testing.T) string {
	t.Helper()
	missing := func(what string) {
		t.Helper()
		if os.Getenv("FIREHOOK_CI") == "1" {
			t.Fatalf("FIREHOOK_CI=1 and %s: CI must run this test; install Node.js and run, from the repository root: %s", what, interopInstall)
		}
		t.Skipf("%s; to run this test, install Node.js and run, from the repository root: %s", what, interopInstall)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node (Node.js) is not on PATH")
	}
	if _, err := os.Stat(filepath.Join(interopDir, "node_modules", "standardwebhooks", "package.json")); err != nil {
		missing("the standardwebhooks package is not installed in " + interopDir)
	}
	return node
}

// verifyInJS has the official library verify each case and returns its
// results, in order.
func verifyInJS(t *testing.T, node string, cases []interopCase) []interopResult {
	t.Helper()
	in, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "verify.mjs")
	cmd.Dir = interopDir
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node verify.mjs: %v\nstderr:\n%s", err, stderr.Bytes())
	}
	var results []interopResult
	if err := json.Unmarshal(stdout.Bytes(), &results); err != nil {
		t.Fatalf("node verify.mjs printed no JSON array of results: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.Bytes(), stderr.Bytes())
	}
	if len(results) != len(cases) {
		t.Fatalf("node verify.mjs gave %d results for %d cases: %s", len(results), len(cases), stdout.Bytes())
	}
	return results
}

// Deliveries signed by Sign and Headers verify with the official
// Standard Webhooks JavaScript library, new Webhook(secret).verify(body,
// headers), as a receiver in Node.js would call it: whatever the body,
// and during a secret rotation with either secret alone. A delivery
// changed on the way, or checked with another secret, does not.
func TestInterop_StandardWebhooksJS(t *testing.T) {
	node := requireNode(t)

	// The library checks webhook-timestamp against its own clock: sign
	// now.
	now := time.Now()
	secret, current, previous, unrelated := firehook.NewWebhookSecret(), firehook.NewWebhookSecret(), firehook.NewWebhookSecret(), firehook.NewWebhookSecret()

	// A real event: the payload encoder's bytes for a person matched by
	// hashed email (HTML characters unescaped, as AppendJSON writes them).
	ev, rec := buildFixture()
	ev.ID = firehook.NewID(firehook.PrefixEvent)
	payload := AppendJSON(nil, Build(ev, TypeIdentified, 1,
		identity.Match{Person: rec, Company: &rec.Company, Method: identity.MethodHEM, Confidence: 0.97},
		SessionInfo{ID: "s_7", PagesViewed: 4, VisitCount: 2}))
	if !bytes.Contains(payload, []byte(`"sequence":1,`)) || !bytes.Contains(payload, []byte("Shop & <more>")) {
		t.Fatalf("the payload is not the expected event: %s", payload)
	}
	// Non-ASCII text in 2-, 3- and 4-byte UTF-8 (an emoji is a surrogate
	// pair in JavaScript), a combining accent, U+2028/U+2029, and LF,
	// CRLF and tab between the JSON tokens.
	unicodeBody := "{\n\t\"name\": \"Zoë Ångström — 東京 🚀 e\u0301\",\r\n" +
		"\t\"note\": \"line one\\nline two\u2028\u2029\"\n}\n"

	type spec struct {
		name    string
		secrets []string // what Firehook signs with: the current secret, then the previous one
		knows   string   // the one secret the receiver verifies with
		id      string
		body    string
		// tamper changes the delivery between signing and verifying.
		tamper   func(c *interopCase)
		verifies bool
	}
	specs := []spec{
		{name: "plain JSON body", secrets: []string{secret}, knows: secret,
			id: firehook.NewID(firehook.PrefixEvent), body: `{"test": 2432232314}`, verifies: true},
		{name: "body with unicode and newlines", secrets: []string{secret}, knows: secret,
			id: firehook.NewID(firehook.PrefixEvent), body: unicodeBody, verifies: true},
		{name: "event payload from AppendJSON", secrets: []string{secret}, knows: secret,
			id: ev.ID, body: string(payload), verifies: true},
		{name: "rotation: receiver knows only the new secret", secrets: []string{current, previous}, knows: current,
			id: ev.ID, body: string(payload), verifies: true},
		{name: "rotation: receiver knows only the old secret", secrets: []string{current, previous}, knows: previous,
			id: ev.ID, body: string(payload), verifies: true},

		{name: "tampered body fails", secrets: []string{secret}, knows: secret, id: ev.ID, body: string(payload),
			tamper: func(c *interopCase) { c.Body = strings.Replace(c.Body, `"sequence":1,`, `"sequence":2,`, 1) }},
		{name: "wrong secret fails", secrets: []string{secret}, knows: unrelated,
			id: ev.ID, body: string(payload)},
		{name: "rotation: wrong secret fails", secrets: []string{current, previous}, knows: unrelated,
			id: ev.ID, body: string(payload)},
		{name: "tampered id fails", secrets: []string{secret}, knows: secret, id: ev.ID, body: string(payload),
			tamper: func(c *interopCase) { c.Headers["webhook-id"] = firehook.NewID(firehook.PrefixEvent) }},
		{name: "tampered timestamp fails", secrets: []string{secret}, knows: secret, id: ev.ID, body: string(payload),
			tamper: func(c *interopCase) { c.Headers["webhook-timestamp"] = strconv.FormatInt(now.Unix()-1, 10) }}, // within the tolerance
	}

	cases := make([]interopCase, len(specs))
	for i, s := range specs {
		sig, err := Sign(s.secrets, s.id, now, []byte(s.body))
		if err != nil {
			t.Fatalf("%s: Sign: %v", s.name, err)
		}
		h := http.Header{}
		Headers(h, s.id, now, 1, sig, "Firehook/test")
		if n := strings.Count(h.Get(HeaderSignature), "v1,"); n != len(s.secrets) {
			t.Fatalf("%s: webhook-signature %q has %d signatures; want one per secret, %d", s.name, h.Get(HeaderSignature), n, len(s.secrets))
		}
		c := interopCase{Secret: s.knows, Body: s.body, Headers: map[string]string{
			"webhook-id":        h.Get(HeaderID),
			"webhook-timestamp": h.Get(HeaderTimestamp),
			"webhook-signature": h.Get(HeaderSignature),
		}}
		if s.tamper != nil {
			signedBody, signedHeaders := c.Body, maps.Clone(c.Headers)
			if s.tamper(&c); c.Body == signedBody && maps.Equal(c.Headers, signedHeaders) {
				t.Fatalf("%s: the tampering changed nothing", s.name)
			}
		}
		cases[i] = c
	}

	results := verifyInJS(t, node, cases)

	for i, s := range specs {
		t.Run(s.name, func(t *testing.T) {
			got, c := results[i], cases[i]
			switch {
			case s.verifies && !got.OK:
				t.Errorf("standardwebhooks rejected the delivery: %s\nheaders: %v\nbody: %q", got.Error, c.Headers, c.Body)
			case !s.verifies && got.OK:
				t.Errorf("standardwebhooks accepted the delivery; want %q\nheaders: %v\nbody: %q", jsNoMatch, c.Headers, c.Body)
			case !s.verifies && got.Error != jsNoMatch:
				t.Errorf("standardwebhooks rejected the delivery with %q; want %q", got.Error, jsNoMatch)
			}
			// Our Verifier gives the same verdict on the same delivery.
			h := http.Header{}
			for k, v := range c.Headers {
				h.Set(k, v)
			}
			err := Verifier{Secrets: []string{c.Secret}}.Verify(h, []byte(c.Body))
			if s.verifies && err != nil {
				t.Errorf("Verifier rejected what standardwebhooks must accept: %v", err)
			} else if !s.verifies && !errors.Is(err, ErrNoMatch) {
				t.Errorf("Verifier: %v; want ErrNoMatch, as standardwebhooks", err)
			}
		})
	}
}
