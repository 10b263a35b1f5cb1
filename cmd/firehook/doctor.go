package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/persistence"
)

// doctorReport is what `firehook doctor` found in a data directory.
type doctorReport struct {
	Dir    string       `json:"dir"`
	Events doctorEvents `json:"events"`
	Config struct {
		Tenants   int `json:"tenants"`
		Sites     int `json:"sites"`
		Endpoints int `json:"endpoints"`
	} `json:"config"`
	// Deliveries counts the outbox's receipts by status.
	Deliveries map[firehook.DeliveryStatus]int `json:"deliveries"`
	Graph      identity.GraphStats             `json:"graph"`
	// Problems lists what is wrong; empty when the directory is sound.
	Problems []string `json:"problems"`
}

// doctorEvents describes the event log.
type doctorEvents struct {
	Count    int    `json:"count"`
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
	Segments int    `json:"segments"`
	Bytes    int64  `json:"bytes"`
	// Damaged lists the stretches found unreadable (and cut out, as a
	// node's start does).
	Damaged []string `json:"damaged,omitempty"`
}

func (r *doctorReport) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// errProblems is returned when the data directory has problems (exit 1).
var errProblems = errors.New("the data directory has problems")

func runDoctor(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("firehook doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("data", "./firehook-data", "data directory of a stopped node")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: firehook doctor [--data DIR] [--json]")
		fmt.Fprintln(stderr, "Checks a stopped node's data directory and prints a summary; exit 1 on a problem.")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, noEnv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("doctor: %w", err)
	}
	rep, err := checkDataDir(*dir)
	if err != nil {
		return fmt.Errorf("doctor: %w", err)
	}
	if *asJSON {
		if err := writeJSON(stdout, rep); err != nil {
			return err
		}
	} else {
		printDoctorReport(stdout, rep)
	}
	if len(rep.Problems) > 0 {
		return fmt.Errorf("doctor: %d problems in %s: %w", len(rep.Problems), rep.Dir, errProblems)
	}
	return nil
}

// checkDataDir opens dir as a node's start does (a running node holds
// its lock: that is an error, not a report) and checks it: the event log
// reads through in sequence, every site and endpoint has its tenant, every
// receipt its endpoint, and the identity graph loads (its index built
// from the records, not a snapshot).
func checkDataDir(dir string) (*doctorReport, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := persistence.Open(persistence.Config{Dir: abs, Log: quiet})
	if err != nil {
		if strings.Contains(err.Error(), "lock") {
			return nil, fmt.Errorf("open %s: %w (is a node running on it? stop it first)", abs, err)
		}
		return nil, fmt.Errorf("open %s: %w", abs, err)
	}
	defer st.Close()
	rep := &doctorReport{Dir: abs, Deliveries: map[firehook.DeliveryStatus]int{}}
	checkEvents(st, rep)
	checkConfig(st, rep)
	if err := checkOutbox(st, rep); err != nil {
		rep.problem("outbox: %v", err)
	}
	g, err := identity.OpenGraph(identity.GraphConfig{Store: st.Graph(), Log: quiet})
	if err != nil {
		rep.problem("identity graph: %v", err)
	} else {
		rep.Graph = g.Stats()
		g.Close()
	}
	return rep, nil
}

// checkEvents reads the whole event log: sequences must rise by one.
func checkEvents(st *persistence.Store, rep *doctorReport) {
	stats := st.Events.Stats()
	ev := &rep.Events
	ev.Segments, ev.Bytes, ev.LastSeq = stats.Segments, stats.DiskBytes, st.Events.LastSeq()
	for _, d := range st.Events.Damage() {
		ev.Damaged = append(ev.Damaged, d.String())
		rep.problem("event log: %s: the events in it are lost", d)
	}
	var prev uint64
	err := st.Events.Scan(stats.FirstSeq, func(e *firehook.Event) bool {
		if ev.Count == 0 {
			ev.FirstSeq = e.Seq
		} else if e.Seq != prev+1 && !damagedBetween(st, prev, e.Seq) {
			rep.problem("event log: sequence %d follows %d", e.Seq, prev)
		}
		if e.ID == "" || e.TenantID == "" {
			rep.problem("event log: event %d has no id or tenant", e.Seq)
		}
		prev = e.Seq
		ev.Count++
		return true
	})
	if err != nil {
		rep.problem("event log: reading after sequence %d: %v", prev, err)
	}
}

// damagedBetween reports whether a damaged stretch lies between sequences
// a and b (already reported).
func damagedBetween(st *persistence.Store, a, b uint64) bool {
	for _, d := range st.Events.Damage() {
		if d.After == a || d.Before == b {
			return true
		}
	}
	return false
}

// checkConfig checks that every site and endpoint belongs to a tenant.
func checkConfig(st *persistence.Store, rep *doctorReport) {
	tenants := st.Config.Tenants()
	rep.Config.Tenants = len(tenants)
	known := map[string]bool{}
	for _, t := range tenants {
		known[t.ID] = true
	}
	for _, s := range st.Config.Sites("") {
		rep.Config.Sites++
		if !known[s.TenantID] {
			rep.problem("site %s belongs to tenant %s, which does not exist", s.ID, s.TenantID)
		}
	}
	for _, e := range st.Config.Endpoints("") {
		rep.Config.Endpoints++
		if !known[e.TenantID] {
			rep.problem("endpoint %s belongs to tenant %s, which does not exist", e.ID, e.TenantID)
		}
	}
}

// checkOutbox counts every endpoint's receipts by status.
func checkOutbox(st *persistence.Store, rep *doctorReport) error {
	for _, e := range st.Config.Endpoints("") {
		for _, status := range []firehook.DeliveryStatus{firehook.DeliveryPending, firehook.DeliveryRetrying,
			firehook.DeliveryDelivered, firehook.DeliveryFailed} {
			cursor := ""
			for {
				items, next, err := st.Outbox().List(e.ID, status, cursor, 1000)
				if err != nil {
					return fmt.Errorf("endpoint %s: %w", e.ID, err)
				}
				for _, d := range items {
					if d.EndpointID != e.ID || d.Status != status {
						rep.problem("delivery %s is listed under endpoint %s as %s but is %s's, %s", d.ID, e.ID, status, d.EndpointID, d.Status)
					}
				}
				rep.Deliveries[status] += len(items)
				if next == "" {
					break
				}
				cursor = next
			}
		}
	}
	return nil
}

func printDoctorReport(w io.Writer, r *doctorReport) {
	fmt.Fprintf(w, "data directory %s\n", r.Dir)
	fmt.Fprintf(w, "  event log:   %d events (sequences %d to %d), %d segments, %d bytes\n",
		r.Events.Count, r.Events.FirstSeq, r.Events.LastSeq, r.Events.Segments, r.Events.Bytes)
	fmt.Fprintf(w, "  config:      %d tenants, %d sites, %d endpoints\n", r.Config.Tenants, r.Config.Sites, r.Config.Endpoints)
	fmt.Fprintf(w, "  deliveries:  %d pending, %d retrying, %d delivered, %d failed\n",
		r.Deliveries[firehook.DeliveryPending], r.Deliveries[firehook.DeliveryRetrying],
		r.Deliveries[firehook.DeliveryDelivered], r.Deliveries[firehook.DeliveryFailed])
	fmt.Fprintf(w, "  graph:       %d persons, %d learned links, %d index entries\n",
		r.Graph.Persons, r.Graph.LearnedLinks, r.Graph.IndexEntries)
	if len(r.Problems) == 0 {
		fmt.Fprintln(w, "OK: no problems found")
		return
	}
	fmt.Fprintf(w, "%d problems:\n", len(r.Problems))
	for _, p := range r.Problems {
		fmt.Fprintf(w, "  - %s\n", p)
	}
}
