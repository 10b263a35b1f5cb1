package wal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// open opens a log in dir and closes it when the test ends.
func open(t testing.TB, cfg Config) *Log {
	t.Helper()
	l, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func record(i int) []byte { return []byte(fmt.Sprintf("record %06d %s", i, "payload")) }

// appendN appends records first..first+n-1 from one goroutine and
// returns their sequences.
func appendN(t testing.TB, l *Log, first, n int) []uint64 {
	t.Helper()
	seqs := make([]uint64, 0, n)
	for i := first; i < first+n; i++ {
		seq, err := l.Append(context.Background(), record(i), i)
		if err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		seqs = append(seqs, seq)
	}
	return seqs
}

// scanAll returns every record from `from` on, by sequence.
func scanAll(t testing.TB, l *Log, from uint64) (seqs []uint64, data []string) {
	t.Helper()
	err := l.Scan(from, func(seq uint64, d []byte) bool {
		seqs = append(seqs, seq)
		data = append(data, string(d))
		return true
	})
	if err != nil {
		t.Fatalf("Scan(%d): %v", from, err)
	}
	return seqs, data
}

func TestLog_Append(t *testing.T) {
	t.Run("concurrent appends get distinct sequences 1..n and read back in order", func(t *testing.T) {
		l := open(t, Config{Dir: t.TempDir()})
		const workers, each = 16, 200
		var mu sync.Mutex
		got := map[uint64]int{}
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					n := w*each + i
					seq, err := l.Append(context.Background(), record(n), nil)
					if err != nil {
						t.Errorf("Append: %v", err)
						return
					}
					mu.Lock()
					got[seq] = n
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(got) != workers*each || l.LastSeq() != workers*each {
			t.Fatalf("%d distinct sequences, LastSeq %d; want %d", len(got), l.LastSeq(), workers*each)
		}
		seqs, data := scanAll(t, l, 1)
		for i, seq := range seqs {
			if seq != uint64(i+1) || data[i] != string(record(got[seq])) {
				t.Fatalf("record %d: seq %d data %q; want seq %d data %q", i, seq, data[i], i+1, record(got[seq]))
			}
		}
		if st := l.Stats(); st.Records != workers*each || st.Syncs == 0 || st.Syncs > st.Records {
			t.Errorf("stats %+v", st)
		}
	})

	t.Run("a reopened log keeps its records and numbers on after them", func(t *testing.T) {
		dir := t.TempDir()
		l, err := Open(Config{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		appendN(t, l, 0, 10)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l = open(t, Config{Dir: dir})
		if l.LastSeq() != 10 || len(l.Damage()) != 0 {
			t.Fatalf("LastSeq %d damage %v; want 10, none", l.LastSeq(), l.Damage())
		}
		if seqs := appendN(t, l, 10, 5); seqs[0] != 11 || seqs[4] != 15 {
			t.Fatalf("sequences after reopen %v; want 11..15", seqs)
		}
		if seqs, _ := scanAll(t, l, 1); len(seqs) != 15 {
			t.Fatalf("%d records; want 15", len(seqs))
		}
	})

	t.Run("OnDurable sees every record in order with its tag before Append returns", func(t *testing.T) {
		var mu sync.Mutex
		var seen []Entry
		l := open(t, Config{Dir: t.TempDir(), OnDurable: func(es []Entry) {
			mu.Lock()
			seen = append(seen, es...)
			mu.Unlock()
		}})
		for i := range 50 {
			seq, err := l.Append(context.Background(), record(i), i)
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			last := seen[len(seen)-1]
			mu.Unlock()
			if last.Seq != seq || last.Tag != i {
				t.Fatalf("after Append %d: last entry %+v; want seq %d tag %d", i, last, seq, i)
			}
		}
	})

	t.Run("refuses empty and oversized records and appends after Close", func(t *testing.T) {
		l := open(t, Config{Dir: t.TempDir(), MaxRecord: 100})
		for _, d := range [][]byte{nil, make([]byte, 101)} {
			if _, err := l.Append(context.Background(), d, nil); !errors.Is(err, ErrTooLarge) {
				t.Errorf("Append(%d bytes) = %v; want ErrTooLarge", len(d), err)
			}
		}
		_ = l.Close()
		if _, err := l.Append(context.Background(), record(1), nil); !errors.Is(err, ErrClosed) {
			t.Errorf("Append after Close = %v; want ErrClosed", err)
		}
		if err := l.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})

	t.Run("a failed fdatasync fails its appends and every later one", func(t *testing.T) {
		fail := make(chan struct{})
		var once sync.Once
		l := open(t, Config{Dir: t.TempDir(), SyncFile: func(f *os.File) error {
			select {
			case <-fail:
				return errors.New("injected EIO")
			default:
				return fdatasync(f)
			}
		}})
		appendN(t, l, 0, 3)
		once.Do(func() { close(fail) })
		if _, err := l.Append(context.Background(), record(3), nil); err == nil {
			t.Fatal("Append with a failing fdatasync succeeded")
		}
		if _, err := l.Append(context.Background(), record(4), nil); err == nil {
			t.Fatal("Append after a failed fdatasync succeeded")
		}
		if l.LastSeq() != 3 {
			t.Errorf("LastSeq %d; want 3 (the failed record is not durable)", l.LastSeq())
		}
	})
}

func TestLog_Segments(t *testing.T) {
	dir := t.TempDir()
	l := open(t, Config{Dir: dir, SegmentSize: 4 << 10})
	appendN(t, l, 0, 2000)
	st := l.Stats()
	if st.Segments < 10 {
		t.Fatalf("%d segments of 4 KiB for 2000 records; want many", st.Segments)
	}
	t.Run("a scan from any sequence starts exactly there, across segments", func(t *testing.T) {
		for _, from := range []uint64{1, 2, 511, 512, 513, 1000, 1999, 2000} {
			seqs, data := scanAll(t, l, from)
			if len(seqs) != int(2001-from) || seqs[0] != from || data[0] != string(record(int(from-1))) {
				t.Fatalf("Scan(%d): %d records from %d; want %d from %d", from, len(seqs), seqs[0], 2001-from, from)
			}
		}
		if seqs, _ := scanAll(t, l, 2001); len(seqs) != 0 {
			t.Fatalf("Scan past the end: %d records", len(seqs))
		}
	})
	t.Run("a scan stops when fn says so", func(t *testing.T) {
		n := 0
		if err := l.Scan(1, func(uint64, []byte) bool { n++; return n < 7 }); err != nil || n != 7 {
			t.Fatalf("Scan stopped after %d (err %v); want 7", n, err)
		}
	})
	t.Run("trim drops old segments below the mark, never the active one", func(t *testing.T) {
		if n, err := l.Trim(1000, time.Now().Add(-time.Hour)); err != nil || n != 0 {
			t.Fatalf("Trim with a cutoff before every write removed %d (%v); want 0", n, err)
		}
		n, err := l.Trim(1000, time.Now().Add(time.Second))
		if err != nil || n == 0 {
			t.Fatalf("Trim(1000) removed %d (%v)", n, err)
		}
		st2 := l.Stats()
		if st2.Segments != st.Segments-n || st2.DiskBytes >= st.DiskBytes || st2.FirstSeq > 1000 || st2.FirstSeq <= 1 {
			t.Fatalf("after trim %+v (before %+v)", st2, st)
		}
		seqs, _ := scanAll(t, l, 1)
		if seqs[0] != st2.FirstSeq || seqs[len(seqs)-1] != 2000 {
			t.Fatalf("records %d..%d after trim; want %d..2000", seqs[0], seqs[len(seqs)-1], st2.FirstSeq)
		}
		n, _ = l.Trim(1<<62, time.Now().Add(time.Hour))
		if st3 := l.Stats(); st3.Segments != 1 || l.LastSeq() != 2000 {
			t.Fatalf("trimming everything left %d segments, LastSeq %d; want the active one, 2000", st3.Segments, l.LastSeq())
		}
		if seqs := appendN(t, l, 2000, 1); seqs[0] != 2001 {
			t.Fatalf("next sequence after a full trim %d; want 2001", seqs[0])
		}
		files, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
		if len(files) != l.Stats().Segments {
			t.Fatalf("%d files for %d segments", len(files), l.Stats().Segments)
		}
	})
}
