package ingest

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/firehook/firehook"
)

func TestClientIP(t *testing.T) {
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	proxies := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	for _, c := range []struct {
		name    string
		remote  string
		xff     []string // one X-Forwarded-For header per entry
		trusted []netip.Prefix
		want    string
	}{
		{"the peer without proxies", "203.0.113.7:5555", nil, nil, "203.0.113.7"},
		{"X-Forwarded-For ignored without trusted proxies", "203.0.113.7:5555", []string{"198.51.100.1"}, nil, "203.0.113.7"},
		{"X-Forwarded-For ignored from an untrusted peer", "203.0.113.7:5555", []string{"198.51.100.1"}, loopback, "203.0.113.7"},
		{"a trusted peer without X-Forwarded-For", "127.0.0.1:5555", nil, loopback, "127.0.0.1"},
		{"a trusted peer's X-Forwarded-For", "127.0.0.1:5555", []string{"198.51.100.1"}, loopback, "198.51.100.1"},
		{"the rightmost untrusted hop, not a spoofed left one", "127.0.0.1:5555", []string{"6.6.6.6, 198.51.100.1"}, loopback, "198.51.100.1"},
		{"trusted hops skipped from the right", "127.0.0.1:5555", []string{"6.6.6.6, 198.51.100.1, 10.1.2.3, 10.0.0.9"}, proxies, "198.51.100.1"},
		{"several headers read as one list", "127.0.0.1:5555", []string{"6.6.6.6, 198.51.100.1", "10.0.0.9"}, proxies, "198.51.100.1"},
		{"spaces around entries", "127.0.0.1:5555", []string{"  198.51.100.1  ,   10.0.0.9 "}, proxies, "198.51.100.1"},
		{"every hop trusted: the leftmost", "127.0.0.1:5555", []string{"10.0.0.1, 10.0.0.2"}, proxies, "10.0.0.1"},
		{"a garbled entry: the last hop seen", "127.0.0.1:5555", []string{"198.51.100.1, not-an-ip, 10.0.0.9"}, proxies, "10.0.0.9"},
		{"a garbled rightmost entry: the peer", "127.0.0.1:5555", []string{"198.51.100.1, garbage"}, loopback, "127.0.0.1"},
		{"an address with a port is garbled", "127.0.0.1:5555", []string{"198.51.100.1:443"}, loopback, "127.0.0.1"},
		{"an IPv6 client behind an IPv6 proxy", "[fd00::1]:5555", []string{"2001:db8::42"}, proxies, "2001:db8::42"},
		{"an IPv4-mapped hop is unmapped", "127.0.0.1:5555", []string{"::ffff:198.51.100.1"}, loopback, "198.51.100.1"},
		{"an IPv4-mapped peer is unmapped", "[::ffff:203.0.113.7]:5555", nil, nil, "203.0.113.7"},
		{"an IPv6 peer", "[2001:db8::1]:5555", nil, nil, "2001:db8::1"},
		{"a peer without port", "203.0.113.7", nil, nil, "203.0.113.7"},
		{"a peer that is not an address", "not-an-address", nil, nil, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/v1/collect", nil)
			r.RemoteAddr = c.remote
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := clientIP(r, c.trusted); got != c.want {
				t.Errorf("clientIP(peer %s, X-Forwarded-For %q) = %q, want %q", c.remote, c.xff, got, c.want)
			}
		})
	}
}

func TestOriginAllowed(t *testing.T) {
	own := &firehook.Site{Domain: "Example.com"}
	listed := &firehook.Site{Domain: "example.com", AllowedOrigins: []string{"https://shop.example.org", "http://localhost:3000"}}
	star := &firehook.Site{Domain: "example.com", AllowedOrigins: []string{"*"}}
	noDomain := &firehook.Site{}
	for _, c := range []struct {
		name   string
		site   *firehook.Site
		origin string
		want   bool
	}{
		{"no Origin header", listed, "", true},
		{"own domain", own, "https://example.com", true},
		{"own domain over http", own, "http://example.com", true},
		{"own domain in upper case", own, "https://EXAMPLE.COM", true},
		{"own domain with a port", own, "https://example.com:8443", true},
		{"a subdomain", own, "https://www.example.com", true},
		{"a deep subdomain", own, "https://a.b.example.com", true},
		{"a domain that ends like it", own, "https://badexample.com", false},
		{"the domain as a prefix", own, "https://example.com.evil.net", false},
		{"a parent domain", &firehook.Site{Domain: "shop.example.com"}, "https://example.com", false},
		{"a non-http scheme", own, "ws://example.com", false},
		{"the opaque origin null", own, "null", false},
		{"garbage", own, "%%%", false},
		{"a site without domain refuses", noDomain, "https://example.com", false},
		{"a site without domain allows no Origin", noDomain, "", true},
		{"listed", listed, "https://shop.example.org", true},
		{"listed, other case", listed, "HTTPS://Shop.Example.org", true},
		{"listed with a port", listed, "http://localhost:3000", true},
		{"listed origin on another port", listed, "http://localhost:3001", false},
		{"listed origin over another scheme", listed, "http://shop.example.org", false},
		{"a list replaces the own-domain rule", listed, "https://example.com", false},
		{"star allows anything", star, "https://anything.test", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := originAllowed(c.site, c.origin); got != c.want {
				t.Errorf("originAllowed(domain %q, list %q, origin %q) = %v, want %v", c.site.Domain, c.site.AllowedOrigins, c.origin, got, c.want)
			}
		})
	}
}

func TestCheckURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"https://example.com", "https://example.com"},
		{"HTTPS://EXAMPLE.COM/A?B=C#D", "https://example.com/A?B=C"},
		{"http://example.com:80/", "http://example.com/"},
		{"https://example.com:443/", "https://example.com/"},
		{"https://example.com:80/", "https://example.com:80/"},
		{"http://[::1]:8080/x", "http://[::1]:8080/x"},
		{"http://[::1]:80/x", "http://[::1]/x"},
		{"https://example.com/a%20b", "https://example.com/a%20b"},
		{"https://bücher.example/", "https://b%C3%BCcher.example/"},
		// An email address in the query is redacted: only the email field is hashed.
		{"https://example.com/thanks?email=Jane.Doe%40Example.com&x=1", "https://example.com/thanks?email=redacted&x=1"},
		{"https://example.com/thanks?e=jane@example.com", "https://example.com/thanks?e=redacted"},
		{"https://example.com/?handle=@jane", "https://example.com/?handle=@jane"},
	} {
		t.Run("normalises "+c.in, func(t *testing.T) {
			u, err := checkURL("url", c.in, true)
			if err != nil {
				t.Fatalf("checkURL(%q): %v", c.in, err)
			}
			if got := u.String(); got != c.want {
				t.Errorf("checkURL(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
	for _, in := range []string{
		"/relative", "example.com/no-scheme", "//example.com/", "javascript:alert(1)", "JavaScript:alert(1)",
		"ftp://example.com/", "file:///etc/passwd", "mailto:a@example.com", "http:opaque", "https:///nohost",
		"https://:443/", "https://user:pw@example.com/", "https://user@example.com/", "https://example.com:port/",
		"https://exa mple.com/", "https://example.com/" + strings.Repeat("a", maxURLLen),
	} {
		t.Run("refuses "+in[:min(len(in), 40)], func(t *testing.T) {
			if u, err := checkURL("url", in, true); err == nil {
				t.Errorf("checkURL(%q) = %q, want an error", in, u)
			} else if err.Code != "invalid_url" {
				t.Errorf("checkURL(%q) code = %q, want invalid_url", in, err.Code)
			}
		})
	}
	t.Run("an empty optional URL is nothing", func(t *testing.T) {
		if u, err := checkURL("ref", "", false); u != nil || err != nil {
			t.Errorf("checkURL(ref, \"\") = %v, %v; want nil, nil", u, err)
		}
	})
}

func TestRetryAfter(t *testing.T) {
	for _, c := range []struct {
		wait time.Duration
		want int
	}{
		{0, 1}, {time.Millisecond, 1}, {500 * time.Millisecond, 1}, {time.Second, 1},
		{time.Second + time.Millisecond, 2}, {90 * time.Second, 90},
	} {
		if got := retryAfter(c.wait); got != c.want {
			t.Errorf("retryAfter(%v) = %d, want %d", c.wait, got, c.want)
		}
	}
}
