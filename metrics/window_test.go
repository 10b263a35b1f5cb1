package metrics

import (
	"math"
	"math/rand"
	"slices"
	"testing"
	"time"

	"github.com/firehook/firehook"
)

// nearestRank is the sample HDR's ValueAtPercentile aims at: the
// rank-th smallest, rank = ⌊q/100·n + ½⌋ within [1, n].
func nearestRank(sorted []time.Duration, q float64) time.Duration {
	rank := min(max(int(q/100*float64(len(sorted))+0.5), 1), len(sorted))
	return sorted[rank-1]
}

// withinHDR reports whether got is want's HDR bucket value: at least want
// (to the microsecond) and at most 0.1 % + 1 µs above it.
func withinHDR(got, want time.Duration) bool {
	lo := want.Truncate(time.Microsecond)
	return got >= lo && got <= lo+lo/1000+time.Microsecond
}

func TestWindow_QuantilesAreExactToHDRPrecision(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	now := time.Date(2025, 3, 14, 15, 0, 0, 0, time.UTC)
	w := newWindow(5*time.Minute, time.Minute)
	var all []time.Duration
	for i := range 5000 {
		// Log-uniform from 10 µs to 10 s, spread over the 5 minutes.
		d := time.Duration(float64(10*time.Microsecond) * math.Pow(10, rng.Float64()*6))
		all = append(all, d)
		w.record(now.Add(time.Duration(i)*59*time.Millisecond), d, nil)
	}
	slices.Sort(all)
	st := w.snapshot(now.Add(4*time.Minute + 59*time.Second))
	if st.Count != int64(len(all)) {
		t.Fatalf("count %d, want %d", st.Count, len(all))
	}
	for _, c := range []struct {
		q   float64
		got time.Duration
	}{{50, st.P50}, {99, st.P99}} {
		if want := nearestRank(all, c.q); !withinHDR(c.got, want) {
			t.Errorf("p%v = %v, want %v within HDR precision", c.q, c.got, want)
		}
	}
}

func TestWindow_SlotsExpireAsTheWindowSlides(t *testing.T) {
	start := time.Date(2025, 3, 14, 15, 0, 0, 0, time.UTC)
	w := newWindow(5*time.Minute, time.Minute)
	for m := range 5 {
		w.record(start.Add(time.Duration(m)*time.Minute), time.Duration(m+1)*time.Millisecond, &[nCounters]int64{cDelivered: 1})
	}
	for _, tc := range []struct {
		at    time.Duration
		count int64
		p50   time.Duration
	}{
		{4 * time.Minute, 5, 3 * time.Millisecond},
		{5 * time.Minute, 4, 3 * time.Millisecond}, // minute 0 has slid out (p50 of 2,3,4,5 ms by nearest rank: 3)
		{7*time.Minute + 30*time.Second, 2, 4 * time.Millisecond},
		{9 * time.Minute, 0, 0},
		{time.Hour, 0, 0},
	} {
		st := w.snapshot(start.Add(tc.at))
		if st.Count != tc.count || st.Counts[cDelivered] != tc.count || (tc.count > 0 && !withinHDR(st.P50, tc.p50)) {
			t.Errorf("at +%v: count %d delivered %d p50 %v; want %d, %v", tc.at, st.Count, st.Counts[cDelivered], st.P50, tc.count, tc.p50)
		}
	}
	// A slot reused one ring later starts empty.
	w.record(start.Add(5*time.Minute), time.Second, nil)
	if st := w.snapshot(start.Add(5 * time.Minute)); st.Count != 5 || st.P99 < time.Second {
		t.Errorf("after reuse: %+v", st)
	}
}

func TestBudgetVerdict(t *testing.T) {
	recv := time.Date(2025, 3, 14, 15, 0, 0, 0, time.UTC)
	att := func(startMS, durMS int64) firehook.Attempt {
		return firehook.Attempt{At: recv.Add(time.Duration(startMS) * time.Millisecond), DurationMS: durMS}
	}
	fm := func(status firehook.DeliveryStatus, atts ...firehook.Attempt) firehook.Delivery {
		return firehook.Delivery{Priority: firehook.PriorityFirstMatch, Status: status, EventReceivedAt: recv, Attempts: atts}
	}
	budget := 500 * time.Millisecond
	for _, tc := range []struct {
		name            string
		d               firehook.Delivery
		within, decided bool
	}{
		{"delivered in time", fm(firehook.DeliveryDelivered, att(100, 50)), true, true},
		{"delivered exactly at the deadline", fm(firehook.DeliveryDelivered, att(400, 100)), true, true},
		{"delivered late", fm(firehook.DeliveryDelivered, att(400, 101)), false, true},
		{"failed in time: still open", fm(firehook.DeliveryRetrying, att(10, 20)), false, false},
		{"retried and delivered in time", fm(firehook.DeliveryDelivered, att(10, 20), att(100, 20)), true, true},
		{"failed past the deadline: late", fm(firehook.DeliveryRetrying, att(10, 20), att(450, 100)), false, true},
		{"judged late before: not again", fm(firehook.DeliveryDelivered, att(450, 100), att(600, 10)), false, false},
		{"given up in time", fm(firehook.DeliveryFailed, att(10, 20)), false, true},
		{"Every Update is not judged", func() firehook.Delivery {
			d := fm(firehook.DeliveryDelivered, att(1, 1))
			d.Priority = firehook.PriorityEveryUpdate
			return d
		}(), false, false},
		{"a replay is not judged", func() firehook.Delivery {
			d := fm(firehook.DeliveryDelivered, att(1, 1))
			d.ReplayedAt = recv
			return d
		}(), false, false},
		{"no receive time", func() firehook.Delivery {
			d := fm(firehook.DeliveryDelivered, att(1, 1))
			d.EventReceivedAt = time.Time{}
			return d
		}(), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			within, decided := budgetVerdict(&tc.d, budget)
			if within != tc.within || decided != tc.decided {
				t.Errorf("verdict (within %v, decided %v), want (%v, %v)", within, decided, tc.within, tc.decided)
			}
		})
	}
}

func TestLabelCap_FoldsValuesPastTheCapIntoOther(t *testing.T) {
	c := newLabelCap(2)
	for _, tc := range []struct{ in, want string }{{"a", "a"}, {"b", "b"}, {"c", otherLabel}, {"a", "a"}, {"d", otherLabel}} {
		if got := c.value(tc.in); got != tc.want {
			t.Errorf("value(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestStatusClass(t *testing.T) {
	for code, want := range map[int]string{0: "error", 101: "error", 200: "2xx", 204: "2xx", 302: "3xx", 410: "4xx", 429: "4xx", 503: "5xx", 600: "error"} {
		if got := statusClass(code); got != want {
			t.Errorf("statusClass(%d) = %q, want %q", code, got, want)
		}
	}
}
