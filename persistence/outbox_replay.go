package persistence

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/firehook/firehook"
)

// replayWorkers is how many replays ReplaySince has in flight at once:
// enough for their fsyncs to be shared (group commit) rather than paid
// one after the other, few enough to leave room for the endpoint actors'
// writes.
const replayWorkers = 16

// Replay delivers delivery id again, with the same event id (the
// webhook-id of every attempt). A finished delivery (delivered or failed)
// becomes pending again, due at now: it is queued again (Pending) and
// expires no more. An unfinished one (pending or retrying) keeps its
// status and is brought forward: due at now, unless it already was due
// earlier. Either way its Attempts are kept, so the next attempt
// continues their numbering, and ReplayedAt becomes now, so that the
// retry window counts from the first attempt after the replay.
//
// It returns the delivery as stored (without Payload) once the change is
// on disk. ErrNotFound when the delivery does not exist (or its receipt
// has expired).
func (o *Outbox) Replay(id string, now time.Time) (firehook.Delivery, error) {
	d, err := o.change(id, now, func(d *firehook.Delivery) {
		if d.Status.Finished() {
			d.Status = firehook.DeliveryPending
		}
		if d.NextAttemptAt.IsZero() || d.NextAttemptAt.After(now) {
			d.NextAttemptAt = now
		}
		d.ReplayedAt = now
	})
	if err != nil {
		return firehook.Delivery{}, fmt.Errorf("outbox: replay %s: %w", id, err)
	}
	return d, nil
}

// ReplaySince replays (see Replay) every delivery of endpointID created
// at or after since, those with status only unless status is "", and
// returns how many it replayed. A receipt that expires meanwhile is
// skipped. On an error it stops and returns it with the count of those
// replayed before; each of those is durable. ErrInvalid for an unknown
// status (nothing is replayed then).
func (o *Outbox) ReplaySince(endpointID string, since, now time.Time, status firehook.DeliveryStatus) (n int, err error) {
	ds, err := o.Since(endpointID, since, status)
	if err != nil {
		return 0, fmt.Errorf("outbox: replay %s: %w", endpointID, err)
	}
	var (
		next     atomic.Int64 // index in ds of the next delivery to replay
		replayed atomic.Int64
		mu       sync.Mutex // guards first
		first    error
		wg       sync.WaitGroup
	)
	for range min(replayWorkers, len(ds)) {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(ds)); i = next.Add(1) - 1 {
				_, err := o.Replay(ds[i].ID, now)
				switch {
				case err == nil:
					replayed.Add(1)
				case errors.Is(err, firehook.ErrNotFound):
					// expired since Since read it
				default:
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					next.Store(int64(len(ds))) // the others stop after their current one
					return
				}
			}
		})
	}
	wg.Wait()
	return int(replayed.Load()), first
}
