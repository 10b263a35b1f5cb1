package pipeline

import (
	"math/rand"
	"testing"
)

// The mark is the highest sequence below which every event is done,
// whatever order the events finish in.
func TestTracker_MarkIsTheLowWatermarkOfFinishedEvents(t *testing.T) {
	tr := newTracker(100) // events up to 100 were done before the restart
	for seq := uint64(101); seq <= 105; seq++ {
		tr.add(seq)
	}
	steps := []struct {
		finish      uint64
		mark        uint64
		outstanding int
	}{
		{103, 100, 5}, // 101 and 102 still running
		{101, 101, 4},
		{105, 101, 4},
		{102, 103, 2}, // 101–103 done
		{104, 105, 0},
	}
	for _, s := range steps {
		tr.finish(s.finish)
		if mark, out := tr.value(); mark != s.mark || out != s.outstanding {
			t.Fatalf("after finishing %d: mark %d with %d outstanding; want %d with %d", s.finish, mark, out, s.mark, s.outstanding)
		}
	}
}

// A long random run: the mark never passes an unfinished event and ends
// at the last one.
func TestTracker_RandomOrder(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	tr := newTracker(0)
	const n = 5000
	for seq := uint64(1); seq <= n; seq++ {
		tr.add(seq)
	}
	order := rng.Perm(n)
	done := make([]bool, n+1)
	for _, i := range order {
		seq := uint64(i + 1)
		tr.finish(seq)
		done[seq] = true
		mark, _ := tr.value()
		for s := uint64(1); s <= mark; s++ {
			if !done[s] {
				t.Fatalf("mark %d passes unfinished event %d", mark, s)
			}
		}
		if mark < n && done[mark+1] {
			t.Fatalf("mark %d stops before finished event %d", mark, mark+1)
		}
	}
	if mark, out := tr.value(); mark != n || out != 0 {
		t.Fatalf("at the end: mark %d, %d outstanding; want %d, 0", mark, out, n)
	}
}
