package wal

import (
	"context"
	"errors"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
)

// faultyDisk is a WriteFile that fails while full is set: with ENOSPC
// after writing half of the bytes (a full disk cuts a write short), or
// with EROFS before writing any (a disk remounted read-only).
type faultyDisk struct {
	full, readOnly atomic.Bool
}

func (d *faultyDisk) write(f *os.File, b []byte) (int, error) {
	switch {
	case d.readOnly.Load():
		return 0, syscall.EROFS
	case d.full.Load():
		n, err := f.Write(b[:len(b)/2])
		if err != nil {
			return n, err
		}
		return n, syscall.ENOSPC
	}
	return f.Write(b)
}

// A full or read-only disk fails the appends made while it lasts, and
// nothing else: the log does not break, takes appends again when the disk
// has room, gives them the next sequences with no gap, and a restart
// reads every acknowledged record back with no damage (the part of a
// failed write that reached the disk was taken back).
func TestLog_DiskFullFailsAppendsUntilTheDiskRecovers(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(d *faultyDisk, on bool)
	}{
		{"full (a write cut short)", func(d *faultyDisk, on bool) { d.full.Store(on) }},
		{"read-only", func(d *faultyDisk, on bool) { d.readOnly.Store(on) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			disk := &faultyDisk{}
			l := open(t, Config{Dir: dir, SegmentSize: 2 << 10, WriteFile: disk.write})
			appendN(t, l, 0, 10)
			tc.set(disk, true)
			for i := range 5 {
				_, err := l.Append(context.Background(), record(100+i), nil)
				if !errors.Is(err, syscall.ENOSPC) && !errors.Is(err, syscall.EROFS) {
					t.Fatalf("Append on a bad disk: %v; want the disk's error", err)
				}
			}
			if l.LastSeq() != 10 {
				t.Fatalf("LastSeq %d after failed appends; want 10", l.LastSeq())
			}
			tc.set(disk, false)
			// Enough to cross into new segments, which are created on the
			// healed disk.
			seqs := appendN(t, l, 10, 100)
			if seqs[0] != 11 || seqs[99] != 110 {
				t.Fatalf("sequences after the disk recovered %d…%d; want 11…110", seqs[0], seqs[99])
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l2 := open(t, Config{Dir: dir})
			if d := l2.Damage(); len(d) != 0 {
				t.Fatalf("damage found at restart: %v", d)
			}
			got, data := scanAll(t, l2, 1)
			if len(got) != 110 || data[0] != string(record(0)) || data[10] != string(record(10)) || data[109] != string(record(109)) {
				t.Fatalf("%d records after a restart; want 110, in order", len(got))
			}
		})
	}

	t.Run("a new segment that cannot be created is tried again", func(t *testing.T) {
		dir := t.TempDir()
		disk := &faultyDisk{}
		l := open(t, Config{Dir: dir, SegmentSize: 1 << 10, WriteFile: disk.write})
		disk.readOnly.Store(true)
		for i := range 3 { // the first append needs a segment: its header cannot be written
			if _, err := l.Append(context.Background(), record(i), nil); !errors.Is(err, syscall.EROFS) {
				t.Fatalf("Append: %v; want EROFS", err)
			}
		}
		disk.readOnly.Store(false)
		if seqs := appendN(t, l, 0, 50); seqs[0] != 1 {
			t.Fatalf("first sequence after the disk recovered %d; want 1", seqs[0])
		}
	})
}
