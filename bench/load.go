package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/firehook/firehook/actors/webhook"
)

// openLoop runs do(i, sched) for i = 0 … n-1 on workers goroutines, each
// handed out at its scheduled time sched(i) (ns since epoch,
// non-decreasing) whatever became of the earlier ones: the timetable is
// fixed in advance, so a slow answer never delays the next send (no
// coordinated omission), and do measures its latency from sched, so a
// send that had to wait for a free worker is counted as late. It returns
// once every handed-out call returned; ctx stops the handing out.
func openLoop(ctx context.Context, epoch time.Time, n, workers int, sched func(i int) int64, do func(i int, sched int64)) {
	jobs := make(chan int, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if ctx.Err() == nil {
					do(i, sched(i))
				}
			}
		}()
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
loop:
	for i := range n {
		if d := time.Duration(sched(i)) - time.Since(epoch); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				break loop
			case <-timer.C:
			}
		}
		select {
		case jobs <- i:
		case <-ctx.Done():
			break loop
		}
	}
	close(jobs)
	wg.Wait()
}

// step is one open-loop run at one rate: its timetable, what was
// accepted, and its raw baseline.
type step struct {
	idx     int // the step's number in the run, from 0
	rate    float64
	n       int
	startNS int64   // the first send, ns since epoch
	tenant  []int32 // of each page view, drawn from the seed
	person  []int32

	ingest                 *Histogram // scheduled send → 202
	sent, accepted, errors atomic.Int64
	lastAck                atomic.Int64 // ns since epoch of the last 202
	firstErr               atomic.Pointer[string]

	mu  sync.Mutex
	ids map[string]int32 // event id → page view

	raw       []rawJob // nil: no raw baseline
	rawOK     atomic.Int64
	rawErrors atomic.Int64
}

// rawJob is one POST of the raw baseline: page view seq's webhook to
// endpoint ep.
type rawJob struct{ seq, ep int32 }

// at is the scheduled send time of page view i, ns since epoch.
func (s *step) at(i int) int64 { return s.startNS + int64(float64(i)*1e9/s.rate) }

func (s *step) fail(err error) {
	s.errors.Add(1)
	msg := err.Error()
	s.firstErr.CompareAndSwap(nil, &msg)
}

// newStep draws the page views of a step: n = rate × duration, each for a
// random tenant (site) and a random person.
func newStep(w *world, rng *rand.Rand, idx int, rate float64, d time.Duration, raw bool) *step {
	n := max(1, int(rate*d.Seconds()))
	s := &step{idx: idx, rate: rate, n: n, tenant: make([]int32, n), person: make([]int32, n),
		ingest: NewHistogram(), ids: make(map[string]int32, n)}
	for i := range n {
		s.tenant[i] = int32(rng.IntN(len(w.tenants)))
		s.person[i] = int32(rng.IntN(w.people))
	}
	if raw {
		for i := range n {
			for _, ep := range w.tenants[s.tenant[i]].healthy {
				s.raw = append(s.raw, rawJob{seq: int32(i), ep: int32(ep)})
			}
		}
	}
	return s
}

// loader sends the page views and the raw baseline's POSTs.
type loader struct {
	w     *world
	rc    *receivers
	epoch time.Time
	// collectURLs are the collect URLs of the node(s) under test: page
	// views go to them in turn (a cluster's members).
	collectURLs []string
	next        atomic.Uint64
	pixel, raw  *http.Client
	workers     int

	// expected counts the deliveries to healthy endpoints that accepted
	// page views call for (online, for the backlog).
	expected atomic.Int64

	mu          sync.Mutex
	established map[uint64]bool // (tenant, person) pairs whose visitor the node knows
}

// idleConnTimeout is how long the benchmark's clients keep a connection
// that waits for its next request. It must stay below the servers'
// ReadHeaderTimeout (10 s: the node's, node.newServer, and the
// receivers'), which is how long they keep a connection that has not
// carried a request yet (their IdleTimeout applies only after the first
// one). Such connections are common under load: the Transport dials for
// a request that finds no idle connection, and when another connection
// frees up first the request takes that one and the new connection goes
// to the idle pool unused. Had the pool kept it longer than the server,
// the server would close it silently at 10 s, and a sender taking it at
// that moment (before the Transport has seen the close) would get EOF
// for its POST, which net/http does not retry: a failed page view that
// the load generator caused, not the node. Closing it first on this
// side costs a dial now and then.
const idleConnTimeout = 5 * time.Second

func newClient(workers int, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConns:        workers,
			MaxIdleConnsPerHost: workers, // every sender keeps its connection alive
			IdleConnTimeout:     idleConnTimeout,
			DisableCompression:  true,
		},
	}
}

// close releases the clients' idle connections.
func (l *loader) close() {
	l.pixel.CloseIdleConnections()
	l.raw.CloseIdleConnections()
}

// run sends the step's page views and, at the same scheduled times, the
// raw baseline's POSTs, and returns when every request was answered.
func (l *loader) run(ctx context.Context, s *step) {
	var wg sync.WaitGroup
	if len(s.raw) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			openLoop(ctx, l.epoch, len(s.raw), l.workers,
				func(j int) int64 { return s.at(int(s.raw[j].seq)) },
				func(j int, _ int64) { l.sendRaw(ctx, s, s.raw[j]) })
		}()
	}
	openLoop(ctx, l.epoch, s.n, l.workers, s.at, func(i int, sched int64) { l.sendPixel(ctx, s, i, sched) })
	wg.Wait()
}

// sendPixel sends page view i: the visitor's email while the node has not
// accepted one of its page views for that site yet (so that it matches,
// whichever of its first page views is logged first), only its visitor
// id afterwards.
func (l *loader) sendPixel(ctx context.Context, s *step, i int, sched int64) {
	t, p := int(s.tenant[i]), int(s.person[i])
	key := uint64(t)<<32 | uint64(p)
	l.mu.Lock()
	known := l.established[key]
	l.mu.Unlock()

	body := make([]byte, 0, 400)
	body = append(body, `{"site":`...)
	body = strconv.AppendQuote(body, l.w.tenants[t].siteKey)
	body = append(body, `,"vid":`...)
	body = strconv.AppendQuote(body, l.w.visitorID(p))
	body = fmt.Appendf(body, `,"url":"https://t%d.%s.bench.example/pricing?utm_source=bench&utm_campaign=c%d","ref":"https://www.google.com/","title":"Pricing","ts":%d`,
		t, l.w.run, i%10, time.Now().UnixMilli())
	if !known {
		body = append(body, `,"email":`...)
		body = strconv.AppendQuote(body, l.w.email(p))
	}
	body = append(body, '}')

	target := l.collectURLs[(l.next.Add(1)-1)%uint64(len(l.collectURLs))]
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		s.fail(err)
		return
	}
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8") // as sendBeacon sends it
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) firehook-bench")
	s.sent.Add(1)
	resp, err := l.pixel.Do(req)
	if err != nil {
		s.fail(err)
		return
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	now := int64(time.Since(l.epoch))
	if err != nil {
		s.fail(err)
		return
	}
	if resp.StatusCode != http.StatusAccepted {
		s.fail(fmt.Errorf("collect answered %s: %.200s", resp.Status, raw))
		return
	}
	var ans struct {
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil || ans.EventID == "" {
		s.fail(fmt.Errorf("collect answered 202 %q: no event_id", raw))
		return
	}
	s.ingest.Record(time.Duration(now - sched))
	s.mu.Lock()
	s.ids[ans.EventID] = int32(i)
	s.mu.Unlock()
	if !known {
		l.mu.Lock()
		l.established[key] = true
		l.mu.Unlock()
	}
	l.expected.Add(int64(len(l.w.tenants[t].healthy)))
	s.accepted.Add(1)
	for {
		last := s.lastAck.Load()
		if now <= last || s.lastAck.CompareAndSwap(last, now) {
			break
		}
	}
}

// rawID is the webhook id of page view i's raw POSTs in step number k.
func rawID(k, i int) string { return rawPrefix + strconv.Itoa(k) + "-" + strconv.Itoa(i) }

// sendRaw posts straight to the receiver what the pipeline would deliver
// for job's page view: a payload of the same shape, signed with the
// endpoint's secret, with the headers of a delivery.
func (l *loader) sendRaw(ctx context.Context, s *step, job rawJob) {
	i, p := int(job.seq), int(s.person[job.seq])
	t := int(s.tenant[i])
	ep := &l.w.endpoints[job.ep]
	now := time.Now()
	id := rawID(s.idx, i)
	pl := webhook.Payload{ID: id, Type: webhook.TypeUpdated, CreatedAt: now.UTC(), TenantID: l.w.tenants[t].id, Sequence: uint64(i + 1),
		Data: webhook.Data{
			Person: &webhook.PersonData{ID: l.w.personID(p), FirstName: "Bench", LastName: "Person " + strconv.Itoa(p),
				JobTitle: "Engineer", LinkedInURL: "https://www.linkedin.com/in/bench-" + strconv.Itoa(p),
				BusinessEmail: l.w.email(p), Location: webhook.Location{City: "Lyon", Country: "FR"}},
			Company: &webhook.CompanyData{Name: "Company " + strconv.Itoa(p%500), Domain: l.w.companyDomain(p),
				Industry: "Software", EmployeeRange: "51-200", RevenueRange: "$10M-$50M"},
			Visit: webhook.Visit{VisitorID: l.w.visitorID(p), SessionID: "ses_" + id,
				PageURL:   fmt.Sprintf("https://t%d.%s.bench.example/pricing?utm_source=bench&utm_campaign=c%d", t, l.w.run, i%10),
				PageTitle: "Pricing", Referrer: "https://www.google.com/",
				UTM:    map[string]string{"campaign": "c" + strconv.Itoa(i%10), "source": "bench"},
				SeenAt: now.UTC(), PagesViewed: 1, VisitCount: 1},
			HEMs:  []webhook.HEM{{Type: webhook.HEMSHA256, Value: l.w.hem(p)}},
			Match: webhook.MatchData{Method: "cookie", Confidence: 1},
		}}
	body := webhook.AppendJSON(nil, &pl)
	sig, err := webhook.Sign([]string{ep.secret}, id, now, body)
	if err != nil {
		s.rawErrors.Add(1)
		return
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.rc.url+"/e/"+strconv.Itoa(int(job.ep)), bytes.NewReader(body))
	if err != nil {
		s.rawErrors.Add(1)
		return
	}
	webhook.Headers(req.Header, id, now, 1, sig, "Firehook/bench-raw")
	resp, err := l.raw.Do(req)
	if err != nil {
		s.rawErrors.Add(1)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		s.rawErrors.Add(1)
		return
	}
	s.rawOK.Add(1)
}
