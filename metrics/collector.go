package metrics

import (
	"github.com/dgraph-io/badger/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/firehook/firehook/actors"
	"github.com/firehook/firehook/persistence"
	"github.com/firehook/firehook/persistence/wal"
)

// levels is the collector of what is read at scrape time rather than
// counted as it happens: badger's sizes, the event log's and the outbox's
// counters, the match counters, the live actors, each endpoint's requests
// in flight and queue, the queues' depth and capacity.
type levels struct {
	m *Metrics

	lsmSize, vlogSize                               *prometheus.Desc
	logCommits, logEvents, logFsyncSeconds, logLast *prometheus.Desc
	logSegments, logBytes, logFirst, logDamage      *prometheus.Desc
	logSyncLatency                                  *prometheus.Desc
	obWrites, obFsyncs, obFsyncSeconds, obConflicts *prometheus.Desc
	matches, matchConflicts, matchLearned           *prometheus.Desc
	actorsLive, actorMailbox, actorInFlight         *prometheus.Desc
	dlvInFlight, dlvQueue, dlvQueueCapacity         *prometheus.Desc
	queueDepth, queueCapacity, gateWaiting          *prometheus.Desc
}

func newLevels(m *Metrics) *levels {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, labels, nil)
	}
	return &levels{
		m:                m,
		lsmSize:          d("badger_lsm_size_bytes", "Size of badger's LSM tree (SST files) on disk, by database (main: pipeline and configuration; graph: the identity graph).", "db"),
		vlogSize:         d("badger_vlog_size_bytes", "Size of badger's value log on disk, by database.", "db"),
		logCommits:       d("eventlog_commits_total", "Event log group commits (one fsync each)."),
		logEvents:        d("eventlog_events_total", "Events made durable in the event log."),
		logFsyncSeconds:  d("eventlog_fsync_seconds_total", "Time spent in the event log's fsyncs."),
		logLast:          d("eventlog_last_sequence", "Highest durable event log sequence."),
		logSegments:      d("eventlog_segments", "Segment files of the event log on disk."),
		logSyncLatency:   d("eventlog_fsync_duration_seconds", "Duration of the event log's fdatasyncs: what a 202 waits for."),
		logBytes:         d("eventlog_disk_bytes", "Bytes of the event log's segment files (retention removes whole segments once checkpointed and older than the retention)."),
		logFirst:         d("eventlog_first_sequence", "Lowest event log sequence still on disk (0 when empty)."),
		logDamage:        d("eventlog_damaged_stretches", "Stretches of the event log found damaged and cut out at start (the events in them are lost; see /readyz)."),
		obWrites:         d("outbox_writes_total", "Durable outbox writes (dispatch decisions, attempt records, marks)."),
		obFsyncs:         d("outbox_fsyncs_total", "Fsyncs that made the outbox writes durable (shared by concurrent writers)."),
		obFsyncSeconds:   d("outbox_fsync_seconds_total", "Time spent in the outbox's fsyncs."),
		obConflicts:      d("outbox_conflicts_total", "Outbox transactions tried again after a badger conflict."),
		matches:          d("match_total", "Match stage outcomes: hit (a person), company (only a company), miss (nothing; conflicts included), suppressed (a match dropped by a suppression list).", "result"),
		matchConflicts:   d("match_conflicts_total", "Visits whose strong identifiers named different persons (no match rather than a wrong one)."),
		matchLearned:     d("match_links_learned_total", "Visitor-id links learned or confirmed by the match stage."),
		actorsLive:       d("actors", "Live actors, by kind.", "kind"),
		actorMailbox:     d("actor_mailbox_depth", "User messages queued in the live actors' mailboxes, summed by kind.", "kind"),
		actorInFlight:    d("actor_in_flight", "Work the live actors report in flight outside their mailbox (endpoint actors: requests), by kind.", "kind"),
		dlvInFlight:      d("delivery_in_flight", "Webhook requests in flight, by tenant and endpoint.", "tenant", "endpoint"),
		dlvQueue:         d("delivery_queue_depth", "Unfinished deliveries in the endpoint actors' memory, by tenant, endpoint and state (pending: not tried yet; retrying: a failed attempt).", "tenant", "endpoint", "state"),
		dlvQueueCapacity: d("delivery_queue_capacity", "Unfinished deliveries an endpoint actor keeps in memory (its window); the rest wait in the outbox."),
		queueDepth:       d("queue_depth", "Depth of the node-wide queues: visitor_feed (events taken from the log, not yet processed), webhook_gate (request slots in use).", "queue"),
		queueCapacity:    d("queue_capacity", "Capacity the node-wide queues' depth is measured against.", "queue"),
		gateWaiting:      d("webhook_gate_waiting", "Webhook requests waiting for a node-wide request slot."),
	}
}

// Describe implements prometheus.Collector.
func (l *levels) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{l.lsmSize, l.vlogSize, l.logCommits, l.logEvents, l.logFsyncSeconds,
		l.logLast, l.logSyncLatency, l.logSegments, l.logBytes, l.logFirst, l.logDamage, l.obWrites, l.obFsyncs, l.obFsyncSeconds, l.obConflicts, l.matches, l.matchConflicts,
		l.matchLearned, l.actorsLive, l.actorMailbox, l.actorInFlight, l.dlvInFlight, l.dlvQueue,
		l.dlvQueueCapacity, l.queueDepth, l.queueCapacity, l.gateWaiting} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (l *levels) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	cfg := &l.m.cfg
	for name, db := range map[string]*badger.DB{"main": cfg.Store.DB(), "graph": cfg.Store.GraphDB()} {
		lsm, vlog := db.Size()
		gauge(l.lsmSize, float64(lsm), name)
		gauge(l.vlogSize, float64(vlog), name)
	}

	ls := cfg.Store.Events.Stats()
	counter(l.logCommits, float64(ls.Commits))
	counter(l.logEvents, float64(ls.Events))
	counter(l.logFsyncSeconds, ls.SyncTime.Seconds())
	gauge(l.logLast, float64(cfg.Store.Events.LastSeq()))
	ch <- syncHistogram(l.logSyncLatency, ls)
	gauge(l.logSegments, float64(ls.Segments))
	gauge(l.logBytes, float64(ls.DiskBytes))
	gauge(l.logFirst, float64(ls.FirstSeq))
	gauge(l.logDamage, float64(len(cfg.Store.Events.Damage())))

	os := cfg.Store.Outbox().Stats()
	counter(l.obWrites, float64(os.Writes))
	counter(l.obFsyncs, float64(os.Syncs))
	counter(l.obFsyncSeconds, os.SyncTime.Seconds())
	counter(l.obConflicts, float64(os.Conflicts))

	if cfg.Matcher != nil {
		ms := cfg.Matcher.Stats()
		counter(l.matches, float64(ms.Hits), "hit")
		counter(l.matches, float64(ms.Companies), "company")
		counter(l.matches, float64(ms.Misses), "miss")
		counter(l.matches, float64(ms.Suppressed), "suppressed")
		counter(l.matchConflicts, float64(ms.Conflicts))
		counter(l.matchLearned, float64(ms.Learned))
	}
	if cfg.System != nil {
		l.collectActors(cfg.System.Actors(""), gauge)
	}
	l.collectEndpoints(gauge)
	gauge(l.dlvQueueCapacity, float64(cfg.EndpointWindow))
	if cfg.Backlog != nil {
		gauge(l.queueDepth, float64(cfg.Backlog()), QueueVisitorFeed)
		gauge(l.queueCapacity, float64(cfg.FeedCapacity), QueueVisitorFeed)
	}
	if inUse, waiting, ok := l.m.gateUsage(); ok {
		gauge(l.queueDepth, float64(inUse), QueueWebhookGate)
		gauge(l.queueCapacity, float64(cfg.GateSlots), QueueWebhookGate)
		gauge(l.gateWaiting, float64(waiting))
	}
}

// collectActors sums the live actors by kind.
func (l *levels) collectActors(infos []actors.ActorInfo, gauge func(*prometheus.Desc, float64, ...string)) {
	type sums struct{ live, mailbox, inFlight int64 }
	byKind := map[string]*sums{}
	var kinds []string
	for _, a := range infos {
		s := byKind[a.Kind]
		if s == nil {
			s = new(sums)
			byKind[a.Kind] = s
			kinds = append(kinds, a.Kind)
		}
		s.live++
		s.mailbox += a.MailboxDepth
		s.inFlight += a.InFlight
	}
	for _, k := range kinds {
		s := byKind[k]
		gauge(l.actorsLive, float64(s.live), k)
		gauge(l.actorMailbox, float64(s.mailbox), k)
		gauge(l.actorInFlight, float64(s.inFlight), k)
	}
}

// collectEndpoints reports each configured endpoint's live figures,
// summed per label set (endpoints past the label cap share one).
func (l *levels) collectEndpoints(gauge func(*prometheus.Desc, float64, ...string)) {
	m := l.m
	if m.cfg.EndpointStats == nil {
		return
	}
	type key struct{ tenant, endpoint string }
	type sums struct{ inFlight, pending, retrying int64 }
	by := map[key]*sums{}
	var keys []key
	for _, ep := range m.cfg.Store.Config.Endpoints("") {
		k := key{m.tenants.value(ep.TenantID), m.endpoints.value(ep.ID)}
		s := by[k]
		if s == nil {
			s = new(sums)
			by[k] = s
			keys = append(keys, k)
		}
		st := m.cfg.EndpointStats(ep.ID)
		s.inFlight += st.InFlight.Load()
		s.pending += st.Pending.Load()
		s.retrying += st.Retrying.Load()
	}
	for _, k := range keys {
		s := by[k]
		gauge(l.dlvInFlight, float64(s.inFlight), k.tenant, k.endpoint)
		gauge(l.dlvQueue, float64(s.pending), k.tenant, k.endpoint, "pending")
		gauge(l.dlvQueue, float64(s.retrying), k.tenant, k.endpoint, "retrying")
	}
}

// syncHistogram is the event log's fdatasync latency as a Prometheus
// histogram (cumulative buckets, in seconds).
func syncHistogram(d *prometheus.Desc, ls persistence.EventLogStats) prometheus.Metric {
	buckets := make(map[float64]uint64, len(wal.SyncBucketBounds))
	var cum uint64
	for i, bound := range wal.SyncBucketBounds {
		cum += ls.SyncBuckets[i]
		buckets[bound.Seconds()] = cum
	}
	return prometheus.MustNewConstHistogram(d, ls.Commits, ls.SyncTime.Seconds(), buckets)
}
