package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/firehook/firehook/actors/webhook"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestHistogram_QuantilesWithinOnePerMilleOfExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	h := NewHistogram()
	var exact []int64 // µs
	for range 200_000 {
		// Log-uniform from 1 µs to 100 s: every bucket size is exercised.
		v := int64(math.Exp(rng.Float64() * math.Log(100e6)))
		exact = append(exact, v)
		h.Record(time.Duration(v) * time.Microsecond)
	}
	slices.Sort(exact)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
		want := exact[int(math.Ceil(q*float64(len(exact))))-1]
		got := h.Quantile(q).Microseconds()
		if got < want || float64(got-want) > float64(want)/1000+1 {
			t.Errorf("q%g: got %d µs, exact %d µs", q, got, want)
		}
	}
	s := h.Summary()
	if s.Count != int64(len(exact)) || s.MaxMS != float64(exact[len(exact)-1])/1e3 {
		t.Errorf("summary %+v; want count %d max %d µs", s, len(exact), exact[len(exact)-1])
	}
}

func TestHistogram_BucketsCoverEveryValue(t *testing.T) {
	prev := -1
	for v := int64(0); v < 1<<maxValueBits; v = v + 1 + v/3 {
		i := bucketOf(v)
		if i < prev || i >= histBuckets {
			t.Fatalf("bucketOf(%d) = %d after %d (of %d)", v, i, prev, histBuckets)
		}
		if hi := highestOf(i); hi < v || float64(hi-v) > float64(v)/1000+1 {
			t.Fatalf("value %d: bucket %d ends at %d", v, i, hi)
		}
		prev = i
	}
	if bucketOf(1<<maxValueBits-1) != histBuckets-1 {
		t.Fatalf("the largest value is not in the last bucket")
	}
}

func TestHistogram_MergeAndClamp(t *testing.T) {
	a, b := NewHistogram(), NewHistogram()
	a.Record(-time.Second) // a clock step: counted as 0
	b.Record(3 * time.Millisecond)
	b.Record(1000 * time.Hour) // beyond the range: counted as the largest value
	a.Merge(b)
	if med := a.Quantile(0.5); a.Count() != 3 || a.Quantile(0) != 0 || med < 3*time.Millisecond || med > 3003*time.Microsecond {
		t.Fatalf("merged: count %d, min %s, median %s", a.Count(), a.Quantile(0), a.Quantile(0.5))
	}
	if got := a.Quantile(1); got < 19*time.Hour {
		t.Fatalf("clamped max %s", got)
	}
	if (NewHistogram().Summary() != Latency{}) {
		t.Fatal("an empty histogram has a summary")
	}
}

func TestParseProc(t *testing.T) {
	stat := []byte("4242 (fire hook) (x)) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 12 0 100 1000000 5000 18446744073709551615")
	cpu, err := parseStatCPU(stat)
	if err != nil || cpu != 3250*time.Millisecond {
		t.Fatalf("parseStatCPU: %s, %v; want 3.25s", cpu, err)
	}
	if _, err := parseStatCPU([]byte("4242 (x) S 1 2")); err == nil {
		t.Fatal("a short stat line parsed")
	}
	status := []byte("Name:\tfirehook\nVmPeak:\t  900 kB\nVmHWM:\t  123456 kB\nVmRSS:\t 1000 kB\n")
	if kb, err := parseStatusKB(status, "VmHWM:"); err != nil || kb != 123456 {
		t.Fatalf("VmHWM: %d, %v", kb, err)
	}
	if _, err := parseStatusKB(status, "VmSwap:"); err == nil {
		t.Fatal("a missing line parsed")
	}
	s, err := readProc(0)
	if err != nil || s.PeakRSS <= 0 {
		t.Fatalf("readProc(self): %+v, %v", s, err)
	}
}

func TestEndpointKinds_SpreadsHalfBlackHolesHalfFailing(t *testing.T) {
	for _, c := range []struct {
		n              int
		pct            float64
		holes, failing int
	}{
		{1, 0, 0, 0}, {3, 0, 0, 0}, {10, 20, 1, 1}, {1000, 20, 100, 100}, {5, 100, 3, 2}, {7, 10, 1, 0}, {1000, 1, 5, 5},
	} {
		kinds := endpointKinds(c.n, c.pct)
		holes, failing := 0, 0
		for _, k := range kinds {
			switch k {
			case kindBlackHole:
				holes++
			case kindFailing:
				failing++
			}
		}
		if len(kinds) != c.n || holes != c.holes || failing != c.failing {
			t.Errorf("%d endpoints, %g %% bad: %d black holes, %d failing; want %d, %d", c.n, c.pct, holes, failing, c.holes, c.failing)
		}
	}
	// Spread: with 10 per tenant and 20 % bad, every tenant gets one of each.
	kinds := endpointKinds(100, 20)
	for tn := range 10 {
		bad := 0
		for _, k := range kinds[tn*10 : tn*10+10] {
			if k != kindHealthy {
				bad++
			}
		}
		if bad != 2 {
			t.Errorf("tenant %d has %d bad endpoints; want 2", tn, bad)
		}
	}
}

// A slow request delays no later one's scheduled time, and a request that
// waited for a free worker is measured from its schedule, not from when
// it got a worker.
func TestOpenLoop_NoCoordinatedOmission(t *testing.T) {
	epoch := time.Now()
	const n = 50
	start := int64(10 * time.Millisecond)
	sched := func(i int) int64 { return start + int64(i)*int64(time.Millisecond) }
	var mu sync.Mutex
	late := map[int]time.Duration{}
	openLoop(context.Background(), epoch, n, 1, sched, func(i int, at int64) {
		if at != sched(i) {
			t.Errorf("job %d scheduled at %d; want %d", i, at, sched(i))
		}
		if i == 0 {
			time.Sleep(30 * time.Millisecond) // one slow answer, one worker
		}
		mu.Lock()
		late[i] = time.Since(epoch) - time.Duration(at)
		mu.Unlock()
	})
	if len(late) != n {
		t.Fatalf("%d of %d jobs ran", len(late), n)
	}
	// Job 1 was due 1 ms after job 0 and had to wait ~29 ms for the worker.
	if late[1] < 20*time.Millisecond {
		t.Fatalf("job 1 measured %s late; the wait for the slow job 0 is not counted", late[1])
	}

	// Cancelled: returns without handing out the rest.
	ctx, cancel := context.WithCancel(context.Background())
	ran := 0
	openLoop(ctx, time.Now(), 1000, 2, func(i int) int64 { return int64(i) * int64(time.Millisecond) }, func(i int, _ int64) {
		mu.Lock()
		ran++
		if ran == 5 {
			cancel()
		}
		mu.Unlock()
	})
	if ran >= 100 {
		t.Fatalf("%d jobs ran after the cancel", ran)
	}
}

func TestIngestURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8080":            "http://127.0.0.1:8080/v1/collect",
		"http://127.0.0.1:8080/":           "http://127.0.0.1:8080/v1/collect",
		"https://in.example/v1/collect":    "https://in.example/v1/collect",
		"http://127.0.0.1:8080/custom/col": "http://127.0.0.1:8080/custom/col",
	} {
		if got, err := ingestURL(in); err != nil || got != want {
			t.Errorf("ingestURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "127.0.0.1:8080", "ftp://x/"} {
		if _, err := ingestURL(bad); !errors.Is(err, ErrConfig) {
			t.Errorf("ingestURL(%q): %v; want ErrConfig", bad, err)
		}
	}
}

func TestConfig_Refused(t *testing.T) {
	for name, c := range map[string]Config{
		"all bad":          {Endpoints: 2, BadEndpointsPct: 100},
		"pct above 100":    {BadEndpointsPct: 120},
		"target, no admin": {Target: "http://127.0.0.1:1"},
		"pid, no target":   {PID: 1},
		"ramp factor 1":    {Ramp: true, RampFactor: 1},
		"negative rate":    {Rate: -1},
	} {
		if _, err := Run(context.Background(), c); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v; want ErrConfig", name, err)
		}
	}
}

// An in-process run with bad endpoints: the healthy ones get everything,
// the bad ones are tried, and everything stops (goleak checks).
func TestRun_BadEndpointsInProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	var progress bytes.Buffer
	res, err := Run(context.Background(), Config{
		Endpoints: 4, EndpointsPerTenant: 2, BadEndpointsPct: 50, People: 50,
		Rate: 100, Duration: time.Second, Drain: 10 * time.Second, Senders: 8, Seed: 7,
		Progress: &progress,
	})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, &progress)
	}
	if res.Tenants != 2 || res.Healthy != 2 || res.BlackHoles != 1 || res.Failing != 1 {
		t.Fatalf("world: %+v", res)
	}
	r := res.Runs[0]
	if r.Accepted < 90 || r.Errors != 0 {
		t.Fatalf("accepted %d of %d, errors %d (%s)", r.Accepted, r.Sent, r.Errors, r.FirstError)
	}
	if d := r.Deliveries; d.Lost != 0 || d.Delivered != d.Expected || d.Expected == 0 {
		t.Fatalf("deliveries %+v", d)
	}
	if r.BadEndpoints.BlackHoleRequests == 0 || r.BadEndpoints.FailingRequests == 0 {
		t.Fatalf("the bad endpoints were not tried: %+v", r.BadEndpoints)
	}
	if r.Raw == nil || r.Raw.Delivered != r.Raw.Sent || r.Raw.Sent == 0 || r.Ratio == nil {
		t.Fatalf("raw baseline: %+v", r.Raw)
	}
	if res.BadSignatures != 0 || res.Unexpected != 0 {
		t.Fatalf("bad signatures %d, unexpected %d", res.BadSignatures, res.Unexpected)
	}
	var text bytes.Buffer
	if err := res.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"pixel → 202", "pixel → arrival", "raw POST → arrival", "pipeline / raw", "1 black hole"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text output lacks %q:\n%s", want, &text)
		}
	}
	t.Logf("\n%s", &text)
}

// A ramp steps up until a step is not sustained; cancelling stops it.
func TestRun_RampCancelled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	// Low rates, steps barely apart: every step is sustained even on a busy
	// machine, so only the cancel can end the ramp within the test.
	_, err := Run(ctx, Config{Endpoints: 1, People: 20, Rate: 10, Duration: time.Second, Senders: 4,
		Ramp: true, RampFactor: 1.1, RampP99: time.Minute, RampMaxSteps: 100})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run: %v; want the context's error", err)
	}
}

func TestWriteText_Ramp(t *testing.T) {
	yes, no := true, false
	res := &Result{Mode: "ramp", Node: "http://127.0.0.1:8080", Runs: []RunResult{
		{OfferedRate: 1000, AchievedRate: 999, Sustained: &yes, Verdict: "sustained"},
		{OfferedRate: 1250, AchievedRate: 1100, Sustained: &no, Verdict: "not sustained: accepted 1100/s < 95 % of 1250/s"},
	}, MaxSustainedRate: 999, MaxSustainedOffered: 1000}
	var b bytes.Buffer
	if err := res.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "max sustained rate: 999 page views/s") || !strings.Contains(b.String(), "not sustained") {
		t.Fatalf("ramp output:\n%s", &b)
	}
	if _, err := json.Marshal(res); err != nil {
		t.Fatal(err)
	}
}

func TestReceivers_AnswerByKindAndRecordArrivals(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	rc, err := startReceivers("127.0.0.1:0", time.Now(), []endpointKind{kindHealthy, kindBlackHole, kindFailing})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		rc.setSecret(i, secret)
	}
	hc := newClient(4, 5*time.Second)
	defer hc.CloseIdleConnections()
	post := func(c *http.Client, path, id string, sign bool) (int, error) {
		body := []byte(`{"id":"` + id + `"}`)
		req, _ := http.NewRequest(http.MethodPost, rc.url+path, bytes.NewReader(body))
		if sign {
			now := time.Now()
			sig, err := webhook.Sign([]string{secret}, id, now, body)
			if err != nil {
				t.Fatal(err)
			}
			webhook.Headers(req.Header, id, now, 1, sig, "")
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	for _, c := range []struct {
		path, id string
		sign     bool
		want     int
	}{
		{"/e/0", "evt_1", true, http.StatusNoContent},
		{"/e/0", "evt_1", true, http.StatusNoContent}, // a duplicate
		{"/e/0", "raw-0-1", true, http.StatusNoContent},
		{"/e/0", "evt_2", false, http.StatusUnauthorized},
		{"/e/2", "evt_1", true, http.StatusInternalServerError},
		{"/e/3", "evt_1", true, http.StatusNotFound},
		{"/x", "evt_1", true, http.StatusNotFound},
	} {
		if got, err := post(hc, c.path, c.id, c.sign); err != nil || got != c.want {
			t.Errorf("POST %s %s: %d, %v; want %d", c.path, c.id, got, err, c.want)
		}
	}
	if a, ok := rc.eps[0].lookup("evt_1"); !ok || a.n != 2 || a.at <= 0 {
		t.Errorf("evt_1 arrival %+v, %v; want 2 arrivals", a, ok)
	}
	if rc.pipelineFirst.Load() != 1 || rc.rawFirst.Load() != 1 || rc.badSignatures.Load() != 1 {
		t.Errorf("first arrivals: pipeline %d, raw %d; bad signatures %d", rc.pipelineFirst.Load(), rc.rawFirst.Load(), rc.badSignatures.Load())
	}
	if n := unexpected(rc, []*step{{ids: map[string]int32{"evt_9": 0}}}); n != 1 {
		t.Errorf("unexpected %d; want 1 (evt_1)", n)
	}

	// A black hole never answers; stopping the receivers lets it go.
	answered := make(chan error, 1)
	go func() {
		_, err := post(&http.Client{Transport: &http.Transport{}}, "/e/1", "evt_3", true)
		answered <- err
	}()
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-answered:
		t.Fatalf("the black hole answered: %v", err)
	default:
	}
	start := time.Now()
	if err := rc.stop(); err != nil {
		t.Fatal(err)
	}
	if err := <-answered; err == nil {
		t.Fatal("a black hole's request succeeded")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("stop took %s", d)
	}
	if rc.eps[1].requests.Load() != 1 || rc.eps[2].requests.Load() != 1 {
		t.Errorf("requests: black hole %d, failing %d", rc.eps[1].requests.Load(), rc.eps[2].requests.Load())
	}
}

func TestJudge_SustainedOnlyWhenEveryRuleHolds(t *testing.T) {
	w := &world{tenants: []benchTenant{{healthy: []int{0, 1}}, {healthy: []int{2}}}} // 1.5 healthy endpoints a page view
	cfg := &Config{RampP99: 100 * time.Millisecond}
	good := RunResult{OfferedRate: 1000, DurationS: 10, Sent: 10000, Accepted: 10000, AchievedRate: 999,
		Ingest: Latency{P99MS: 20}, BacklogAtEnd: 30,
		Deliveries: Deliveries{Expected: 15000, Delivered: 15000, RatePerS: 1495}}
	for name, c := range map[string]struct {
		edit func(*RunResult)
		want string // in the verdict; "" for sustained
	}{
		"good":          {func(*RunResult) {}, ""},
		"accepted 90 %": {func(r *RunResult) { r.AchievedRate = 900 }, "accepted 900/s"},
		"errors":        {func(r *RunResult) { r.Errors = 11 }, "11 of 10000 page views failed"},
		"slow 202":      {func(r *RunResult) { r.Ingest.P99MS = 150 }, "202 p99 150.0 ms"},
		"backlog":       {func(r *RunResult) { r.BacklogAtEnd = 1600 }, "delivery backlog 1600 > 1 s of deliveries (1500)"},
		"slow delivery": {func(r *RunResult) { r.Deliveries.RatePerS = 1400 }, "delivered 1400/s < 95 % of 1500/s"},
		"lost":          {func(r *RunResult) { r.Deliveries.Lost = 1 }, "1 deliveries lost"},
	} {
		rr := good
		c.edit(&rr)
		rr.judge(cfg, w)
		if got := *rr.Sustained; got != (c.want == "") || !strings.Contains(rr.Verdict, c.want) {
			t.Errorf("%s: sustained %v, verdict %q; want %q", name, got, rr.Verdict, c.want)
		}
	}
}
