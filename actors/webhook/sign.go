package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Delivery header names (API.md, "Webhook delivery"), in canonical form.
const (
	HeaderID        = "Webhook-Id"        // the event id, the same on every attempt
	HeaderTimestamp = "Webhook-Timestamp" // unix seconds of this attempt
	HeaderSignature = "Webhook-Signature" // "v1,<base64>" per secret, space-separated
	HeaderAttempt   = "Firehook-Attempt"  // 1 for the first attempt, 2 for the first retry, …
)

const (
	// SecretPrefix starts every signing secret; standard base64 of the
	// HMAC key follows it.
	SecretPrefix = "whsec_"
	// MinSecretBytes is the shortest HMAC key accepted: the Standard
	// Webhooks floor (192 bits). It also catches a secret truncated by a
	// copy and paste. Firehook's own secrets have 32 bytes.
	MinSecretBytes = 24
	// DefaultTolerance is how far a webhook-timestamp may be from the
	// verifier's clock, either way, when Verifier.Tolerance is zero.
	DefaultTolerance = 5 * time.Minute

	sigVersion = "v1," // the symmetric (HMAC-SHA256) scheme
	macSize    = sha256.Size
)

// ParseSecret returns the HMAC key of a "whsec_…" secret. The error wraps
// ErrBadSecret and never contains the secret.
func ParseSecret(secret string) ([]byte, error) {
	var m mac
	if err := m.setKey(secret); err != nil {
		return nil, err
	}
	return append([]byte(nil), m.key...), nil
}

// Sign returns the webhook-signature header value of one attempt: for each
// secret, in order, "v1," + base64(HMAC-SHA256(key, id.unix(ts).body)),
// separated by spaces. secrets is what Endpoint.Secrets returns: the
// current secret and, during a rotation, the previous one.
//
// It allocates only the returned string. The error wraps ErrBadSecret.
func Sign(secrets []string, id string, ts time.Time, body []byte) (string, error) {
	if len(secrets) == 0 {
		return "", fmt.Errorf("sign: no secret: %w", ErrBadSecret)
	}
	m := macs.Get().(*mac)
	defer m.release()
	m.content(id, ts.Unix())
	out := m.out[:0]
	for i, s := range secrets {
		if err := m.setKey(s); err != nil {
			return "", fmt.Errorf("sign: secret %d of %d: %w", i+1, len(secrets), err)
		}
		if i > 0 {
			out = append(out, ' ')
		}
		out = append(out, sigVersion...)
		out = base64.StdEncoding.AppendEncode(out, m.sum(body))
	}
	m.out = out
	return string(out), nil
}

// Headers sets the delivery headers of one attempt on h (API.md):
// content-type, user-agent, webhook-id, webhook-timestamp (unix seconds of
// ts), webhook-signature (what Sign returned for the same id, ts and body)
// and firehook-attempt. userAgent is "Firehook/" + the version; empty
// means "Firehook".
func Headers(h http.Header, id string, ts time.Time, attempt int, signature string, userAgent string) {
	if userAgent == "" {
		userAgent = "Firehook"
	}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", userAgent)
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, signature)
	h.Set(HeaderAttempt, strconv.Itoa(attempt))
}

// Verifier checks deliveries on the receiving side. The zero value of
// Tolerance and Now are the defaults; a Verifier is safe for concurrent
// use as long as its fields are not changed.
type Verifier struct {
	// Secrets are the "whsec_…" secrets accepted: a delivery passes when
	// any of its v1 signatures matches any of them. Give the old and the
	// new secret while rotating.
	Secrets []string
	// Tolerance is how far webhook-timestamp may be from Now, either
	// way (a replay guard). Zero or negative means DefaultTolerance (5 min).
	Tolerance time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Verify checks the headers h and the raw body of a delivery: all three
// webhook headers present (ErrMissingHeaders), webhook-timestamp within
// the tolerance of now (ErrTimestamp), and one v1 signature of
// webhook-signature matching one secret (ErrNoMatch), compared in
// constant time. Signatures of other schemes (v1a, …) are skipped. A
// malformed secret of v gives an error wrapping ErrBadSecret.
//
// body must be the bytes as received: JSON decoded and encoded again does
// not verify.
func (v Verifier) Verify(h http.Header, body []byte) error {
	id, tsText, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Values(HeaderSignature)
	blank := func(s string) bool { return strings.TrimSpace(s) == "" }
	if blank(id) || blank(tsText) || len(sigs) == 0 || blank(sigs[0]) {
		var missing []string
		for _, name := range []string{HeaderID, HeaderTimestamp, HeaderSignature} {
			if blank(h.Get(name)) {
				missing = append(missing, strings.ToLower(name))
			}
		}
		return fmt.Errorf("verify: %s: %w", strings.Join(missing, ", "), ErrMissingHeaders)
	}
	sec, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("verify: webhook-timestamp %q is not unix seconds: %w", tsText, ErrTimestamp)
	}
	tol := v.Tolerance
	if tol <= 0 {
		tol = DefaultTolerance
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	if d := now().Sub(time.Unix(sec, 0)); d > tol {
		return fmt.Errorf("verify: webhook-timestamp %d is %s old, over the tolerance of %s: %w",
			sec, d.Round(time.Second), tol, ErrTimestamp)
	} else if d < -tol {
		return fmt.Errorf("verify: webhook-timestamp %d is %s in the future, over the tolerance of %s: %w",
			sec, -d.Round(time.Second), tol, ErrTimestamp)
	}
	if len(v.Secrets) == 0 {
		return fmt.Errorf("verify: no secret: %w", ErrBadSecret)
	}

	m := macs.Get().(*mac)
	defer m.release()
	m.contentText(id, tsText) // the header as sent ("+17…" and "017…" parse too)
	want := make([][macSize]byte, len(v.Secrets))
	for i, s := range v.Secrets {
		if err := m.setKey(s); err != nil {
			return fmt.Errorf("verify: secret %d of %d: %w", i+1, len(v.Secrets), err)
		}
		copy(want[i][:], m.sum(body))
	}
	var got [encodedMAC / 4 * 3]byte
	for _, line := range sigs {
		for _, sig := range strings.Fields(line) {
			enc, ok := strings.CutPrefix(sig, sigVersion)
			if !ok || len(enc) != encodedMAC {
				continue // another scheme, or not the length of a SHA-256 MAC
			}
			n, err := strictBase64.Decode(got[:], []byte(enc))
			if err != nil || n != macSize {
				continue
			}
			for i := range want {
				if hmac.Equal(got[:n], want[i][:]) {
					return nil
				}
			}
		}
	}
	return fmt.Errorf("verify: none of the signatures matches a secret: %w", ErrNoMatch)
}

// encodedMAC is the length of a MAC in standard base64: 44 characters.
const encodedMAC = (macSize + 2) / 3 * 4

// strictBase64 decodes signatures. A signature has one spelling, the one
// Sign writes (and the reference libraries compare the base64 text): the
// lenient decoder ignores the two unused bits of the 43rd character, so
// that four spellings of each MAC would verify.
var strictBase64 = base64.StdEncoding.Strict()

// macs pools the scratch state of signing, so that a Sign allocates only
// its result.
var macs = sync.Pool{New: func() any { return &mac{inner: sha256.New(), outer: sha256.New()} }}

// mac is HMAC-SHA256 (RFC 2104) over reusable state: crypto/hmac cannot be
// given a new key, and a new one per secret and attempt costs several
// allocations. The tests check it against crypto/hmac.
type mac struct {
	inner, outer hash.Hash
	ipad, opad   [sha256.BlockSize]byte
	key          []byte // the decoded secret
	enc          []byte // the secret's base64, as bytes for the decoder
	prefix       []byte // "id.timestamp."
	out          []byte // Sign's result being built
	innerSum     [macSize]byte
	result       [macSize]byte
}

// setKey decodes secret and derives the pads from it.
func (m *mac) setKey(secret string) error {
	enc, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return fmt.Errorf("want %s followed by base64: %w", SecretPrefix, ErrBadSecret)
	}
	m.enc = append(m.enc[:0], enc...)
	n := base64.StdEncoding.DecodedLen(len(m.enc))
	if cap(m.key) < n {
		m.key = make([]byte, n)
	}
	n, err := base64.StdEncoding.Decode(m.key[:n], m.enc)
	if err != nil {
		return fmt.Errorf("the part after %s is not standard base64: %w", SecretPrefix, ErrBadSecret)
	}
	m.key = m.key[:n]
	if n < MinSecretBytes {
		return fmt.Errorf("key of %d bytes, want at least %d: %w", n, MinSecretBytes, ErrBadSecret)
	}
	key := m.key
	if len(key) > sha256.BlockSize { // RFC 2104: a key longer than a block is hashed first
		m.result = sha256.Sum256(key)
		key = m.result[:]
	}
	m.ipad, m.opad = [sha256.BlockSize]byte{}, [sha256.BlockSize]byte{}
	copy(m.ipad[:], key)
	copy(m.opad[:], key)
	for i := range m.ipad {
		m.ipad[i] ^= 0x36
		m.opad[i] ^= 0x5c
	}
	return nil
}

// content sets the signed content's prefix: "id.timestamp.".
func (m *mac) content(id string, unix int64) {
	p := append(m.prefix[:0], id...)
	p = append(p, '.')
	p = strconv.AppendInt(p, unix, 10)
	m.prefix = append(p, '.')
}

// contentText is content with the timestamp as received.
func (m *mac) contentText(id, ts string) {
	p := append(m.prefix[:0], id...)
	p = append(p, '.')
	p = append(p, ts...)
	m.prefix = append(p, '.')
}

// sum returns the MAC of prefix + body under the current key. The result
// is valid until the next call.
func (m *mac) sum(body []byte) []byte {
	m.inner.Reset()
	m.inner.Write(m.ipad[:])
	m.inner.Write(m.prefix)
	m.inner.Write(body)
	inner := m.inner.Sum(m.innerSum[:0])
	m.outer.Reset()
	m.outer.Write(m.opad[:])
	m.outer.Write(inner)
	return m.outer.Sum(m.result[:0])
}

// release wipes the key material and returns m to the pool.
func (m *mac) release() {
	clear(m.key)
	clear(m.enc)
	m.ipad, m.opad, m.innerSum, m.result = [sha256.BlockSize]byte{}, [sha256.BlockSize]byte{}, [macSize]byte{}, [macSize]byte{}
	m.inner.Reset()
	m.outer.Reset()
	macs.Put(m)
}
