package firehook

import (
	"crypto/rand"
	"encoding/base64"
	"math/big"

	"github.com/oklog/ulid/v2"
)

// ID prefixes name what an id refers to, so that a pasted id explains
// itself (as Stripe's do).
const (
	PrefixEvent    = "evt_"
	PrefixTenant   = "ten_"
	PrefixSite     = "site_"
	PrefixEndpoint = "ep_"
	PrefixAPIKey   = "fhk_"
	PrefixSecret   = "whsec_"
	PrefixSiteKey  = "sk_"
)

// NewID returns prefix + a new ULID: unique, and sortable by creation time.
func NewID(prefix string) string {
	return prefix + ulid.Make().String()
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// RandomToken returns prefix + n characters of crypto-random base62: for
// API keys, tokens and public site keys.
func RandomToken(prefix string, n int) string {
	b := make([]byte, n)
	max := big.NewInt(int64(len(base62)))
	for i := range b {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic("crypto/rand failed: " + err.Error()) // the OS is broken; nothing is safe
		}
		b[i] = base62[v.Int64()]
	}
	return prefix + string(b)
}

// NewWebhookSecret returns a Standard Webhooks secret: whsec_ + base64 of
// 32 random bytes.
func NewWebhookSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return PrefixSecret + base64.StdEncoding.EncodeToString(b)
}
