// Package node wires one Firehook node together: the store, the ingest
// listener, the admin listener, and their orderly start and stop. The
// binary's serve and demo commands and the end-to-end tests start nodes
// through it.
package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/actors"
	"github.com/firehook/firehook/actors/endpoint"
	"github.com/firehook/firehook/actors/pipeline"
	"github.com/firehook/firehook/actors/webhook"
	"github.com/firehook/firehook/docs"
	"github.com/firehook/firehook/http/admin"
	"github.com/firehook/firehook/http/dashboard"
	"github.com/firehook/firehook/http/ingest"
	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/mcp"
	"github.com/firehook/firehook/metrics"
	"github.com/firehook/firehook/persistence"
)

// Config configures a node. Zero values mean the defaults of DefaultConfig.
type Config struct {
	// DataDir holds the badger database. Default ./firehook-data.
	DataDir string
	// Listen is the public ingest listener address. Default :8080.
	Listen string
	// AdminListen is the admin listener address. Default 127.0.0.1:8081:
	// the admin API is not on the public network unless the operator says so.
	AdminListen string
	// Name names the node in logs. Default: the host name.
	Name string
	// AdminToken is the operator token. Empty: a token generated at the
	// first start is used (its hash is stored in the data dir and the
	// token is printed once to Stdout).
	AdminToken string
	// AllowPrivateEndpoints lets endpoints target private addresses.
	AllowPrivateEndpoints bool
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// Timeouts bound the listeners' connections (slow and idle clients).
	// Zero fields take DefaultTimeouts' values.
	Timeouts Timeouts
	// LinkExpiryEvery is how often learned links that expired are dropped
	// from the identity index (their expiry is the store's
	// LinkRetention). Default one minute.
	LinkExpiryEvery time.Duration
	// IngestPerIPRate is the page views a second one client address may
	// send (ingest.Config.PerIPRate): 0 is ingest's default, negative no
	// limit.
	IngestPerIPRate float64
	// ShutdownTimeout bounds the graceful stop. Default 10 s.
	ShutdownTimeout time.Duration
	// Log is the node's logger. Default slog.Default().
	Log *slog.Logger
	// Stdout receives the one-time print of a generated admin token.
	// Default io.Discard.
	Stdout io.Writer
	// Store tunes the store; its Dir is set from DataDir.
	Store persistence.Config
	// Version is sent in the webhooks' User-Agent (Firehook/Version).
	Version string
	// Pipeline tunes the actor pipeline; Store, Matcher, System and the
	// endpoint actors' Client and Gate are set by the node.
	Pipeline pipeline.Config
	// MaxRequests bounds the webhook requests in flight on the node, across
	// endpoints (see endpoint.Gate). Default 512.
	MaxRequests int
	// Cluster makes the node a member of a cluster (gossip, placement,
	// handoff). Zero: the node runs alone.
	Cluster ClusterConfig
	// Metrics tunes the node's observability: the tiers' latency budgets
	// (Metrics.Budgets: enterprise 500 ms, pro 1 s, free 5 s by default),
	// the health windows, the label caps. Its sources (Store, Matcher,
	// System, Backlog, EndpointStats, Gate) are set by the node.
	Metrics metrics.Config
}

// DefaultConfig returns the defaults of a node.
func DefaultConfig() Config {
	return Config{
		DataDir:         "./firehook-data",
		Listen:          ":8080",
		AdminListen:     "127.0.0.1:8081",
		ShutdownTimeout: 10 * time.Second,
	}
}

func (c *Config) withDefaults() {
	d := DefaultConfig()
	if c.DataDir == "" {
		c.DataDir = d.DataDir
	}
	if c.Listen == "" {
		c.Listen = d.Listen
	}
	if c.AdminListen == "" {
		c.AdminListen = d.AdminListen
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = d.ShutdownTimeout
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.Stdout == nil {
		c.Stdout = io.Discard
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.MaxRequests <= 0 {
		c.MaxRequests = 512
	}
}

// Node is one running Firehook node.
type Node struct {
	cfg   Config
	log   *slog.Logger
	store *persistence.Store
	graph *identity.Graph
	sup   *identity.Suppressions
	ready atomic.Bool

	dash    *dashboard.Handler
	client  *webhook.Client
	pipe    *pipeline.Pipeline
	sys     *actors.System
	metrics *metrics.Metrics
	// cluster is the node's part of a cluster; nil when it runs alone.
	cluster *clusterNode
	// clusterMetrics is metrics once they exist, for the transport.
	clusterMetrics atomic.Pointer[metrics.Metrics]
	// committed forwards the event log's commits to the pipeline once it
	// exists (the log opens before it).
	committed atomic.Pointer[pipeline.Pipeline]

	ingestLn, adminLn   net.Listener
	ingestSrv, adminSrv *http.Server
	wg                  sync.WaitGroup
	serveErr            chan error

	stopOnce sync.Once
	stopErr  error
	stopping chan struct{} // closed by Shutdown: ends the node's periodic work
}

// Start opens the store, binds both listeners and serves until Shutdown.
func Start(cfg Config) (*Node, error) {
	cfg.withDefaults()
	n := &Node{cfg: cfg, log: cfg.Log, serveErr: make(chan error, 2), stopping: make(chan struct{})}
	sc := cfg.Store
	sc.Dir = cfg.DataDir
	if sc.NodeName == "" {
		sc.NodeName = cfg.Name // stamps the versions of configuration writes
	}
	if sc.Log == nil {
		sc.Log = cfg.Log
	}
	sc.EventLog.OnCommit = func(evs []*firehook.Event) {
		if p := n.committed.Load(); p != nil {
			p.Committed(evs)
		}
	}
	var err error
	if n.store, err = persistence.Open(sc); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	tokenHash, err := n.operatorTokenHash()
	if err != nil {
		_ = n.store.Close()
		return nil, fmt.Errorf("node: %w", err)
	}

	start := time.Now()
	if n.graph, err = identity.OpenGraph(identity.GraphConfig{Store: n.store.Graph(), Log: cfg.Log,
		SnapshotPath: filepath.Join(cfg.DataDir, "graph-index.snap")}); err != nil {
		_ = n.store.Close()
		return nil, fmt.Errorf("node: %w", err)
	}
	if n.sup, err = identity.OpenSuppressions(n.store.Graph()); err != nil {
		n.graph.Close()
		_ = n.store.Close()
		return nil, fmt.Errorf("node: %w", err)
	}
	gs := n.graph.Stats()
	n.log.Info("identity graph loaded", "persons", gs.Persons, "index_entries", gs.IndexEntries,
		"learned_links", gs.LearnedLinks, "from_snapshot", n.graph.FromSnapshot(),
		"took", time.Since(start).Round(time.Millisecond))

	if err := n.startPipeline(); err != nil {
		n.graph.Close()
		_ = n.store.Close()
		return nil, fmt.Errorf("node: %w", err)
	}

	ingestH := ingest.New(ingest.Config{
		Sites:          n.store.Config,
		Events:         n.ingestLog(),
		TrustedProxies: cfg.TrustedProxies,
		PerIPRate:      cfg.IngestPerIPRate,
		Observer:       n.metrics.ObserveIngest,
		Log:            cfg.Log.With("component", "ingest"),
	})
	n.dash = dashboard.New(dashboard.Config{Log: cfg.Log.With("component", "dashboard")})
	// The MCP tools call the admin API in process, with each request's key.
	var adminH *admin.Handler
	mcpH := mcp.Handler(func() http.Handler { return adminH }, cfg.Version)
	adminH = admin.New(admin.Config{
		MCP:                   mcpH,
		Dashboard:             n.dash,
		Store:                 n.store.Config,
		OperatorTokenHash:     tokenHash,
		AllowPrivateEndpoints: cfg.AllowPrivateEndpoints,
		Graph:                 n.graph,
		Suppressions:          n.sup,
		Outbox:                n.store.Outbox(),
		OnReplay:              n.pipe.Replayed,
		OnErased:              n.redactErased,
		OnEndpointChange:      n.pipe.EndpointChanged,
		Metrics:               n.metrics,
		Actors:                n.sys,
		NodeName:              cfg.Name,
		Cluster:               func(ctx context.Context) any { return n.ClusterStatus(ctx) },
		ClusterShards:         func(ctx context.Context) any { return n.ClusterShards() },
		GraphCluster:          n.graphCluster(),
		Peers:                 n.peers(),
		Events:                n.store.Events,
		Ready:                 n.ready.Load,
		Warnings:              n.warnings,
		OpenAPI:               docs.OpenAPI,
		Log:                   cfg.Log.With("component", "admin"),
	})
	if n.ingestLn, err = net.Listen("tcp", cfg.Listen); err != nil {
		_ = n.stopPipeline(context.Background())
		n.graph.Close()
		_ = n.store.Close()
		return nil, fmt.Errorf("node: ingest listener: %w", err)
	}
	if n.adminLn, err = net.Listen("tcp", cfg.AdminListen); err != nil {
		_ = n.ingestLn.Close()
		_ = n.stopPipeline(context.Background())
		n.graph.Close()
		_ = n.store.Close()
		return nil, fmt.Errorf("node: admin listener: %w", err)
	}
	// A page view is small and answered at once: a client that reads or
	// writes slower than the ingest bounds is cut off. The admin API
	// streams graph imports and exports: a longer read bound, and no
	// write bound (an export of a large log takes as long as it takes).
	t := cfg.Timeouts
	t.withDefaults()
	n.ingestSrv = newServer(ingestH, t, t.IngestRead, t.IngestWrite, cfg.Log)
	n.adminSrv = newServer(adminH, t, t.AdminRead, 0, cfg.Log)
	n.serve(n.ingestSrv, n.ingestLn)
	n.serve(n.adminSrv, n.adminLn)
	n.expireLinks()
	n.ready.Store(true)
	n.log.Info("node started", "node", cfg.Name, "ingest", n.IngestAddr(), "admin", n.AdminAddr(),
		"data", cfg.DataDir, "last_event_seq", n.store.Events.LastSeq())
	return n, nil
}

// Timeouts bound how long the listeners wait for a client (see
// http.Server): a slow or stalled client is cut off rather than holding a
// connection and a goroutine.
type Timeouts struct {
	// ReadHeader bounds the time to send the request headers (both
	// listeners). Default 10 s.
	ReadHeader time.Duration
	// IngestRead and IngestWrite bound reading a whole request and writing
	// its answer on the ingest listener. Default 10 s each.
	IngestRead, IngestWrite time.Duration
	// AdminRead bounds reading a whole request on the admin listener
	// (graph imports stream large bodies). Default 60 s.
	AdminRead time.Duration
	// Idle bounds an idle keep-alive connection (both). Default 120 s.
	Idle time.Duration
}

// DefaultTimeouts are the listeners' default Timeouts.
var DefaultTimeouts = Timeouts{ReadHeader: 10 * time.Second, IngestRead: 10 * time.Second, IngestWrite: 10 * time.Second,
	AdminRead: 60 * time.Second, Idle: 120 * time.Second}

func (t *Timeouts) withDefaults() {
	d := DefaultTimeouts
	for _, f := range []struct{ v, def *time.Duration }{{&t.ReadHeader, &d.ReadHeader}, {&t.IngestRead, &d.IngestRead},
		{&t.IngestWrite, &d.IngestWrite}, {&t.AdminRead, &d.AdminRead}, {&t.Idle, &d.Idle}} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
}

func newServer(h http.Handler, t Timeouts, read, write time.Duration, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       read,
		WriteTimeout:      write,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

func (n *Node) serve(srv *http.Server, ln net.Listener) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.serveErr <- err
		}
	}()
}

// operatorTokenHash returns the hash of the configured token, or of the
// generated one, generating (and printing) it at the first start.
func (n *Node) operatorTokenHash() (string, error) {
	if n.cfg.AdminToken != "" {
		return admin.HashToken(n.cfg.AdminToken), nil
	}
	h, err := n.store.AdminTokenHash()
	if err == nil {
		n.log.Info("using the operator token generated at first start (set FIREHOOK_ADMIN_TOKEN to replace it)")
		return h, nil
	}
	if !errors.Is(err, firehook.ErrNotFound) {
		return "", err
	}
	token := firehook.RandomToken("fho_", 40)
	h = admin.HashToken(token)
	if err := n.store.SetAdminTokenHash(h); err != nil {
		return "", err
	}
	// Printed once, to stdout, never to the log: it is a secret.
	fmt.Fprintf(n.cfg.Stdout, "Generated operator token (shown once; only its hash is stored): %s\n", token)
	return h, nil
}

// startPipeline starts the actor system and the pipeline over it: every
// endpoint actor loads its unfinished deliveries, and the events after the
// processed-up-to mark are replayed, before the listeners accept anything.
func (n *Node) startPipeline() error {
	sys, err := actors.New(actors.Config{Log: n.log.With("component", "actors")})
	if err != nil {
		return err
	}
	n.sys = sys
	n.client = webhook.NewClient(webhook.ClientConfig{
		Dialer:    webhook.DialerConfig{AllowPrivate: n.cfg.AllowPrivateEndpoints},
		UserAgent: "Firehook/" + n.cfg.Version,
	})
	pc := n.cfg.Pipeline
	pc.Store, pc.System = n.store, sys
	pc.Matcher = identity.NewMatcher(n.graph, n.sup)
	if n.cfg.Cluster.Enabled() {
		// Joined before the pipeline starts: the replay of the log is
		// routed by the cluster's placement, never by a lone node's.
		if err := n.startCluster(sys); err != nil {
			_ = sys.Close(context.Background())
			n.client.Close()
			return err
		}
		cl := n.cluster
		pc.Router = cl
		pc.Replicate = cl.replicate
		pc.Endpoint.Observer = chainObservers(pc.Endpoint.Observer, cl.deliveriesFinished)
		pc.Matcher = identity.NewMatcherWith(clusterSource{cl}, n.sup)
		// Persons, hence deliveries, spread evenly over the members: each
		// keeps to its share of an endpoint's limits.
		pc.Endpoint.Share = func() int { return max(1, len(cl.placement().Members())) }
	}
	pc.Endpoint.Client = n.client
	pc.Endpoint.UserAgent = "Firehook/" + n.cfg.Version
	gateSlots := 0
	if pc.Endpoint.Gate == nil {
		pc.Endpoint.Gate = endpoint.NewGate(n.cfg.MaxRequests)
		gateSlots = n.cfg.MaxRequests
	}
	if n.metrics, err = n.newMetrics(sys, pc.Matcher, pc.Endpoint, gateSlots); err != nil {
		n.closeCluster()
		_ = sys.Close(context.Background())
		n.client.Close()
		return err
	}
	pc.Observer = n.metrics
	n.clusterMetrics.Store(n.metrics)
	pc.Endpoint.Observer = chainObservers(pc.Endpoint.Observer, n.metrics.ObserveDelivery)
	if pc.Log == nil {
		pc.Log = n.log.With("component", "pipeline")
	}
	if n.pipe, err = pipeline.New(pc); err != nil {
		n.metrics.Close()
		n.closeCluster()
		_ = sys.Close(context.Background())
		n.client.Close()
		return err
	}
	if n.cluster != nil {
		// Before the endpoint actors load this node's unfinished
		// deliveries: drop those that members took over while it was down.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		n.cluster.catchUpTakenOver(ctx)
		cancel()
		// Its graph shards, too: those that differ from a live owner's are
		// copied before the node serves (at most CatchUpWait; the rest in
		// the background).
		ctx, cancel = context.WithTimeout(context.Background(), n.cfg.Cluster.CatchUpWait)
		if !n.cluster.copier.waitFirstRound(ctx) {
			n.log.Warn("cluster: serving before the graph shards caught up; the copy goes on", "waited", n.cfg.Cluster.CatchUpWait)
		}
		cancel()
	}
	n.committed.Store(n.pipe)
	if err := n.pipe.Start(); err != nil {
		_ = n.stopPipeline(context.Background())
		return err
	}
	return nil
}

// stopPipeline stops the actors, cancels the requests in flight and writes
// the final processed-up-to mark.
func (n *Node) stopPipeline(ctx context.Context) error {
	if n.pipe == nil {
		return nil
	}
	n.committed.Store(nil)
	n.metrics.Close()
	err := n.pipe.Close(ctx)
	n.client.Close()
	n.closeCluster()
	return err
}

// closeCluster stops the node's part of the cluster, if any (after its
// pipeline: visitor actors may be waiting on members).
func (n *Node) closeCluster() {
	if n.cluster != nil {
		n.cluster.close()
		n.cluster = nil
	}
}

// warnings are what /readyz reports beside "ready": the damage the event
// log cut out at start.
func (n *Node) warnings() []string {
	var out []string
	for _, d := range n.store.Events.Damage() {
		out = append(out, "event log damaged, events lost: "+d.String())
	}
	return out
}

// Pipeline is the node's actor pipeline.
func (n *Node) Pipeline() *pipeline.Pipeline { return n.pipe }

// IngestAddr is the bound address of the public ingest listener.
func (n *Node) IngestAddr() string { return n.ingestLn.Addr().String() }

// AdminAddr is the bound address of the admin listener.
func (n *Node) AdminAddr() string { return n.adminLn.Addr().String() }

// Dashboard is the node's web dashboard (its login codes: NewLoginCode).
func (n *Node) Dashboard() *dashboard.Handler { return n.dash }

// Metrics is the node's observability: its Prometheus registry, the
// endpoints' health, the pipeline view.
func (n *Node) Metrics() *metrics.Metrics { return n.metrics }

// Graph is the node's identity graph.
func (n *Node) Graph() *identity.Graph { return n.graph }

// Store is the node's store (for in-process tests and tools).
func (n *Node) Store() *persistence.Store { return n.store }

// Err reports a listener that failed while serving.
func (n *Node) Err() <-chan error { return n.serveErr }

// Shutdown stops the node gracefully: it stops accepting connections,
// lets in-flight requests finish (each waits for its event's fsync),
// drains the event log and closes the store. ctx bounds the wait for
// requests; the store is closed in any case. Safe to call twice.
func (n *Node) Shutdown(ctx context.Context) error {
	n.stopOnce.Do(func() {
		n.ready.Store(false)
		close(n.stopping)
		ctx, cancel := context.WithTimeout(ctx, n.cfg.ShutdownTimeout)
		defer cancel()
		var errs []error
		for _, srv := range []*http.Server{n.ingestSrv, n.adminSrv} {
			if err := srv.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("stop http: %w", err))
				_ = srv.Close()
			}
		}
		n.wg.Wait()
		if n.cluster != nil {
			n.leaveCluster(ctx)
		}
		if err := n.stopPipeline(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop pipeline: %w", err))
		}
		// No request runs any more: the index can be saved, so that the
		// next start skips the scan of the records.
		if err := n.graph.SaveSnapshot(); err != nil {
			n.log.Warn("identity index snapshot not saved; the next start scans the records", "err", err)
		}
		n.graph.Close()
		if err := n.store.Close(); err != nil {
			errs = append(errs, err)
		}
		n.stopErr = errors.Join(errs...)
		n.log.Info("node stopped", "node", n.cfg.Name, "last_event_seq", n.store.Events.LastSeq())
	})
	return n.stopErr
}

// redactErased removes an erased person from the payloads of their
// deliveries held here, the ones still to be sent and the receipts
// (webhook.RedactPerson), and has the endpoint actors that hold some of
// them in memory read them again.
func (n *Node) redactErased(personID string) error {
	endpoints, redacted, err := n.store.Outbox().RedactPerson(personID, webhook.RedactPerson)
	for _, id := range endpoints {
		n.pipe.Replayed(id)
	}
	if redacted > 0 {
		n.log.Info("erased person removed from delivery payloads", "person_id", personID, "deliveries", redacted)
	}
	return err
}

// expireLinks drops learned links that expired from the identity index
// (identity.Graph.ExpireLinks) now — an index loaded from a snapshot may
// hold some that expired while the node was down — and then every
// LinkExpiryEvery until Shutdown.
func (n *Node) expireLinks() {
	every := n.cfg.LinkExpiryEvery
	if every <= 0 {
		every = time.Minute
	}
	run := func() {
		for {
			dropped, err := n.graph.ExpireLinks(time.Now())
			if err != nil {
				n.log.Error("identity: expiring learned links", "err", err)
				return
			}
			if dropped > 0 {
				n.log.Info("identity: learned links expired", "links", dropped)
			}
			if dropped < 1000 { // a large backlog goes on at once
				return
			}
		}
	}
	run()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-n.stopping:
				return
			case <-t.C:
				run()
			}
		}
	}()
}
