// Command firehook is the Firehook binary: a node (serve), the all-in-one
// demo, and the tools around them. main only calls Run; each subcommand
// is its own file.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "firehook:", err)
		os.Exit(exitCode(err))
	}
}
