// Package metrics is a node's observability: the Prometheus collectors of
// every stage of the pipeline, the per-endpoint health windows, the
// stage-by-stage latency budget and the saturation of the queues between
// the stages.
//
// A node makes one Metrics (New) over its own prometheus.Registry (never
// the global one) and plugs it into the stages through their hooks:
//
//   - ingest: ingest.Config.Observer (ObserveIngest) — accepted events by
//     tenant, refusals by error code, request latency, and the
//     "ingest + store" stage (request start → 202, fsync included);
//   - pipeline: pipeline.Config.Observer (Metrics implements
//     pipeline.Observer) — the queue wait before the match (commit →
//     visitor actor), the match, and the person actor's decision +
//     payload + outbox write, with dispatch counts by type and tier;
//   - delivery: endpoint.Config.Observer (ObserveDelivery) — attempts by
//     status class, outcomes, the queue wait before dispatch (delivery
//     created → first attempt), the POST itself, pixel → 2xx end to end,
//     the per-tier budget of First Match deliveries, and each endpoint's
//     sliding health window.
//
// What is a level rather than an event — badger's sizes, the event log's
// and the outbox's counters, the match counters, the live actors, each
// endpoint's in-flight requests and queue, the queues' depth against their
// capacity — is read when Prometheus scrapes (collector.go).
//
// Health (Health), the pipeline view (Pipeline) and the Prometheus
// handler (Handler) are what the admin API serves at
// /v1/endpoints/{id}/health, /v1/pipeline and /metrics. Label cardinality
// is bounded: see Config.MaxEndpointLabels and docs/metrics.md.
package metrics
