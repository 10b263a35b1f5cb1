package webhook

import "errors"

// Sentinel errors of signing and verification. Compare with errors.Is;
// the functions wrap them with what exactly was wrong (never with a
// secret's value).
var (
	// ErrBadSecret: a secret is not "whsec_" + standard base64 of at
	// least MinSecretBytes bytes.
	ErrBadSecret = errors.New("malformed webhook secret")
	// ErrMissingHeaders: webhook-id, webhook-timestamp or
	// webhook-signature is absent or empty.
	ErrMissingHeaders = errors.New("missing webhook headers")
	// ErrTimestamp: webhook-timestamp is not unix seconds, or is further
	// from now than the tolerance (in either direction): a replay, or a
	// clock that is badly off.
	ErrTimestamp = errors.New("webhook timestamp not acceptable")
	// ErrNoMatch: no v1 signature of the header matches any secret: the
	// body, id or timestamp were altered, or the secret is not the
	// endpoint's.
	ErrNoMatch = errors.New("no matching webhook signature")
)
