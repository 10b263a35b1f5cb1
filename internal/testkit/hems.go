package testkit

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/firehook/firehook"
)

// HEMs computes the hashed emails of an already normalised address with
// the standard library alone, independently of the code under test, as
// the value a test expects.
func HEMs(tb testing.TB, normalised string) firehook.HEMs {
	tb.Helper()
	s256 := sha256.Sum256([]byte(normalised))
	s1 := sha1.Sum([]byte(normalised))
	m5 := md5.Sum([]byte(normalised))
	return firehook.HEMs{
		SHA256: hex.EncodeToString(s256[:]),
		SHA1:   hex.EncodeToString(s1[:]),
		MD5:    hex.EncodeToString(m5[:]),
	}
}
