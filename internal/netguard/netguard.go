// Package netguard decides which network addresses webhook deliveries may
// reach. Firehook POSTs to URLs its tenants choose, so without a guard a
// tenant could make the node call its own admin port, the cloud metadata
// service or the operator's private network (server-side request forgery).
//
// The admin API refuses endpoint URLs whose host is a literal private
// address (BlockedHost); the delivery dialer (actors/webhook) checks the
// resolved address at connect time, so that DNS rebinding fails too; the
// identity graph refuses such addresses as IP identifiers, since they say
// nothing of who someone is. All three use Blocked.
//
// It imports only the standard library and sits below every stage that
// uses it (http/admin, actors/webhook, identity), so that no import runs
// back up the floors.
package netguard

import (
	"net/netip"
	"strings"
)

// blockedPrefixes are the ranges that are not the public internet.
var blockedPrefixes = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",       // "this" network
		"10.0.0.0/8",      // private
		"100.64.0.0/10",   // carrier-grade NAT
		"127.0.0.0/8",     // loopback
		"169.254.0.0/16",  // link-local, cloud metadata (169.254.169.254)
		"172.16.0.0/12",   // private
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // documentation
		"192.168.0.0/16",  // private
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // documentation
		"203.0.113.0/24",  // documentation
		"224.0.0.0/4",     // multicast
		"240.0.0.0/4",     // reserved, broadcast
		"::/128",          // unspecified
		"::1/128",         // loopback
		"64:ff9b::/96",    // NAT64 (embeds IPv4 addresses)
		"64:ff9b:1::/48",  // local-use NAT64
		"100::/64",        // discard
		"2001:db8::/32",   // documentation
		"fc00::/7",        // unique local (includes fd00:ec2::254, AWS metadata)
		"fe80::/10",       // link-local
		"ff00::/8",        // multicast
		"2002::/16",       // 6to4 (embeds IPv4 addresses)
		"2001::/32",       // Teredo (embeds IPv4 addresses)
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// Blocked reports whether a is an address deliveries must not reach
// unless the operator allows private targets.
func Blocked(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() {
		return true
	}
	if a.Zone() != "" {
		// Scoped to an interface: link-local by nature (as in BlockedHost).
		// Prefix.Contains never matches a zoned address, so the check
		// below would let it through.
		return true
	}
	for _, p := range blockedPrefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// BlockedHost reports whether a URL host (without port) is a literal
// address that Blocked refuses, or a name that always means this machine
// (localhost and its subdomains). Other names are checked when dialled.
func BlockedHost(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	if i := strings.IndexByte(h, '%'); i >= 0 { // IPv6 zone: link-local by nature
		return true
	}
	a, err := netip.ParseAddr(h)
	if err != nil {
		return false
	}
	return Blocked(a)
}
