package main

import (
	"context"
	"fmt"
	"io"
)

const graphUsage = `Usage:
  firehook graph generate --people N [--seed S] --out FILE [--truth FILE]
      write a synthetic identity graph (import NDJSON) and its ground truth
  firehook graph import FILE [--admin URL] [--token TOKEN]
      stream an NDJSON graph file (- for stdin) to a node's POST /v1/graph/import,
      with a progress bar; prints the node's report {imported, rejected, errors}
`

// runGraph runs the identity graph tools, one subcommand a file
// (graph_<subcommand>.go).
func runGraph(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, graphUsage)
		return fmt.Errorf("graph: no subcommand given: %w", errUsage)
	}
	switch sub, rest := args[0], args[1:]; sub {
	case "generate":
		return runGraphGenerate(ctx, rest, stdout, stderr)
	case "import":
		return runGraphImport(ctx, rest, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, graphUsage)
		return nil
	default:
		fmt.Fprint(stderr, graphUsage)
		return fmt.Errorf("graph: unknown subcommand %q: %w", sub, errUsage)
	}
}
