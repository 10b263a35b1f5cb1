package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/identity/synth"
	"github.com/firehook/firehook/internal/adminclient"
	"github.com/firehook/firehook/node"
)

// Config configures the demo. Zero values mean the defaults of
// DefaultConfig.
type Config struct {
	// People is the size of the synthetic identity graph. Default 2,000.
	People int
	// Rate is the simulated page views per second. Default 3.
	Rate float64
	// DataDir keeps the node's data; "" is a temporary directory removed
	// by Close. A kept directory is reused by the next run (the demo
	// tenant is found again; its endpoints are replaced, since the
	// receivers get new ports).
	DataDir string
	// Listen and AdminListen are the node's listeners. Default
	// 127.0.0.1:0 (free ports on loopback).
	Listen, AdminListen string
	// Seed makes the graph and the simulation repeatable. Default 1.
	Seed int64
	// Version is sent in the webhooks' User-Agent.
	Version string
	// Log is the node's and the demo's logger. Default: warnings to stderr.
	Log *slog.Logger
}

// DefaultConfig returns the demo's defaults.
func DefaultConfig() Config {
	return Config{People: 2000, Rate: 3, Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0", Seed: 1}
}

func (c *Config) withDefaults() error {
	d := DefaultConfig()
	if c.People == 0 {
		c.People = d.People
	}
	if c.Rate == 0 {
		c.Rate = d.Rate
	}
	if c.Listen == "" {
		c.Listen = d.Listen
	}
	if c.AdminListen == "" {
		c.AdminListen = d.AdminListen
	}
	if c.Seed == 0 {
		c.Seed = d.Seed
	}
	if c.Log == nil {
		c.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	switch {
	case c.People < 10 || c.People > 1_000_000:
		return fmt.Errorf("demo: people %d: want 10 to 1,000,000", c.People)
	case c.Rate < 0.1 || c.Rate > 1000:
		return fmt.Errorf("demo: rate %g: want 0.1 to 1,000 page views per second", c.Rate)
	}
	return nil
}

// TenantName names the demo tenant.
const TenantName = "Acme (demo)"

// Demo is a running demo.
type Demo struct {
	// Node is the demo's node.
	Node *node.Node
	// Token is the operator token of this run.
	Token string
	// AdminURL and IngestURL are http://host:port of the listeners.
	AdminURL, IngestURL string
	// TenantID and SiteKey are the demo tenant's and its site's.
	TenantID, SiteKey string
	// DataDir is where the node keeps its data; TempData says that Close
	// removes it.
	DataDir  string
	TempData bool
	// Receivers are the built-in endpoints: healthy, flaky, slow.
	Receivers []*Receiver
	// EndpointIDs are the endpoints of the receivers, in the same order.
	EndpointIDs []string

	cfg       Config
	closeOnce sync.Once
	closeErr  error
	sim       *simulator
	admin     *adminclient.Client
	persons   int
}

// Start starts the node, sets up the tenant, graph, endpoints and
// receivers, and starts the visitor simulator. On error everything
// started is stopped again.
func Start(ctx context.Context, cfg Config) (_ *Demo, err error) {
	if err := cfg.withDefaults(); err != nil {
		return nil, err
	}
	d := &Demo{cfg: cfg, Token: firehook.RandomToken("fho_", 40), DataDir: cfg.DataDir}
	defer func() {
		if err != nil {
			_ = d.Close(context.Background())
		}
	}()
	if d.DataDir == "" {
		if d.DataDir, err = os.MkdirTemp("", "firehook-demo-"); err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		d.TempData = true
	}
	ncfg := node.Config{
		DataDir:               d.DataDir,
		Listen:                cfg.Listen,
		AdminListen:           cfg.AdminListen,
		Name:                  "demo",
		AdminToken:            d.Token,
		AllowPrivateEndpoints: true, // the built-in receivers are on 127.0.0.1
		Log:                   cfg.Log,
		Version:               cfg.Version,
	}
	if d.Node, err = node.Start(ncfg); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	d.AdminURL, d.IngestURL = "http://"+d.Node.AdminAddr(), "http://"+d.Node.IngestAddr()
	d.admin = &adminclient.Client{Base: d.AdminURL, Token: d.Token, HTTP: &http.Client{Timeout: 2 * time.Minute}}

	graph, err := d.importGraph(ctx)
	if err != nil {
		return nil, err
	}
	people, err := readPeople(graph)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	if err := d.setUpTenant(ctx); err != nil {
		return nil, err
	}
	d.sim = newSimulator(d.IngestURL+"/v1/collect", d.SiteKey, "https://www.acme.example", cfg.Rate, people,
		uint64(cfg.Seed), cfg.Log)
	d.sim.start()
	return d, nil
}

// importGraph generates the synthetic graph and streams it into the node
// through POST /v1/graph/import; it returns the graph's NDJSON.
func (d *Demo) importGraph(ctx context.Context) ([]byte, error) {
	var graph bytes.Buffer
	if err := synth.Generate(synth.Config{People: d.cfg.People, Seed: d.cfg.Seed}, &graph, io.Discard); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	var res struct {
		Imported int `json:"imported"`
		Rejected int `json:"rejected"`
	}
	if err := d.admin.Call(ctx, http.MethodPost, "/v1/graph/import", bytes.NewReader(graph.Bytes()), http.StatusOK, &res); err != nil {
		return nil, fmt.Errorf("demo: import the graph: %w", err)
	}
	d.persons = res.Imported
	return graph.Bytes(), nil
}

type idView struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Key  string `json:"key"`
}

// setUpTenant finds or creates the demo tenant and its site, and gives it
// three endpoints on new built-in receivers.
func (d *Demo) setUpTenant(ctx context.Context) error {
	var tenants struct {
		Tenants []idView `json:"tenants"`
	}
	if err := d.admin.Call(ctx, http.MethodGet, "/v1/tenants", nil, http.StatusOK, &tenants); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	for _, t := range tenants.Tenants {
		if t.Name == TenantName {
			d.TenantID = t.ID
		}
	}
	if d.TenantID == "" {
		var t idView
		if err := d.admin.Call(ctx, http.MethodPost, "/v1/tenants", map[string]any{"name": TenantName, "tier": "pro"}, http.StatusCreated, &t); err != nil {
			return fmt.Errorf("demo: create the tenant: %w", err)
		}
		d.TenantID = t.ID
	}

	var sites struct {
		Sites []idView `json:"sites"`
	}
	if err := d.admin.Call(ctx, http.MethodGet, "/v1/sites?tenant_id="+d.TenantID, nil, http.StatusOK, &sites); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if len(sites.Sites) > 0 {
		d.SiteKey = sites.Sites[0].Key
	} else {
		var s idView
		// Any origin may send: paste the printed snippet into any page.
		if err := d.admin.Call(ctx, http.MethodPost, "/v1/sites", map[string]any{"tenant_id": d.TenantID,
			"domain": "acme.example", "allowed_origins": []string{"*"}}, http.StatusCreated, &s); err != nil {
			return fmt.Errorf("demo: create the site: %w", err)
		}
		d.SiteKey = s.Key
	}

	// Endpoints of an earlier run point at receivers that are gone.
	var old struct {
		Endpoints []idView `json:"endpoints"`
	}
	if err := d.admin.Call(ctx, http.MethodGet, "/v1/endpoints?tenant_id="+d.TenantID, nil, http.StatusOK, &old); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	for _, e := range old.Endpoints {
		if err := d.admin.Call(ctx, http.MethodDelete, "/v1/endpoints/"+e.ID, nil, http.StatusNoContent, nil); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}

	for i, spec := range []struct {
		name, desc string
		behave     Behaviour
		timeoutMS  int
	}{
		{"healthy", "Healthy receiver (CRM sync)", Healthy, 5000},
		{"flaky", "Flaky receiver (~30 % answered 500)", Flaky, 5000},
		{"slow", "Slow receiver (300–800 ms)", Slow, 5000},
	} {
		rc, err := StartReceiver(spec.name, spec.behave, uint64(d.cfg.Seed)+uint64(i))
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		d.Receivers = append(d.Receivers, rc)
		var ep struct {
			ID     string `json:"id"`
			Secret string `json:"secret"`
		}
		if err := d.admin.Call(ctx, http.MethodPost, "/v1/endpoints", map[string]any{
			"tenant_id": d.TenantID, "url": rc.URL, "description": spec.desc, "timeout_ms": spec.timeoutMS,
			"events": []string{firehook.EventIdentified, firehook.EventUpdated},
		}, http.StatusCreated, &ep); err != nil {
			return fmt.Errorf("demo: create the %s endpoint: %w", spec.name, err)
		}
		rc.SetSecret(ep.Secret)
		d.EndpointIDs = append(d.EndpointIDs, ep.ID)
	}
	return nil
}

// LoginURL returns a new one-time login link to the dashboard.
func (d *Demo) LoginURL() string {
	return d.AdminURL + "/dashboard#login=" + d.Node.Dashboard().NewLoginCode(d.Token)
}

// Snippet is the pixel snippet of the demo site.
func (d *Demo) Snippet() string {
	return fmt.Sprintf(`<script async src="%s/p.js" data-site="%s"></script>`, d.IngestURL, d.SiteKey)
}

// PrintBanner writes what the demo serves and how to reach it.
func (d *Demo) PrintBanner(w io.Writer) {
	tmp := ""
	if d.TempData {
		tmp = " (temporary: removed on exit)"
	}
	fmt.Fprintf(w, `
  Firehook demo is running.

  Dashboard    %s
               (one-time login link; afterwards sign in at %s/dashboard with the token)
  Admin token  %s
  Admin API    %s
  Ingest       %s/v1/collect
  Pixel        %s

  Tenant %q (pro), %d people in the identity graph, 3 endpoints:
  healthy, flaky (~30 %% 500s), slow (300–800 ms). Simulating %g page views/s.
  Data         %s%s

  Ctrl-C stops.

`, d.LoginURL(), d.AdminURL, d.Token, d.AdminURL, d.IngestURL, d.Snippet(), TenantName, d.cfg.People, d.cfg.Rate, d.DataDir, tmp)
}

// Status is a one-line summary of the traffic so far.
func (d *Demo) Status() string {
	st := d.sim.stats()
	s := fmt.Sprintf("page views: %d accepted", st.Accepted)
	if st.Refused > 0 {
		s += fmt.Sprintf(", %d refused", st.Refused)
	}
	s += " · webhooks received:"
	for _, rc := range d.Receivers {
		rs := rc.Stats()
		s += fmt.Sprintf(" %s %d", rc.Name, rs.OK)
		if rs.Failed > 0 {
			s += fmt.Sprintf(" (+%d answered 500)", rs.Failed)
		}
	}
	return s
}

// SimStats returns the simulator's counts.
func (d *Demo) SimStats() SimStats { return d.sim.stats() }

// Close stops the simulator, the node and the receivers, and removes a
// temporary data directory. Safe to call on a demo that did not finish
// starting.
func (d *Demo) Close(ctx context.Context) error {
	d.closeOnce.Do(func() { d.closeErr = d.close(ctx) })
	return d.closeErr
}

func (d *Demo) close(ctx context.Context) error {
	var errs []error
	if d.sim != nil {
		d.sim.stop()
	}
	if d.Node != nil {
		if err := d.Node.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if d.admin != nil {
		d.admin.HTTP.CloseIdleConnections()
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, rc := range d.Receivers {
		if err := rc.Close(rctx); err != nil {
			errs = append(errs, err)
		}
	}
	if d.TempData {
		if err := os.RemoveAll(d.DataDir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
