// Package endpoint is the delivery engine: one supervised actor per
// webhook endpoint, which owns that endpoint's queue of unfinished
// deliveries and sends them, signed, through the shared webhook client.
//
// The actor's mailbox is the isolation boundary: an endpoint that is slow,
// down or hostile fills only its own queue and its own in-flight slots.
// Inside the actor:
//
//   - Per-person FIFO lanes (queue.go): at most one delivery per (tenant,
//     person) in flight, in sequence order; a person whose delivery is
//     retrying holds back only that person's later deliveries.
//   - max_in_flight requests at a time and rate_limit_per_s.
//   - The retry schedule of API.md (webhook.Schedule) with the endpoint's
//     retry window, Retry-After on 429/503, 410 Gone disabling the
//     endpoint, and terminal failure when the window has passed.
//   - A circuit breaker (breaker.go): after BreakerThreshold consecutive
//     failures the endpoint is probed by one request at a time, at growing
//     intervals, until it answers 2xx.
//   - Auto-disable after the endpoint's auto_disable_after_s of nothing but
//     failures.
//   - Priority: First Match before Every Update in the lanes' ready heap
//     and in the node-wide Gate, then the tenant's tier.
//   - Batching of Every Update deliveries for endpoints that opt in
//     (batch_window_ms): one POST carrying a JSON array.
//
// Durability: every delivery is in the outbox before the actor sees it
// (Store.Dispatch, committed), and each attempt is recorded there
// (Outbox.Record, by the worker that made it) before the actor hears of
// its result and releases the lane. Neither waits for an fsync: a
// committed badger write survives a process crash, and the pipeline's
// checkpoint (or the outbox's flush, every second) syncs it; a power loss
// can forget the latest results, and those attempts are made again (at
// least once), nothing is lost, and a person's next delivery does not wait
// for a disk flush. A restarted actor (a panic, a new process) reloads
// its queue from the outbox; a request in flight when its actor stopped
// is sent again (at least once, with the same webhook-id).
//
// Memory: the actor keeps at most Config.Window deliveries in memory; when
// more arrive it stops taking them (they are in the outbox) and pages them
// in from the outbox once half the window has drained.
package endpoint
