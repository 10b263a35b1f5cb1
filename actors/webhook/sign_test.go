package webhook

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/firehook/firehook"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The example the Standard Webhooks project publishes with its reference
// libraries (standard-webhooks/standard-webhooks,
// libraries/javascript/src/webhook.test.ts, "sign function works"; the
// same inputs and signature appear in its other libraries' tests).
const (
	vectorSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorUnix      = 1614265330
	vectorBody      = `{"test": 2432232314}`
	vectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

// referenceSignature computes one v1 signature with crypto/hmac, the
// independent implementation Sign is checked against.
func referenceSignature(tb testing.TB, secret, id string, unix int64, body []byte) string {
	tb.Helper()
	return textSignature(tb, secret, id, strconv.FormatInt(unix, 10), body)
}

// textSignature is referenceSignature with the timestamp as a header
// spells it (a header may spell a number in more than one way).
func textSignature(tb testing.TB, secret, id, ts string, body []byte) string {
	tb.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil {
		tb.Fatal(err)
	}
	h := hmac.New(sha256.New, key)
	h.Write([]byte(id + "." + ts + "."))
	h.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// secretOf returns a whsec_ secret of n random bytes.
func secretOf(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// signedHeaders signs body with secrets at ts and returns the delivery
// headers of attempt 1.
func signedHeaders(tb testing.TB, secrets []string, id string, ts time.Time, body []byte) http.Header {
	tb.Helper()
	sig, err := Sign(secrets, id, ts, body)
	if err != nil {
		tb.Fatal(err)
	}
	h := http.Header{}
	Headers(h, id, ts, 1, sig, "Firehook/test")
	return h
}

// at returns a clock that stands at t.
func at(t time.Time) func() time.Time { return func() time.Time { return t } }

func raceEnabled() bool {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range info.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

func TestSign_StandardWebhooksVector(t *testing.T) {
	ts := time.Unix(vectorUnix, 0)
	got, err := Sign([]string{vectorSecret}, vectorID, ts, []byte(vectorBody))
	if err != nil {
		t.Fatal(err)
	}
	if got != vectorSignature {
		t.Fatalf("Sign = %q; want the published %q", got, vectorSignature)
	}
	h := http.Header{}
	Headers(h, vectorID, ts, 1, vectorSignature, "")
	if err := (Verifier{Secrets: []string{vectorSecret}, Now: at(ts)}).Verify(h, []byte(vectorBody)); err != nil {
		t.Fatalf("Verify of the published vector: %v", err)
	}
	// One byte of the body changed (the spec's warning: JSON re-encoded
	// without the space no longer verifies).
	if err := (Verifier{Secrets: []string{vectorSecret}, Now: at(ts)}).Verify(h, []byte(`{"test":2432232314}`)); !errors.Is(err, ErrNoMatch) {
		t.Fatalf("Verify of the re-encoded body: %v; want ErrNoMatch", err)
	}
}

// Sign's pooled HMAC against crypto/hmac: key lengths around the SHA-256
// block (64 bytes; longer keys are hashed first), empty and large bodies.
func TestSign_MatchesCryptoHMAC(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, keyLen := range []int{24, 32, 63, 64, 65, 100, 512} {
		for _, bodyLen := range []int{0, 1, 55, 64, 1000, 70_000} {
			secret := secretOf(r, keyLen)
			body := make([]byte, bodyLen)
			for i := range body {
				body[i] = byte(r.UintN(256))
			}
			id := firehook.NewID(firehook.PrefixEvent)
			unix := r.Int64N(4_000_000_000)
			got, err := Sign([]string{secret}, id, time.Unix(unix, 0), body)
			if err != nil {
				t.Fatal(err)
			}
			if want := referenceSignature(t, secret, id, unix, body); got != want {
				t.Fatalf("key %d bytes, body %d bytes: Sign = %s; crypto/hmac gives %s", keyLen, bodyLen, got, want)
			}
		}
	}
}

func TestSign_Rotation(t *testing.T) {
	current, previous := firehook.NewWebhookSecret(), firehook.NewWebhookSecret()
	ts := time.Unix(1_800_000_000, 0)
	body := []byte(`{"id":"evt_1","type":"visitor.identified","sequence":1}`)
	got, err := Sign([]string{current, previous}, "evt_1", ts, body)
	if err != nil {
		t.Fatal(err)
	}
	sigs := strings.Split(got, " ")
	want := []string{referenceSignature(t, current, "evt_1", ts.Unix(), body), referenceSignature(t, previous, "evt_1", ts.Unix(), body)}
	if len(sigs) != 2 || sigs[0] != want[0] || sigs[1] != want[1] {
		t.Fatalf("Sign with two secrets = %q; want %q", got, strings.Join(want, " "))
	}

	h := http.Header{}
	Headers(h, "evt_1", ts, 1, got, "")
	for name, secrets := range map[string][]string{
		"new secret only": {current},
		"old secret only": {previous},
		"both":            {previous, current},
	} {
		t.Run(name, func(t *testing.T) {
			if err := (Verifier{Secrets: secrets, Now: at(ts)}).Verify(h, body); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
	t.Run("neither", func(t *testing.T) {
		err := Verifier{Secrets: []string{firehook.NewWebhookSecret()}, Now: at(ts)}.Verify(h, body)
		if !errors.Is(err, ErrNoMatch) {
			t.Fatalf("Verify with an unrelated secret: %v; want ErrNoMatch", err)
		}
	})
}

func TestSign_MalformedSecret(t *testing.T) {
	good := firehook.NewWebhookSecret()
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(good, SecretPrefix))
	for name, secret := range map[string]string{
		"empty":             "",
		"no prefix":         strings.TrimPrefix(good, SecretPrefix),
		"other prefix":      "whsk_" + strings.TrimPrefix(good, SecretPrefix),
		"prefix only":       SecretPrefix,
		"not base64":        SecretPrefix + "not*base64!",
		"unpadded base64":   SecretPrefix + base64.RawStdEncoding.EncodeToString(raw),
		"url-safe alphabet": SecretPrefix + "-_" + strings.TrimPrefix(good, SecretPrefix)[2:],
		"truncated":         good[:len(good)-5],
		"16-byte key":       SecretPrefix + base64.StdEncoding.EncodeToString(raw[:16]),
	} {
		t.Run(name, func(t *testing.T) {
			for _, secrets := range [][]string{{secret}, {good, secret}} {
				_, err := Sign(secrets, "evt_1", time.Now(), []byte("{}"))
				if !errors.Is(err, ErrBadSecret) {
					t.Fatalf("Sign(%d secrets): %v; want ErrBadSecret", len(secrets), err)
				}
				if len(secret) > len(SecretPrefix)+3 && strings.Contains(err.Error(), secret[len(SecretPrefix):]) {
					t.Fatalf("the error shows the secret: %v", err)
				}
			}
			if _, err := ParseSecret(secret); !errors.Is(err, ErrBadSecret) {
				t.Fatalf("ParseSecret: %v; want ErrBadSecret", err)
			}
		})
	}
	t.Run("no secrets", func(t *testing.T) {
		if _, err := Sign(nil, "evt_1", time.Now(), nil); !errors.Is(err, ErrBadSecret) {
			t.Fatalf("Sign(nil): %v; want ErrBadSecret", err)
		}
	})
}

func TestParseSecret(t *testing.T) {
	key, err := ParseSecret(firehook.NewWebhookSecret())
	if err != nil || len(key) != 32 {
		t.Fatalf("ParseSecret(NewWebhookSecret()) = %d bytes, %v; want 32 bytes", len(key), err)
	}
	key, err = ParseSecret(vectorSecret)
	if err != nil || len(key) != MinSecretBytes {
		t.Fatalf("ParseSecret(vector) = %d bytes, %v; want %d", len(key), err, MinSecretBytes)
	}
}

// Sign's pooled state must not leak between concurrent callers.
func TestSign_Concurrent(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	type job struct {
		secret, id, want string
		body             []byte
	}
	jobs := make([]job, 64)
	for i := range jobs {
		j := job{secret: secretOf(r, 24+i), id: "evt_" + strconv.Itoa(i), body: bytes.Repeat([]byte{byte(i)}, i*37)}
		j.want = referenceSignature(t, j.secret, j.id, 1_800_000_000, j.body)
		jobs[i] = j
	}
	var wg sync.WaitGroup
	errs := make(chan string, len(jobs)*8)
	for g := range 8 {
		wg.Go(func() {
			for i := range jobs {
				j := jobs[(i+g*7)%len(jobs)]
				got, err := Sign([]string{j.secret}, j.id, time.Unix(1_800_000_000, 0), j.body)
				if err != nil || got != j.want {
					errs <- j.id + ": " + got + " " + strconv.Quote(j.want)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// Sign allocates only its result (the race detector's sync.Pool drops
// items on purpose, so the count holds only without it).
func TestSign_Allocations(t *testing.T) {
	if raceEnabled() {
		t.Skip("sync.Pool drops items under the race detector")
	}
	secrets := []string{firehook.NewWebhookSecret(), firehook.NewWebhookSecret()}
	body := bytes.Repeat([]byte("x"), 2048)
	ts := time.Now()
	if n := testing.AllocsPerRun(200, func() {
		if _, err := Sign(secrets, "evt_01J0000000000000000000000", ts, body); err != nil {
			t.Fatal(err)
		}
	}); n > 1 {
		t.Fatalf("Sign allocates %.1f times; want 1 (the result)", n)
	}
}

func TestHeaders(t *testing.T) {
	h := http.Header{"Webhook-Signature": {"stale"}}
	ts := time.Unix(1_800_000_000, 999_000_000)
	Headers(h, "evt_1", ts, 3, "v1,abc", "Firehook/1.2.3")
	for name, want := range map[string]string{
		"content-type":      "application/json",
		"user-agent":        "Firehook/1.2.3",
		"webhook-id":        "evt_1",
		"webhook-timestamp": "1800000000",
		"webhook-signature": "v1,abc",
		"firehook-attempt":  "3",
	} {
		if got := h.Values(name); len(got) != 1 || got[0] != want {
			t.Errorf("%s = %q; want [%q]", name, got, want)
		}
	}
	Headers(h, "evt_1", ts, 1, "v1,abc", "")
	if got := h.Get("User-Agent"); got != "Firehook" {
		t.Errorf("user-agent with no version = %q; want Firehook", got)
	}
}

func TestVerifier_Verify(t *testing.T) {
	secret := firehook.NewWebhookSecret()
	ts := time.Unix(1_800_000_000, 0)
	body := []byte(`{"id":"evt_1","type":"visitor.updated","sequence":7}`)
	v := Verifier{Secrets: []string{secret}, Now: at(ts.Add(2 * time.Second))}
	valid := func() http.Header { return signedHeaders(t, []string{secret}, "evt_1", ts, body) }
	sig := valid().Get(HeaderSignature)

	cases := []struct {
		name string
		edit func(h http.Header) []byte // returns the body to verify
		want error
	}{
		{"valid", func(http.Header) []byte { return body }, nil},
		{"tampered body", func(http.Header) []byte { return bytes.Replace(body, []byte("7"), []byte("8"), 1) }, ErrNoMatch},
		{"body with a trailing newline", func(http.Header) []byte { return append(append([]byte(nil), body...), '\n') }, ErrNoMatch},
		{"tampered id", func(h http.Header) []byte { h.Set(HeaderID, "evt_2"); return body }, ErrNoMatch},
		{"tampered timestamp", func(h http.Header) []byte { h.Set(HeaderTimestamp, "1800000001"); return body }, ErrNoMatch},
		{"signature of another scheme only", func(h http.Header) []byte {
			h.Set(HeaderSignature, "v1a,"+strings.TrimPrefix(sig, "v1,"))
			return body
		}, ErrNoMatch},
		{"truncated signature", func(h http.Header) []byte { h.Set(HeaderSignature, sig[:20]); return body }, ErrNoMatch},
		{"v1 with nothing after it", func(h http.Header) []byte { h.Set(HeaderSignature, "v1,"); return body }, ErrNoMatch},
		{"signature not base64", func(h http.Header) []byte { h.Set(HeaderSignature, "v1,"+strings.Repeat("*", 44)); return body }, ErrNoMatch},
		{"valid among others", func(h http.Header) []byte {
			h.Set(HeaderSignature, "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=  "+sig+" v1a,xyz")
			return body
		}, nil},
		{"valid in a second header line", func(h http.Header) []byte {
			h.Set(HeaderSignature, "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=")
			h.Add(HeaderSignature, sig)
			return body
		}, nil},
		{"timestamp with a plus sign", func(h http.Header) []byte { h.Set(HeaderTimestamp, "+1800000000"); return body }, ErrNoMatch},
		{"timestamp with a leading zero", func(h http.Header) []byte { h.Set(HeaderTimestamp, "01800000000"); return body }, ErrNoMatch},
		{"timestamp not a number", func(h http.Header) []byte { h.Set(HeaderTimestamp, "2027-01-15T08:00:00Z"); return body }, ErrTimestamp},
		{"timestamp in milliseconds", func(h http.Header) []byte { h.Set(HeaderTimestamp, "1800000000000"); return body }, ErrTimestamp},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := valid()
			err := v.Verify(h, c.edit(h))
			if c.want == nil && err != nil {
				t.Fatalf("Verify: %v; want success", err)
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("Verify: %v; want %v", err, c.want)
			}
		})
	}
}

func TestVerifier_Verify_missingHeaders(t *testing.T) {
	secret := firehook.NewWebhookSecret()
	ts := time.Now()
	v := Verifier{Secrets: []string{secret}}
	for _, name := range []string{"webhook-id", "webhook-timestamp", "webhook-signature"} {
		for _, how := range []string{"absent", "empty", "blank"} {
			t.Run(name+" "+how, func(t *testing.T) {
				h := signedHeaders(t, []string{secret}, "evt_1", ts, []byte("{}"))
				switch how {
				case "absent":
					h.Del(name)
				case "empty":
					h.Set(name, "")
				case "blank":
					h.Set(name, "   ")
				}
				err := v.Verify(h, []byte("{}"))
				if !errors.Is(err, ErrMissingHeaders) || !strings.Contains(err.Error(), name) {
					t.Fatalf("Verify: %v; want ErrMissingHeaders naming %s", err, name)
				}
			})
		}
	}
	t.Run("all", func(t *testing.T) {
		err := v.Verify(http.Header{}, nil)
		if !errors.Is(err, ErrMissingHeaders) || !strings.Contains(err.Error(), "webhook-id, webhook-timestamp, webhook-signature") {
			t.Fatalf("Verify: %v; want ErrMissingHeaders naming all three", err)
		}
	})
}

func TestVerifier_Verify_tolerance(t *testing.T) {
	secret := firehook.NewWebhookSecret()
	ts := time.Unix(1_800_000_000, 0)
	body := []byte("{}")
	h := signedHeaders(t, []string{secret}, "evt_1", ts, body)
	cases := []struct {
		tolerance time.Duration
		skew      time.Duration // verifier's clock minus the timestamp
		ok        bool
	}{
		{0, 0, true},
		{0, DefaultTolerance, true},
		{0, -DefaultTolerance, true},
		{0, DefaultTolerance + time.Nanosecond, false},
		{0, -DefaultTolerance - time.Nanosecond, false},
		{0, DefaultTolerance + time.Second, false},
		{0, -DefaultTolerance - time.Second, false},
		{0, 24 * time.Hour, false},
		{-time.Second, DefaultTolerance, true}, // negative means the default
		{10 * time.Second, 10 * time.Second, true},
		{10 * time.Second, -10 * time.Second, true},
		{10 * time.Second, 11 * time.Second, false},
		{10 * time.Second, -11 * time.Second, false},
		{time.Hour, 59 * time.Minute, true},
	}
	for _, c := range cases {
		t.Run(c.tolerance.String()+"/"+c.skew.String(), func(t *testing.T) {
			err := Verifier{Secrets: []string{secret}, Tolerance: c.tolerance, Now: at(ts.Add(c.skew))}.Verify(h, body)
			if c.ok && err != nil {
				t.Fatalf("Verify: %v; want success", err)
			}
			if !c.ok && !errors.Is(err, ErrTimestamp) {
				t.Fatalf("Verify: %v; want ErrTimestamp", err)
			}
		})
	}
}

func TestVerifier_Verify_badSecret(t *testing.T) {
	ts := time.Now()
	h := signedHeaders(t, []string{firehook.NewWebhookSecret()}, "evt_1", ts, nil)
	for name, secrets := range map[string][]string{
		"none":      nil,
		"malformed": {"whsec_short"},
		"no prefix": {"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
	} {
		t.Run(name, func(t *testing.T) {
			if err := (Verifier{Secrets: secrets}).Verify(h, nil); !errors.Is(err, ErrBadSecret) {
				t.Fatalf("Verify: %v; want ErrBadSecret", err)
			}
		})
	}
}

// Round trip through HTTP/1.1 text with lower-cased header names: the
// headers Headers sets survive the wire and verify on the http.Header a
// server hands over.
func TestVerifier_Verify_overHTTP(t *testing.T) {
	current, previous := firehook.NewWebhookSecret(), firehook.NewWebhookSecret()
	body := []byte(`{"id":"evt_9","type":"visitor.identified","sequence":1}`)
	req, err := http.NewRequest(http.MethodPost, "http://receiver.test/hook", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Now()
	sig, err := Sign([]string{current, previous}, "evt_9", ts, body)
	if err != nil {
		t.Fatal(err)
	}
	Headers(req.Header, "evt_9", ts, 2, sig, "Firehook/test")
	var wire bytes.Buffer
	if err := req.Write(&wire); err != nil {
		t.Fatal(err)
	}
	// Lower-case the header names as HTTP/2 does on the wire.
	raw := wire.String()
	head, rest, _ := strings.Cut(raw, "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	for i := 1; i < len(lines); i++ {
		name, value, _ := strings.Cut(lines[i], ":")
		lines[i] = strings.ToLower(name) + ":" + value
	}
	got, err := http.ReadRequest(bufio.NewReader(strings.NewReader(strings.Join(lines, "\r\n") + "\r\n\r\n" + rest)))
	if err != nil {
		t.Fatal(err)
	}
	gotBody, err := io.ReadAll(got.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := (Verifier{Secrets: []string{previous}}).Verify(got.Header, gotBody); err != nil {
		t.Fatalf("Verify after the wire: %v", err)
	}
	if a := got.Header.Get("firehook-attempt"); a != "2" {
		t.Fatalf("firehook-attempt = %q; want 2", a)
	}
}

func BenchmarkSign(b *testing.B) {
	body := bytes.Repeat([]byte(`{"k":"v"}`), 150) // ~1.3 KiB, a delivery's size
	ts := time.Now()
	id := firehook.NewID(firehook.PrefixEvent)
	for _, n := range []int{1, 2} {
		secrets := make([]string, n)
		for i := range secrets {
			secrets[i] = firehook.NewWebhookSecret()
		}
		b.Run(strconv.Itoa(n)+"-secrets", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := Sign(secrets, id, ts, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
