package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/firehook/firehook/identity/synth"
)

// runGraphGenerate writes a deterministic synthetic identity graph and its
// ground truth (package identity/synth), then a summary line on stderr.
//
//	firehook graph generate --people N [--seed S] --out FILE [--truth FILE]
func runGraphGenerate(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := flag.NewFlagSet("firehook graph generate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	people := fs.Int("people", 0, "number of people (required)")
	seed := fs.Int64("seed", 0, "seed: the same flags write the same bytes")
	companyIPs := fs.Int("company-ips", 0, "company-only records with office IPs (default people/50; -1 for none)")
	visits := fs.Int("visits", 0, "ground-truth visits (default min(people, 10000); -1 for none)")
	out := fs.String("out", "", "graph file to write (required)")
	truthPath := fs.String("truth", "", "ground-truth file to write (default OUT.truth.ndjson)")
	if err := parseFlags(fs, args, noEnv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *people < 1 {
		return fmt.Errorf("graph generate: --people N (at least 1) is required: %w", errUsage)
	}
	if *out == "" {
		return fmt.Errorf("graph generate: --out FILE is required: %w", errUsage)
	}
	if *truthPath == "" {
		*truthPath = *out + ".truth.ndjson"
	}

	start := time.Now()
	graph, err := createOutput(ctx, *out)
	if err != nil {
		return err
	}
	truth, err := createOutput(ctx, *truthPath)
	if err != nil {
		graph.abort()
		return err
	}
	cfg := synth.Config{People: *people, Seed: *seed, CompanyIPs: *companyIPs, Visits: *visits}
	if err := synth.Generate(cfg, graph, truth); err != nil {
		graph.abort()
		truth.abort()
		return fmt.Errorf("graph generate: %w", err)
	}
	if err := errors.Join(graph.close(), truth.close()); err != nil {
		return fmt.Errorf("graph generate: %w", err)
	}
	secs := time.Since(start).Seconds()
	fmt.Fprintf(stderr, "graph generate: %d people, %d records, %d bytes in %.2fs (%.0f people/s) to %s; %d visits to %s\n",
		*people, graph.lines, graph.bytes, secs, float64(*people)/secs, *out, truth.lines, *truthPath)
	return nil
}

// output is a buffered output file that counts what it is given and
// refuses to go on once ctx is done (generating 10 million people takes a
// while; ^C must stop it).
type output struct {
	ctx   context.Context
	path  string
	f     *os.File
	w     *bufio.Writer
	bytes int64
	lines int64
}

func createOutput(ctx context.Context, path string) (*output, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("graph generate: %w", err)
	}
	return &output{ctx: ctx, path: path, f: f, w: bufio.NewWriterSize(f, 1<<20)}, nil
}

func (o *output) Write(p []byte) (int, error) {
	if err := o.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := o.w.Write(p)
	o.bytes += int64(n)
	o.lines += int64(bytes.Count(p[:n], []byte{'\n'}))
	return n, err
}

func (o *output) close() error {
	err := o.w.Flush()
	if cerr := o.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", o.path, err)
	}
	return nil
}

// abort closes and removes a file that was not completely written.
func (o *output) abort() {
	o.f.Close()
	os.Remove(o.path)
}
