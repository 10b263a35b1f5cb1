package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Version is the release, set at build time with -ldflags "-X main.Version=…".
var Version = "dev"

const usage = `firehook: real-time visitor signals to webhooks

Usage:
  firehook serve [flags]   run a node (firehook serve -h for flags)
  firehook demo [--rate N] [--people N] [--data DIR]
                           everything in one process: a node, receivers, simulated
                           visitors; prints the dashboard link (Ctrl-C stops)
  firehook graph generate --people N [--seed S] --out FILE [--truth FILE]
                           write a synthetic identity graph and its ground truth
  firehook graph import FILE [--admin URL] [--token TOKEN]
                           stream a graph file into a node, with a progress bar
  firehook receiver --listen ADDR --secret whsec_... [--secret ...]
                           verify signed webhooks and print one JSON line per delivery
  firehook bench [--endpoints N] [--people N] [--rate R] [--duration D] [--bad-endpoints PCT]
                 [--ramp] [--json] [--target URL --admin URL --token T [--pid PID]]
                           end-to-end benchmark: page views in, signed webhooks out,
                           against a raw POST baseline (firehook bench -h for flags)
  firehook cluster up [--nodes N] [--data DIR]
                           a local cluster of N serve processes on 127.0.0.1 (Ctrl-C stops)
  firehook chaos [--nodes N] [--duration D | --kills N] [--kill-every D] [--downtime D]
                 [--people N] [--rate R] [--seed S] [--data DIR] [--binary PATH] [--json]
                           a local cluster under load whose members are killed (SIGKILL)
                           and started again on a schedule; reports lost, duplicated and
                           out-of-order deliveries (firehook chaos -h for flags)
  firehook doctor [--data DIR] [--json]
                           check a stopped node's data directory and print a summary
                           (exit 1 on a problem)
  firehook mcp [--admin URL] [--key KEY]
                           an MCP server on stdio for AI agents, acting as one tenant
                           through a node's admin API (FIREHOOK_ADMIN_URL, FIREHOOK_API_KEY)
  firehook version         print the version

Every serve flag can also be set as FIREHOOK_<NAME> (--admin-listen → FIREHOOK_ADMIN_LISTEN).
`

// errUsage marks a command line we could not understand (exit code 2).
var errUsage = errors.New("usage")

func exitCode(err error) int {
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

// Run runs the firehook command line args (without the program name).
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("no command given: %w", errUsage)
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return runServe(ctx, rest, stdout, stderr)
	case "demo":
		return runDemo(ctx, rest, stdout, stderr)
	case "graph":
		return runGraph(ctx, rest, stdout, stderr)
	case "receiver":
		return runReceiver(ctx, rest, stdout, stderr)
	case "cluster":
		return runCluster(ctx, rest, stdout, stderr)
	case "bench":
		return runBench(ctx, rest, stdout, stderr)
	case "chaos":
		return runChaos(ctx, rest, stdout, stderr)
	case "doctor":
		return runDoctor(ctx, rest, stdout, stderr)
	case "mcp":
		return runMCP(ctx, rest, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "firehook", Version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q: %w", cmd, errUsage)
	}
}

// noEnv is parseFlags' getenv for the commands whose flags are not node
// settings (tools, the demo): a FIREHOOK_LISTEN meant for serve must not
// reach them.
func noEnv(string) string { return "" }

// writeJSON writes v to w as indented JSON (the commands' --json).
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}

// parseFlags parses args into fs, then fills every flag not given on the
// command line from FIREHOOK_<NAME> in the environment.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%v: %w", err, errUsage)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: %w", fs.Arg(0), errUsage)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		env := "FIREHOOK_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(env); v != "" {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s=%q: %v: %w", env, v, e, errUsage)
			}
		}
	})
	return err
}
