package endpoint

import "time"

// breaker is an endpoint's circuit breaker. Closed, every ready delivery
// may be tried. After threshold consecutive failed requests it opens: one
// probe at a time, the first after `first`, each failed probe doubling the
// wait up to limit. A successful request closes it.
type breaker struct {
	threshold   int
	first       time.Duration
	limit       time.Duration
	consecutive int
	open        bool
	probing     bool
	interval    time.Duration
	probeAt     time.Time
}

func (b *breaker) success() {
	b.consecutive, b.open, b.interval = 0, false, 0
}

// failure counts a failed request; probe says whether it was the open
// breaker's probe. Requests that were in flight when the breaker opened do
// not move the next probe.
func (b *breaker) failure(now time.Time, probe bool) {
	b.consecutive++
	if !b.open && b.consecutive < b.threshold || b.open && !probe {
		return
	}
	if !b.open {
		b.open, b.interval = true, b.first
	} else {
		b.interval = min(2*b.interval, b.limit)
	}
	b.probeAt = now.Add(b.interval)
}
