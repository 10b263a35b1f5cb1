package bench

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// ingestURL turns a node's ingest address (http://HOST:PORT) into its
// collect URL; a URL with a path is taken as it is.
func ingestURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("target %q: want an http(s) URL such as http://127.0.0.1:8080: %w", s, ErrConfig)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/collect"
	}
	return u.String(), nil
}

// leadTime is how far in the future a step's timetable starts, so that
// its first sends are not late already.
const leadTime = 50 * time.Millisecond

// runStep sends a step's page views (and its raw baseline), waits for the
// deliveries, and measures.
func runStep(ctx context.Context, cfg *Config, l *loader, s *step, pid int, measured bool) (RunResult, error) {
	rc := l.rc
	bad0 := badRequests(rc)
	var cpu0 procSample
	if measured {
		cpu0, _ = readProc(pid)
	}
	s.startNS = int64(time.Since(l.epoch) + leadTime)
	l.run(ctx, s)
	if err := ctx.Err(); err != nil {
		return RunResult{}, fmt.Errorf("bench: %w", err)
	}
	loadEnd := int64(time.Since(l.epoch))
	backlog := l.expected.Load() - rc.pipelineFirst.Load()

	// Drain: wait until every delivery the accepted page views call for
	// has arrived, or Drain has passed. The online counters say when to
	// look; the exact count (a join) says when it is over.
	deadline := time.Now().Add(cfg.Drain)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var joined time.Time // the last exact count: a join is not free, at most 2 a second
	for {
		if l.expected.Load() <= rc.pipelineFirst.Load() && time.Since(joined) >= 500*time.Millisecond {
			if s.missing(l) == 0 {
				break
			}
			joined = time.Now()
		}
		if time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return RunResult{}, fmt.Errorf("bench: %w", ctx.Err())
		case <-tick.C:
		}
	}
	drainS := float64(int64(time.Since(l.epoch))-loadEnd) / 1e9

	rr := s.result(l)
	rr.DurationS = float64(s.at(s.n)-s.startNS) / 1e9
	rr.BacklogAtEnd = max(0, backlog)
	rr.DrainS = drainS
	bad1 := badRequests(rc)
	rr.BadEndpoints = BadCounts{BlackHoleRequests: bad1.BlackHoleRequests - bad0.BlackHoleRequests,
		FailingRequests: bad1.FailingRequests - bad0.FailingRequests}
	if measured {
		if cpu1, err := readProc(pid); err == nil {
			secs := (cpu1.CPU - cpu0.CPU).Seconds()
			wall := float64(int64(time.Since(l.epoch))-s.startNS) / 1e9
			rr.CPUSeconds, rr.CPUPercent = &secs, 100*secs/wall
		}
	}
	return rr, nil
}

// badRequests counts the requests the bad endpoints received so far.
func badRequests(rc *receivers) BadCounts {
	var b BadCounts
	for _, e := range rc.eps {
		switch e.kind {
		case kindBlackHole:
			b.BlackHoleRequests += e.requests.Load()
		case kindFailing:
			b.FailingRequests += e.requests.Load()
		}
	}
	return b
}

// missing counts the deliveries to healthy endpoints that accepted page
// views of s call for and that have not arrived.
func (s *step) missing(l *loader) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for id, seq := range s.ids {
		for _, ep := range l.w.tenants[s.tenant[seq]].healthy {
			if _, ok := l.rc.eps[ep].lookup(id); !ok {
				n++
			}
		}
	}
	return n
}

// result joins what was sent with what arrived.
func (s *step) result(l *loader) RunResult {
	rr := RunResult{OfferedRate: s.rate, Sent: s.sent.Load(), Accepted: s.accepted.Load(), Errors: s.errors.Load(),
		Ingest: s.ingest.Summary()}
	if p := s.firstErr.Load(); p != nil {
		rr.FirstError = *p
	}
	if last := s.lastAck.Load(); last > s.startNS {
		rr.AchievedRate = float64(rr.Accepted) / (float64(last-s.startNS) / 1e9)
	}

	delivery := NewHistogram()
	var lastArrival int64
	s.mu.Lock()
	for id, seq := range s.ids {
		sched := s.at(int(seq))
		for _, ep := range l.w.tenants[s.tenant[seq]].healthy {
			rr.Deliveries.Expected++
			a, ok := l.rc.eps[ep].lookup(id)
			if !ok {
				rr.Deliveries.Lost++
				continue
			}
			rr.Deliveries.Delivered++
			rr.Deliveries.Duplicates += int64(a.n - 1)
			delivery.Record(time.Duration(a.at - sched))
			lastArrival = max(lastArrival, a.at)
		}
	}
	s.mu.Unlock()
	rr.Delivery = delivery.Summary()
	if lastArrival > s.startNS {
		rr.Deliveries.RatePerS = float64(rr.Deliveries.Delivered) / (float64(lastArrival-s.startNS) / 1e9)
	}
	if s.raw == nil {
		return rr
	}

	raw := NewHistogram()
	r := &RawResult{Sent: int64(len(s.raw)), OK: s.rawOK.Load(), Errors: s.rawErrors.Load()}
	lastArrival = 0
	for _, job := range s.raw {
		a, ok := l.rc.eps[job.ep].lookup(rawID(s.idx, int(job.seq)))
		if !ok {
			r.Lost++
			continue
		}
		r.Delivered++
		r.Duplicates += int64(a.n - 1)
		raw.Record(time.Duration(a.at - s.at(int(job.seq))))
		lastArrival = max(lastArrival, a.at)
	}
	r.Arrival = raw.Summary()
	if lastArrival > s.startNS {
		r.RatePerS = float64(r.Delivered) / (float64(lastArrival-s.startNS) / 1e9)
	}
	rr.Raw = r
	rr.Ratio = &Ratio{P50: ratio(rr.Delivery.P50MS, r.Arrival.P50MS), P99: ratio(rr.Delivery.P99MS, r.Arrival.P99MS),
		Throughput: ratio(rr.Deliveries.RatePerS, r.RatePerS)}
	return rr
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// judge decides whether a ramp step was sustained. A step is sustained
// when all of these hold:
//
//   - at least 95 % of the offered rate was accepted (202);
//   - at most 0.1 % of the page views failed (not 202, or no answer);
//   - the pixel → 202 p99 is within cfg.RampP99;
//   - the delivery backlog when the last page view was answered (deliveries
//     the accepted page views call for that had not arrived yet) is at
//     most one second's worth of deliveries: a pipeline that keeps up is
//     behind by its latency, milliseconds; one that does not falls behind
//     further every second;
//   - the deliveries arrived at 95 % or more of the rate the accepted page
//     views call for (delivered, from the first scheduled send to the last
//     arrival, against expected over the step's duration): a pipeline a
//     few per cent short of the rate passes the backlog rule in a short
//     step, not this one;
//   - nothing was lost within the drain.
func (rr *RunResult) judge(cfg *Config, w *world) {
	var fanout float64 // healthy endpoints a page view reaches, on average
	for _, t := range w.tenants {
		fanout += float64(len(t.healthy))
	}
	fanout /= float64(len(w.tenants))
	var why []string
	if rr.AchievedRate < 0.95*rr.OfferedRate {
		why = append(why, fmt.Sprintf("accepted %.0f/s < 95 %% of %.0f/s", rr.AchievedRate, rr.OfferedRate))
	}
	if rr.Errors*1000 > rr.Sent {
		why = append(why, fmt.Sprintf("%d of %d page views failed", rr.Errors, rr.Sent))
	}
	if p99 := ms(cfg.RampP99); rr.Ingest.P99MS > p99 {
		why = append(why, fmt.Sprintf("202 p99 %.1f ms > %.0f ms", rr.Ingest.P99MS, p99))
	}
	if limit := rr.OfferedRate * fanout; float64(rr.BacklogAtEnd) > limit {
		why = append(why, fmt.Sprintf("delivery backlog %d > 1 s of deliveries (%.0f)", rr.BacklogAtEnd, limit))
	}
	if want := float64(rr.Deliveries.Expected) / rr.DurationS; rr.Deliveries.RatePerS < 0.95*want {
		why = append(why, fmt.Sprintf("delivered %.0f/s < 95 %% of %.0f/s", rr.Deliveries.RatePerS, want))
	}
	if rr.Deliveries.Lost > 0 {
		why = append(why, fmt.Sprintf("%d deliveries lost", rr.Deliveries.Lost))
	}
	ok := len(why) == 0
	rr.Sustained = &ok
	rr.Verdict = "sustained"
	if !ok {
		rr.Verdict = "not sustained: " + strings.Join(why, "; ")
	}
}

func verdictSuffix(rr RunResult) string {
	if rr.Verdict == "" {
		return ""
	}
	return ": " + rr.Verdict
}

// unexpected counts the pipeline's webhook ids that reached an endpoint
// without being the event id of a page view the benchmark saw accepted: a
// page view the node stored but whose 202 never reached the sender.
func unexpected(rc *receivers, steps []*step) int64 {
	known := func(id string) bool {
		for _, s := range steps {
			s.mu.Lock()
			_, ok := s.ids[id]
			s.mu.Unlock()
			if ok {
				return true
			}
		}
		return false
	}
	var n int64
	for _, e := range rc.eps {
		e.mu.Lock()
		ids := make([]string, 0, len(e.got))
		for id := range e.got {
			if !strings.HasPrefix(id, rawPrefix) {
				ids = append(ids, id)
			}
		}
		e.mu.Unlock()
		for _, id := range ids {
			if !known(id) {
				n++
			}
		}
	}
	return n
}
