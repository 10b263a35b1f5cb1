package endpoint

import (
	"fmt"
	"testing"

	"github.com/firehook/firehook"
)

// BenchmarkQueue_Cycle measures the endpoint actor's scheduling work for
// one delivery — add, promote, take, finish — with a backlog of persons
// lanes already queued: the per-delivery CPU an endpoint actor spends
// outside the request itself.
//
//	go test -run '^$' -bench Queue_Cycle -benchmem ./actors/endpoint/
func BenchmarkQueue_Cycle(b *testing.B) {
	for _, backlog := range []int{10, 10_000} {
		b.Run(fmt.Sprintf("backlog=%d", backlog), func(b *testing.B) {
			q := newQueue()
			for i := range backlog {
				q.add(dlv(fmt.Sprintf("w%d", i), 2, t0.Add(1e12))) // due far later: they stay waiting
			}
			ds := make([]firehook.Delivery, 1024)
			for i := range ds {
				ds[i] = dlv(fmt.Sprintf("p%d", i), 2, t0)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				q.add(ds[i%len(ds)]) // finished below: its id is free again
				q.promote(t0)
				l := q.take()
				done := *l.head()
				done.Status = firehook.DeliveryDelivered
				q.finish(done)
			}
		})
	}
}
