package webhook

import (
	"math"
	"time"

	"github.com/cespare/xxhash/v2"
)

// Schedule says when the attempts of a delivery are due (API.md, "Webhook
// delivery"). Attempt 1 is at once; the gap after attempt i is Steps[i-1],
// then Every once the steps run out, each scaled by a jitter factor of
// 1 ± Jitter derived from the delivery's key; the delivery fails
// (terminally) once the next attempt would fall more than Window after
// attempt 1.
//
// A Schedule is a value: its methods do not modify it and are safe for
// concurrent use (do not modify Steps while it is in use).
type Schedule struct {
	// Steps are the nominal gaps after attempts 1, 2, …: Steps[0] between
	// attempts 1 and 2, and so on. A gap ≤ 0 means at once.
	Steps []time.Duration
	// Every is the nominal gap after the steps run out. Zero: no attempt
	// after the last step (the delivery fails then).
	Every time.Duration
	// Window is how long after attempt 1 attempts may happen (API.md:
	// 24 h, configurable per endpoint). Zero: no limit.
	Window time.Duration
	// Jitter is the relative spread of each gap: 0.2 means ±20 %. It is
	// clamped to [0, 1]. Zero: the nominal gaps exactly.
	Jitter float64
}

// DefaultSchedule returns the schedule of API.md: at once, 5 s, 30 s,
// 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h, then every 8 h, each ±20 %,
// for 24 h.
func DefaultSchedule() Schedule {
	return Schedule{
		Steps: []time.Duration{
			5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute,
			30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour,
		},
		Every:  8 * time.Hour,
		Window: 24 * time.Hour,
		Jitter: 0.2,
	}
}

// Next returns when attempt+1 is due after attempt (1-based) failed, for
// the delivery identified by key (its delivery id: the same on every
// attempt and replay) whose attempt 1 was at first. retryAfter is the
// Result.RetryAfter of the failed attempt (0 for none), counted from now.
//
// It is NextAt with now = time.Now(); see NextAt for the exact rules.
func (s Schedule) Next(attempt int, first time.Time, key string, retryAfter time.Duration) (at time.Time, terminal bool) {
	return s.NextAt(attempt, first, time.Now(), key, retryAfter)
}

// NextAt is Next at a given now (the moment attempt's answer arrived). It
// is a pure function of its arguments.
//
// The exact rules, with n = attempt:
//
//   - The gap after attempt i is g(i) = step(i) × (1 + Jitter × u(key, i)),
//     where step(i) is Steps[i-1] for i ≤ len(Steps) and Every after, and
//     u(key, i) in [-1, 1) is derived from the xxhash64 of key and i (the
//     derivation is part of the contract: changing it changes the times
//     customers were shown). So |g(i) − step(i)| ≤ Jitter × step(i), and
//     the same key always gives the same gaps.
//   - The scheduled time of attempt n+1 is first + g(1) + … + g(n): times
//     are counted from first, not from when attempt n really happened, so
//     the whole plan can be shown in advance (NextAt(n, first, first, key,
//     0) for n = 1, 2, … until terminal). A late attempt (a Retry-After, a
//     node that was down) does not shift the later ones: an attempt whose
//     time has passed is due at once, and at may be before now.
//   - retryAfter > 0 raises at to now + retryAfter when that is later
//     (the maximum of the schedule and Retry-After), capped at the window
//     end first + Window: a Retry-After beyond it still gets one last
//     attempt at the window end.
//   - terminal is true when the next attempt would fall after the window
//     end: the scheduled time (before Retry-After) is after first +
//     Window, or now already is (24 h have passed), or the steps ran out
//     with Every zero. A time exactly at the window end is still
//     attempted. When terminal, at is the zero time.
//   - n < 1 is taken as 0: at = first (attempt 1 is at once).
func (s Schedule) NextAt(attempt int, first, now time.Time, key string, retryAfter time.Duration) (at time.Time, terminal bool) {
	off, ok := s.offset(attempt, key)
	if !ok {
		return time.Time{}, true
	}
	scheduled := first.Add(off)
	at = scheduled
	if retryAfter > 0 {
		if ra := now.Add(retryAfter); ra.After(at) {
			at = ra
		}
	}
	if s.Window <= 0 {
		return at, false
	}
	end := first.Add(s.Window)
	if scheduled.After(end) || now.After(end) {
		return time.Time{}, true
	}
	if at.After(end) {
		at = end
	}
	return at, false
}

// offset returns g(1) + … + g(n), or false when there is no attempt n+1:
// the steps ran out with Every zero, the sum passed the window, or it
// does not fit in a time.Duration.
func (s Schedule) offset(n int, key string) (time.Duration, bool) {
	jitter := min(max(s.Jitter, 0), 1)
	var off time.Duration
	for i := 1; i <= n; i++ {
		step := s.Every
		if i <= len(s.Steps) {
			step = s.Steps[i-1]
		} else if step <= 0 {
			return 0, false
		}
		step = max(step, 0)
		g := time.Duration(float64(step) * (1 + jitter*jitterUnit(key, i)))
		if off > math.MaxInt64-g {
			return 0, false
		}
		off += g
		if s.Window > 0 && off > s.Window {
			return 0, false
		}
	}
	return off, true
}

// jitterUnit returns u(key, i) in [-1, 1): the xxhash64 of key, mixed with
// i × 2⁶⁴/φ and finished with SplitMix64's finaliser so that neighbouring
// attempts and keys give unrelated values, scaled from its top 53 bits.
func jitterUnit(key string, i int) float64 {
	x := xxhash.Sum64String(key) ^ (uint64(i) * 0x9e3779b97f4a7c15)
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x>>11)/(1<<53)*2 - 1
}
