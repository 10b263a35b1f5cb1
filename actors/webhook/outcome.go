package webhook

import "net/http"

// Outcome is what an endpoint actor does after an attempt (API.md,
// "Webhook delivery").
type Outcome int

// The outcomes. The zero value is Retry: an attempt not known to be final
// is tried again.
const (
	// Retry: any answer that is not 2xx or 410 — 1xx, 3xx (redirects are
	// not followed), 4xx, 5xx — and every transport error (timeout,
	// refused, reset, TLS, blocked address). The next attempt is due at
	// Schedule.Next, which honours Result.RetryAfter.
	Retry Outcome = iota
	// Delivered: a 2xx arrived within the request's timeout. An error
	// while reading the body after it does not change that.
	Delivered
	// Gone: 410 Gone. The receiver asks never to be called again: the
	// endpoint is disabled ("410 Gone") and the delivery is not retried.
	Gone
)

// String returns the outcome's name as receipts and logs show it.
func (o Outcome) String() string {
	switch o {
	case Retry:
		return "retry"
	case Delivered:
		return "delivered"
	case Gone:
		return "gone"
	}
	return "unknown"
}

// Classify returns the outcome of r. Only the status code decides; a
// result without one (StatusCode 0: no response) is Retry.
func Classify(r Result) Outcome {
	switch {
	case r.StatusCode >= 200 && r.StatusCode <= 299:
		return Delivered
	case r.StatusCode == http.StatusGone:
		return Gone
	}
	return Retry
}
