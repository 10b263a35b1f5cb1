package node_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/firehook/firehook/node"
)

// A client that sends its headers or its body too slowly (slowloris) is
// cut off by the listener after the configured bound, and nothing it sent
// is stored; meanwhile other clients are served.
func TestListeners_CutOffSlowClients(t *testing.T) {
	n := startNode(t, func(c *node.Config) {
		c.Timeouts = node.Timeouts{ReadHeader: 300 * time.Millisecond, IngestRead: 600 * time.Millisecond}
	})
	// closedWithin sends first on a new connection to addr, then nothing,
	// and reports how long until the server closed the connection (at
	// most 5 s: failing the test).
	closedWithin := func(addr, first string) time.Duration {
		t.Helper()
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		if _, err := io.WriteString(conn, first); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(start.Add(5 * time.Second))
		_, err = io.ReadAll(conn) // until the server closes (a 408 may come first)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("the server kept a stalled connection open for 5 s (sent %q)", first)
		}
		return time.Since(start)
	}
	for _, addr := range []string{n.IngestAddr(), n.AdminAddr()} {
		if d := closedWithin(addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n"); d > 2*time.Second {
			t.Errorf("%s: headers never finished: closed after %s; want about 300 ms", addr, d)
		}
	}
	before := n.Store().Events.LastSeq()
	body := "POST /v1/collect HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"site\":"
	if d := closedWithin(n.IngestAddr(), body); d > 2*time.Second {
		t.Errorf("a body that never finished: closed after %s; want about 600 ms", d)
	}
	if got := n.Store().Events.LastSeq(); got != before {
		t.Errorf("the stalled request stored events (%d → %d)", before, got)
	}

	// Other clients are served while connections stall.
	for range 20 {
		conn, err := net.Dial("tcp", n.IngestAddr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_, _ = io.WriteString(conn, "GET /healthz HTTP/1.1\r\n")
	}
	resp, err := http.Get("http://" + n.IngestAddr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz beside 20 stalled connections: %d", resp.StatusCode)
	}
}
