package wal

import (
	"os"
	"path/filepath"
	"testing"
)

// closedLog writes n records to a fresh log in dir with segments of
// segSize bytes and closes it.
func closedLog(t *testing.T, dir string, n int, segSize int64) {
	t.Helper()
	l, err := Open(Config{Dir: dir, SegmentSize: segSize})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 0, n)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// lastSegment returns the path of the newest segment in dir.
func lastSegment(t *testing.T, dir string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
	if len(files) == 0 {
		t.Fatal("no segment")
	}
	return files[len(files)-1]
}

// frameOffset returns where record i (0-based) of a one-segment log starts.
func frameOffset(i int) int64 {
	off := int64(headerSize)
	for j := range i {
		off += int64(frameSize + len(record(j)))
	}
	return off
}

func TestLog_Recover(t *testing.T) {
	t.Run("a torn tail is cut off, reported, and its sequences never reused", func(t *testing.T) {
		dir := t.TempDir()
		closedLog(t, dir, 100, 0)
		seg := lastSegment(t, dir)
		info, _ := os.Stat(seg)
		if err := os.Truncate(seg, info.Size()-5); err != nil { // half of record 100 is gone
			t.Fatal(err)
		}
		l := open(t, Config{Dir: dir})
		dmg := l.Damage()
		if len(dmg) != 1 || dmg[0].After != 99 || dmg[0].Before != 0 {
			t.Fatalf("damage %v; want one after 99 running to the end", dmg)
		}
		seqs, data := scanAll(t, l, 1)
		if len(seqs) != 99 || seqs[98] != 99 || data[98] != string(record(98)) {
			t.Fatalf("%d records after repair; want 1..99", len(seqs))
		}
		if next := appendN(t, l, 100, 1)[0]; next <= 100 {
			t.Fatalf("next sequence %d reuses the lost record's", next)
		}
		_ = l.Close()
		l2 := open(t, Config{Dir: dir})
		if d := l2.Damage(); len(d) != 0 {
			t.Fatalf("damage after the repair was reopened: %v", d)
		}
		if seqs, _ := scanAll(t, l2, 1); len(seqs) != 100 {
			t.Fatalf("%d records after reopening the repaired log; want 100", len(seqs))
		}
	})

	t.Run("a flipped byte costs the record it hit, not the records after it", func(t *testing.T) {
		dir := t.TempDir()
		closedLog(t, dir, 100, 0)
		seg := lastSegment(t, dir)
		b, _ := os.ReadFile(seg)
		b[frameOffset(40)+frameSize+3] ^= 0x55 // in the data of record 41
		if err := os.WriteFile(seg, b, 0o644); err != nil {
			t.Fatal(err)
		}
		l := open(t, Config{Dir: dir})
		dmg := l.Damage()
		if len(dmg) != 1 || dmg[0].After != 40 || dmg[0].Before != 42 {
			t.Fatalf("damage %v; want one between 40 and 42", dmg)
		}
		seqs, _ := scanAll(t, l, 1)
		if len(seqs) != 99 || seqs[39] != 40 || seqs[40] != 42 || l.LastSeq() != 100 {
			t.Fatalf("%d records, around the damage %v, LastSeq %d; want 99 without 41, last 100", len(seqs), seqs[38:42], l.LastSeq())
		}
		if next := appendN(t, l, 100, 1)[0]; next != 101 {
			t.Fatalf("next sequence %d; want 101 (the damage was inside the log)", next)
		}
	})

	t.Run("any single flipped byte loses at most one record and never panics", func(t *testing.T) {
		src := t.TempDir()
		closedLog(t, src, 8, 0)
		seg := lastSegment(t, src)
		orig, _ := os.ReadFile(seg)
		for off := range len(orig) {
			dir := t.TempDir()
			b := append([]byte(nil), orig...)
			b[off] ^= 0x01
			if err := os.WriteFile(filepath.Join(dir, filepath.Base(seg)), b, 0o644); err != nil {
				t.Fatal(err)
			}
			l, err := Open(Config{Dir: dir})
			if err != nil {
				t.Errorf("flip at %d: Open: %v", off, err)
				continue
			}
			seqs, _ := scanAll(t, l, 1)
			if len(seqs) < 7 || len(l.Damage()) != 1 {
				t.Errorf("flip at %d: %d records, damage %v; want ≥ 7 and one report", off, len(seqs), l.Damage())
			}
			_ = l.Close()
		}
	})

	t.Run("a segment left empty by a crash at its creation is removed", func(t *testing.T) {
		dir := t.TempDir()
		closedLog(t, dir, 10, 0)
		if err := os.WriteFile(filepath.Join(dir, segmentName(11)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		l := open(t, Config{Dir: dir})
		if l.LastSeq() != 10 || l.Stats().Segments != 1 {
			t.Fatalf("LastSeq %d, %d segments; want 10, 1", l.LastSeq(), l.Stats().Segments)
		}
		if seq := appendN(t, l, 10, 1)[0]; seq != 11 {
			t.Fatalf("next sequence %d; want 11", seq)
		}
	})
}
