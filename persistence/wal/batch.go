package wal

import (
	"context"
	"fmt"
)

// AppendBatch appends records in the order given (other appenders may
// interleave, but these keep their relative order) and waits until every
// one is durable: one group commit for the lot instead of one wait each.
// tags[i] is records[i]'s tag for OnDurable; tags may be nil. It returns
// the sequence of the last record. On an error some of the records may be
// stored (the caller's retry then makes duplicates, never a loss); the
// caller must not reuse the buffers after an error.
func (l *Log) AppendBatch(ctx context.Context, records [][]byte, tags []any) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	for _, data := range records {
		if len(data) == 0 || len(data) > l.cfg.MaxRecord {
			return 0, fmt.Errorf("wal: append: %d bytes (1 to %d): %w", len(data), l.cfg.MaxRecord, ErrTooLarge)
		}
	}
	reqs := make([]*request, 0, len(records))
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return 0, ErrClosed
	}
	for i, data := range records {
		req := &request{data: data, done: make(chan error, 1)}
		if tags != nil {
			req.tag = tags[i]
		}
		select {
		case l.queue <- req:
			reqs = append(reqs, req)
		case <-ctx.Done():
			l.mu.RUnlock()
			return 0, ctx.Err() // the queued ones may still be stored
		}
	}
	l.mu.RUnlock()
	var last uint64
	for _, req := range reqs {
		select {
		case err := <-req.done:
			if err != nil {
				return 0, err
			}
			last = req.seq
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	return last, nil
}
