package webhook_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/firehook/firehook/actors/webhook"
)

func TestClient_Do_poolPerEndpoint(t *testing.T) {
	// Each burst's requests are all held by the receiver until the last
	// one has arrived: they are in flight at once, on as many connections.
	var hold atomic.Pointer[chan struct{}]
	rcv := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) {
		<-*hold.Load()
		w.WriteHeader(http.StatusNoContent)
	})
	c := loopbackClient(t)
	burst := func(t *testing.T, pool string, size int) {
		t.Helper()
		release := make(chan struct{})
		hold.Store(&release)
		start := rcv.requests.Load()
		var wg sync.WaitGroup
		for range size {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res := c.Do(context.Background(), webhook.Request{URL: rcv.URL, Body: []byte("{}"), Pool: pool, PoolSize: size})
				if res.Err != nil || res.StatusCode != http.StatusNoContent {
					t.Errorf("attempt: %d %v", res.StatusCode, res.Err)
				}
			}()
		}
		eventually(t, 10*time.Second, "the burst in flight", func() bool { return rcv.requests.Load()-start == int64(size) })
		close(release)
		wg.Wait()
	}
	const size = 24 // above the shared pool's 16 idle connections a host

	t.Run("an endpoint's pool keeps max_in_flight connections alive between bursts", func(t *testing.T) {
		burst(t, "ep_a", size)
		first := rcv.conns.Load()
		burst(t, "ep_a", size)
		if rcv.conns.Load() != first || first != size {
			t.Fatalf("%d connections after the first burst, %d after the second; want %d, none new", first, rcv.conns.Load(), size)
		}
	})
	t.Run("another endpoint on the same host has a pool of its own", func(t *testing.T) {
		before := rcv.conns.Load()
		burst(t, "ep_b", 4)
		if got := rcv.conns.Load() - before; got != 4 {
			t.Fatalf("ep_b opened %d connections; want 4 of its own", got)
		}
	})
	t.Run("a released pool closes its idle connections", func(t *testing.T) {
		closedBefore := rcv.closed.Load()
		c.Release("ep_a")
		eventually(t, 5*time.Second, "ep_a's connections closed", func() bool { return rcv.closed.Load()-closedBefore == size })
	})
}
