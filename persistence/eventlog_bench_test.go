package persistence

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkEventLog_Append measures group commit: appends per second and
// commits (fsyncs) per event at 1, 16 and 128 concurrent appenders, with
// the default fsync per commit and, for comparison, without it.
//
// RunParallel starts SetParallelism(p) × GOMAXPROCS goroutines, so the
// goroutine counts are exact only when GOMAXPROCS divides them; the
// "goroutines" metric reports the count actually used. One appender runs
// as a plain loop (RunParallel cannot start fewer than GOMAXPROCS).
func BenchmarkEventLog_Append(b *testing.B) {
	for _, mode := range []struct {
		name   string
		noSync bool
	}{
		{"fsync", false},
		{"nosync", true},
	} {
		for _, goroutines := range []int{1, 16, 128} {
			b.Run(fmt.Sprintf("%s/goroutines=%d", mode.name, goroutines), func(b *testing.B) {
				cfg := testConfig(b.TempDir())
				cfg.MemTableSize = 64 << 20 // the production default: badger's batches stay large
				cfg.EventLog.NoSync = mode.noSync
				s := openStore(b, cfg)
				ev := testEvent(0)
				ctx := context.Background()
				append1 := func() {
					e := *ev // a fresh event per append, as ingest makes one per request
					if err := s.Events.Append(ctx, &e); err != nil {
						b.Error(err)
					}
				}

				used := runConcurrently(b, goroutines, append1)

				st := s.Events.Stats()
				if st.Events > 0 {
					b.ReportMetric(float64(st.Events)/b.Elapsed().Seconds(), "events/s")
					b.ReportMetric(float64(st.Commits)/float64(st.Events), "commits/event")
				}
				if st.Commits > 0 && !mode.noSync {
					b.ReportMetric(float64(st.SyncTime.Microseconds())/float64(st.Commits), "fsync-µs/commit")
				}
				b.ReportMetric(float64(used), "goroutines")
			})
		}
	}
}
