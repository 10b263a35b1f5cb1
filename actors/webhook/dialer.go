package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/firehook/firehook/internal/netguard"
)

// Sentinel errors of the HTTP client. They live here rather than in
// errors.go, which holds the signing errors. Compare with errors.Is.
var (
	// ErrBlockedAddress: the dialer refused to connect because the
	// resolved address is loopback, private, link-local, CGNAT,
	// multicast, cloud metadata or otherwise not the public internet
	// (netguard.Blocked), and neither AllowPrivate nor Allow lets it through.
	ErrBlockedAddress = errors.New("blocked address")
	// ErrTimeout: the request did not complete within its Request.Timeout
	// (as opposed to the caller's context ending, which Result.Err
	// reports as that context's error).
	ErrTimeout = errors.New("request timed out")
)

// DefaultConnectTimeout bounds a TCP connect when DialerConfig leaves
// ConnectTimeout zero. A receiver that cannot accept a connection within
// this long is down; waiting longer only holds an in-flight slot.
const DefaultConnectTimeout = 3 * time.Second

// DialerConfig says which addresses deliveries may connect to.
type DialerConfig struct {
	// AllowPrivate lets deliveries reach every address, including
	// loopback and private networks (--allow-private-endpoints). Default
	// false: only public addresses and those in Allow.
	AllowPrivate bool
	// Allow lists prefixes that may be reached although netguard.Blocked
	// refuses them (an operator's explicit allow-list, e.g. a receiver on
	// the private network). Nil: none.
	Allow []netip.Prefix
	// ConnectTimeout bounds one TCP connect. Zero: DefaultConnectTimeout.
	ConnectTimeout time.Duration
}

// NewDialer returns a dialer whose Control hook checks every address just
// before the connect system call: after DNS resolution, for each address
// a name resolved to. A name that resolves (or re-resolves, as in DNS
// rebinding) to a blocked address is refused there, so no check made
// earlier on the URL can be bypassed by the resolver. A refusal is an
// error wrapping ErrBlockedAddress, and no packet reaches the address.
//
// The dialer is safe for concurrent use.
func NewDialer(cfg DialerConfig) *net.Dialer {
	timeout := cfg.ConnectTimeout
	if timeout <= 0 {
		timeout = DefaultConnectTimeout
	}
	allow := append([]netip.Prefix(nil), cfg.Allow...)
	return &net.Dialer{
		Timeout:   timeout,
		KeepAlive: 30 * time.Second,
		Control: func(network, address string, _ syscall.RawConn) error {
			if cfg.AllowPrivate {
				return nil
			}
			return checkAddress(address, allow)
		},
	}
}

// checkAddress refuses address ("ip:port", as the dialer passes it to
// Control) unless it is public or in allow. An address that does not
// parse is refused: the guard fails closed.
func checkAddress(address string, allow []netip.Prefix) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("check address %q: %w", address, ErrBlockedAddress)
	}
	raw := ap.Addr()
	a := raw.Unmap()
	for _, p := range allow {
		if p.Contains(a) || p.Contains(raw) { // never a zoned address
			return nil
		}
	}
	if netguard.Blocked(a) {
		return fmt.Errorf("connect to %s: %w", a, ErrBlockedAddress)
	}
	return nil
}
