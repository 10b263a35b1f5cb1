package bench

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A connection the page views' client dialled but never used must be
// given up by the client before the node closes it: the node closes a
// connection whose first request has not come within its
// ReadHeaderTimeout (10 s), silently, and a POST written to it at that
// moment fails with EOF (net/http does not retry a POST). Under load this
// made the benchmark count page views the node never saw as failed.
//
// The test makes such a connection on purpose, against a real node: the
// Transport's second dial is held until the request that asked for it
// went out on the first connection, so the second connection goes to the
// idle pool unused. Then it waits until one side closes that connection.
// The moment of the race, a sender taking the connection after the node
// closed it but before the Transport's read loop saw the close, is made
// certain by holding the close back (lateEOFConn) until the next request
// is written, as a busy scheduler does. A client that closed the
// connection first never writes to it, and its next POST is answered.
func TestNewClient_GivesUpAnUnusedConnectionBeforeTheNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node and waits up to its ReadHeaderTimeout (10 s)")
	}
	n, _, dir, err := startNode(&Config{NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Error(err)
		}
	})
	url := "http://" + n.IngestAddr() + "/v1/collect"

	hc := newClient(2, 30*time.Second)
	defer hc.CloseIdleConnections()
	conns := make(chan *lateEOFConn, 8)
	secondDial, letSecondDial := make(chan struct{}), make(chan struct{})
	var dials atomic.Int32
	var d net.Dialer
	hc.Transport.(*http.Transport).DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dials.Add(1) == 2 {
			close(secondDial)
			<-letSecondDial
		}
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		lc := newLateEOFConn(c)
		conns <- lc
		return lc, nil
	}
	// post sends a page view without a site: the node answers 400 and
	// keeps the connection. Any answer will do; only a failed round trip
	// matters.
	post := func(body io.Reader) error {
		resp, err := hc.Post(url, "text/plain", body)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	}

	// The first page view holds the first connection: its body comes when
	// the second page view waits for a connection of its own.
	bodyR, bodyW := io.Pipe()
	first, second := make(chan error, 1), make(chan error, 1)
	go func() { first <- post(bodyR) }()
	used := <-conns
	go func() { second <- post(strings.NewReader(`{}`)) }()
	<-secondDial
	if _, err := bodyW.Write([]byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	_ = bodyW.Close()
	// The first connection, free again, carries the second page view.
	for _, ch := range []chan error{first, second} {
		if err := <-ch; err != nil {
			t.Fatalf("page view: %v", err)
		}
	}
	close(letSecondDial)
	unused := <-conns
	if used.written() == 0 || unused.written() != 0 {
		t.Fatalf("bytes written: %d on the first connection, %d on the second; want some, none", used.written(), unused.written())
	}

	select {
	case <-unused.closedByPeer:
		t.Log("the node closed the unused connection first")
	case <-unused.closedHere:
	case <-time.After(time.Minute):
		t.Fatal("neither the client nor the node closed the unused connection within a minute")
	}
	if err := post(strings.NewReader(`{}`)); err != nil {
		t.Fatalf("a page view after the node's ReadHeaderTimeout: %v (the client reused a connection the node had closed)", err)
	}
}

// lateEOFConn is a client connection whose reader learns that the server
// closed it only once the client has written again: the Transport's read
// loop running late, as it does on a busy machine.
type lateEOFConn struct {
	net.Conn

	mu         sync.Mutex
	n          int64         // bytes written
	peerGone   bool          // the server's close was read and is held back
	wroteAfter chan struct{} // closed by the first Write after peerGone

	closedByPeer chan struct{} // closed when the server's close was read
	closedHere   chan struct{} // closed by Close
	closeOnce    sync.Once
}

func newLateEOFConn(c net.Conn) *lateEOFConn {
	return &lateEOFConn{Conn: c, wroteAfter: make(chan struct{}),
		closedByPeer: make(chan struct{}), closedHere: make(chan struct{})}
}

func (c *lateEOFConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if !errors.Is(err, io.EOF) {
		return n, err
	}
	c.mu.Lock()
	if !c.peerGone {
		c.peerGone = true
		close(c.closedByPeer)
	}
	c.mu.Unlock()
	select {
	case <-c.wroteAfter:
	case <-c.closedHere:
	}
	return n, err
}

func (c *lateEOFConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.mu.Lock()
	c.n += int64(n)
	if c.peerGone {
		select {
		case <-c.wroteAfter:
		default:
			close(c.wroteAfter)
		}
	}
	c.mu.Unlock()
	return n, err
}

func (c *lateEOFConn) Close() error {
	c.closeOnce.Do(func() { close(c.closedHere) })
	return c.Conn.Close()
}

// written is the number of bytes the client wrote.
func (c *lateEOFConn) written() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}
