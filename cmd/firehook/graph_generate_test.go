package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/identity/synth"
)

// graphGenerate runs `firehook graph generate args…` in process and
// returns the files it wrote and what it said on stderr.
func graphGenerate(t *testing.T, args ...string) (graph, truth []byte, stderr string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "graph.ndjson")
	var so, se bytes.Buffer
	err := Run(context.Background(), append([]string{"graph", "generate", "--out", out}, args...), &so, &se)
	if err != nil {
		t.Fatalf("graph generate %v: %v\n%s", args, err, se.String())
	}
	graph, err = os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	truth, err = os.ReadFile(out + ".truth.ndjson") // the default truth path
	if err != nil {
		t.Fatal(err)
	}
	return graph, truth, se.String()
}

func TestGraphGenerate(t *testing.T) {
	graph, truth, stderr := graphGenerate(t, "--people", "2000", "--seed", "11")

	t.Run("same seed, same bytes; another seed, other bytes", func(t *testing.T) {
		g2, t2, _ := graphGenerate(t, "--people", "2000", "--seed", "11")
		if !bytes.Equal(graph, g2) || !bytes.Equal(truth, t2) {
			t.Error("two runs with the same seed wrote different files")
		}
		g3, t3, _ := graphGenerate(t, "--people", "2000", "--seed", "12")
		if bytes.Equal(graph, g3) || bytes.Equal(truth, t3) {
			t.Error("another seed wrote the same files")
		}
	})

	t.Run("every graph line imports", func(t *testing.T) {
		ls := bytes.Split(bytes.TrimSuffix(graph, []byte("\n")), []byte("\n"))
		if len(ls) != 2000+2000/50 {
			t.Fatalf("%d graph lines, want 2040 (2000 people, 40 company-only records)", len(ls))
		}
		for i, l := range ls {
			if _, err := identity.ParseRecord(l); err != nil {
				t.Fatalf("graph line %d: %v", i+1, err)
			}
		}
	})

	t.Run("every truth visit carries valid identifiers", func(t *testing.T) {
		ls := bytes.Split(bytes.TrimSuffix(truth, []byte("\n")), []byte("\n"))
		if len(ls) != 2000 {
			t.Fatalf("%d truth lines, want 2000", len(ls))
		}
		for i, l := range ls {
			var v synth.Visit
			if err := json.Unmarshal(l, &v); err != nil || v.Kind == "" || len(v.Identifiers) == 0 {
				t.Fatalf("truth line %d: %s: %v", i+1, l, err)
			}
			for _, id := range v.Identifiers {
				if _, err := identity.NewIdentifier(id.Type, id.Value); err != nil {
					t.Fatalf("truth line %d: %+v: %v", i+1, id, err)
				}
			}
		}
	})

	t.Run("summary on stderr", func(t *testing.T) {
		for _, want := range []string{"2000 people", "2040 records", "2000 visits", "people/s"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr %q does not say %q", stderr, want)
			}
		}
	})
}

func TestGraphGenerate_truthPath(t *testing.T) {
	dir := t.TempDir()
	out, truth := filepath.Join(dir, "g.ndjson"), filepath.Join(dir, "truth.ndjson")
	var se bytes.Buffer
	if err := Run(context.Background(), []string{"graph", "generate", "--people", "10", "--out", out, "--truth", truth}, &se, &se); err != nil {
		t.Fatalf("%v\n%s", err, se.String())
	}
	if _, err := os.Stat(truth); err != nil {
		t.Errorf("--truth file: %v", err)
	}
	if _, err := os.Stat(out + ".truth.ndjson"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("default truth file written although --truth was given: %v", err)
	}
}

func TestGraphGenerate_usageErrors(t *testing.T) {
	out := filepath.Join(t.TempDir(), "g.ndjson")
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"no subcommand", []string{"graph"}},
		{"unknown subcommand", []string{"graph", "frobnicate"}},
		{"no --people", []string{"graph", "generate", "--out", out}},
		{"zero people", []string{"graph", "generate", "--people", "0", "--out", out}},
		{"no --out", []string{"graph", "generate", "--people", "10"}},
		{"not a number", []string{"graph", "generate", "--people", "ten", "--out", out}},
		{"a stray argument", []string{"graph", "generate", "--people", "10", "--out", out, "extra"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var se bytes.Buffer
			err := Run(context.Background(), tc.args, &se, &se)
			if !errors.Is(err, errUsage) || exitCode(err) != 2 {
				t.Errorf("Run(%q) = %v; want a usage error (exit code 2)", tc.args, err)
			}
		})
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused command line wrote %s", out)
	}
}

func TestGraphGenerate_cancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := filepath.Join(t.TempDir(), "g.ndjson")
	var se bytes.Buffer
	err := Run(ctx, []string{"graph", "generate", "--people", "1000", "--out", out}, &se, &se)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run with a cancelled context = %v; want context.Canceled", err)
	}
	for _, p := range []string{out, out + ".truth.ndjson"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("an interrupted run left %s behind", p)
		}
	}
}
