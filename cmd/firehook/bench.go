package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/firehook/firehook/bench"
)

// runBench runs the end-to-end benchmark (package bench) and prints its
// result: compact tables, or JSON with --json. Progress goes to stderr.
//
//	firehook bench [--endpoints N] [--people N] [--rate R] [--duration D]
//	    [--bad-endpoints PCT] [--ramp] [--json] [--target URL --admin URL --token T [--pid PID]] …
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("firehook bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg bench.Config
	fs.StringVar(&cfg.Target, "target", "", "ingest URL of a running node, or comma-separated URLs of cluster members sent to in turn (default: start a node in process)")
	fs.StringVar(&cfg.Admin, "admin", "", "admin URL of the --target node")
	fs.StringVar(&cfg.Token, "token", "", "operator token of the --target node (FIREHOOK_ADMIN_TOKEN)")
	fs.IntVar(&cfg.PID, "pid", 0, "process id of the --target node, to read its CPU time and peak RSS from /proc")
	fs.IntVar(&cfg.Endpoints, "endpoints", 1, "number of endpoints")
	fs.IntVar(&cfg.EndpointsPerTenant, "endpoints-per-tenant", 10, "endpoints per tenant; each page view goes to every endpoint of one tenant")
	fs.IntVar(&cfg.MaxInFlight, "max-in-flight", 0, "each endpoint's max_in_flight (0: the node's default, 8)")
	fs.IntVar(&cfg.People, "people", 10_000, "people in the imported identity graph")
	fs.Float64Var(&cfg.BadEndpointsPct, "bad-endpoints", 0, "percentage of bad endpoints: half black holes, half answering 500")
	fs.Float64Var(&cfg.Rate, "rate", 1000, "page views per second (the first step with --ramp)")
	fs.DurationVar(&cfg.Duration, "duration", bench.DefaultDuration, "how long to send (each step with --ramp)")
	fs.DurationVar(&cfg.Warmup, "warmup", 2*time.Second, "unmeasured load at --rate before the measured run (0: none)")
	fs.IntVar(&cfg.Senders, "senders", 128, "concurrent senders with keep-alive connections (page views; again for the raw baseline)")
	fs.DurationVar(&cfg.Drain, "drain", bench.DefaultDrain, "how long deliveries may take after the load before the missing ones count as lost")
	raw := fs.Bool("raw", true, "run the raw baseline: signed POSTs straight to the receivers at the same times")
	fs.Int64Var(&cfg.Seed, "seed", 1, "seed of the page views' tenants and people")
	fs.BoolVar(&cfg.Ramp, "ramp", false, "step the rate up from --rate until it is not sustained; report the max sustained rate")
	fs.Float64Var(&cfg.RampFactor, "ramp-factor", 1.25, "rate multiplier from one ramp step to the next")
	fs.DurationVar(&cfg.RampP99, "ramp-p99", bench.DefaultRampP99, "highest pixel → 202 p99 of a sustained ramp step")
	fs.IntVar(&cfg.RampMaxSteps, "ramp-max-steps", 12, "most ramp steps")
	fs.BoolVar(&cfg.NoFsync, "no-fsync", false, "in-process node: turn the event log's fsync off (comparison only)")
	fs.StringVar(&cfg.DataDir, "data", "", "in-process node's data directory (default: a temporary one, removed afterwards)")
	fs.StringVar(&cfg.ReceiverListen, "receiver-listen", "127.0.0.1:0", "listen address of the benchmark's webhook receivers")
	logLevel := fs.String("log-level", "off", "in-process node's log on stderr: debug, info, warn, error or off")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the measured steps to FILE (go tool pprof)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: firehook bench [flags]")
		fmt.Fprintln(stderr, "An end-to-end benchmark: page views in, signed webhooks out, against a raw baseline.")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, noEnv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("bench: %w", err)
	}
	cfg.NoRaw = !*raw
	if cfg.Token == "" {
		cfg.Token = os.Getenv("FIREHOOK_ADMIN_TOKEN")
	}
	if *logLevel != "off" {
		log, err := newLogger(stderr, *logLevel, "text")
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		cfg.NodeLog = log
	} else {
		cfg.NodeLog = slog.New(slog.DiscardHandler)
	}
	cfg.Progress = stderr
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		defer f.Close()
		cfg.CPUProfile = f
	}

	res, err := bench.Run(ctx, cfg)
	if err != nil {
		if errors.Is(err, bench.ErrConfig) {
			return fmt.Errorf("%w: %w", err, errUsage)
		}
		return err
	}
	if *asJSON {
		return writeJSON(stdout, res)
	}
	return res.WriteText(stdout)
}
