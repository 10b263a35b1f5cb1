package node_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/internal/testkit"
	"github.com/firehook/firehook/node"
	"github.com/firehook/firehook/persistence"
)

// BenchmarkNode_ColdStartReplay starts a node whose event log holds
// FIREHOOK_BENCH_EVENTS events (default 100,000) after its checkpoint —
// a node SIGKILLed while its pipeline was that far behind — and measures
// the time to ready (node.Start returns: the log opened and verified, the
// endpoint actors started, every event after the mark routed to its
// visitor actor) and the replay rate (events until the checkpoint mark
// passes the last one; each is matched, decided and delivered to one
// endpoint). It does its work once whatever b.N is:
//
//	FIREHOOK_BENCH_EVENTS=1000000 go test -run '^$' -bench ColdStartReplay -benchtime 1x ./node/
func BenchmarkNode_ColdStartReplay(b *testing.B) {
	events := 100_000
	if v, err := strconv.Atoi(os.Getenv("FIREHOOK_BENCH_EVENTS")); err == nil && v > 0 {
		events = v
	}
	const people = 10_000
	dir := b.TempDir()
	var delivered atomic.Int64
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		delivered.Add(1)
	}))
	defer rcv.Close()
	cfg := node.Config{DataDir: dir, Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0", AdminToken: "op",
		AllowPrivateEndpoints: true, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}

	// A node with a tenant, a site, an endpoint and the people.
	n, err := node.Start(cfg)
	if err != nil {
		b.Fatal(err)
	}
	tenant := testkit.CreateTenant(b, n.Store().Config, "acme")
	site := testkit.CreateSite(b, n.Store().Config, tenant.ID, nil)
	testkit.CreateEndpoint(b, n.Store().Config, tenant.ID, rcv.URL, func(e *firehook.Endpoint) { e.MaxInFlight = 64 })
	hems := make([]firehook.HEMs, people)
	recs := make([]identity.Record, 0, people)
	for i := range people {
		email := fmt.Sprintf("person%05d@engines.example", i)
		hems[i] = testkit.HEMs(b, email)
		recs = append(recs, identity.Record{PersonID: fmt.Sprintf("p_%05d", i),
			Identifiers: []identity.Identifier{{Type: identity.TypeHEMSHA256, Value: hems[i].SHA256}},
			Person:      identity.Person{FirstName: "Ada", LastName: strconv.Itoa(i), BusinessEmail: email},
			Company:     identity.Company{Name: "Analytical Engines", Domain: "engines.example"}})
	}
	if err := n.Graph().Upsert(recs); err != nil {
		b.Fatal(err)
	}
	if err := n.Shutdown(context.Background()); err != nil {
		b.Fatal(err)
	}

	// The events, appended to the log with no pipeline running.
	sc := persistence.DefaultConfig(dir)
	sc.Log = cfg.Log
	st, err := persistence.Open(sc)
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	const appenders = 64
	received := time.Now().UTC()
	for w := range appenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < events; i += appenders {
				p := i % people
				ev := &firehook.Event{ID: firehook.NewID(firehook.PrefixEvent), TenantID: tenant.ID, SiteID: site.ID,
					VisitorID: fmt.Sprintf("vid-%05d", p), URL: fmt.Sprintf("https://engines.example/page/%d", i),
					Title: "Cold start", ClientTS: received, ReceivedAt: received, IP: "203.0.113.9",
					UserAgent: "Mozilla/5.0 (X11; Linux x86_64)", HEMs: firehook.HEMs{SHA256: hems[p].SHA256}}
				if err := st.Events.Append(context.Background(), ev); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	last := st.Events.LastSeq()
	logBytes := st.Events.Stats().DiskBytes
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}

	b.ResetTimer()
	start := time.Now()
	n, err = node.Start(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ready := time.Since(start)
	for {
		if mark, _ := n.Pipeline().Mark(); mark >= last {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	replayed := time.Since(start)
	for delivered.Load() < int64(events) {
		time.Sleep(10 * time.Millisecond)
	}
	all := time.Since(start)
	b.StopTimer()
	if err := n.Shutdown(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(events), "events")
	b.ReportMetric(float64(logBytes)/(1<<20), "log-MiB")
	b.ReportMetric(ready.Seconds(), "s-to-ready")
	b.ReportMetric(float64(events)/replayed.Seconds(), "replayed-events/s")
	b.ReportMetric(float64(events)/all.Seconds(), "delivered/s")
}
