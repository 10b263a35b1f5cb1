package node_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/firehook/firehook/node"
	"github.com/firehook/firehook/persistence"
)

// BenchmarkIngest_Collect measures POST /v1/collect end to end over real
// loopback HTTP against a real node: events/s and latency percentiles at 1,
// 16 and 128 concurrent keep-alive clients, with the event log's fsync'd
// group commit, and without fsync for comparison.
//
//	go test -run '^$' -bench Ingest_Collect -benchtime 20000x ./node/
func BenchmarkIngest_Collect(b *testing.B) {
	for _, sync := range []bool{true, false} {
		for _, clients := range []int{1, 16, 128} {
			name := fmt.Sprintf("fsync=%v/clients=%d", sync, clients)
			b.Run(name, func(b *testing.B) { benchCollect(b, clients, !sync) })
		}
	}
}

// BenchmarkIngest_OpenLoop offers a fixed rate of page views over 128
// keep-alive connections, as browsers do (they do not wait for each
// other), and measures each request's latency from the moment it was
// scheduled to be sent, so a slow answer that delays the next send is
// counted (no coordinated omission). A closed loop of 128 clients cannot
// show a low p99: by Little's law its mean latency is 128 / throughput.
//
//	go test -run '^$' -bench Ingest_OpenLoop -benchtime 100000x ./node/
func BenchmarkIngest_OpenLoop(b *testing.B) {
	for _, rate := range []int{5000, 10000, 20000} {
		for _, sync := range []bool{true, false} {
			b.Run(fmt.Sprintf("fsync=%v/conns=128/rate=%d", sync, rate), func(b *testing.B) { benchOpenLoop(b, 128, rate, !sync) })
		}
	}
}

func benchOpenLoop(b *testing.B, conns, rate int, noSync bool) {
	n, reqs, cs := benchSetup(b, conns, noSync)
	per := time.Duration(float64(time.Second) * float64(conns) / float64(rate)) // each connection's interval
	// start is set by drive before the clients run.
	var start time.Time
	drive(b, n, cs, noSync, func(ci int, c *rawConn, lat []time.Duration) ([]time.Duration, bool) {
		count := b.N / conns
		if ci < b.N%conns {
			count++
		}
		offset := per * time.Duration(ci) / time.Duration(conns) // spread the connections
		for i := range count {
			sched := start.Add(offset + per*time.Duration(i))
			if d := time.Until(sched); d > 0 {
				time.Sleep(d)
			}
			status, err := c.roundTrip(reqs[(ci+i)%len(reqs)])
			if err != nil || status != http.StatusAccepted {
				return lat, false
			}
			lat = append(lat, time.Since(sched))
		}
		return lat, true
	}, &start)
}

// benchSetup starts a node with a site and opens conns raw connections to
// its ingest listener; reqs are ready-made page-view requests.
func benchSetup(b *testing.B, conns int, noSync bool) (*node.Node, [][]byte, []*rawConn) {
	b.Helper()
	n := startNode(b, func(c *node.Config) {
		c.Store = persistence.DefaultConfig("") // a production-sized store, not the tests' small one
		c.Store.Log = nil                       // the node's (silent) logger
		c.Store.EventLog.NoSync = noSync
	})
	key := addSite(b, n, 0)
	// Requests are written by hand over keep-alive connections (as wrk
	// does) so that the load generator's own cost, which shares the two
	// cores with the node, stays small next to the node's.
	reqs := make([][]byte, 64)
	for i := range reqs {
		body := fmt.Sprintf(`{"site":%q,"vid":"visitor-%d","url":"https://example.com/pricing?utm_source=news&utm_campaign=q%d","ref":"https://www.google.com/","title":"Pricing","ts":%d}`,
			key, i, i, time.Now().UnixMilli())
		reqs[i] = fmt.Appendf(nil, "POST /v1/collect HTTP/1.1\r\nHost: %s\r\nContent-Type: text/plain\r\nUser-Agent: bench\r\nContent-Length: %d\r\n\r\n%s",
			n.IngestAddr(), len(body), body)
	}
	cs := make([]*rawConn, conns)
	for i := range cs {
		c, err := dialRaw(n.IngestAddr())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		cs[i] = c
	}
	return n, reqs, cs
}

func benchCollect(b *testing.B, clients int, noSync bool) {
	n, reqs, conns := benchSetup(b, clients, noSync)
	var next atomic.Int64
	drive(b, n, conns, noSync, func(_ int, c *rawConn, lat []time.Duration) ([]time.Duration, bool) {
		for {
			i := next.Add(1)
			if i > int64(b.N) {
				return lat, true
			}
			t0 := time.Now()
			status, err := c.roundTrip(reqs[i%int64(len(reqs))])
			if err != nil || status != http.StatusAccepted {
				return lat, false
			}
			lat = append(lat, time.Since(t0))
		}
	}, nil)
}

// drive runs one client goroutine per connection (client appends its
// request latencies to lat and reports whether every request was
// accepted), then reports throughput, latency percentiles and the event
// log's fsync sharing. When start is not nil it is set to the moment the
// clients start (the open loop schedules from it).
func drive(b *testing.B, n *node.Node, conns []*rawConn, noSync bool,
	client func(ci int, c *rawConn, lat []time.Duration) ([]time.Duration, bool), start *time.Time) {
	var (
		mu     sync.Mutex
		all    []time.Duration
		failed atomic.Bool
		wg     sync.WaitGroup
		before = n.Store().Events.Stats()
	)
	b.ResetTimer()
	started := time.Now()
	if start != nil {
		*start = started
	}
	for ci, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat, ok := client(ci, c, make([]time.Duration, 0, b.N/len(conns)+1))
			if !ok {
				failed.Store(true)
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(started)
	b.StopTimer()
	if failed.Load() {
		b.Fatalf("requests failed: %d of %d accepted", len(all), b.N)
	}
	slices.Sort(all)
	after := n.Store().Events.Stats()
	commits := after.Commits - before.Commits
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(ms(pct(all, 0.50)), "p50_ms")
	b.ReportMetric(ms(pct(all, 0.99)), "p99_ms")
	b.ReportMetric(ms(pct(all, 0.999)), "p99.9_ms")
	b.ReportMetric(float64(after.Events-before.Events)/float64(max(commits, 1)), "events/commit")
	if !noSync && commits > 0 {
		b.ReportMetric(ms((after.SyncTime-before.SyncTime)/time.Duration(commits)), "fsync_ms")
	}
}

// rawConn is a minimal HTTP/1.1 keep-alive client connection: it writes a
// prepared request and reads the status line, headers and a
// Content-Length body.
type rawConn struct {
	net.Conn
	rd *bufio.Reader
}

func dialRaw(addr string) (*rawConn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &rawConn{Conn: c, rd: bufio.NewReader(c)}, nil
}

func (c *rawConn) roundTrip(req []byte) (int, error) {
	if _, err := c.Write(req); err != nil {
		return 0, err
	}
	line, err := c.rd.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 {
		return 0, fmt.Errorf("short status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, err
	}
	length := 0
	for {
		h, err := c.rd.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(h) <= 2 {
			break
		}
		if k, v, ok := bytes.Cut(h, []byte(":")); ok && strings.EqualFold(string(k), "Content-Length") {
			length, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	if _, err := c.rd.Discard(length); err != nil {
		return 0, err
	}
	return status, nil
}

func pct(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
