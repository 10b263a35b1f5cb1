package endpoint

import (
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/actors/webhook"
)

// record returns d after the attempt that began at `at` and ended at now
// with res: the attempt appended to its receipt, its status and next
// attempt set. It is a pure function (the actor's goroutine and the
// request goroutines both use it on their own copies).
//
// The retry window counts from the first attempt after the delivery's
// last replay (ReplayedAt), and so does the schedule: a replay starts a
// fresh plan. 410 Gone is retried like a failure — the endpoint is
// disabled meanwhile, and re-enabling it resumes the delivery.
func record(d firehook.Delivery, res webhook.Result, out webhook.Outcome, at, now time.Time, window time.Duration, s webhook.Schedule) firehook.Delivery {
	att := firehook.Attempt{
		N:               len(d.Attempts) + 1,
		At:              at.UTC(),
		StatusCode:      res.StatusCode,
		DurationMS:      res.Duration.Milliseconds(),
		ResponseSnippet: res.Snippet,
	}
	if res.Err != nil {
		att.Error = res.Err.Error()
	}
	d.Attempts = append(d.Attempts[:len(d.Attempts):len(d.Attempts)], att)
	d.UpdatedAt = now.UTC()
	if out == webhook.Delivered {
		d.Status, d.NextAttemptAt = firehook.DeliveryDelivered, time.Time{}
		return d
	}
	first, n := epoch(d)
	s.Window = window
	next, terminal := s.NextAt(n, first, now, d.ID, res.RetryAfter)
	if terminal {
		d.Status, d.NextAttemptAt = firehook.DeliveryFailed, time.Time{}
		return d
	}
	d.Status, d.NextAttemptAt = firehook.DeliveryRetrying, next.UTC()
	return d
}

// epoch returns the time of the first attempt of d's current plan (since
// its last replay) and how many attempts the plan has had.
func epoch(d firehook.Delivery) (first time.Time, n int) {
	for _, a := range d.Attempts {
		if a.At.Before(d.ReplayedAt) {
			continue
		}
		if n == 0 {
			first = a.At
		}
		n++
	}
	return first, n
}
