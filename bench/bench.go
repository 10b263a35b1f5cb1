// Package bench is Firehook's reproducible end-to-end benchmark, the
// logic of `firehook bench`.
//
// Run starts a node in process (or uses a running one, Config.Target),
// creates through the admin API its own tenants (one site each) and
// endpoints, imports a generated graph of people, and serves the
// endpoints itself: one HTTP server on loopback, a path per endpoint,
// that records when each webhook id arrives. Some endpoints can be made
// bad on purpose (Config.BadEndpointsPct): half of them black holes that
// never answer, half answering 500.
//
// It then sends page views open loop: on a timetable fixed in advance
// (Config.Rate for Config.Duration), each from a random known person to a
// random tenant's site, its latency counted from its scheduled send time
// (no coordinated omission). A visitor's page views carry its email until
// the node has accepted one of them, then only its visitor id. Measured,
// for the healthy endpoints: pixel → 202 and pixel → webhook arrival
// latency (HDR-style histograms), deliveries lost (accepted, never
// delivered within Config.Drain) and duplicated, and the node's CPU time
// and peak RSS. In the same run and at the same scheduled times, a raw
// baseline posts bodies of the same shape, signed the same way, with a
// plain net/http client straight to the same receivers: the ratio
// pipeline/raw of the arrival latencies and throughputs is what the
// pipeline costs on this machine, noise included.
//
// With Config.Ramp, Run steps the rate up by Config.RampFactor until a
// step is not sustained (see RunResult.Sustained) and reports the highest
// sustained rate.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/internal/adminclient"
	"github.com/firehook/firehook/node"
)

// Defaults of Config's durations.
const (
	DefaultDuration = 10 * time.Second
	DefaultDrain    = 30 * time.Second
	DefaultRampP99  = 100 * time.Millisecond
)

// Config says what to benchmark. Zero fields take the defaults named.
type Config struct {
	// Target is the ingest URL of a running node (http://HOST:PORT, or the
	// full …/v1/collect URL), or a comma-separated list of a cluster's
	// members' (page views go to them in turn; Admin is any one's).
	// Empty: Run starts a node in process, on free
	// 127.0.0.1 ports over a fresh data directory, with private endpoints
	// allowed and the event log's fsync on.
	Target string
	// Admin is the admin API URL of the Target node (required with it).
	Admin string
	// Token is the operator token of the Target node (required with it).
	Token string
	// PID is the Target node's process id: its CPU time and peak RSS are
	// read from /proc/PID. 0 with a Target: not measured.
	PID int

	// DataDir is the in-process node's data directory. Empty: a temporary
	// directory, removed afterwards.
	DataDir string
	// NoFsync turns the in-process node's event-log fsync off, for
	// comparison only.
	NoFsync bool
	// NodeLog receives the in-process node's log. Nil: discarded.
	NodeLog *slog.Logger

	// Endpoints is the number of endpoints. Default 1.
	Endpoints int
	// EndpointsPerTenant groups the endpoints into tenants: endpoints
	// 0…k-1 belong to the first tenant, and so on. Every page view goes to
	// one tenant's site, so it is delivered to each endpoint of that
	// tenant. Tenants get the tiers pro, enterprise, free in turn.
	// Default 10.
	EndpointsPerTenant int
	// People is the number of people in the imported graph. Default 10,000.
	People int
	// MaxInFlight is each endpoint's max_in_flight. 0: the node's default.
	MaxInFlight int
	// BadEndpointsPct is the share of endpoints (0 to 100, at least one
	// endpoint stays healthy) that are bad: half black holes, half
	// answering 500, spread evenly over the endpoints.
	BadEndpointsPct float64

	// Rate is the page views sent per second (the first step of a ramp).
	// Default 1,000.
	Rate float64
	// Duration is how long page views are sent (each step of a ramp).
	// Default 10 s.
	Duration time.Duration
	// Senders is the number of concurrent senders, each with its
	// keep-alive connection, for the page views and again for the raw
	// baseline. Default 128.
	Senders int
	// Drain is how long, after the last page view, deliveries may take to
	// arrive before the missing ones count as lost. Default 30 s.
	Drain time.Duration
	// Warmup is how long the load runs, at Rate and not measured, before
	// the first step: connections, actors and caches are then warm. 0:
	// none.
	Warmup time.Duration
	// NoRaw skips the raw baseline.
	NoRaw bool
	// Seed draws the page views' tenants and people: the same seed, the
	// same timetable.
	Seed int64

	// Ramp steps the rate up from Rate, each step Duration long, until a
	// step is not sustained. Ramp steps run without the raw baseline (it
	// would share the CPU and lower the figure).
	Ramp bool
	// RampFactor multiplies the rate from one step to the next. Default 1.25.
	RampFactor float64
	// RampP99 is the highest pixel → 202 p99 of a sustained step.
	// Default 100 ms.
	RampP99 time.Duration
	// RampMaxSteps bounds the steps. Default 12.
	RampMaxSteps int

	// ReceiverListen is the receivers' listen address. Default 127.0.0.1:0
	// (a free port).
	ReceiverListen string
	// Progress receives a line per phase. Nil: nothing.
	Progress io.Writer
	// CPUProfile, when set, receives a CPU profile (runtime/pprof) of this
	// process over the measured steps: of the in-process node, and of the
	// load generator beside it.
	CPUProfile io.Writer
}

func (c *Config) withDefaults() error {
	if c.Endpoints == 0 {
		c.Endpoints = 1
	}
	if c.EndpointsPerTenant == 0 {
		c.EndpointsPerTenant = 10
	}
	if c.People == 0 {
		c.People = 10_000
	}
	if c.Rate == 0 {
		c.Rate = 1000
	}
	if c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	if c.Senders == 0 {
		c.Senders = 128
	}
	if c.Drain == 0 {
		c.Drain = DefaultDrain
	}
	if c.RampFactor == 0 {
		c.RampFactor = 1.25
	}
	if c.RampP99 == 0 {
		c.RampP99 = DefaultRampP99
	}
	if c.RampMaxSteps == 0 {
		c.RampMaxSteps = 12
	}
	if c.ReceiverListen == "" {
		c.ReceiverListen = "127.0.0.1:0"
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	switch {
	case c.MaxInFlight < 0:
		return fmt.Errorf("bench: max in flight %d: want 0 (the default) or more: %w", c.MaxInFlight, ErrConfig)
	case c.Endpoints < 1 || c.EndpointsPerTenant < 1 || c.People < 1 || c.Senders < 1:
		return fmt.Errorf("bench: endpoints, endpoints per tenant, people and senders must be at least 1: %w", ErrConfig)
	case c.BadEndpointsPct < 0 || c.BadEndpointsPct > 100:
		return fmt.Errorf("bench: bad endpoints %g %%: want 0 to 100: %w", c.BadEndpointsPct, ErrConfig)
	case c.Rate < 0 || c.Duration < 0 || c.Drain < 0 || c.Warmup < 0:
		return fmt.Errorf("bench: rate, duration and drain must be positive: %w", ErrConfig)
	case c.Ramp && (c.RampFactor <= 1 || c.RampMaxSteps < 1 || c.RampP99 < 0):
		return fmt.Errorf("bench: ramp factor must be above 1 and max steps at least 1: %w", ErrConfig)
	case c.Target != "" && (c.Admin == "" || c.Token == ""):
		return fmt.Errorf("bench: a target needs its admin URL and operator token: %w", ErrConfig)
	case c.Target == "" && (c.Admin != "" || c.PID != 0):
		return fmt.Errorf("bench: an admin URL or a pid is for a target node: %w", ErrConfig)
	}
	healthy := 0
	for _, k := range endpointKinds(c.Endpoints, c.BadEndpointsPct) {
		if k == kindHealthy {
			healthy++
		}
	}
	if healthy == 0 {
		return fmt.Errorf("bench: %g %% bad endpoints of %d leaves none healthy to measure: %w", c.BadEndpointsPct, c.Endpoints, ErrConfig)
	}
	return nil
}

// ErrConfig marks a Config that cannot be run.
var ErrConfig = errors.New("invalid benchmark configuration")

// Run runs the benchmark cfg describes and returns its result. It stops
// everything it started before it returns: the node it started, the
// receivers, the senders; against a Target it deletes the endpoints it
// created (the tenants, sites and people stay). ctx cancels the run.
func Run(ctx context.Context, cfg Config) (res *Result, err error) {
	if err := cfg.withDefaults(); err != nil {
		return nil, err
	}
	epoch := time.Now()
	run := fmt.Sprintf("%08x", rand.Uint32()) // names only: runs against one node do not mix
	kinds := endpointKinds(cfg.Endpoints, cfg.BadEndpointsPct)
	res = &Result{Mode: "fixed", Senders: cfg.Senders, Seed: cfg.Seed, People: cfg.People, Endpoints: cfg.Endpoints,
		WarmupS: cfg.Warmup.Seconds()}
	if cfg.Ramp {
		res.Mode = "ramp"
	}
	for _, k := range kinds {
		switch k {
		case kindHealthy:
			res.Healthy++
		case kindBlackHole:
			res.BlackHoles++
		case kindFailing:
			res.Failing++
		}
	}

	rc, err := startReceivers(cfg.ReceiverListen, epoch, kinds)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer func() {
		if serr := rc.stop(); serr != nil && err == nil {
			err = fmt.Errorf("bench: %w", serr)
		}
	}()

	collectURL, adminURL, token, pid := cfg.Target, cfg.Admin, cfg.Token, cfg.PID
	if cfg.Target == "" {
		n, tok, dir, err := startNode(&cfg)
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		// Deferred after the receivers' stop, so run before it: the node's
		// requests to the black holes end with the node.
		defer func() {
			serr := n.Shutdown(context.Background())
			if dir != "" {
				serr = errors.Join(serr, os.RemoveAll(dir))
			}
			if serr != nil && err == nil {
				err = fmt.Errorf("bench: stop the node: %w", serr)
			}
		}()
		collectURL, adminURL = "http://"+n.IngestAddr(), "http://"+n.AdminAddr()
		token = tok
		res.Node = "in-process"
		fsync := !cfg.NoFsync
		res.Fsync = &fsync
	} else {
		res.Node = cfg.Target
	}
	var collectURLs []string
	for _, u := range strings.Split(collectURL, ",") {
		if u, err = ingestURL(strings.TrimSpace(u)); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		collectURLs = append(collectURLs, u)
	}

	admin := &adminclient.Client{Base: strings.TrimRight(adminURL, "/"), Token: token, HTTP: newClient(8, 10*time.Minute)}
	defer admin.HTTP.CloseIdleConnections()
	setupStart := time.Now()
	fmt.Fprintf(cfg.Progress, "bench: setting up %d endpoint(s), %d people on %s\n", cfg.Endpoints, cfg.People, res.Node)
	w, err := setupWorld(ctx, admin, &cfg, run, rc.url)
	if w != nil && cfg.Target != "" {
		defer func() {
			dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if derr := w.deleteEndpoints(dctx, admin); derr != nil && err == nil {
				err = fmt.Errorf("bench: clean up: %w", derr)
			}
		}()
	}
	if err != nil {
		return nil, fmt.Errorf("bench: set up: %w", err)
	}
	res.Tenants = len(w.tenants)
	res.SetupS = time.Since(setupStart).Seconds()
	for i, e := range w.endpoints {
		rc.setSecret(i, e.secret)
	}

	l := &loader{w: w, rc: rc, epoch: epoch, collectURLs: collectURLs, workers: cfg.Senders,
		pixel: newClient(cfg.Senders, 30*time.Second), raw: newClient(cfg.Senders, 30*time.Second),
		established: map[uint64]bool{}}
	defer l.close()

	// The warm-up: the same load, measured and thrown away (with its own
	// random stream, so that the measured timetable does not depend on it).
	var all []*step // the warm-up's and the runs' page views, for the unexpected deliveries
	if cfg.Warmup > 0 {
		wrng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x7761726d7570))
		s := newStep(w, wrng, -1, cfg.Rate, cfg.Warmup, !cfg.NoRaw)
		fmt.Fprintf(cfg.Progress, "bench: warm-up: %.0f page views/s for %s\n", cfg.Rate, cfg.Warmup)
		if _, err := runStep(ctx, &cfg, l, s, 0, false); err != nil {
			return nil, err
		}
		all = append(all, s)
	}

	var proc0 procSample
	measured := cfg.Target == "" || pid > 0
	if !measured {
		res.Process = &Process{Note: "not measured: a target without --pid"}
	} else {
		if proc0, err = readProc(pid); err != nil {
			measured = false
			res.Process = &Process{Note: fmt.Sprintf("not measured: %v", err)}
		}
	}
	wall0 := time.Now()
	if cfg.CPUProfile != nil {
		if err := pprof.StartCPUProfile(cfg.CPUProfile); err != nil {
			return nil, fmt.Errorf("bench: cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile() // when the steps failed
	}

	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x66697265686f6f6b))
	rate, steps := cfg.Rate, 1
	if cfg.Ramp {
		steps = cfg.RampMaxSteps
	}
	for k := range steps {
		s := newStep(w, rng, k, rate, cfg.Duration, !cfg.NoRaw && !cfg.Ramp)
		fmt.Fprintf(cfg.Progress, "bench: step %d: %.0f page views/s for %s (%d page views, %d raw POSTs)\n",
			k+1, rate, cfg.Duration, s.n, len(s.raw))
		rr, err := runStep(ctx, &cfg, l, s, pid, measured)
		if err != nil {
			return nil, err
		}
		all = append(all, s)
		if cfg.Ramp {
			rr.judge(&cfg, w)
		}
		res.Runs = append(res.Runs, rr)
		fmt.Fprintf(cfg.Progress, "bench: step %d: accepted %d/%d (%.0f/s), delivered %d/%d, 202 p99 %.2f ms, arrival p99 %.2f ms%s\n",
			k+1, rr.Accepted, rr.Sent, rr.AchievedRate, rr.Deliveries.Delivered, rr.Deliveries.Expected,
			rr.Ingest.P99MS, rr.Delivery.P99MS, verdictSuffix(rr))
		if !cfg.Ramp {
			break
		}
		if !*rr.Sustained {
			break
		}
		res.MaxSustainedRate, res.MaxSustainedOffered = rr.AchievedRate, rr.OfferedRate
		rate *= cfg.RampFactor
	}

	if cfg.CPUProfile != nil {
		pprof.StopCPUProfile()
	}
	if measured {
		proc1, err := readProc(pid)
		if err != nil {
			res.Process = &Process{Note: fmt.Sprintf("not measured: %v", err)}
		} else {
			wall := time.Since(wall0).Seconds()
			res.Process = &Process{Source: "/proc/self", CPUSeconds: (proc1.CPU - proc0.CPU).Seconds(),
				PeakRSSBytes: proc1.PeakRSS,
				Note:         "in process: the figures include the load generator, the raw baseline and the receivers"}
			if pid > 0 {
				res.Process.Source = fmt.Sprintf("/proc/%d", pid)
				res.Process.Note = "the target node's process alone"
			}
			res.Process.CPUPercent = 100 * res.Process.CPUSeconds / wall
		}
	}
	res.Unexpected = unexpected(rc, all)
	res.BadSignatures = rc.badSignatures.Load()
	return res, nil
}

// startNode starts the in-process node on free loopback ports and
// returns it, its operator token, and the temporary data directory to
// remove after it stopped ("" when cfg.DataDir names one).
func startNode(cfg *Config) (*node.Node, string, string, error) {
	dir, tmp := cfg.DataDir, ""
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "firehook-bench-"); err != nil {
			return nil, "", "", err
		}
		tmp = dir
	}
	log := cfg.NodeLog
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	nc := node.Config{
		DataDir:               dir,
		Listen:                "127.0.0.1:0",
		AdminListen:           "127.0.0.1:0",
		Name:                  "bench",
		AdminToken:            firehook.RandomToken("fho_", 40),
		AllowPrivateEndpoints: true,
		Log:                   log,
		Version:               "bench",
	}
	nc.Store.EventLog.NoSync = cfg.NoFsync
	n, err := node.Start(nc)
	if err != nil {
		if tmp != "" {
			_ = os.RemoveAll(tmp)
		}
		return nil, "", "", err
	}
	return n, nc.AdminToken, tmp, nil
}
