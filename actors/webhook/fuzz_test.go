package webhook

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzVerify checks the Verifier that `firehook receiver` verifies every
// delivery with (cmd/firehook/receiver.go), with the secret and clock of
// the Standard Webhooks example (vectorSecret, vectorUnix):
//   - any headers and body: Verify passes only when one signature of the
//     header is, byte for byte, the v1 signature that crypto/hmac makes
//     of id.timestamp.body with the secret (so a signature that verifies
//     was produced with the secret), and the timestamp is within the
//     tolerance; otherwise it fails with ErrMissingHeaders, ErrTimestamp
//     or ErrNoMatch;
//   - id and body signed by Sign at the verifier's clock: Verify passes,
//     a verifier with another secret refuses them, and changing any one
//     byte of the id, the timestamp, the body or the signature (the byte
//     at pos of the four, XORed with flip) makes Verify fail.
func FuzzVerify(f *testing.F) {
	now := time.Unix(vectorUnix, 0)
	v := Verifier{Secrets: []string{vectorSecret}, Now: at(now)}
	other := Verifier{Secrets: []string{"whsec_" + strings.Repeat("A", 32)}, Now: at(now)}
	f.Fuzz(func(t *testing.T, id, ts string, body []byte, sig string, pos uint16, flip byte) {
		h := http.Header{HeaderID: {id}, HeaderTimestamp: {ts}, HeaderSignature: {sig}}
		err := v.Verify(h, body)
		if err == nil {
			unix, perr := strconv.ParseInt(ts, 10, 64)
			if d := now.Sub(time.Unix(unix, 0)).Abs(); perr != nil || d > DefaultTolerance {
				t.Fatalf("verified timestamp %q, %v from the clock (%v)", ts, d, perr)
			}
			if want := textSignature(t, vectorSecret, id, ts, body); !slices.Contains(strings.Fields(sig), want) {
				t.Fatalf("verified signature %q of id %q, timestamp %q, body %q; the secret's signature is %s",
					sig, id, ts, body, want)
			}
		} else if !errors.Is(err, ErrMissingHeaders) && !errors.Is(err, ErrTimestamp) && !errors.Is(err, ErrNoMatch) {
			t.Fatalf("Verify: %v; want ErrMissingHeaders, ErrTimestamp or ErrNoMatch", err)
		}

		if strings.TrimSpace(id) == "" {
			return // a sender never sends a blank id: Verify refuses it (above)
		}
		signed := signedHeaders(t, []string{vectorSecret}, id, now, body)
		if err := v.Verify(signed, body); err != nil {
			t.Fatalf("Verify of what Sign signed (id %q, body %q): %v", id, body, err)
		}
		if err := other.Verify(signed, body); !errors.Is(err, ErrNoMatch) {
			t.Fatalf("a verifier with another secret: %v; want ErrNoMatch", err)
		}
		if flip == 0 {
			flip = 1
		}
		mutated, mbody, what := mutateDelivery(signed, body, int(pos), flip)
		if err := v.Verify(mutated, mbody); err == nil {
			t.Fatalf("verified a delivery whose %s was changed: headers %v, body %q (signed: %v, %q)",
				what, mutated, mbody, signed, body)
		}
	})
}

// mutateDelivery returns a copy of the delivery (h, body) with one byte
// changed: the byte at pos (modulo their total length) of the id, the
// timestamp, the body and the signature, laid end to end, XORed with
// flip (not 0). what names the part changed.
func mutateDelivery(h http.Header, body []byte, pos int, flip byte) (http.Header, []byte, string) {
	parts := [][]byte{[]byte(h.Get(HeaderID)), []byte(h.Get(HeaderTimestamp)), slices.Clone(body), []byte(h.Get(HeaderSignature))}
	names := []string{"webhook-id", "webhook-timestamp", "body", "webhook-signature"}
	total := 0
	for _, p := range parts {
		total += len(p)
	}
	pos %= total
	i := 0
	for pos >= len(parts[i]) {
		pos -= len(parts[i])
		i++
	}
	parts[i][pos] ^= flip
	out := h.Clone()
	out.Set(HeaderID, string(parts[0]))
	out.Set(HeaderTimestamp, string(parts[1]))
	out.Set(HeaderSignature, string(parts[3]))
	return out, parts[2], names[i]
}
