package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/firehook/firehook/bench/chaos"
)

// runChaos is `firehook chaos` (package bench/chaos): a local cluster
// under load whose members are killed and started again on a schedule,
// then the report (text, or JSON with --json) on stdout; progress goes to
// stderr. It fails when an accepted page view was lost, a person got a
// second First Match, a person's sequence went backwards, or anything
// else of chaos.Report.Failures.
//
//	firehook chaos [--nodes N] [--duration D | --kills N] [--kill-every D] [--downtime D]
//	    [--people N] [--rate R] [--seed S] [--data DIR] [--binary PATH] [--json]
func runChaos(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("firehook chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := chaos.DefaultConfig()
	fs.StringVar(&cfg.Binary, "binary", "", "the firehook executable the members run (default: this one)")
	fs.IntVar(&cfg.Nodes, "nodes", cfg.Nodes, "members of the cluster (2 to 32)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "how long the load runs, kills included (0: (kills+1) × kill-every with --kills, else 10m)")
	fs.IntVar(&cfg.Kills, "kills", 0, "kill at most this many times (0: as many as the duration holds)")
	fs.DurationVar(&cfg.KillEvery, "kill-every", cfg.KillEvery, "time from one kill to the next (SIGKILL of a member chosen at random)")
	fs.DurationVar(&cfg.Downtime, "downtime", cfg.Downtime, "how long a killed member stays down before it is started again")
	fs.IntVar(&cfg.People, "people", cfg.People, "persons in the identity graph, one visitor each")
	fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "page views per second over all persons (each waits for its previous answer)")
	fs.IntVar(&cfg.MaxInFlight, "max-in-flight", 0, "the endpoint's max_in_flight (0: the node's default)")
	fs.DurationVar(&cfg.Drain, "drain", cfg.Drain, "how long deliveries may take after the load before the missing ones count as lost")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "seed of the victims' draw (0: from the clock; the report gives it)")
	fs.StringVar(&cfg.DataDir, "data", "", "parent of the members' data dirs and logs (default: a temporary one, kept only when the run fails)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: firehook chaos [flags]")
		fmt.Fprintln(stderr, "A local cluster under load; members killed (SIGKILL) and started again on a schedule; a report of what the endpoint got.")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, noEnv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("chaos: %w", err)
	}
	if cfg.Binary == "" {
		self, err := os.Executable()
		if err != nil {
			return fmt.Errorf("chaos: %w", err)
		}
		cfg.Binary = self
	}
	cfg.Log = stderr

	rep, err := chaos.Run(ctx, cfg)
	if errors.Is(err, chaos.ErrConfig) {
		return fmt.Errorf("%w: %w", err, errUsage)
	}
	if rep != nil {
		if *asJSON {
			if jerr := writeJSON(stdout, rep); jerr != nil {
				return errors.Join(err, fmt.Errorf("chaos: %w", jerr))
			}
		} else {
			fmt.Fprint(stdout, rep)
		}
	}
	if err != nil {
		return err
	}
	if f := rep.Failures(); len(f) > 0 {
		return fmt.Errorf("chaos: %s", strings.Join(f, "; "))
	}
	return nil
}
