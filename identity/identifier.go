package identity

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"

	"github.com/firehook/firehook/internal/netguard"
)

// NumShards is the number of identifier shards of the graph: an
// identifier belongs to shard Shard(), the top byte of its hash. A
// cluster places shards on nodes, so the number is part of the data
// layout and does not change.
const NumShards = 256

// Type is the kind of an identifier. The set is closed per release and
// may grow; Valid tells whether a value is one this release knows.
type Type string

// The identifier types.
const (
	TypeCookie    Type = "cookie"     // a first-party visitor id, as the pixel sets it; case kept
	TypeHEMSHA256 Type = "hem_sha256" // SHA-256 of a normalised email (NormalizeEmail), lower-case hex
	TypeHEMSHA1   Type = "hem_sha1"   // SHA-1 of a normalised email, lower-case hex
	TypeHEMMD5    Type = "hem_md5"    // MD5 of a normalised email, lower-case hex
	TypeDeviceID  Type = "device_id"  // a device or app-install id (IDFV, Android id, …); lower-cased
	TypeMAID      Type = "maid"       // a mobile advertising id (IDFA, GAID): a UUID, lower-cased
	TypeIP        Type = "ip"         // a public IP address in canonical form
)

// Valid reports whether t is a known identifier type.
func (t Type) Valid() bool {
	switch t {
	case TypeCookie, TypeHEMSHA256, TypeHEMSHA1, TypeHEMMD5, TypeDeviceID, TypeMAID, TypeIP:
		return true
	}
	return false
}

// Strength orders identifier types for resolution: a hashed email (3)
// names a person more surely than a device or advertising id (2), which
// does more surely than a cookie (1), which does more surely than an IP
// address (0), shared by a household or an office. Unknown types are -1.
func (t Type) Strength() int {
	switch t {
	case TypeHEMSHA256, TypeHEMSHA1, TypeHEMMD5:
		return 3
	case TypeDeviceID, TypeMAID:
		return 2
	case TypeCookie:
		return 1
	case TypeIP:
		return 0
	}
	return -1
}

// Identifier is a typed, normalised identifier value: a key of the
// identity graph. Build one with NewIdentifier (or ParseRecord), which
// normalise, so that equal identifiers compare equal.
type Identifier struct {
	Type  Type   `json:"type"`
	Value string `json:"value"`
}

// Limits of the free-form identifier values, in characters.
const (
	maxDeviceIDLen = 128
	maxCookieLen   = 256
)

// NewIdentifier validates value for type t and returns the identifier
// normalised: surrounding white space trimmed; hashes, UUIDs and device
// ids lower-cased; IP addresses in canonical form (IPv4-mapped IPv6
// addresses as IPv4). The error wraps ErrJunk for a placeholder value and
// ErrInvalidIdentifier, saying why, for anything else that is not an
// identifier of type t.
func NewIdentifier(t Type, value string) (Identifier, error) {
	v, err := normalizeValue(t, value)
	if err != nil {
		return Identifier{}, err
	}
	return Identifier{Type: t, Value: v}, nil
}

// normalizeValue is NewIdentifier without the struct. Its result may
// share memory with value.
func normalizeValue(t Type, value string) (string, error) {
	if !t.Valid() {
		return "", fmt.Errorf("%w: unknown type %q", ErrInvalidIdentifier, clip(string(t)))
	}
	v := strings.TrimSpace(value)
	if isJunk(v) {
		return "", fmt.Errorf("%w: %s %q", ErrJunk, t, clip(v))
	}
	return normalizeChecked(t, v)
}

// normalizeChecked is normalizeValue for a known type and a trimmed value
// that is not junk.
func normalizeChecked(t Type, v string) (string, error) {
	switch t {
	case TypeHEMSHA256:
		return normalizeHEM(t, v, 32)
	case TypeHEMSHA1:
		return normalizeHEM(t, v, 20)
	case TypeHEMMD5:
		return normalizeHEM(t, v, 16)
	case TypeMAID:
		if !isUUID(v) {
			return "", fmt.Errorf("%w: maid must be a UUID (8-4-4-4-12 hex digits)", ErrInvalidIdentifier)
		}
		return strings.ToLower(v), nil
	case TypeDeviceID:
		if !isToken(v, maxDeviceIDLen) {
			return "", fmt.Errorf("%w: device_id must be 1 to %d printable characters without spaces", ErrInvalidIdentifier, maxDeviceIDLen)
		}
		return strings.ToLower(v), nil
	case TypeCookie:
		if !isToken(v, maxCookieLen) {
			return "", fmt.Errorf("%w: cookie must be 1 to %d printable characters without spaces", ErrInvalidIdentifier, maxCookieLen)
		}
		return v, nil
	default: // TypeIP
		return normalizeIP(v)
	}
}

func normalizeHEM(t Type, v string, n int) (string, error) {
	if len(v) == 2*n && isLowerHex(v) {
		// Fast path: already normal (and not all zero: isJunk saw it).
		return v, nil
	}
	h, ok := NormalizeHex(v, n)
	if !ok {
		return "", fmt.Errorf("%w: %s must be %d hex digits", ErrInvalidIdentifier, t, 2*n)
	}
	return h, nil
}

func normalizeIP(v string) (string, error) {
	if len(v) > 64 { // longer than any textual address with a zone
		return "", fmt.Errorf("%w: ip is not an IP address", ErrInvalidIdentifier)
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return "", fmt.Errorf("%w: ip is not an IP address", ErrInvalidIdentifier)
	}
	a = a.Unmap()
	if netguard.Blocked(a) {
		// Loopback, private, link-local, multicast, documentation, …: an
		// address that many unrelated visitors share or that never
		// reaches a server from the internet says nothing about who
		// someone is.
		return "", fmt.Errorf("%w: ip %s is not a public address", ErrInvalidIdentifier, a)
	}
	var buf [64]byte
	if canon := a.AppendTo(buf[:0]); string(canon) != v {
		return string(canon), nil
	}
	return v, nil // already canonical: no copy
}

// Key is the identifier as one string, type:value, the form the graph
// stores and hashes.
func (id Identifier) Key() string { return string(id.Type) + ":" + id.Value }

// Hash is the 64-bit xxhash of Key(). It is stable across releases and
// machines: the in-memory index and the sharding are built on it.
func (id Identifier) Hash() uint64 {
	var d xxhash.Digest // on the stack: no Key string is built
	d.Reset()
	_, _ = d.WriteString(string(id.Type))
	_, _ = d.WriteString(":")
	_, _ = d.WriteString(id.Value)
	return d.Sum64()
}

// Shard is the graph shard the identifier belongs to: the top byte of
// Hash(), 0 to NumShards-1.
func (id Identifier) Shard() int { return int(id.Hash() >> 56) }

// junkValues are the placeholders that broken tags and exports put where
// an identifier should be, compared case-insensitively.
var junkValues = []string{
	"null", "undefined", "none", "nil", "0", "-1", "unknown", "n/a", "na",
	"[object object]", "false", "true", "test",
}

// isJunk reports whether a trimmed value is a placeholder: empty, on the
// junk list, one character repeated ("aaaa", "0000", "----"), or the
// all-zero UUID (what iOS reports for a limited-ad-tracking IDFA).
func isJunk(v string) bool {
	if v == "" {
		return true
	}
	if len(v) <= len("[object object]") {
		for _, j := range junkValues {
			if strings.EqualFold(v, j) {
				return true
			}
		}
	}
	if isZeroUUID(v) {
		return true
	}
	return isOneRune(v)
}

// isOneRune reports whether v is one character repeated, ignoring case
// (as lower-casing sees it, so that a value and its lower-cased form are
// junk alike: "kK" with a Kelvin sign is "kk").
func isOneRune(v string) bool {
	first, size := utf8.DecodeRuneInString(v)
	first = unicode.ToLower(first)
	for _, r := range v[size:] {
		if unicode.ToLower(r) != first {
			return false
		}
	}
	return true
}

// isZeroUUID reports whether v is 00000000-0000-0000-0000-000000000000.
func isZeroUUID(v string) bool {
	if len(v) != 36 {
		return false
	}
	for i := 0; i < len(v); i++ {
		want := byte('0')
		if i == 8 || i == 13 || i == 18 || i == 23 {
			want = '-'
		}
		if v[i] != want {
			return false
		}
	}
	return true
}

// isUUID reports whether v is a UUID in its textual 8-4-4-4-12 form, in
// either case.
func isUUID(v string) bool {
	if len(v) != 36 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
			continue
		}
		if !isHexDigit(c) {
			return false
		}
	}
	return true
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// isToken reports whether v is 1 to max printable characters, none of
// them white space.
func isToken(v string, max int) bool {
	if v == "" || len(v) > max*utf8.UTFMax {
		return false
	}
	n := 0
	for i := 0; i < len(v); {
		c := v[i]
		if c < utf8.RuneSelf {
			if c <= ' ' || c == 0x7f {
				return false
			}
			i++
		} else {
			r, size := utf8.DecodeRuneInString(v[i:])
			if r == utf8.RuneError && size == 1 || !unicode.IsPrint(r) {
				// IsPrint is false for every space but U+0020.
				return false
			}
			i += size
		}
		n++
	}
	return n <= max
}

// clip shortens a value quoted in an error message.
func clip(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
