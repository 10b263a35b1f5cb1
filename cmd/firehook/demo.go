package main

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// runDemo will run the all-in-one demo (a node, receivers, a visitor
// simulator, the dashboard). Until the delivery pipeline and dashboard
// exist it says so plainly instead of pretending.
func runDemo(_ context.Context, _ []string, _, stderr io.Writer) error {
	fmt.Fprintln(stderr, "firehook demo: not yet available. The demo needs webhook delivery and the dashboard,")
	fmt.Fprintln(stderr, "which are still being built. Today you can run a node: go run ./cmd/firehook serve")
	return errors.New("demo not yet available")
}
