package identity

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/firehook/firehook"
)

// ErrInvalidEmail is returned for a value that cannot be an email address.
var ErrInvalidEmail = errors.New("invalid email address")

// maxEmailLen is the longest address RFC 5321 allows (a path of 256 minus
// the angle brackets).
const maxEmailLen = 254

// NormalizeEmail returns the canonical form of an email address that the
// hashes are taken over: surrounding white space trimmed, lower-cased,
// and for gmail.com / googlemail.com the dots and any +suffix of the local
// part dropped (Gmail ignores both), with googlemail.com read as gmail.com.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimFunc(s, unicode.IsSpace)
	if s == "" || len(s) > maxEmailLen || !utf8.ValidString(s) {
		return "", ErrInvalidEmail
	}
	s = strings.ToLower(s)
	if len(s) > maxEmailLen { // lower-casing can lengthen UTF-8 (Ⱥ → ⱥ)
		return "", ErrInvalidEmail
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return "", ErrInvalidEmail
	}
	local, domain := s[:at], s[at+1:]
	if strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) ||
		strings.ContainsRune(local, '@') || !strings.Contains(domain, ".") ||
		strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return "", ErrInvalidEmail
	}
	if domain == "gmail.com" || domain == "googlemail.com" {
		if plus := strings.IndexByte(local, '+'); plus >= 0 {
			local = local[:plus]
		}
		local = strings.ReplaceAll(local, ".", "")
		domain = "gmail.com"
		if local == "" {
			return "", ErrInvalidEmail
		}
	}
	return local + "@" + domain, nil
}

// HashEmail normalises an email address and returns its hashes in
// lower-case hex. The clear text goes no further than this function.
func HashEmail(s string) (firehook.HEMs, error) {
	n, err := NormalizeEmail(s)
	if err != nil {
		return firehook.HEMs{}, err
	}
	s256 := sha256.Sum256([]byte(n))
	s1 := sha1.Sum([]byte(n))
	m5 := md5.Sum([]byte(n))
	return firehook.HEMs{
		SHA256: hex.EncodeToString(s256[:]),
		SHA1:   hex.EncodeToString(s1[:]),
		MD5:    hex.EncodeToString(m5[:]),
	}, nil
}

// NormalizeHex validates a hex digest of n bytes and returns it in lower
// case; ok is false when s is not one.
func NormalizeHex(s string, n int) (string, bool) {
	s = strings.TrimSpace(s)
	if len(s) != 2*n {
		return "", false
	}
	s = strings.ToLower(s)
	if _, err := hex.DecodeString(s); err != nil {
		return "", false
	}
	if strings.Trim(s, "0") == "" { // an all-zero digest is junk, not a person
		return "", false
	}
	return s, true
}
