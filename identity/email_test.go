package identity

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/internal/testkit"
)

// invalid marks a case that NormalizeEmail must reject.
const invalid = "<invalid>"

var normalizeEmailCases = []struct {
	name string
	in   string
	want string // the normalised address, or invalid
}{
	// Trimming and case.
	{"already normal", "test@example.com", "test@example.com"},
	{"surrounding spaces and tabs trimmed", " \t test@example.com \r\n", "test@example.com"},
	{"unicode spaces trimmed", "\u00a0test@example.com\u2003", "test@example.com"},
	{"lower-cased", "Test.User@Example.COM", "test.user@example.com"},

	// Unicode local parts and domains.
	{"unicode local part lower-cased", "JÖRG@Example.de", "jörg@example.de"},
	{"cyrillic local part", "Иван@Пример.рф", "иван@пример.рф"},
	{"CJK address", "用户@例子.广告", "用户@例子.广告"},

	// Gmail: dots and +suffix are noise, googlemail.com is gmail.com.
	{"gmail dots dropped", "first.last@gmail.com", "firstlast@gmail.com"},
	{"gmail plus suffix dropped", "firstlast+news@gmail.com", "firstlast@gmail.com"},
	{"gmail dots, suffix and case", "First.Last+News.Letter@GMail.com", "firstlast@gmail.com"},
	{"gmail only the first plus counts", "a+b+c@gmail.com", "a@gmail.com"},
	{"googlemail is gmail", "f.i.r.s.t+x@googlemail.com", "first@gmail.com"},
	{"gmail local part only a suffix", "+news@gmail.com", invalid},
	{"gmail local part only dots", "...@gmail.com", invalid},
	{"gmail subdomain is not gmail", "first.last+x@mail.gmail.com", "first.last+x@mail.gmail.com"},
	{"gmail lookalike is not gmail", "first.last+x@gmail.co", "first.last+x@gmail.co"},

	// Other providers keep dots and +suffixes.
	{"other domain keeps dots", "first.last@example.com", "first.last@example.com"},
	{"other domain keeps plus suffix", "first+news@example.com", "first+news@example.com"},
	{"outlook keeps both", "First.Last+X@Outlook.com", "first.last+x@outlook.com"},

	// Not addresses.
	{"empty", "", invalid},
	{"only white space", " \t\n", invalid},
	{"missing @", "test.example.com", invalid},
	{"empty local part", "@example.com", invalid},
	{"empty domain", "test@", invalid},
	{"two @", "a@b@example.com", invalid},
	{"domain without dot", "test@localhost", invalid},
	{"domain starting with dot", "test@.example.com", invalid},
	{"domain ending with dot", "test@example.com.", invalid},
	{"space inside the local part", "te st@example.com", invalid},
	{"space inside the domain", "test@exa mple.com", invalid},
	{"tab before @", "test\t@example.com", invalid},
	{"unicode space inside", "te\u00a0st@example.com", invalid},
	{"NUL inside", "te\x00st@example.com", invalid},
	{"control character inside", "te\x1bst@example.com", invalid},
	{"invalid UTF-8", "te\xffst@example.com", invalid},

	// Length: RFC 5321 allows 254 bytes.
	{"254 bytes", strings.Repeat("a", 242) + "@example.com", strings.Repeat("a", 242) + "@example.com"},
	{"255 bytes", strings.Repeat("a", 243) + "@example.com", invalid},
	{"254 bytes after trimming", "  " + strings.Repeat("a", 242) + "@example.com  ", strings.Repeat("a", 242) + "@example.com"},
	// U+023A (2 bytes in UTF-8) lower-cases to U+2C65 (3 bytes): the
	// normalised address would be 255 bytes.
	{"too long once lower-cased", "\u023a" + strings.Repeat("a", 240) + "@example.com", invalid},
	{"very long", strings.Repeat("a", 10000) + "@example.com", invalid},
}

func TestNormalizeEmail(t *testing.T) {
	for _, tc := range normalizeEmailCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NormalizeEmail(tc.in)
			if tc.want == invalid {
				if !errors.Is(err, ErrInvalidEmail) {
					t.Fatalf("NormalizeEmail(%q) = %q, %v; want ErrInvalidEmail", tc.in, got, err)
				}
				if got != "" {
					t.Errorf("NormalizeEmail(%q) returned %q with its error; want \"\"", tc.in, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("NormalizeEmail(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			// Normal forms are fixed points.
			if again, err := NormalizeEmail(got); err != nil || again != got {
				t.Errorf("NormalizeEmail(%q) = %q, %v; a normal form must normalise to itself", got, again, err)
			}
		})
	}
}

func TestHashEmail(t *testing.T) {
	t.Run("known vector", func(t *testing.T) {
		// Digests of "test@example.com", computed with coreutils.
		want := firehook.HEMs{
			SHA256: "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b",
			SHA1:   "567159d622ffbb50b11b0efd307be358624a26ee",
			MD5:    "55502f40dc8b7c769880b10874abc9d0",
		}
		for _, in := range []string{"test@example.com", "  TEST@Example.com\n"} {
			got, err := HashEmail(in)
			if err != nil || got != want {
				t.Errorf("HashEmail(%q) = %+v, %v; want %+v", in, got, err, want)
			}
		}
	})
	t.Run("known gmail vector", func(t *testing.T) {
		// sha256 of "firstlast@gmail.com", computed with coreutils.
		const want = "ed6c35e905a6daa500da471136a733ccccf446b294e80ae03a1d5d865fe1044c"
		got, err := HashEmail("First.Last+News@GoogleMail.com")
		if err != nil || got.SHA256 != want {
			t.Errorf("HashEmail = %+v, %v; want sha256 %s", got, err, want)
		}
	})
	for _, tc := range normalizeEmailCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := HashEmail(tc.in)
			if tc.want == invalid {
				if !errors.Is(err, ErrInvalidEmail) || got != (firehook.HEMs{}) {
					t.Fatalf("HashEmail(%q) = %+v, %v; want no hashes and ErrInvalidEmail", tc.in, got, err)
				}
				return
			}
			if want := testkit.HEMs(t, tc.want); err != nil || got != want {
				t.Fatalf("HashEmail(%q) = %+v, %v; want %+v (the hashes of %q)", tc.in, got, err, want, tc.want)
			}
		})
	}
}

func TestNormalizeHex(t *testing.T) {
	const sha256Hex = "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"
	cases := []struct {
		name   string
		in     string
		n      int
		want   string
		wantOK bool
	}{
		{"lower-case sha256", sha256Hex, 32, sha256Hex, true},
		{"upper-case is lower-cased", strings.ToUpper(sha256Hex), 32, sha256Hex, true},
		{"mixed case", "973DFE463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813B", 32, sha256Hex, true},
		{"surrounding space trimmed", " " + sha256Hex + "\n", 32, sha256Hex, true},
		{"md5", "55502F40DC8B7C769880B10874ABC9D0", 16, "55502f40dc8b7c769880b10874abc9d0", true},
		{"sha1", "567159d622ffbb50b11b0efd307be358624a26ee", 20, "567159d622ffbb50b11b0efd307be358624a26ee", true},
		{"one leading zero digit is fine", "0" + sha256Hex[1:], 32, "0" + sha256Hex[1:], true},
		{"one digit short", sha256Hex[1:], 32, "", false},
		{"one digit long", sha256Hex + "a", 32, "", false},
		{"sha256 where md5 is expected", sha256Hex, 16, "", false},
		{"empty", "", 32, "", false},
		{"non-hex letter", "g" + sha256Hex[1:], 32, "", false},
		{"0x prefix", "0x" + sha256Hex[2:], 32, "", false},
		{"space inside", sha256Hex[:10] + " " + sha256Hex[11:], 32, "", false},
		{"non-ASCII", "é" + sha256Hex[2:], 32, "", false},
		{"all zero", strings.Repeat("0", 64), 32, "", false},
		{"all zero md5", strings.Repeat("0", 32), 16, "", false},
		{"zero length digest", "", 0, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := NormalizeHex(tc.in, tc.n)
			if got != tc.want || ok != tc.wantOK {
				t.Fatalf("NormalizeHex(%q, %d) = %q, %v; want %q, %v", tc.in, tc.n, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

// FuzzNormalizeEmail: NormalizeEmail never panics; what it accepts is a
// valid, bounded address in normal form (normalising it again changes
// nothing), and HashEmail hashes exactly that form.
func FuzzNormalizeEmail(f *testing.F) {
	for _, tc := range normalizeEmailCases {
		if len(tc.in) < 1000 {
			f.Add(tc.in)
		}
	}
	for _, s := range []string{"İ@example.com", "ẞ@Example.com", "K@example.com", "a.+@gmail.com", "x@@y.z", "\u0130" + strings.Repeat("a", 240) + "@example.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := NormalizeEmail(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidEmail) || got != "" {
				t.Fatalf("NormalizeEmail(%q) = %q, %v; a failure must be ErrInvalidEmail with no result", in, got, err)
			}
			return
		}
		if !utf8.ValidString(got) || len(got) > maxEmailLen || strings.Count(got, "@") != 1 {
			t.Fatalf("NormalizeEmail(%q) = %q: not a valid bounded address", in, got)
		}
		again, err := NormalizeEmail(got)
		if err != nil || again != got {
			t.Fatalf("NormalizeEmail(%q) = %q, but NormalizeEmail(%q) = %q, %v: not idempotent", in, got, got, again, err)
		}
		hems, err := HashEmail(in)
		if err != nil || hems != testkit.HEMs(t, got) {
			t.Fatalf("HashEmail(%q) = %+v, %v; want the hashes of %q", in, hems, err, got)
		}
	})
}
