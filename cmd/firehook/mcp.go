package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/firehook/firehook/mcp"
)

// runMCP is `firehook mcp`: an MCP server on stdio whose tools act through
// a node's admin API with a tenant API key.
func runMCP(ctx context.Context, args []string, _ io.Writer, stderr io.Writer) error {
	fs := flag.NewFlagSet("firehook mcp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	adminURL := fs.String("admin", "http://127.0.0.1:8081", "the node's admin API")
	key := fs.String("key", "", "a tenant API key (fhk_…); prefer FIREHOOK_API_KEY, which the process list does not show")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: firehook mcp [--admin URL] [--key KEY]")
		fmt.Fprintln(stderr, "An MCP server on stdin/stdout (JSON-RPC lines) for AI agents, acting as one tenant.")
		fmt.Fprintln(stderr, "Flags can also be set as FIREHOOK_ADMIN_URL and FIREHOOK_API_KEY.")
		fs.PrintDefaults()
	}
	getenv := func(name string) string {
		switch name {
		case "FIREHOOK_ADMIN":
			return os.Getenv("FIREHOOK_ADMIN_URL")
		case "FIREHOOK_KEY":
			return os.Getenv("FIREHOOK_API_KEY")
		}
		return ""
	}
	if err := parseFlags(fs, args, getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("mcp: %w", err)
	}
	if *key == "" {
		return fmt.Errorf("mcp: a tenant API key is needed (--key or FIREHOOK_API_KEY): %w", errUsage)
	}
	// stdout is the protocol's: nothing else may be written there.
	return mcp.Serve(ctx, &mcp.Client{BaseURL: *adminURL, Key: *key}, Version)
}
