package persistence

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/firehook/firehook"
)

// Secrets at rest: with a secret key (FIREHOOK_SECRET_KEY) the secrets
// of an endpoint — its signing secrets and the values of its custom
// headers (an Authorization the customer gave us) — are stored sealed
// with AES-256-GCM, under a key derived from the secret key with
// HKDF-SHA256. A sealed value is sealedPrefix + base64(nonce ‖ ciphertext);
// the store opens them as it loads, so they are in the clear in memory
// only. Configuration changes sent to other members carry the sealed
// form: every member needs the same key.
//
// Without a key values are stored in the clear; a store opened with a key
// seals the rows it finds in the clear. A sealed value with no key, or the
// wrong one, stops the store from opening (ErrSecretKey): a node never
// runs with secrets it cannot read.

// sealedPrefix marks a sealed value.
const sealedPrefix = "fhsealed1:"

// MinSecretKeyLen is the shortest secret key accepted, in bytes.
const MinSecretKeyLen = 16

// ErrSecretKey reports a missing, short or wrong secret key.
var ErrSecretKey = errors.New("persistence: secret key")

// secretBox seals and opens values; a nil box stores them in the clear.
type secretBox struct{ aead cipher.AEAD }

// newSecretBox returns the box of key; nil for an empty key.
func newSecretBox(key string) (*secretBox, error) {
	if key == "" {
		return nil, nil
	}
	if len(key) < MinSecretKeyLen {
		return nil, fmt.Errorf("%w: at least %d bytes", ErrSecretKey, MinSecretKeyLen)
	}
	k, err := hkdf.Key(sha256.New, []byte(key), []byte("firehook secrets at rest"), "aes-256-gcm", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &secretBox{aead: aead}, nil
}

// seal returns v sealed (v itself without a box, or when empty).
func (b *secretBox) seal(v string) string {
	if b == nil || v == "" || strings.HasPrefix(v, sealedPrefix) {
		return v
	}
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand does not fail
	}
	return sealedPrefix + base64.RawStdEncoding.EncodeToString(b.aead.Seal(nonce, nonce, []byte(v), nil))
}

// open returns the clear value of v (v itself when it is not sealed).
func (b *secretBox) open(v string) (string, error) {
	rest, sealed := strings.CutPrefix(v, sealedPrefix)
	if !sealed {
		return v, nil
	}
	if b == nil {
		return "", fmt.Errorf("%w: secrets are stored sealed and FIREHOOK_SECRET_KEY is not set", ErrSecretKey)
	}
	raw, err := base64.RawStdEncoding.DecodeString(rest)
	if err != nil || len(raw) < b.aead.NonceSize() {
		return "", fmt.Errorf("%w: a sealed value is malformed", ErrSecretKey)
	}
	n := b.aead.NonceSize()
	clear, err := b.aead.Open(nil, raw[:n], raw[n:], nil)
	if err != nil {
		return "", fmt.Errorf("%w: a sealed value does not open with this FIREHOOK_SECRET_KEY (another key?)", ErrSecretKey)
	}
	return string(clear), nil
}

// sealEndpoint returns a copy of e with its secrets sealed.
func (b *secretBox) sealEndpoint(e *firehook.Endpoint) *firehook.Endpoint {
	out := *e
	out.Secret, out.PreviousSecret = b.seal(e.Secret), b.seal(e.PreviousSecret)
	if e.Headers != nil {
		out.Headers = maps.Clone(e.Headers)
		for k, v := range out.Headers {
			out.Headers[k] = b.seal(v)
		}
	}
	return &out
}

// openEndpoint opens e's secrets in place.
func (b *secretBox) openEndpoint(e *firehook.Endpoint) error {
	var err error
	if e.Secret, err = b.open(e.Secret); err != nil {
		return err
	}
	if e.PreviousSecret, err = b.open(e.PreviousSecret); err != nil {
		return err
	}
	for k, v := range e.Headers {
		if e.Headers[k], err = b.open(v); err != nil {
			return err
		}
	}
	return nil
}

// sealedEndpoint reports whether e's secrets are all sealed (or empty).
func sealedEndpoint(e *firehook.Endpoint) bool {
	ok := func(v string) bool { return v == "" || strings.HasPrefix(v, sealedPrefix) }
	for _, v := range e.Headers {
		if !ok(v) {
			return false
		}
	}
	return ok(e.Secret) && ok(e.PreviousSecret)
}
