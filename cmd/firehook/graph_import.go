package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// runGraphImport streams an NDJSON graph file to a node's
// POST /v1/graph/import, showing progress on stderr, and prints the
// node's report ({imported, rejected, errors}) on stdout.
//
//	firehook graph import FILE [--admin URL] [--token TOKEN]
func runGraphImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("firehook graph import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	admin := fs.String("admin", "http://127.0.0.1:8081", "admin URL of the node (FIREHOOK_ADMIN_URL)")
	token := fs.String("token", "", "operator token (FIREHOOK_ADMIN_TOKEN)")
	file, rest, err := splitPositional(args)
	if err != nil {
		return err
	}
	if err := parseFlags(fs, rest, os.Getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if file == "" {
		return fmt.Errorf("graph import: FILE is required (- for stdin): %w", errUsage)
	}
	if *token == "" {
		*token = os.Getenv("FIREHOOK_ADMIN_TOKEN")
	}

	var in io.Reader = os.Stdin
	size := int64(-1)
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return fmt.Errorf("graph import: %w", err)
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil {
			size = st.Size()
		}
		in = f
	}
	body := &countingReader{r: in}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(*admin, "/")+"/v1/graph/import", body)
	if err != nil {
		return fmt.Errorf("graph import: %w", err)
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/x-ndjson")
	if *token != "" {
		req.Header.Set("Authorization", "Bearer "+*token)
	}

	stop := showProgress(stderr, body, size)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	stop()
	if err != nil {
		return fmt.Errorf("graph import: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("graph import: read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("graph import: node answered %s: %s", resp.Status, strings.TrimSpace(string(raw)))
	}
	var res struct {
		Imported int `json:"imported"`
		Rejected int `json:"rejected"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return fmt.Errorf("graph import: decode answer: %w", err)
	}
	secs := time.Since(start).Seconds()
	fmt.Fprintf(stderr, "imported %d records, rejected %d lines, %.1f s (%.0f lines/s)\n",
		res.Imported, res.Rejected, secs, float64(body.lines.Load())/max(secs, 1e-9))
	_, err = stdout.Write(raw)
	return err
}

// splitPositional takes the one positional argument (FILE) out of args,
// wherever it stands among the flags.
func splitPositional(args []string) (string, []string, error) {
	var pos string
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-" || !strings.HasPrefix(a, "-"):
			if pos != "" {
				return "", nil, fmt.Errorf("unexpected argument %q: %w", a, errUsage)
			}
			pos = a
		case !strings.Contains(a, "=") && (a == "--admin" || a == "-admin" || a == "--token" || a == "-token"):
			rest = append(rest, a)
			if i+1 < len(args) {
				i++
				rest = append(rest, args[i])
			}
		default:
			rest = append(rest, a)
		}
	}
	return pos, rest, nil
}

// countingReader counts the bytes and lines read through it.
type countingReader struct {
	r            io.Reader
	bytes, lines atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.bytes.Add(int64(n))
	lines := 0
	for _, b := range p[:n] {
		if b == '\n' {
			lines++
		}
	}
	c.lines.Add(int64(lines))
	return n, err
}

// showProgress draws a progress line on w every 250 ms until the
// returned stop is called (which waits for the drawing goroutine).
func showProgress(w io.Writer, c *countingReader, size int64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	start := time.Now()
	go func() {
		defer wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprintln(w)
				return
			case <-t.C:
				fmt.Fprint(w, "\r"+progressLine(c.bytes.Load(), c.lines.Load(), size, time.Since(start)))
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// progressLine renders one line: a bar when the size is known, bytes,
// lines and the line rate.
func progressLine(n, lines, size int64, elapsed time.Duration) string {
	rate := float64(lines) / max(elapsed.Seconds(), 1e-9)
	if size <= 0 {
		return fmt.Sprintf("%s, %d lines, %.0f lines/s ", mib(n), lines, rate)
	}
	const width = 30
	frac := min(1, float64(n)/float64(size))
	fill := int(frac * width)
	return fmt.Sprintf("[%s%s] %5.1f%% %s/%s, %d lines, %.0f lines/s ",
		strings.Repeat("#", fill), strings.Repeat(".", width-fill), 100*frac, mib(n), mib(size), lines, rate)
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
