// Package chaos is the logic of `firehook chaos` (issue 13): it runs a
// local cluster under load, kills members with SIGKILL on a schedule and
// starts them again, then reports what the endpoint received.
//
// Run starts Config.Nodes `firehook serve` processes on 127.0.0.1
// (package internal/localcluster), creates a tenant, a site and an
// endpoint pointing at a receiver of its own, imports Config.People
// persons, each with a hashed email, and has one visitor per person post
// page views round-robin to the live members (Config.Rate over all of
// them; a visitor's next page view waits for the previous answer, so a
// person's page views are accepted in a known order). Every
// Config.KillEvery it kills a member chosen at random, watches a survivor
// until it sees the victim suspected and dead, and after
// Config.Downtime starts it again on the same data dir, ports and name,
// joining through the live members. After Config.Duration the load stops
// and Run waits (at most Config.Drain) for every page view answered 202
// to be delivered.
//
// The Report counts what matters to a receiver: accepted page views never
// delivered (lost), duplicate deliveries, persons with a second First
// Match (visitor.identified), persons whose sequence went backwards or
// whose events arrived out of the order accepted, and per kill the
// failure detection time, when the victim's persons' deliveries resumed
// and the longest pause between deliveries. The CI test
// TestCluster_Chaos_KillsUnderLoadLoseNothing (cmd/firehook) runs it.
package chaos

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/internal/localcluster"
)

// pollEvery is how often the cluster views are polled.
const pollEvery = 50 * time.Millisecond

// stopGrace is how long a member may take to leave at the end.
const stopGrace = 15 * time.Second

// Run runs the chaos cfg describes and returns its report. It stops
// everything it started before it returns. ctx cancels the run: the
// report then holds what was found until then (Interrupted) and the
// error wraps ctx's. An error that stops the run early (a member that
// does not start again, say) is returned with the report so far.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.withDefaults(); err != nil {
		return nil, err
	}
	if cfg.Seed == 0 {
		cfg.Seed = uint64(time.Now().UnixNano())
	}
	r := &run{cfg: cfg, hc: &http.Client{Timeout: time.Minute}, rng: rand.New(rand.NewPCG(cfg.Seed, 0x63686173)),
		rep: &Report{Nodes: cfg.Nodes, People: cfg.People, Rate: cfg.Rate, KillEvery: Duration(cfg.KillEvery),
			Downtime: Duration(cfg.Downtime), Seed: cfg.Seed}}
	err := errors.Join(r.run(ctx), r.close())
	if err != nil {
		r.rep.Error = err.Error()
		if ctx.Err() != nil {
			r.rep.Interrupted = true
		}
	}
	if err := r.writeTrace(); err != nil {
		r.logf("%v", err)
	}
	if r.tmp != "" {
		if len(r.rep.Failures()) > 0 {
			r.rep.DataDir = r.tmp
		} else if rerr := os.RemoveAll(r.tmp); rerr != nil && err == nil {
			err = fmt.Errorf("chaos: remove the data: %w", rerr)
		}
	} else {
		r.rep.DataDir = cfg.DataDir
	}
	return r.rep, err
}

// run is one chaos run: what it started and what it found.
type run struct {
	cfg Config
	rng *rand.Rand
	rep *Report
	tmp string // a temporary DataDir of ours

	rc       *receiver
	hc       *http.Client // the admin API calls and the warm-up
	token    string
	tenant   string
	members  []*localcluster.Member
	visitors []*visitor
	load     *load

	logMu sync.Mutex // guards writes to cfg.Log
}

func (r *run) logf(format string, args ...any) {
	r.logMu.Lock()
	defer r.logMu.Unlock()
	fmt.Fprintf(r.cfg.Log, "chaos: "+format+"\n", args...)
}

func (r *run) run(ctx context.Context) error {
	dir := r.cfg.DataDir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "firehook-chaos-"); err != nil {
			return fmt.Errorf("chaos: %w", err)
		}
		r.tmp = dir
	}
	var err error
	if r.rc, err = startReceiver(); err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	r.token = firehook.RandomToken("fho_", 40)
	if err := r.startMembers(ctx, dir); err != nil {
		return err
	}
	r.logf("%d members up under %s; operator token %s", len(r.members), dir, r.token)
	siteKey, err := r.setUp(ctx)
	if err != nil {
		return err
	}

	var targets []string
	for _, m := range r.members {
		targets = append(targets, m.IngestURL())
	}
	start := time.Now()
	loadEnd := start.Add(r.cfg.Duration)
	r.load = startLoad(siteKey, r.visitors, r.cfg.Rate, targets)
	r.logf("load: %d persons, %.0f page views/s, for %s; a kill every %s", r.cfg.People, r.cfg.Rate, r.cfg.Duration, r.cfg.KillEvery)
	err = r.killOnSchedule(ctx, start, loadEnd)
	r.rep.Load = Duration(time.Since(start))
	halt := time.Now()
	r.load.halt()
	r.logf("load stopping: the page views in flight took %s", time.Since(halt).Round(time.Millisecond))
	if err != nil {
		r.rep.analyze(r.load.views(), r.rc.arrivals(), time.Now())
		return err
	}
	r.logf("load stopped: %d page views accepted; waiting up to %s for their deliveries", r.load.accepted.Load(), r.cfg.Drain)
	r.rep.DrainTook = Duration(r.drain(ctx))
	r.rep.analyze(r.load.views(), r.rc.arrivals(), loadEnd)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	return nil
}

// killOnSchedule makes the kills, the k-th KillEvery×k after start (or
// once the previous victim is back), as long as the victim's restart
// falls before loadEnd, then waits for loadEnd.
func (r *run) killOnSchedule(ctx context.Context, start, loadEnd time.Time) error {
	for k := 1; r.cfg.Kills == 0 || k <= r.cfg.Kills; k++ {
		at := start.Add(time.Duration(k) * r.cfg.KillEvery)
		if !at.Add(r.cfg.Downtime).Before(loadEnd) {
			break
		}
		if err := sleepUntil(ctx, at); err != nil {
			return err
		}
		if err := r.kill(ctx); err != nil {
			return err
		}
	}
	return sleepUntil(ctx, loadEnd)
}

// close stops the members and the receiver.
func (r *run) close() error {
	var errs []error
	if err := localcluster.StopAll(stopGrace, r.members...); err != nil {
		errs = append(errs, fmt.Errorf("chaos: stop the members: %w", err))
	}
	r.hc.CloseIdleConnections()
	if r.rc != nil {
		if err := r.rc.stop(); err != nil {
			errs = append(errs, fmt.Errorf("chaos: %w", err))
		}
	}
	return errors.Join(errs...)
}

// startMembers starts the members one after the other, each joining
// through the first, and waits until every one sees every one alive.
func (r *run) startMembers(ctx context.Context, dir string) error {
	// Member traffic encrypted and authenticated, as in production.
	opts := localcluster.Options{Binary: r.cfg.Binary, Token: r.token, AllowPrivateEndpoints: true,
		ClusterKey: firehook.RandomToken("fhc_", 40)}
	var join []string
	for i := 1; i <= r.cfg.Nodes; i++ {
		name := "node-" + strconv.Itoa(i)
		m, err := localcluster.NewMember(opts, name, filepath.Join(dir, name))
		if err != nil {
			return fmt.Errorf("chaos: %w", err)
		}
		if err := m.Start(ctx, join); err != nil {
			return fmt.Errorf("chaos: %w", err)
		}
		r.members = append(r.members, m)
		if join == nil {
			join = []string{m.Gossip}
		}
	}
	if _, err := r.waitAllAlive(ctx, RejoinWithin); err != nil {
		return fmt.Errorf("chaos: the members did not all see each other: %w", err)
	}
	return nil
}

// drain waits until every accepted page view has arrived, the drain
// runs out or ctx ends, and returns how long it waited.
func (r *run) drain(ctx context.Context) time.Duration {
	var ids []string
	for _, v := range r.load.views() {
		if v.Accepted() {
			ids = append(ids, v.ID)
		}
	}
	start := time.Now()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		ids = r.rc.missing(ids)
		if len(ids) == 0 || time.Since(start) > r.cfg.Drain {
			return time.Since(start)
		}
		select {
		case <-ctx.Done():
			return time.Since(start)
		case <-tick.C:
		}
	}
}

// writeTrace writes every page view (page_views.ndjson) and every
// delivery (deliveries.ndjson) into the data dir, for a post-mortem
// beside the members' logs.
func (r *run) writeTrace() error {
	if r.load == nil {
		return nil
	}
	dir := cmp.Or(r.tmp, r.cfg.DataDir)
	return errors.Join(writeNDJSON(filepath.Join(dir, "page_views.ndjson"), r.load.views()),
		writeNDJSON(filepath.Join(dir, "deliveries.ndjson"), r.rc.arrivals()))
}

// writeNDJSON writes items to the file at path, a JSON line each.
func writeNDJSON[T any](path string, items []T) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("chaos: trace: %w", err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, it := range items {
		if err = enc.Encode(it); err != nil {
			break
		}
	}
	if err = errors.Join(err, w.Flush(), f.Close()); err != nil {
		return fmt.Errorf("chaos: trace %s: %w", path, err)
	}
	return nil
}

// sleepUntil waits until t or ctx's end (an error).
func sleepUntil(ctx context.Context, t time.Time) error {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("chaos: %w", ctx.Err())
	case <-timer.C:
		return nil
	}
}
