// Package keyrate keeps one token bucket per key (a client address, say)
// in bounded memory, for the abuse limits of the HTTP listeners: ingest's
// per-IP limit and the admin API's limit on failed authentications.
//
// Buckets live in two generations. A key's bucket is found in the
// current one, or moved there from the previous one; every Window the
// previous generation is dropped and the current one becomes it. A key
// not seen for two windows is forgotten (its bucket would be full again
// by then for any rate worth limiting), so memory follows the keys of the
// last two windows, and MaxKeys bounds it under a flood of new keys (the
// generations then turn early).
package keyrate

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Config configures a Limiter.
type Config struct {
	// PerSecond is the tokens added to a key's bucket a second. Must be > 0.
	PerSecond float64
	// Burst is the size of a key's bucket. Must be ≥ 1.
	Burst int
	// Window is how long a generation lasts. Default one minute.
	Window time.Duration
	// MaxKeys is the most keys a generation holds before it turns early.
	// Default 100,000.
	MaxKeys int
}

// Limiter is a set of token buckets by key. Safe for concurrent use.
type Limiter struct {
	cfg Config

	mu        sync.Mutex
	cur, prev map[string]*rate.Limiter
	turned    time.Time // when cur began
}

// New returns a Limiter with cfg (defaults filled in).
func New(cfg Config) *Limiter {
	if cfg.Window <= 0 {
		cfg.Window = time.Minute
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = 100_000
	}
	if cfg.Burst < 1 {
		cfg.Burst = 1
	}
	return &Limiter{cfg: cfg, cur: map[string]*rate.Limiter{}, prev: map[string]*rate.Limiter{}}
}

// bucket returns key's bucket at now, under mu.
func (l *Limiter) bucket(key string, now time.Time) *rate.Limiter {
	if l.turned.IsZero() {
		l.turned = now
	}
	switch idle := now.Sub(l.turned); {
	case idle >= 2*l.cfg.Window: // no key of either generation was seen since
		l.prev, l.cur, l.turned = map[string]*rate.Limiter{}, map[string]*rate.Limiter{}, now
	case idle >= l.cfg.Window || len(l.cur) >= l.cfg.MaxKeys:
		l.prev, l.cur, l.turned = l.cur, make(map[string]*rate.Limiter, len(l.cur)), now
	}
	b := l.cur[key]
	if b == nil {
		if b = l.prev[key]; b != nil {
			delete(l.prev, key)
		} else {
			b = rate.NewLimiter(rate.Limit(l.cfg.PerSecond), l.cfg.Burst)
		}
		l.cur[key] = b
	}
	return b
}

// Allow takes a token from key's bucket at now. When the bucket is empty
// it takes nothing and returns false with the time until a token is there.
func (l *Limiter) Allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	b := l.bucket(key, now)
	l.mu.Unlock()
	if b.AllowN(now, 1) {
		return true, 0
	}
	return false, until(b, now)
}

// Empty reports whether key's bucket has no token at now, without taking
// one, and the time until it has one: a key that used its allowance
// (of failures, say) is refused before it tries again.
func (l *Limiter) Empty(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.cur[key]
	if b == nil {
		b = l.prev[key]
	}
	if b == nil || b.TokensAt(now) >= 1 {
		return false, 0
	}
	return true, until(b, now)
}

// Keys returns how many keys the limiter remembers.
func (l *Limiter) Keys() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.cur) + len(l.prev)
}

// until is how long until b has a token at now.
func until(b *rate.Limiter, now time.Time) time.Duration {
	missing := 1 - b.TokensAt(now)
	if missing <= 0 {
		return 0
	}
	return time.Duration(missing / float64(b.Limit()) * float64(time.Second))
}
