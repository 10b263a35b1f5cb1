package actors

import (
	"sync"
	"testing"
	"time"
)

func TestDispatcher_Schedule(t *testing.T) {
	d := newDispatcher(300, 2)
	defer d.stop()

	t.Run("runs every batch, on kept workers and beyond them without waiting", func(t *testing.T) {
		release := make(chan struct{})
		var started, done sync.WaitGroup
		for range 5 { // more blocked batches than workers: none may wait for another
			started.Add(1)
			done.Add(1)
			d.Schedule(func() {
				started.Done()
				<-release
				done.Done()
			})
		}
		waitGroupWithin(t, &started, 5*time.Second, "every batch started while the others block")
		if n := d.workers.Load(); n != 2 {
			t.Errorf("%d workers; want the 2 kept ones (the rest on goroutines of their own)", n)
		}
		close(release)
		waitGroupWithin(t, &done, 5*time.Second, "every batch done")
	})

	t.Run("an idle worker takes the next batch", func(t *testing.T) {
		ran := make(chan struct{})
		deadline := time.Now().Add(5 * time.Second)
		for d.workers.Load() != 2 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		d.Schedule(func() { close(ran) })
		<-ran
		if n := d.workers.Load(); n != 2 {
			t.Errorf("%d workers after a batch on an idle one; want 2", n)
		}
	})

	t.Run("after stop, batches still run and no worker is kept", func(t *testing.T) {
		d.stop()
		if n := d.workers.Load(); n != 0 {
			t.Fatalf("%d workers after stop", n)
		}
		ran := make(chan struct{})
		d.Schedule(func() { close(ran) })
		select {
		case <-ran:
		case <-time.After(5 * time.Second):
			t.Fatal("a batch scheduled after stop did not run")
		}
	})
}

// waitGroupWithin waits for wg, failing the test after timeout.
func waitGroupWithin(t *testing.T, wg *sync.WaitGroup, timeout time.Duration, what string) {
	t.Helper()
	ch := make(chan struct{})
	go func() { wg.Wait(); close(ch) }()
	select {
	case <-ch:
	case <-time.After(timeout):
		t.Fatalf("timed out waiting for %s", what)
	}
}
