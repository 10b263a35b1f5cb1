// Package browsertest starts headless Chromium for the browser tests (the
// dashboard, the pixel) and drives it with the DevTools protocol through
// chromedp. Only _test.go files import it.
//
// The browser is Debian's chromium (/usr/bin/chromium, installed by
// .ci/run), started with --headless --no-sandbox --disable-gpu
// --disable-background-networking --no-first-run and a fresh
// --user-data-dir in the test's temporary directory. A test that needs it
// skips when it is not installed, except under FIREHOOK_CI=1 (CI), where it
// fails instead.
package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Path returns the Chromium binary, or skips the test when there is none
// (fails it under FIREHOOK_CI=1). FIREHOOK_CHROMIUM names another binary.
func Path(tb testing.TB) string {
	tb.Helper()
	names := []string{"chromium", "chromium-browser", "google-chrome"}
	if p := os.Getenv("FIREHOOK_CHROMIUM"); p != "" {
		names = []string{p}
	}
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	if os.Getenv("FIREHOOK_CI") == "1" {
		tb.Fatalf("chromium is not installed (FIREHOOK_CI=1: the browser tests must run; .ci/run installs Debian's chromium)")
	}
	tb.Skip("chromium is not installed: apt-get install chromium to run the browser tests")
	return ""
}

// Browser is one headless Chromium process.
type Browser struct {
	root context.Context // the browser's first tab (about:blank); tabs are made under it

	mu     sync.Mutex // guards errors
	errors []string   // uncaught exceptions and console errors of every tab
}

// New starts Chromium with a fresh profile; it stops when the test ends.
// timeout bounds everything the test does with it.
func New(tb testing.TB, timeout time.Duration) *Browser {
	tb.Helper()
	path := Path(tb)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancelTimeout := context.WithTimeout(context.Background(), timeout)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	root, cancelRoot := chromedp.NewContext(actx)
	tb.Cleanup(func() {
		cancelRoot()
		cancelAlloc() // kills the browser and waits for it
		cancelTimeout()
	})
	// The first action starts the browser; it lives as long as root, that
	// is the test that called New (tabs of its subtests come and go).
	if err := chromedp.Do(root); err != nil {
		tb.Fatalf("start chromium: %v", err)
	}
	return &Browser{root: root}
}

// Tab opens a new tab (its own sessionStorage; cookies and localStorage
// are the profile's) and returns its context. Uncaught exceptions and
// console errors of the page are collected (Errors).
func (b *Browser) Tab(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := chromedp.NewContext(b.root)
	tb.Cleanup(cancel)
	err := chromedp.Listen(ctx, func(ev any) { // opens the tab
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			msg := ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				msg += " " + ev.ExceptionDetails.Exception.Description
			}
			b.addError("exception: " + msg)
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				b.addError("console.error: " + strings.Join(parts, " "))
			}
		}
	})
	if err != nil {
		tb.Fatalf("start chromium tab: %v", err)
	}
	return ctx
}

func (b *Browser) addError(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errors = append(b.errors, s)
}

// Errors returns the page errors seen so far in every tab.
func (b *Browser) Errors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

// WaitFor evaluates the JavaScript expression js in the tab every 100 ms
// until it returns true, and fails the test after timeout, with what the
// expression describe (evaluated then) returns.
func WaitFor(tb testing.TB, ctx context.Context, timeout time.Duration, js, describe string) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for {
		var ok bool
		ok, lastErr = chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		if lastErr == nil && ok {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var state string
	if describe != "" {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[any](describe))
		if err != nil {
			state = "(describe failed: " + err.Error() + ")"
		} else {
			state = fmt.Sprint(v)
		}
	}
	tb.Fatalf("after %s, %s is still not true (last error: %v); page: %s", timeout, js, lastErr, state)
}

// Eval evaluates js in the tab and returns its value as a T, failing the
// test on error.
func Eval[T any](tb testing.TB, ctx context.Context, js string) T {
	tb.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		tb.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// Do runs actions in the tab, failing the test on error.
func Do(tb testing.TB, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
}
