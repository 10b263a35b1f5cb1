package identity

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"
)

var allTypes = []Type{TypeCookie, TypeHEMSHA256, TypeHEMSHA1, TypeHEMMD5, TypeDeviceID, TypeMAID, TypeIP}

func TestType_Valid(t *testing.T) {
	for _, typ := range allTypes {
		if !typ.Valid() {
			t.Errorf("%q.Valid() = false, want true", typ)
		}
	}
	for _, typ := range []Type{"", "email", "hem", "HEM_SHA256", " cookie", "cookie ", "ipv4", "hem_sha512"} {
		if typ.Valid() {
			t.Errorf("%q.Valid() = true, want false", typ)
		}
	}
}

func TestType_Strength(t *testing.T) {
	t.Run("hem > device_id = maid > cookie > ip", func(t *testing.T) {
		order := [][]Type{
			{TypeHEMSHA256, TypeHEMSHA1, TypeHEMMD5},
			{TypeDeviceID, TypeMAID},
			{TypeCookie},
			{TypeIP},
		}
		want := 3
		for _, tier := range order {
			for _, typ := range tier {
				if got := typ.Strength(); got != want {
					t.Errorf("%q.Strength() = %d, want %d", typ, got, want)
				}
			}
			want--
		}
	})
	t.Run("every known type is ranked", func(t *testing.T) {
		for _, typ := range allTypes {
			if typ.Strength() < 0 {
				t.Errorf("%q.Strength() = %d, want >= 0", typ, typ.Strength())
			}
		}
	})
	t.Run("unknown types rank below ip", func(t *testing.T) {
		if got := Type("email").Strength(); got >= TypeIP.Strength() {
			t.Errorf("Type(email).Strength() = %d, want below ip's %d", got, TypeIP.Strength())
		}
	})
}

const (
	sha256Hex = "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b" // of test@example.com
	sha1Hex   = "567159d622ffbb50b11b0efd307be358624a26ee"
	md5Hex    = "55502f40dc8b7c769880b10874abc9d0"
	maidUUID  = "6d92078a-8246-4ba4-ae5b-76104861e7dc"
)

// Outcomes of NewIdentifier other than a value.
const (
	wantJunk    = "<junk>"
	wantInvalid = "<invalid>"
)

var newIdentifierCases = []struct {
	name string
	typ  Type
	in   string
	want string // the normalised value, wantJunk or wantInvalid
}{
	// Hashed emails: lower-case hex of the right length.
	{"sha256", TypeHEMSHA256, sha256Hex, sha256Hex},
	{"sha256 upper-case is lower-cased", TypeHEMSHA256, strings.ToUpper(sha256Hex), sha256Hex},
	{"sha256 surrounding space trimmed", TypeHEMSHA256, " \t" + sha256Hex + "\n", sha256Hex},
	{"sha256 one digit short", TypeHEMSHA256, sha256Hex[1:], wantInvalid},
	{"sha256 one digit long", TypeHEMSHA256, sha256Hex + "0", wantInvalid},
	{"sha256 with a non-hex letter", TypeHEMSHA256, "g" + sha256Hex[1:], wantInvalid},
	{"sha256 given an md5", TypeHEMSHA256, md5Hex, wantInvalid},
	{"sha256 with 0x prefix", TypeHEMSHA256, "0x" + sha256Hex[2:], wantInvalid},
	{"sha256 all zero", TypeHEMSHA256, strings.Repeat("0", 64), wantJunk},
	{"sha256 all f", TypeHEMSHA256, strings.Repeat("F", 64), wantJunk},
	{"sha256 of a clear-text email", TypeHEMSHA256, "test@example.com", wantInvalid},
	{"sha1", TypeHEMSHA1, sha1Hex, sha1Hex},
	{"sha1 upper-case is lower-cased", TypeHEMSHA1, strings.ToUpper(sha1Hex), sha1Hex},
	{"sha1 given a sha256", TypeHEMSHA1, sha256Hex, wantInvalid},
	{"sha1 all zero", TypeHEMSHA1, strings.Repeat("0", 40), wantJunk},
	{"md5", TypeHEMMD5, md5Hex, md5Hex},
	{"md5 upper-case is lower-cased", TypeHEMMD5, strings.ToUpper(md5Hex), md5Hex},
	{"md5 given a sha1", TypeHEMMD5, sha1Hex, wantInvalid},
	{"md5 all zero", TypeHEMMD5, strings.Repeat("0", 32), wantJunk},

	// Mobile advertising ids: UUIDs.
	{"maid", TypeMAID, maidUUID, maidUUID},
	{"maid upper-case (IDFA style) is lower-cased", TypeMAID, strings.ToUpper(maidUUID), maidUUID},
	{"maid trimmed", TypeMAID, " " + maidUUID + " ", maidUUID},
	{"maid all-zero (limited ad tracking)", TypeMAID, "00000000-0000-0000-0000-000000000000", wantJunk},
	{"maid without dashes", TypeMAID, strings.ReplaceAll(maidUUID, "-", ""), wantInvalid},
	{"maid with braces", TypeMAID, "{" + maidUUID + "}", wantInvalid},
	{"maid dash misplaced", TypeMAID, "6d92078a8-246-4ba4-ae5b-76104861e7dc", wantInvalid},
	{"maid non-hex", TypeMAID, "6d92078a-8246-4ba4-ae5b-76104861e7dg", wantInvalid},
	{"maid too short", TypeMAID, maidUUID[:35], wantInvalid},

	// Device ids: 1 to 128 printable characters without spaces, lower-cased.
	{"android id", TypeDeviceID, "A1B2C3D4E5F60718", "a1b2c3d4e5f60718"},
	{"IDFV is lower-cased", TypeDeviceID, "E621E1F8-C36C-495A-93FC-0C247A3E6E5F", "e621e1f8-c36c-495a-93fc-0c247a3e6e5f"},
	{"device id trimmed", TypeDeviceID, "\tdev-42 ", "dev-42"},
	{"device id with punctuation", TypeDeviceID, "fp_9f:x/1", "fp_9f:x/1"},
	{"device id of unicode letters", TypeDeviceID, "GERÄT-7", "gerät-7"},
	{"device id of 128 characters", TypeDeviceID, strings.Repeat("ab", 64), strings.Repeat("ab", 64)},
	{"device id of 128 two-byte characters", TypeDeviceID, strings.Repeat("äb", 64), strings.Repeat("äb", 64)},
	{"device id of 129 characters", TypeDeviceID, strings.Repeat("ab", 64) + "c", wantInvalid},
	{"device id with a space inside", TypeDeviceID, "dev 42", wantInvalid},
	{"device id with a no-break space inside", TypeDeviceID, "dev\u00a042", wantInvalid},
	{"device id with a control character", TypeDeviceID, "dev\x0142", wantInvalid},
	{"device id with DEL", TypeDeviceID, "dev\x7f42", wantInvalid},
	{"device id with invalid UTF-8", TypeDeviceID, "dev\xff42", wantInvalid},
	{"device id all-zero UUID", TypeDeviceID, "00000000-0000-0000-0000-000000000000", wantJunk},

	// Cookies: 1 to 256 printable characters without spaces, case kept.
	{"cookie", TypeCookie, "Zx81Ab_c-9", "Zx81Ab_c-9"},
	{"cookie of Google Analytics shape", TypeCookie, "GA1.2.1234567890.1700000000", "GA1.2.1234567890.1700000000"},
	{"cookie trimmed, case kept", TypeCookie, " AbC123\n", "AbC123"},
	{"cookie of 256 characters", TypeCookie, strings.Repeat("xY", 128), strings.Repeat("xY", 128)},
	{"cookie of 257 characters", TypeCookie, strings.Repeat("xY", 128) + "z", wantInvalid},
	{"cookie with a space inside", TypeCookie, "ab cd", wantInvalid},
	{"cookie with a tab inside", TypeCookie, "ab\tcd", wantInvalid},
	{"cookie with a NUL", TypeCookie, "ab\x00cd", wantInvalid},

	// IP addresses: public, canonical.
	{"IPv4", TypeIP, "8.8.8.8", "8.8.8.8"},
	{"IPv4 trimmed", TypeIP, " 8.8.4.4\n", "8.8.4.4"},
	{"IPv4-mapped IPv6 is IPv4", TypeIP, "::ffff:8.8.8.8", "8.8.8.8"},
	{"IPv6 canonical form", TypeIP, "2606:4700:0000:0000:0000:0000:0000:1111", "2606:4700::1111"},
	{"IPv6 upper-case", TypeIP, "2A00:1450:4001:81C::200E", "2a00:1450:4001:81c::200e"},
	{"IPv4 with leading zeros", TypeIP, "8.8.8.08", wantInvalid},
	{"not an address", TypeIP, "example.com", wantInvalid},
	{"IPv4 with a port", TypeIP, "8.8.8.8:80", wantInvalid},
	{"CIDR", TypeIP, "8.8.8.0/24", wantInvalid},
	{"loopback", TypeIP, "127.0.0.1", wantInvalid},
	{"IPv6 loopback", TypeIP, "::1", wantInvalid},
	{"private 10/8", TypeIP, "10.1.2.3", wantInvalid},
	{"private 192.168/16", TypeIP, "192.168.1.1", wantInvalid},
	{"private 172.16/12", TypeIP, "172.20.0.1", wantInvalid},
	{"IPv4-mapped private", TypeIP, "::ffff:10.0.0.1", wantInvalid},
	{"link-local", TypeIP, "169.254.169.254", wantInvalid},
	{"IPv6 link-local", TypeIP, "fe80::1", wantInvalid},
	{"IPv6 with a zone", TypeIP, "2606:4700::1111%eth0", wantInvalid},
	{"unspecified IPv4", TypeIP, "0.0.0.0", wantInvalid},
	{"unspecified IPv6", TypeIP, "::", wantJunk}, // one character repeated
	{"multicast", TypeIP, "224.0.0.1", wantInvalid},
	{"IPv6 unique local", TypeIP, "fd12:3456::1", wantInvalid},

	// The junk list, for every type, in any case.
	{"empty", TypeCookie, "", wantJunk},
	{"only white space", TypeCookie, " \t\n", wantJunk},
	{"null", TypeCookie, "null", wantJunk},
	{"NULL", TypeDeviceID, "NULL", wantJunk},
	{"undefined", TypeCookie, "undefined", wantJunk},
	{"Undefined trimmed", TypeCookie, "  Undefined ", wantJunk},
	{"none", TypeCookie, "None", wantJunk},
	{"nil", TypeDeviceID, "nil", wantJunk},
	{"zero", TypeCookie, "0", wantJunk},
	{"minus one", TypeDeviceID, "-1", wantJunk},
	{"unknown", TypeCookie, "UNKNOWN", wantJunk},
	{"n/a", TypeCookie, "N/A", wantJunk},
	{"na", TypeDeviceID, "na", wantJunk},
	{"[object Object]", TypeCookie, "[object Object]", wantJunk},
	{"false", TypeCookie, "false", wantJunk},
	{"true", TypeCookie, "True", wantJunk},
	{"test", TypeDeviceID, "test", wantJunk},
	{"null hem", TypeHEMSHA256, "null", wantJunk},
	{"null maid", TypeMAID, "null", wantJunk},
	{"null ip", TypeIP, "null", wantJunk},
	{"one character repeated", TypeCookie, "aaaaaa", wantJunk},
	{"one character repeated in mixed case", TypeCookie, "aAaA", wantJunk},
	{"zeros", TypeDeviceID, "000000", wantJunk},
	{"dashes", TypeCookie, "------", wantJunk},
	{"one non-ASCII character repeated", TypeCookie, "ééé", wantJunk},
	{"one character repeated as lower-casing sees it (Kelvin sign)", TypeDeviceID, "k\u212aK", wantJunk},
	{"a single character", TypeCookie, "x", wantJunk},
	{"not junk: two characters", TypeCookie, "ab", "ab"},
	{"not junk: contains a junk word", TypeCookie, "nullable", "nullable"},
	{"not junk: testing", TypeDeviceID, "testing-1", "testing-1"},
}

func TestNewIdentifier(t *testing.T) {
	for _, tc := range newIdentifierCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NewIdentifier(tc.typ, tc.in)
			switch tc.want {
			case wantJunk:
				if !errors.Is(err, ErrJunk) || errors.Is(err, ErrInvalidIdentifier) {
					t.Fatalf("NewIdentifier(%s, %q) = %+v, %v; want ErrJunk alone", tc.typ, tc.in, got, err)
				}
			case wantInvalid:
				if !errors.Is(err, ErrInvalidIdentifier) || errors.Is(err, ErrJunk) {
					t.Fatalf("NewIdentifier(%s, %q) = %+v, %v; want ErrInvalidIdentifier alone", tc.typ, tc.in, got, err)
				}
			default:
				want := Identifier{Type: tc.typ, Value: tc.want}
				if err != nil || got != want {
					t.Fatalf("NewIdentifier(%s, %q) = %+v, %v; want %+v", tc.typ, tc.in, got, err, want)
				}
				// Normal forms are fixed points.
				if again, err := NewIdentifier(tc.typ, got.Value); err != nil || again != got {
					t.Errorf("NewIdentifier(%s, %q) = %+v, %v; a normal form must normalise to itself", tc.typ, got.Value, again, err)
				}
				return
			}
			if got != (Identifier{}) {
				t.Errorf("NewIdentifier returned %+v with its error; want the zero Identifier", got)
			}
		})
	}
}

func TestNewIdentifier_errorSaysWhy(t *testing.T) {
	for _, tc := range []struct {
		typ  Type
		in   string
		want string
	}{
		{TypeHEMSHA256, "abc", "hem_sha256 must be 64 hex digits"},
		{TypeHEMMD5, "abc", "hem_md5 must be 32 hex digits"},
		{TypeMAID, "abc", "maid must be a UUID"},
		{TypeIP, "10.0.0.1", "ip 10.0.0.1 is not a public address"},
		{TypeIP, "nope", "ip is not an IP address"},
		{TypeCookie, "a b", "cookie must be 1 to 256 printable characters"},
		{"email", "a@b.c", `unknown type "email"`},
		{TypeCookie, "null", `cookie "null"`},
	} {
		_, err := NewIdentifier(tc.typ, tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewIdentifier(%s, %q) error = %v; want it to contain %q", tc.typ, tc.in, err, tc.want)
		}
	}
	t.Run("a long value is clipped in the message", func(t *testing.T) {
		_, err := NewIdentifier(TypeCookie, strings.Repeat("a", 10000))
		if !errors.Is(err, ErrJunk) || len(err.Error()) > 100 {
			t.Errorf("error = %.200v (%d bytes); want ErrJunk in under 100 bytes", err, len(err.Error()))
		}
	})
}

func TestNewIdentifier_unknownType(t *testing.T) {
	for _, typ := range []Type{"", "email", "COOKIE", "hem"} {
		if _, err := NewIdentifier(typ, "abcdef"); !errors.Is(err, ErrInvalidIdentifier) {
			t.Errorf("NewIdentifier(%q, …) error = %v; want ErrInvalidIdentifier", typ, err)
		}
	}
}

func TestIdentifier_Key(t *testing.T) {
	for _, tc := range []struct {
		id   Identifier
		want string
	}{
		{Identifier{TypeCookie, "abc123"}, "cookie:abc123"},
		{Identifier{TypeIP, "2606:4700::1111"}, "ip:2606:4700::1111"},
		{Identifier{TypeHEMMD5, md5Hex}, "hem_md5:" + md5Hex},
	} {
		if got := tc.id.Key(); got != tc.want {
			t.Errorf("%+v.Key() = %q, want %q", tc.id, got, tc.want)
		}
	}
}

// Hashes and shards are part of the data layout (the index and the
// placement of shards on nodes are built on them): these values must
// never change.
var goldenHashes = []struct {
	id    Identifier
	hash  uint64
	shard int
}{
	{Identifier{TypeCookie, "abc123"}, 0x38d25f49b6c09d47, 56},
	{Identifier{TypeHEMSHA256, sha256Hex}, 0x8f9da4914a19213c, 143},
	{Identifier{TypeHEMMD5, md5Hex}, 0x8938dcea1e9ddcc8, 137},
	{Identifier{TypeIP, "8.8.8.8"}, 0xd58847f52ad04d91, 213},
	{Identifier{TypeMAID, maidUUID}, 0x81f4167c4acfc30b, 129},
	{Identifier{TypeDeviceID, "a1b2c3d4e5f60718"}, 0x6ed17aad653ae91b, 110},
	{Identifier{}, 0x787f005495551c49, 120}, // the key ":"
}

func TestIdentifier_Hash(t *testing.T) {
	for _, g := range goldenHashes {
		if got := g.id.Hash(); got != g.hash {
			t.Errorf("%+v.Hash() = %#x, want %#x", g.id, got, g.hash)
		}
	}
	t.Run("is xxhash64 of the key", func(t *testing.T) {
		for _, tc := range newIdentifierCases {
			id := Identifier{Type: tc.typ, Value: tc.in}
			if got, want := id.Hash(), xxhash.Sum64String(id.Key()); got != want {
				t.Errorf("%+v.Hash() = %#x, want xxhash64(%q) = %#x", id, got, id.Key(), want)
			}
		}
	})
	t.Run("type is part of the hash", func(t *testing.T) {
		a, b := Identifier{TypeCookie, "abc123"}, Identifier{TypeDeviceID, "abc123"}
		if a.Hash() == b.Hash() {
			t.Errorf("cookie and device_id of the same value hash alike: %#x", a.Hash())
		}
	})
}

func TestIdentifier_Shard(t *testing.T) {
	t.Run("golden values", func(t *testing.T) {
		for _, g := range goldenHashes {
			if got := g.id.Shard(); got != g.shard {
				t.Errorf("%+v.Shard() = %d, want %d", g.id, got, g.shard)
			}
		}
	})
	t.Run("is the top byte of the hash, within range, and stable", func(t *testing.T) {
		var seen [NumShards]int
		const n = 100_000
		for i := range n {
			id := Identifier{TypeCookie, fmt.Sprintf("c%d", i)}
			s := id.Shard()
			if s < 0 || s >= NumShards {
				t.Fatalf("%+v.Shard() = %d, out of [0, %d)", id, s, NumShards)
			}
			if s != int(id.Hash()>>56) || s != id.Shard() {
				t.Fatalf("%+v.Shard() = %d, not the top byte of %#x or not stable", id, s, id.Hash())
			}
			seen[s]++
		}
		// Spread: every shard gets a fair part (n/256 ≈ 390 each).
		for s, c := range seen {
			if c < n/NumShards/2 || c > n/NumShards*2 {
				t.Errorf("shard %d got %d of %d identifiers; want about %d", s, c, n, n/NumShards)
			}
		}
	})
}

func BenchmarkIdentifier_Hash(b *testing.B) {
	id := Identifier{TypeHEMSHA256, sha256Hex}
	b.ReportAllocs()
	var sink uint64
	for b.Loop() {
		sink += id.Hash()
	}
	_ = sink
}
