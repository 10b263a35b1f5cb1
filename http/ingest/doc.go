// Package ingest is the first stage of the pipeline: the public listener
// that serves the pixel script and accepts page views.
//
// A page view is validated and normalised (URL, referrer, UTM parameters,
// client IP, User-Agent; an email is hashed on arrival and its clear text
// dropped), checked against its site's CORS origins and rate limit, and
// appended to the node's event log. The answer 202 {"event_id"} is sent
// only once the event is on disk. A browser that signals an opt-out
// (Sec-GPC: 1 or DNT: 1) gets 204 and nothing is stored.
package ingest
