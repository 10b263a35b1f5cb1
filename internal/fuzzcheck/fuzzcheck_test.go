package fuzzcheck

import (
	"cmp"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestTargets: the finder finds the targets of issue 14's list, so that a
// finder that finds nothing cannot make TestFuzzTargets pass.
func TestTargets(t *testing.T) {
	got, err := Targets(moduleRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []Target{
		{"FuzzCollectBody", "http/ingest"}, {"FuzzCollectGIF", "http/ingest"},
		{"FuzzAdminRequest", "http/admin"}, {"FuzzEndpointURL", "http/admin"},
		{"FuzzParseRecord", "identity"}, {"FuzzGraphImport", "identity"}, {"FuzzNormalizeEmail", "identity"},
		{"FuzzVerify", "actors/webhook"},
	} {
		if !slices.Contains(got, want) {
			t.Errorf("Targets did not find %s in %s; found %v", want.Name, want.Dir, got)
		}
	}
}

// TestFuzzTargets runs every fuzz target of the module, one after
// another, with `go test -fuzz` for FIREHOOK_FUZZTIME (default 2s) each.
// A target that fails (a crasher, or a property that does not hold) fails
// its subtest, which prints go test's output and the new corpus entry
// that go test wrote into the target's testdata/fuzz: fix the code, then
// commit the entry as a seed.
//
// Minimising the inputs that add coverage is capped at 100 runs: the
// targets over a real store find many, and go test's default (60 s each)
// would spend the whole of a short run on them.
func TestFuzzTargets(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the fuzz targets are not run")
	}
	fuzztime := cmp.Or(os.Getenv("FIREHOOK_FUZZTIME"), "2s")
	if fuzztime == "0" || fuzztime == "off" {
		t.Skip("FIREHOOK_FUZZTIME=" + fuzztime + ": the fuzz targets are not run")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command runs the fuzz targets: %v", err)
	}
	root := moduleRoot(t)
	targets, err := Targets(root)
	if err != nil {
		t.Fatal(err)
	}
	start, ran := time.Now(), 0
	for i, tg := range targets {
		// A target can take a minute or two when the build cache is cold:
		// stop with a clear message rather than run into the test binary's
		// -timeout, whose panic says nothing of what was left.
		if deadline, ok := t.Deadline(); ok && time.Until(deadline) < 2*time.Minute {
			var left []string
			for _, tg := range targets[i:] {
				left = append(left, tg.Name)
			}
			t.Fatalf("close to the -timeout after %s: %s not run; raise -timeout or lower FIREHOOK_FUZZTIME",
				time.Since(start).Round(time.Second), strings.Join(left, ", "))
		}
		t.Run(tg.Name, func(t *testing.T) {
			ran++
			runTarget(t, goTool, root, tg, fuzztime)
		})
	}
	t.Logf("%d fuzz targets, -fuzztime %s each: %s in all", ran, fuzztime, time.Since(start).Round(time.Second))
}

// failingInput is how go test names the corpus entry of a failure.
var failingInput = regexp.MustCompile(`Failing input written to (\S+)`)

// progress is go test's progress line of a fuzz run.
var progress = regexp.MustCompile(`(?m)^fuzz: elapsed: .*$`)

// runTarget runs tg with go test -fuzz in the module root and fails t
// if it fails.
func runTarget(t *testing.T, goTool, root string, tg Target, fuzztime string) {
	args := []string{"test", "-run", "^$", "-fuzz", "^" + tg.Name + "$", "-fuzztime", fuzztime,
		"-fuzzminimizetime", "100x", tg.Pkg()}
	cmd := exec.CommandContext(t.Context(), goTool, args...)
	cmd.Dir = root
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start).Round(100 * time.Millisecond)
	if err == nil {
		lines := progress.FindAll(out, -1)
		var last []byte
		if len(lines) > 0 {
			last = lines[len(lines)-1]
		}
		t.Logf("%s (%s), %s: %s", tg.Name, tg.Pkg(), took, last)
		return
	}
	msg := fmt.Sprintf("go %s (in %s, %s): %v\n%s", strings.Join(args, " "), root, took, err, out)
	if m := failingInput.FindSubmatch(out); m != nil {
		entry := filepath.Join(tg.Dir, string(m[1]))
		msg += fmt.Sprintf("\nnew corpus entry: %s\nre-run it: go test -run '^%s$/^%s$' %s\n"+
			"fix the code, then commit the entry as a seed of %s", entry, tg.Name, filepath.Base(entry), tg.Pkg(), tg.Name)
	}
	t.Error(msg)
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := ModuleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	return root
}
