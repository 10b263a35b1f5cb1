package persistence

import (
	"io"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves a goroutine behind: the
// committer, the GC loop and badger's own workers must all end with Close.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testConfig is a durable store under dir with small badger buffers so
// that tests open quickly and cross badger's batch-size limits early.
func testConfig(dir string) Config {
	cfg := DefaultConfig(dir)
	cfg.MemTableSize = 1 << 20
	cfg.BlockCacheSize = 1 << 20
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() && os.Getenv("FIREHOOK_TEST_LOG") != "" {
		cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return cfg
}

// openStore opens cfg and closes the store when the test ends (a second
// Close by the test itself is harmless).
func openStore(t testing.TB, cfg Config) *Store {
	t.Helper()
	s, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open(%q): %v", cfg.Dir, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// closeStore closes s and fails the test on error.
func closeStore(t testing.TB, s *Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// reopen closes s and opens the same directory again with cfg.
func reopen(t testing.TB, s *Store, cfg Config) *Store {
	t.Helper()
	closeStore(t, s)
	return openStore(t, cfg)
}

// waitFor polls cond until it holds or timeout passes, then fails with what.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitGroupWithin waits for wg and fails the test when that takes longer
// than timeout (something blocks forever).
func waitGroupWithin(t testing.TB, wg *sync.WaitGroup, timeout time.Duration, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		t.Fatalf("%s did not finish within %v", what, timeout)
	}
}

// runConcurrently runs op b.N times: in a plain loop for one goroutine
// (RunParallel cannot start fewer than GOMAXPROCS), else spread over
// about goroutines goroutines. It returns how many goroutines it used.
func runConcurrently(b *testing.B, goroutines int, op func()) int {
	b.Helper()
	b.ReportAllocs()
	b.ResetTimer()
	defer b.StopTimer()
	if goroutines == 1 {
		for b.Loop() {
			op()
		}
		return 1
	}
	procs := runtime.GOMAXPROCS(0)
	p := max(1, goroutines/procs)
	b.SetParallelism(p)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			op()
		}
	})
	return p * procs
}
