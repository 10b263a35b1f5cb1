package webhook_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firehook/firehook/actors/webhook"
)

// acceptor is a listener on 127.0.0.1 that records the remote address of
// every connection it accepts.
type acceptor struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex // guards peers and conns
	peers []string
	conns []net.Conn
}

func newAcceptor(tb testing.TB) *acceptor {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	a := &acceptor{ln: ln}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			a.mu.Lock()
			a.peers = append(a.peers, c.RemoteAddr().String())
			a.conns = append(a.conns, c)
			a.mu.Unlock()
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		a.wg.Wait()
		for _, c := range a.conns {
			c.Close()
		}
	})
	return a
}

func (a *acceptor) accepted() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.peers...)
}

func (a *acceptor) port() string {
	_, p, _ := net.SplitHostPort(a.ln.Addr().String())
	return p
}

// A name that resolves to loopback ("localhost") and the literal address
// are both refused: the check runs on the resolved address, at connect
// time, before any packet is sent. The proof that nothing was sent: a
// connection made afterwards is the first and only one the listener
// accepts.
func TestNewDialer_refusesLoopback(t *testing.T) {
	ln := newAcceptor(t)
	for _, tc := range []struct {
		name string
		cfg  webhook.DialerConfig
	}{
		{"default", webhook.DialerConfig{}},
		{"allow-list without loopback", webhook.DialerConfig{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}},
	} {
		for _, host := range []string{"localhost", "127.0.0.1"} {
			t.Run(tc.name+"/"+host, func(t *testing.T) {
				d := webhook.NewDialer(tc.cfg)
				c, err := d.DialContext(context.Background(), "tcp", net.JoinHostPort(host, ln.port()))
				if err == nil {
					c.Close()
					t.Fatalf("dial %s: connected; want ErrBlockedAddress", host)
				}
				if !errors.Is(err, webhook.ErrBlockedAddress) {
					t.Fatalf("dial %s: %v; want ErrBlockedAddress", host, err)
				}
				// The refusal names the address the name resolved to.
				if msg := err.Error(); !strings.Contains(msg, "connect to 127.0.0.1") && !strings.Contains(msg, "connect to ::1") {
					t.Fatalf("dial %s: %v; want the resolved address refused", host, err)
				}
			})
		}
	}
	allowed := webhook.NewDialer(webhook.DialerConfig{AllowPrivate: true})
	c, err := allowed.DialContext(context.Background(), "tcp", net.JoinHostPort("127.0.0.1", ln.port()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	eventually(t, 5*time.Second, "the allowed connection to be accepted", func() bool { return len(ln.accepted()) > 0 })
	if got := ln.accepted(); len(got) != 1 || got[0] != c.LocalAddr().String() {
		t.Fatalf("listener accepted %v; want only the allowed connection from %v", got, c.LocalAddr())
	}
}

// AllowPrivate and an allow-list that covers the resolved address let a
// name that resolves to loopback through.
func TestNewDialer_allows(t *testing.T) {
	ln := newAcceptor(t)
	for _, tc := range []struct {
		name string
		cfg  webhook.DialerConfig
	}{
		{"AllowPrivate", webhook.DialerConfig{AllowPrivate: true}},
		{"allow-list", webhook.DialerConfig{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}},
		{"allow-list of one address", webhook.DialerConfig{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := webhook.NewDialer(tc.cfg)
			c, err := d.DialContext(context.Background(), "tcp", net.JoinHostPort("localhost", ln.port()))
			if err != nil {
				t.Fatalf("dial localhost: %v", err)
			}
			c.Close()
		})
	}
}

// The hook itself, address by address, as the dialer hands them over
// after resolution.
func TestNewDialer_control(t *testing.T) {
	allow := []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("fd00:1::/32")}
	for _, tc := range []struct {
		address string
		allow   []netip.Prefix
		blocked bool
	}{
		{"93.184.216.34:443", nil, false},
		{"[2606:2800:220:1:248:1893:25c8:1946]:443", nil, false},
		{"8.8.8.8:80", nil, false},
		{"127.0.0.1:80", nil, true},
		{"127.1.2.3:80", nil, true},
		{"[::1]:80", nil, true},
		{"[::ffff:127.0.0.1]:80", nil, true}, // IPv4-mapped loopback
		{"10.0.0.1:80", nil, true},
		{"172.16.5.4:80", nil, true},
		{"192.168.1.1:80", nil, true},
		{"100.64.0.1:80", nil, true},      // CGNAT
		{"169.254.169.254:80", nil, true}, // cloud metadata
		{"[fd00:ec2::254]:80", nil, true}, // AWS metadata over IPv6
		{"[fe80::1%eth0]:80", nil, true},  // zoned link-local
		{"224.0.0.1:80", nil, true},       // multicast
		{"0.0.0.0:80", nil, true},
		{"not an address", nil, true}, // fails closed
		{"10.1.2.3:80", allow, false},
		{"[::ffff:10.1.2.3]:80", allow, false},
		{"10.2.0.1:80", allow, true},
		{"[fd00:1::5]:80", allow, false},
		{"[fe80::1%eth0]:80", []netip.Prefix{netip.MustParsePrefix("fe80::/10")}, true}, // a zone never matches
	} {
		d := webhook.NewDialer(webhook.DialerConfig{Allow: tc.allow})
		err := d.Control("tcp4", tc.address, nil)
		if got := errors.Is(err, webhook.ErrBlockedAddress); got != tc.blocked || (err != nil && !got) {
			t.Errorf("Control(%q, allow %v) = %v; want blocked %v", tc.address, tc.allow, err, tc.blocked)
		}
		if open := webhook.NewDialer(webhook.DialerConfig{AllowPrivate: true}).Control("tcp", tc.address, nil); open != nil {
			t.Errorf("AllowPrivate: Control(%q) = %v; want nil", tc.address, open)
		}
	}
}

func TestNewDialer_connectTimeout(t *testing.T) {
	if got := webhook.NewDialer(webhook.DialerConfig{}).Timeout; got != 3*time.Second {
		t.Fatalf("default Timeout = %v; want 3s", got)
	}
	if got := webhook.NewDialer(webhook.DialerConfig{ConnectTimeout: time.Second}).Timeout; got != time.Second {
		t.Fatalf("Timeout = %v; want 1s", got)
	}
}

// Through the client: a delivery to a name that resolves to loopback,
// or to the literal address, is refused with ErrBlockedAddress, the
// receiver sees nothing, and the outcome is Retry (API.md: every other
// outcome is retried); allowed, it is delivered.
func TestClient_Do_ssrf(t *testing.T) {
	srv := newReceiver(t, func(http.ResponseWriter, *http.Request) {})
	port := strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port)
	urls := []string{"http://" + net.JoinHostPort("localhost", port) + "/hook", "http://" + net.JoinHostPort("127.0.0.1", port) + "/hook"}
	for _, u := range urls {
		for _, cfg := range []webhook.DialerConfig{{}, {Allow: []netip.Prefix{netip.MustParsePrefix("192.168.0.0/16")}}} {
			res := newClient(t, webhook.ClientConfig{Dialer: cfg}).Do(context.Background(), webhook.Request{URL: u, Body: []byte(`{}`)})
			if res.StatusCode != 0 || !errors.Is(res.Err, webhook.ErrBlockedAddress) {
				t.Fatalf("Do(%s) with %+v = %+v; want ErrBlockedAddress", u, cfg, res)
			}
			if webhook.Classify(res) != webhook.Retry {
				t.Fatalf("Classify = %v; want retry", webhook.Classify(res))
			}
		}
	}
	if n := srv.requests.Load() + srv.conns.Load(); n != 0 {
		t.Fatalf("receiver saw %d requests and connections; want none", n)
	}
	for _, u := range urls {
		for _, cfg := range []webhook.DialerConfig{{AllowPrivate: true}, {Allow: loopback}} {
			res := newClient(t, webhook.ClientConfig{Dialer: cfg}).Do(context.Background(), webhook.Request{URL: u, Body: []byte(`{}`)})
			if res.Err != nil || webhook.Classify(res) != webhook.Delivered {
				t.Fatalf("Do(%s) with %+v = %+v; want delivered", u, cfg, res)
			}
		}
	}
	if n := srv.requests.Load(); n != 4 {
		t.Fatalf("receiver saw %d requests; want 4", n)
	}
}
