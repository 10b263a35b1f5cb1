package wal

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// BenchmarkLog_Append measures durable appends (each answered after its
// fdatasync) of 400-byte records, about a stored page view, at 1, 16 and
// 128 concurrent appenders: group commit shares the fdatasyncs.
func BenchmarkLog_Append(b *testing.B) {
	rec := make([]byte, 400)
	for _, appenders := range []int{1, 16, 128} {
		b.Run(fmt.Sprintf("appenders=%d", appenders), func(b *testing.B) {
			l, err := Open(Config{Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			b.SetBytes(int64(len(rec)))
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			per := b.N / appenders
			for w := range appenders {
				n := per
				if w == 0 {
					n += b.N % appenders
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range n {
						if _, err := l.Append(context.Background(), rec, nil); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			st := l.Stats()
			b.ReportMetric(float64(st.Records)/float64(st.Syncs), "records/sync")
			b.ReportMetric(float64(st.SyncTime.Microseconds())/float64(st.Syncs), "µs/sync")
		})
	}
}
