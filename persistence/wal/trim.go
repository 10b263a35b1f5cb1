package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// Trim removes, oldest first, whole segments whose records all have
// sequences below `below` and whose last record was written before
// cutoff; the active (last) segment is never removed, so the log's last
// sequence survives. It returns how many segments it removed. The caller
// passes as `below` the first sequence it may still need (the pipeline's
// checkpoint mark + 1).
func (l *Log) Trim(below uint64, cutoff time.Time) (int, error) {
	l.segMu.Lock()
	n := 0
	for n < len(l.segs)-1 {
		s := l.segs[n]
		if s.last >= below || !s.modTime.Before(cutoff) {
			break
		}
		n++
	}
	gone := append([]*segment(nil), l.segs[:n]...)
	l.segs = append(l.segs[:0:0], l.segs[n:]...)
	l.segMu.Unlock()
	var errs []error
	for _, s := range gone {
		if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if len(gone) > 0 {
		errs = append(errs, syncDir(l.cfg.Dir))
	}
	if err := errors.Join(errs...); err != nil {
		return len(gone), fmt.Errorf("wal: trim: %w", err)
	}
	return len(gone), nil
}
