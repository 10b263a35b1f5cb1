package netguard

import (
	"net/netip"
	"testing"
)

var addrCases = []struct {
	name    string
	addr    string
	blocked bool
}{
	// Loopback.
	{"IPv4 loopback", "127.0.0.1", true},
	{"IPv4 loopback range end", "127.255.255.254", true},
	{"IPv6 loopback", "::1", true},
	{"IPv4-mapped loopback", "::ffff:127.0.0.1", true},
	{"IPv4-mapped loopback in hex", "::ffff:7f00:1", true},
	{"unspecified IPv4", "0.0.0.0", true},
	{"unspecified IPv6", "::", true},

	// Private IPv4, with the edges of 172.16.0.0/12.
	{"10/8 start", "10.0.0.0", true},
	{"10/8 inside", "10.1.2.3", true},
	{"10/8 end", "10.255.255.255", true},
	{"just below 10/8", "9.255.255.255", false},
	{"just above 10/8", "11.0.0.0", false},
	{"below 172.16/12", "172.15.255.255", false},
	{"172.16/12 start", "172.16.0.0", true},
	{"172.16/12 inside", "172.20.10.5", true},
	{"172.16/12 end", "172.31.255.255", true},
	{"above 172.16/12", "172.32.0.0", false},
	{"192.168/16 start", "192.168.0.0", true},
	{"192.168/16 home router", "192.168.1.1", true},
	{"192.168/16 end", "192.168.255.255", true},
	{"just above 192.168/16", "192.169.0.0", false},
	{"IPv4-mapped private", "::ffff:10.0.0.1", true},

	// Link-local and cloud metadata.
	{"cloud metadata", "169.254.169.254", true},
	{"IPv4 link-local", "169.254.0.1", true},
	{"IPv6 link-local", "fe80::1", true},
	{"IPv6 link-local with zone", "fe80::1%eth0", true},
	{"IPv6 loopback with zone", "::1%lo", true},
	{"any address with a zone", "2606:4700::1111%eth0", true},
	{"AWS IPv6 metadata (unique local)", "fd00:ec2::254", true},

	// Carrier-grade NAT, 100.64.0.0/10.
	{"below CGNAT", "100.63.255.255", false},
	{"CGNAT start", "100.64.0.0", true},
	{"CGNAT end", "100.127.255.255", true},
	{"above CGNAT", "100.128.0.0", false},

	// Multicast and reserved.
	{"IPv4 multicast", "224.0.0.1", true},
	{"IPv4 multicast end", "239.255.255.255", true},
	{"IPv4 broadcast", "255.255.255.255", true},
	{"IPv6 multicast", "ff02::1", true},

	// Unique local fc00::/7 covers fc00:: to fdff::.
	{"unique local fc00::", "fc00::1", true},
	{"unique local fd..", "fd12:3456:789a::1", true},
	{"just above fc00::/7", "fe00::1", false},
	{"just below fc00::/7", "fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false},

	// IPv6 forms that embed IPv4 addresses.
	{"NAT64 of loopback", "64:ff9b::7f00:1", true},
	{"6to4", "2002:7f00:1::1", true},
	{"Teredo", "2001:0:4136:e378::1", true},

	// Documentation ranges.
	{"IPv4 documentation", "192.0.2.1", true},
	{"IPv6 documentation", "2001:db8::1", true},

	// The public internet.
	{"Google DNS", "8.8.8.8", false},
	{"Cloudflare DNS", "1.1.1.1", false},
	{"Cloudflare DNS over IPv6", "2606:4700::1111", false},
	{"Google DNS over IPv6", "2001:4860:4860::8888", false},
	{"IPv4-mapped public", "::ffff:8.8.8.8", false},
}

func TestBlocked(t *testing.T) {
	for _, tc := range addrCases {
		t.Run(tc.name, func(t *testing.T) {
			a := netip.MustParseAddr(tc.addr)
			if got := Blocked(a); got != tc.blocked {
				t.Fatalf("Blocked(%s) = %v, want %v", tc.addr, got, tc.blocked)
			}
		})
	}
	t.Run("zero Addr", func(t *testing.T) {
		if !Blocked(netip.Addr{}) {
			t.Fatal("Blocked(netip.Addr{}) = false; an invalid address must be refused")
		}
	})
}

func TestBlockedHost(t *testing.T) {
	// Every literal address is judged as Blocked judges it, bare or in
	// URL brackets.
	for _, tc := range addrCases {
		t.Run(tc.name, func(t *testing.T) {
			hosts := []string{tc.addr}
			if netip.MustParseAddr(tc.addr).Is6() {
				hosts = append(hosts, "["+tc.addr+"]")
			}
			for _, h := range hosts {
				if got := BlockedHost(h); got != tc.blocked {
					t.Errorf("BlockedHost(%q) = %v, want %v", h, got, tc.blocked)
				}
			}
		})
	}

	cases := []struct {
		name    string
		host    string
		blocked bool
	}{
		{"localhost", "localhost", true},
		{"localhost upper-case", "LocalHost", true},
		{"localhost with trailing dot", "localhost.", true},
		{"subdomain of localhost", "foo.localhost", true},
		{"deep subdomain of localhost", "a.b.localhost.", true},
		{"IPv6 zone in URL form", "[fe80::1%25eth0]", true},
		{"any zone", "fe80::1%eth0", true},
		{"public name", "hooks.example.com", false},
		{"public name upper-case", "Hooks.Example.COM", false},
		{"name merely containing localhost", "localhost.example.com", false},
		{"name ending in localhost without a dot", "notlocalhost", false},
		// Names are resolved and checked when dialled, so that DNS
		// rebinding fails too; a name that resolves to 127.0.0.1 is not
		// refused here.
		{"name of a loopback address", "localtest.me", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := BlockedHost(tc.host); got != tc.blocked {
				t.Fatalf("BlockedHost(%q) = %v, want %v", tc.host, got, tc.blocked)
			}
		})
	}
}
