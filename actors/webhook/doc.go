// Package webhook is Firehook's webhook wire format: how a delivery is
// signed, how a receiver verifies it, and — as the endpoint actors grow —
// the payloads they send and the HTTP client they send them with.
//
// # Signing
//
// Deliveries follow the Standard Webhooks scheme
// (https://www.standardwebhooks.com). The signed content is
//
//	webhook-id "." webhook-timestamp "." body
//
// where webhook-id is the event id (the same on every attempt and for every
// endpoint), webhook-timestamp the unix seconds of this attempt and body the
// exact bytes sent. The signature is HMAC-SHA256 of that content keyed with
// the base64-decoded part of the endpoint's secret after "whsec_", sent in
// the webhook-signature header as "v1," + base64. During a secret rotation
// the delivery carries one signature per secret, space-separated, so a
// receiver that knows either secret accepts it.
//
// [Sign] computes the header value; [Headers] sets every delivery header of
// an attempt; [Verifier] is the receiver's side (used by
// `firehook receiver` and the tests).
//
// Sign runs for every attempt of every delivery, so it allocates only the
// string it returns: keys and hash states come from a pool.
//
// The receiver's guide, with an example in Go, is docs/webhooks.md.
package webhook
