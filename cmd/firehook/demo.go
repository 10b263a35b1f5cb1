package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/firehook/firehook/demo"
)

// demoStatusEvery is how often the demo prints a line of traffic figures.
var demoStatusEvery = 30 * time.Second

// runDemo runs the all-in-one demo (package demo): a node on free ports,
// a demo tenant with a synthetic graph, three endpoints on built-in
// receivers and a visitor simulator; it prints the dashboard's one-time
// login link and the admin token and runs until ctx ends (Ctrl-C).
//
//	firehook demo [--rate N] [--people N] [--data DIR] [--listen ADDR] [--admin-listen ADDR]
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("firehook demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	d := demo.DefaultConfig()
	fs.Float64Var(&d.Rate, "rate", d.Rate, "simulated page views per second")
	fs.IntVar(&d.People, "people", d.People, "people in the synthetic identity graph")
	fs.StringVar(&d.DataDir, "data", "", "keep the node's data in this directory (default: a temporary one, removed on exit)")
	fs.StringVar(&d.Listen, "listen", d.Listen, "public ingest listener address")
	fs.StringVar(&d.AdminListen, "admin-listen", d.AdminListen, "admin API and dashboard listener address")
	fs.Int64Var(&d.Seed, "seed", d.Seed, "seed of the graph and the simulation")
	logLevel := fs.String("log-level", "warn", "debug, info, warn or error (logs go to stderr)")
	if err := parseFlags(fs, args, noEnv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	log, err := newLogger(stderr, *logLevel, "text")
	if err != nil {
		return err
	}
	d.Log, d.Version = log, Version

	fmt.Fprintf(stderr, "firehook demo: starting (graph of %d people)…\n", d.People)
	dm, err := demo.Start(ctx, d)
	if err != nil {
		return err
	}
	dm.PrintBanner(stdout)

	tick := time.NewTicker(demoStatusEvery)
	defer tick.Stop()
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-dm.Node.Err():
			runErr = fmt.Errorf("demo: listener failed: %w", err)
			break loop
		case <-tick.C:
			fmt.Fprintf(stdout, "  %s  %s\n", time.Now().Format("15:04:05"), dm.Status())
		}
	}
	fmt.Fprintln(stderr, "firehook demo: stopping…")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := dm.Close(sctx); err != nil {
		return errors.Join(runErr, fmt.Errorf("demo: stop: %w", err))
	}
	fmt.Fprintf(stderr, "firehook demo: stopped. %s\n", dm.Status())
	return runErr
}
