package ingest

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/firehook/firehook"
)

// limiters holds one token bucket per site, sized by the site's
// rate_limit_per_s (burst: two seconds' worth). A changed limit replaces
// the bucket on the next request.
type limiters struct {
	mu sync.Mutex // guards m
	m  map[string]*siteLimiter
}

type siteLimiter struct {
	perS int
	lim  *rate.Limiter
}

// allow takes one token for site at now; when the bucket is empty it
// returns false and how long until a token is there.
func (l *limiters) allow(site *firehook.Site, now time.Time) (bool, time.Duration) {
	if site.RateLimitPerS <= 0 {
		return true, 0
	}
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*siteLimiter{}
	}
	sl := l.m[site.ID]
	if sl == nil || sl.perS != site.RateLimitPerS {
		sl = &siteLimiter{perS: site.RateLimitPerS, lim: rate.NewLimiter(rate.Limit(site.RateLimitPerS), 2*site.RateLimitPerS)}
		l.m[site.ID] = sl
	}
	l.mu.Unlock()
	if sl.lim.AllowN(now, 1) {
		return true, 0
	}
	r := sl.lim.ReserveN(now, 1)
	wait := r.DelayFrom(now)
	r.CancelAt(now)
	return false, wait
}

// retryAfter is the Retry-After value in whole seconds (at least 1).
func retryAfter(wait time.Duration) int {
	return max(1, int(math.Ceil(wait.Seconds())))
}
