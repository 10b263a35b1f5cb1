package wal

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzOpen writes arbitrary bytes as a segment, after a header or
// instead of one, and opens the log: recovery must never panic, must
// keep only intact frames with growing sequences, and a second open
// must find the repaired log clean and identical.
func FuzzOpen(f *testing.F) {
	good := appendHeader(nil, 1)
	for i := range 3 {
		good = appendFrame(good, uint64(i+1), record(i))
	}
	f.Add(good[headerSize:], true)
	f.Add(good, false)
	f.Add(good[headerSize:len(good)-3], true)
	f.Add([]byte{0, 0, 0, 0}, true)
	f.Fuzz(func(t *testing.T, body []byte, withHeader bool) {
		dir := t.TempDir()
		b := body
		if withHeader {
			b = append(appendHeader(nil, 1), body...)
		}
		if err := os.WriteFile(filepath.Join(dir, segmentName(1)), b, 0o644); err != nil {
			t.Fatal(err)
		}
		l, err := Open(Config{Dir: dir})
		if err != nil {
			return // refused (e.g. a header naming another first sequence): nothing to check
		}
		seqs, data := scanAll(t, l, 1)
		for i := 1; i < len(seqs); i++ {
			if seqs[i] <= seqs[i-1] {
				t.Fatalf("sequences %v do not grow", seqs)
			}
		}
		if len(seqs) > 0 && l.LastSeq() != seqs[len(seqs)-1] {
			t.Fatalf("LastSeq %d; last record %d", l.LastSeq(), seqs[len(seqs)-1])
		}
		_ = l.Close()
		l2, err := Open(Config{Dir: dir})
		if err != nil {
			t.Fatalf("reopening the repaired log: %v", err)
		}
		defer l2.Close()
		if d := l2.Damage(); len(d) != 0 {
			t.Fatalf("the repaired log is damaged again: %v", d)
		}
		seqs2, data2 := scanAll(t, l2, 1)
		if len(seqs2) != len(seqs) {
			t.Fatalf("%d records after the repair, %d after reopening", len(seqs), len(seqs2))
		}
		for i := range seqs {
			if seqs2[i] != seqs[i] || data2[i] != data[i] {
				t.Fatalf("record %d changed between opens", i)
			}
		}
	})
}
