package webhook_test

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/firehook/firehook/actors/webhook"
)

var first = time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)

func TestDefaultSchedule(t *testing.T) {
	s := webhook.DefaultSchedule()
	want := []time.Duration{
		5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute,
		time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour,
	}
	if !slices.Equal(s.Steps, want) || s.Every != 8*time.Hour || s.Window != 24*time.Hour || s.Jitter != 0.2 {
		t.Fatalf("DefaultSchedule() = %+v; want API.md's", s)
	}
}

// The nominal times of API.md's schedule: attempt 1 at once, then 5 s,
// 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h, 8 h after each failure,
// counted from attempt 1; the next would be after 24 h: failed.
func TestSchedule_NextAt_nominal(t *testing.T) {
	s := webhook.DefaultSchedule()
	s.Jitter = 0
	for _, tc := range []struct {
		attempt  int
		want     time.Duration
		terminal bool
	}{
		{0, 0, false},
		{1, 5 * time.Second, false},
		{2, 35 * time.Second, false},
		{3, 2*time.Minute + 35*time.Second, false},
		{4, 12*time.Minute + 35*time.Second, false},
		{5, 42*time.Minute + 35*time.Second, false},
		{6, time.Hour + 42*time.Minute + 35*time.Second, false},
		{7, 3*time.Hour + 42*time.Minute + 35*time.Second, false},
		{8, 7*time.Hour + 42*time.Minute + 35*time.Second, false},
		{9, 15*time.Hour + 42*time.Minute + 35*time.Second, false},
		{10, 23*time.Hour + 42*time.Minute + 35*time.Second, false},
		{11, 0, true}, // 31 h 42 min 35 s: after the window
		{12, 0, true},
	} {
		t.Run(fmt.Sprint(tc.attempt), func(t *testing.T) {
			at, terminal := s.NextAt(tc.attempt, first, first, "dlv_1", 0)
			if terminal != tc.terminal {
				t.Fatalf("terminal = %v; want %v", terminal, tc.terminal)
			}
			if tc.terminal {
				if !at.IsZero() {
					t.Fatalf("at = %v when terminal; want the zero time", at)
				}
				return
			}
			if got := at.Sub(first); got != tc.want {
				t.Fatalf("attempt %d: next at first+%v; want first+%v", tc.attempt, got, tc.want)
			}
		})
	}
}

// Each gap is within ±Jitter of its step, the same for the same key on
// every call, different across keys and attempts, and spread over the
// whole band.
func TestSchedule_NextAt_jitter(t *testing.T) {
	s := webhook.DefaultSchedule()
	const keys = 5000
	step := func(i int) time.Duration { // the nominal gap after attempt i
		if i <= len(s.Steps) {
			return s.Steps[i-1]
		}
		return s.Every
	}
	lo, hi, sum := make([]float64, 11), make([]float64, 11), make([]float64, 11)
	for i := range lo {
		lo[i], hi[i] = math.Inf(1), math.Inf(-1)
	}
	count := make([]int, 11)
	distinct := map[time.Duration]bool{}
	for k := range keys {
		key := fmt.Sprintf("dlv_%d", k)
		prev := first
		var ratios []float64
		for n := 1; ; n++ {
			at, terminal := s.NextAt(n, first, first, key, 0)
			again, againTerminal := webhook.DefaultSchedule().NextAt(n, first, first, key, 0)
			if !at.Equal(again) || terminal != againTerminal {
				t.Fatalf("key %s attempt %d: %v, %v then %v, %v: not deterministic", key, n, at, terminal, again, againTerminal)
			}
			if terminal {
				// Attempt 10 is at 15 h 43 min nominal (at most 18 h 51 min
				// with +20 %), attempt 11 at 23 h 43 min (19 h … 28 h),
				// attempt 12 at 31 h 43 min (at least 25 h 22 min): the
				// delivery fails after attempt 10 or 11.
				if n != 10 && n != 11 {
					t.Fatalf("key %s: terminal after attempt %d; want 10 or 11", key, n)
				}
				break
			}
			if at.After(first.Add(s.Window)) {
				t.Fatalf("key %s attempt %d: next at %v, after the window", key, n, at.Sub(first))
			}
			gap := at.Sub(prev)
			nominal := step(n)
			if d := gap - nominal; d < -nominal/5-1 || d > nominal/5+1 {
				t.Fatalf("key %s gap after attempt %d = %v; want %v ± 20%%", key, n, gap, nominal)
			}
			r := float64(gap) / float64(nominal)
			lo[n], hi[n], sum[n], count[n] = min(lo[n], r), max(hi[n], r), sum[n]+r, count[n]+1
			ratios = append(ratios, r)
			if n == 1 {
				distinct[gap] = true
			}
			prev = at
		}
		if slices.Min(ratios) == slices.Max(ratios) {
			t.Fatalf("key %s: every gap has the same factor %v", key, ratios[0])
		}
	}
	for n := 1; n <= 9; n++ {
		if count[n] != keys {
			t.Fatalf("attempt %d: %d keys got there; want all %d", n, count[n], keys)
		}
		mean := sum[n] / float64(count[n])
		if lo[n] > 0.805 || hi[n] < 1.195 || math.Abs(mean-1) > 0.01 {
			t.Errorf("attempt %d: factors %.3f … %.3f, mean %.4f; want spread over 0.8 … 1.2 around 1", n, lo[n], hi[n], mean)
		}
	}
	if len(distinct) < keys*99/100 {
		t.Fatalf("%d distinct first gaps over %d keys; want nearly all distinct", len(distinct), keys)
	}
}

func TestSchedule_NextAt_retryAfter(t *testing.T) {
	s := webhook.DefaultSchedule()
	s.Jitter = 0
	end := first.Add(24 * time.Hour)
	for _, tc := range []struct {
		name       string
		attempt    int
		now        time.Duration // after first
		retryAfter time.Duration
		want       time.Duration // after first
		terminal   bool
	}{
		{"later than the schedule", 1, 2 * time.Second, time.Minute, 62 * time.Second, false},
		{"earlier than the schedule", 3, 36 * time.Second, 10 * time.Second, 2*time.Minute + 35*time.Second, false},
		{"equal to the schedule", 1, 0, 5 * time.Second, 5 * time.Second, false},
		{"capped at the window end", 2, 40 * time.Second, 48 * time.Hour, 24 * time.Hour, false},
		{"exactly at the window end", 2, time.Hour, 23 * time.Hour, 24 * time.Hour, false},
		{"beyond any Duration", 2, 40 * time.Second, math.MaxInt64, 24 * time.Hour, false},
		{"the attempt at the window end failed", 3, 24*time.Hour + time.Second, time.Hour, 0, true},
		{"the schedule is past the window", 11, 23*time.Hour + 50*time.Minute, time.Minute, 0, true},
		{"zero is no Retry-After", 1, 3 * time.Second, 0, 5 * time.Second, false},
		{"overdue stays due", 2, time.Hour, 0, 35 * time.Second, false}, // at is before now: at once
	} {
		t.Run(tc.name, func(t *testing.T) {
			at, terminal := s.NextAt(tc.attempt, first, first.Add(tc.now), "dlv_1", tc.retryAfter)
			if terminal != tc.terminal {
				t.Fatalf("terminal = %v; want %v (at %v)", terminal, tc.terminal, at)
			}
			if !tc.terminal && !at.Equal(first.Add(tc.want)) {
				t.Fatalf("at = first+%v; want first+%v", at.Sub(first), tc.want)
			}
			if !tc.terminal && at.After(end) {
				t.Fatalf("at = %v: after the window end", at)
			}
		})
	}
}

// With jitter, Retry-After still wins when it is later, and never moves
// an attempt earlier.
func TestSchedule_NextAt_retryAfterJittered(t *testing.T) {
	s := webhook.DefaultSchedule()
	for k := range 1000 {
		key := fmt.Sprintf("dlv_%d", k)
		now := first.Add(40 * time.Second)
		scheduled, _ := s.NextAt(2, first, now, key, 0)
		for _, ra := range []time.Duration{time.Second, time.Minute, time.Hour} {
			at, terminal := s.NextAt(2, first, now, key, ra)
			want := scheduled
			if now.Add(ra).After(want) {
				want = now.Add(ra)
			}
			if terminal || !at.Equal(want) {
				t.Fatalf("key %s Retry-After %v: at first+%v, %v; want first+%v", key, ra, at.Sub(first), terminal, want.Sub(first))
			}
		}
	}
}

// The last attempt may fall exactly at the window end, not 1 ns after.
func TestSchedule_NextAt_window(t *testing.T) {
	hourly := webhook.Schedule{Steps: []time.Duration{time.Hour}, Every: time.Hour, Window: 3 * time.Hour}
	for _, tc := range []struct {
		name     string
		window   time.Duration
		attempt  int
		now      time.Duration
		terminal bool
	}{
		{"attempt 3 at 2 h", 3 * time.Hour, 2, 2 * time.Hour, false},
		{"attempt 4 exactly at the window end", 3 * time.Hour, 3, 3 * time.Hour, false},
		{"attempt 5 after it", 3 * time.Hour, 4, 3 * time.Hour, true},
		{"attempt 4 1 ns after the window end", 3*time.Hour - 1, 3, 2 * time.Hour, true},
		{"now past the window end", 3 * time.Hour, 1, 3*time.Hour + 1, true},
		{"now exactly at the window end", 3 * time.Hour, 1, 3 * time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := hourly
			s.Window = tc.window
			at, terminal := s.NextAt(tc.attempt, first, first.Add(tc.now), "k", 0)
			if terminal != tc.terminal {
				t.Fatalf("NextAt(%d) terminal = %v (at first+%v); want %v", tc.attempt, terminal, at.Sub(first), tc.terminal)
			}
			if !terminal && !at.Equal(first.Add(time.Duration(tc.attempt)*time.Hour)) {
				t.Fatalf("at = first+%v; want first+%v", at.Sub(first), time.Duration(tc.attempt)*time.Hour)
			}
		})
	}
}

func TestSchedule_NextAt_edges(t *testing.T) {
	t.Run("steps run out with Every zero", func(t *testing.T) {
		s := webhook.Schedule{Steps: []time.Duration{time.Second, time.Minute}, Window: time.Hour}
		if at, terminal := s.NextAt(2, first, first, "k", 0); terminal || !at.Equal(first.Add(61*time.Second)) {
			t.Fatalf("NextAt(2) = first+%v, %v; want first+61s", at.Sub(first), terminal)
		}
		if _, terminal := s.NextAt(3, first, first, "k", 0); !terminal {
			t.Fatal("NextAt(3) not terminal after the last step")
		}
	})
	t.Run("no window", func(t *testing.T) {
		s := webhook.Schedule{Every: time.Hour}
		if at, terminal := s.NextAt(1000, first, first.Add(5000*time.Hour), "k", 0); terminal || !at.Equal(first.Add(1000*time.Hour)) {
			t.Fatalf("NextAt(1000) = first+%v, %v; want first+1000h", at.Sub(first), terminal)
		}
	})
	t.Run("attempt below 1", func(t *testing.T) {
		for _, n := range []int{0, -1} {
			if at, terminal := webhook.DefaultSchedule().NextAt(n, first, first, "k", 0); terminal || !at.Equal(first) {
				t.Fatalf("NextAt(%d) = %v, %v; want first", n, at, terminal)
			}
		}
	})
	t.Run("zero and negative steps are at once", func(t *testing.T) {
		s := webhook.Schedule{Steps: []time.Duration{0, -time.Second, time.Second}, Window: time.Hour, Jitter: 0.2}
		for n, want := range []time.Duration{0, 0} {
			if at, _ := s.NextAt(n+1, first, first, "k", 0); !at.Equal(first.Add(want)) {
				t.Fatalf("NextAt(%d) = first+%v; want first", n+1, at.Sub(first))
			}
		}
	})
	t.Run("jitter clamped", func(t *testing.T) {
		for _, j := range []float64{-1, 5} {
			s := webhook.Schedule{Every: time.Minute, Window: 24 * time.Hour, Jitter: j}
			for k := range 200 {
				at, _ := s.NextAt(1, first, first, fmt.Sprint(k), 0)
				gap := at.Sub(first)
				if (j < 0 && gap != time.Minute) || gap < 0 || gap > 2*time.Minute {
					t.Fatalf("Jitter %v: gap %v", j, gap)
				}
			}
		}
	})
	t.Run("sum beyond a Duration", func(t *testing.T) {
		s := webhook.Schedule{Every: math.MaxInt64 / 3}
		if _, terminal := s.NextAt(4, first, first, "k", 0); !terminal {
			t.Fatal("an offset beyond time.Duration is not terminal")
		}
	})
}

// Next is NextAt at the current time.
func TestSchedule_Next(t *testing.T) {
	s := webhook.DefaultSchedule()
	start := time.Now()
	at, terminal := s.Next(1, start, "dlv_1", 0)
	want, _ := s.NextAt(1, start, start, "dlv_1", 0)
	if terminal || !at.Equal(want) {
		t.Fatalf("Next(1) = %v, %v; want %v", at, terminal, want)
	}
	before := time.Now()
	at, terminal = s.Next(1, start, "dlv_1", 10*time.Minute)
	if terminal || at.Before(before.Add(10*time.Minute)) || at.After(time.Now().Add(10*time.Minute)) {
		t.Fatalf("Next(1, Retry-After 10m) = first+%v, %v; want now+10m", at.Sub(start), terminal)
	}
	if _, terminal := s.Next(1, start.Add(-25*time.Hour), "dlv_1", 0); !terminal {
		t.Fatal("Next 25 h after the first attempt is not terminal")
	}
}
