package metrics

import (
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// The HDR histograms hold microseconds from 0 to one hour with three
// significant digits: a quantile is exact to 0.1 %. They are packed
// (sparse): a slot costs what its populated buckets cost, not the ~184 KB
// of a dense histogram of that range.
const (
	histLowest  = 1
	histHighest = int64(time.Hour / time.Microsecond)
	histDigits  = 3
)

// The counters a window slot keeps beside its histogram (the health
// figures of an endpoint; stage windows use none).
const (
	cDelivered      = iota // deliveries whose attempt got a 2xx
	cFailed                // delivery attempts that did not
	cFailedTerminal        // deliveries that became failed (gave up)
	cRetries               // delivery attempts after the first
	cFirstMatch            // First Match deliveries decided against their budget
	cWithinBudget          // … of which within it
	nCounters
)

// window is a sliding window of durations and counts: a ring of slots,
// each one Slot of wall-clock time long with a packed HDR histogram and
// counters. It rotates lazily: a slot is reset when the clock comes back
// to it one ring later, so nothing runs in the background. A snapshot
// covers the current slot and the len-1 before it. Safe for concurrent
// use.
type window struct {
	slot int64 // nanoseconds

	mu    sync.Mutex
	slots []windowSlot
}

type windowSlot struct {
	epoch  int64 // unix nanoseconds / slot: which stretch of time it holds
	hist   *hdr.PackedHistogram
	counts [nCounters]int64
}

func newWindow(length, slot time.Duration) *window {
	return &window{slot: int64(slot), slots: make([]windowSlot, slotsOf(length, slot))}
}

// slotsOf is how many slots of slot cover length (at least one).
func slotsOf(length, slot time.Duration) int { return max(int((length+slot-1)/slot), 1) }

// current returns the slot of now, reset if it held an older stretch.
// The caller holds mu.
func (w *window) current(now time.Time) *windowSlot {
	epoch := now.UnixNano() / w.slot
	s := &w.slots[epoch%int64(len(w.slots))]
	if s.epoch != epoch {
		s.epoch = epoch
		s.counts = [nCounters]int64{}
		if s.hist != nil {
			s.hist.Reset()
		}
	}
	return s
}

// record adds a duration (d ≥ 0; none when d < 0) and counts to the slot
// of now.
func (w *window) record(now time.Time, d time.Duration, counts *[nCounters]int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.current(now)
	if d >= 0 {
		if s.hist == nil {
			s.hist = hdr.NewPacked(histLowest, histHighest, histDigits)
		}
		_ = s.hist.RecordValue(min(d.Microseconds(), histHighest)) // in range by construction
	}
	if counts != nil {
		for i, n := range counts {
			s.counts[i] += n
		}
	}
}

// windowStats is a window's content at a moment.
type windowStats struct {
	Count    int64 // durations recorded
	P50, P99 time.Duration
	Counts   [nCounters]int64
}

// snapshot merges the slots of the window ending now.
func (w *window) snapshot(now time.Time) windowStats {
	var st windowStats
	var acc *hdr.PackedHistogram
	epoch := now.UnixNano() / w.slot
	w.mu.Lock()
	for i := range w.slots {
		s := &w.slots[i]
		if s.epoch <= epoch-int64(len(w.slots)) || s.epoch > epoch {
			continue
		}
		for j, n := range s.counts {
			st.Counts[j] += n
		}
		if s.hist == nil || s.hist.TotalCount() == 0 {
			continue
		}
		if acc == nil {
			acc = s.hist.Clone()
		} else {
			acc.Merge(s.hist)
		}
	}
	w.mu.Unlock()
	if acc != nil {
		st.Count = acc.TotalCount()
		q := acc.ValueAtPercentilesSlice([]float64{50, 99})
		st.P50, st.P99 = time.Duration(q[0])*time.Microsecond, time.Duration(q[1])*time.Microsecond
	}
	return st
}
