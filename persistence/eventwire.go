package persistence

import (
	"context"
	"errors"
	"fmt"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/persistence/wal"
)

// EncodeEvent appends the event log's binary form of ev (every field but
// Seq) to dst: the form events travel in between nodes too.
func EncodeEvent(dst []byte, ev *firehook.Event) []byte { return appendEvent(dst, ev) }

// DecodeEvent decodes what EncodeEvent wrote. Seq is left zero.
func DecodeEvent(b []byte) (*firehook.Event, error) {
	ev := new(firehook.Event)
	if err := decodeEvent(b, ev); err != nil {
		return nil, err
	}
	return ev, nil
}

// AppendBatch stores evs durably in the given order (one group commit for
// the lot) and sets their Seq. It is how a node stores the events another
// node hands it. On an error some of them may be stored: a retry makes
// duplicates (the pipeline is idempotent by event id), never a loss.
func (l *EventLog) AppendBatch(ctx context.Context, evs []*firehook.Event) error {
	if len(evs) == 0 {
		return nil
	}
	recs := make([][]byte, len(evs))
	tags := make([]any, len(evs))
	for i, ev := range evs {
		ev.Seq = 0
		recs[i] = appendEvent(nil, ev)
		tags[i] = ev
	}
	if _, err := l.wal.AppendBatch(ctx, recs, tags); err != nil {
		if errors.Is(err, wal.ErrClosed) {
			return fmt.Errorf("event log: append: %w", firehook.ErrClosed)
		}
		return fmt.Errorf("event log: append batch: %w: %w", firehook.ErrStorage, err)
	}
	return nil
}
