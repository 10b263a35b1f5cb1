package node_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/firehook/firehook/node"
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

func benchCollect(b *testing.B, clients int, noSync bool) {
	n := startNode(b, func(c *node.Config) { c.Store.EventLog.NoSync = noSync })
	key := addSite(b, n, 0)
	url := "http://" + n.IngestAddr() + "/v1/collect"
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	bodies := make([][]byte, 64)
	for i := range bodies {
		bodies[i] = fmt.Appendf(nil, `{"site":%q,"vid":"visitor-%d","url":"https://example.com/pricing?utm_source=news&utm_campaign=q%d","ref":"https://www.google.com/","title":"Pricing","ts":%d}`,
			key, i, i, time.Now().UnixMilli())
	}
	var (
		next    atomic.Int64
		failed  atomic.Int64
		mu      sync.Mutex
		all     []time.Duration
		wg      sync.WaitGroup
		before  = n.Store().Events.Stats()
		started = time.Now()
	)
	b.ResetTimer()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, b.N/clients+1)
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					break
				}
				t0 := time.Now()
				resp, err := client.Post(url, "text/plain", bytes.NewReader(bodies[i%int64(len(bodies))]))
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					failed.Add(1)
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(started)
	b.StopTimer()
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d of %d requests failed", f, b.N)
	}
	slices.Sort(all)
	after := n.Store().Events.Stats()
	commits := after.Commits - before.Commits
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(ms(pct(all, 0.50)), "p50_ms")
	b.ReportMetric(ms(pct(all, 0.99)), "p99_ms")
	b.ReportMetric(float64(after.Events-before.Events)/float64(max(commits, 1)), "events/commit")
	if !noSync && commits > 0 {
		b.ReportMetric(ms((after.SyncTime-before.SyncTime)/time.Duration(commits)), "fsync_ms")
	}
}

func pct(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
