package chaos

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/firehook/firehook/actors/webhook"
)

var t0 = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

// ms is t0 plus n milliseconds.
func ms(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }

// accepted is the page views of person p answered 202 with ids, in order.
func accepted(p string, ids ...string) []PageView {
	var out []PageView
	for _, id := range ids {
		out = append(out, PageView{Person: p, Status: 202, ID: id})
	}
	return out
}

// arr is a signed delivery of event id of person p with sequence seq
// (sequence 1 is the First Match), at t0 + n ms.
func arr(n int, p, id string, seq uint64) Arrival {
	typ := webhook.TypeUpdated
	if seq == 1 {
		typ = webhook.TypeIdentified
	}
	return Arrival{At: ms(n), ID: id, Type: typ, Sequence: seq, Person: p, SigOK: true}
}

// counts is what the table checks of a Report.
type counts struct {
	Sent, Accepted, Unanswered, Refused                  int
	Deliveries, Delivered, Unacknowledged, Lost, Dups    int
	DupFirstMatches, Backwards, OrderViolations, BadSigs int
	Malformed                                            int
}

func countsOf(r *Report) counts {
	return counts{r.Sent, r.Accepted, r.Unanswered, r.Refused,
		r.Deliveries, r.Delivered, r.Unacknowledged, r.Lost, r.Duplicates,
		r.DuplicateFirstMatches, r.SequenceBackwards, r.OrderViolations, r.BadSignatures, r.Malformed}
}

func TestReport_Analyze_Counts(t *testing.T) {
	badSig := arr(30, "a", "e3", 3)
	badSig.SigOK = false
	cases := []struct {
		name     string
		views    []PageView
		arrivals []Arrival
		want     counts
		wantFail bool     // Failures() is not empty
		examples []string // expected in the report's examples
	}{
		{name: "in order, once each",
			views:    accepted("a", "e1", "e2", "e3"),
			arrivals: []Arrival{arr(10, "a", "e1", 1), arr(20, "a", "e2", 2), arr(30, "a", "e3", 3)},
			want:     counts{Sent: 3, Accepted: 3, Deliveries: 3, Delivered: 3}},
		{name: "an accepted page view never delivered is lost",
			views:    accepted("a", "e1", "e2"),
			arrivals: []Arrival{arr(10, "a", "e1", 1)},
			want:     counts{Sent: 2, Accepted: 2, Deliveries: 1, Delivered: 1, Lost: 1},
			wantFail: true, examples: []string{"e2"}},
		{name: "a second delivery of an event is a duplicate, not a second event",
			views:    accepted("a", "e1", "e2"),
			arrivals: []Arrival{arr(10, "a", "e1", 1), arr(20, "a", "e1", 1), arr(30, "a", "e2", 2), arr(40, "a", "e1", 1)},
			want:     counts{Sent: 2, Accepted: 2, Deliveries: 4, Delivered: 2, Dups: 2}},
		{name: "two visitor.identified events of a person are a second First Match",
			views:    accepted("a", "e1", "e2"),
			arrivals: []Arrival{arr(10, "a", "e1", 1), arr(20, "a", "e2", 1)},
			want:     counts{Sent: 2, Accepted: 2, Deliveries: 2, Delivered: 2, DupFirstMatches: 1, Backwards: 1},
			wantFail: true, examples: []string{"a: sequence 1 after 1"}},
		{name: "a lower sequence after a higher one goes backwards and out of order",
			views:    accepted("a", "e1", "e2", "e3"),
			arrivals: []Arrival{arr(10, "a", "e1", 1), arr(20, "a", "e3", 3), arr(30, "a", "e2", 2)},
			want:     counts{Sent: 3, Accepted: 3, Deliveries: 3, Delivered: 3, Backwards: 1, OrderViolations: 1},
			wantFail: true, examples: []string{"a: sequence 2 after 3", "a: page view #2 arrived after #3"}},
		{name: "sequences in order but events not in the order accepted",
			views:    accepted("a", "e1", "e2", "e3"),
			arrivals: []Arrival{arr(10, "a", "e1", 1), arr(20, "a", "e3", 2), arr(30, "a", "e2", 3)},
			want:     counts{Sent: 3, Accepted: 3, Deliveries: 3, Delivered: 3, OrderViolations: 1}},
		{name: "a duplicate of an earlier event does not go backwards",
			views:    accepted("a", "e1", "e2"),
			arrivals: []Arrival{arr(10, "a", "e1", 1), arr(20, "a", "e2", 2), arr(30, "a", "e1", 1)},
			want:     counts{Sent: 2, Accepted: 2, Deliveries: 3, Delivered: 2, Dups: 1}},
		{name: "persons are judged apart",
			views: append(accepted("a", "e1", "e2"), accepted("b", "f1", "f2")...),
			arrivals: []Arrival{arr(10, "b", "f1", 1), arr(20, "a", "e2", 2), arr(30, "a", "e1", 1),
				arr(40, "b", "f2", 2)},
			want:     counts{Sent: 4, Accepted: 4, Deliveries: 4, Delivered: 4, Backwards: 1, OrderViolations: 1},
			wantFail: true},
		{name: "an event stored without a 202 is delivered but neither counted nor out of order",
			views: []PageView{{Person: "a", Status: 202, ID: "e1"}, {Person: "a"}, {Person: "a", Status: 503},
				{Person: "a", Status: 202, ID: "e3"}},
			arrivals: []Arrival{arr(10, "a", "e1", 1), arr(20, "a", "e3", 2), arr(30, "a", "e2", 3)},
			want:     counts{Sent: 4, Accepted: 2, Unanswered: 1, Refused: 1, Deliveries: 3, Delivered: 2, Unacknowledged: 1}},
		{name: "a delivery with a bad signature is not a delivery",
			views:    accepted("a", "e1", "e2", "e3"),
			arrivals: []Arrival{arr(10, "a", "e1", 1), arr(20, "a", "e2", 2), badSig},
			want:     counts{Sent: 3, Accepted: 3, Deliveries: 3, Delivered: 2, Lost: 1, BadSigs: 1},
			wantFail: true},
		{name: "a delivery about no person is malformed",
			views:    accepted("a", "e1"),
			arrivals: []Arrival{arr(10, "a", "e1", 1), {At: ms(20), ID: "x", SigOK: true}},
			want:     counts{Sent: 1, Accepted: 1, Deliveries: 2, Delivered: 1, Malformed: 1},
			wantFail: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &Report{}
			r.analyze(c.views, c.arrivals, ms(1000))
			if got := countsOf(r); got != c.want {
				t.Errorf("counts:\n got %+v\nwant %+v", got, c.want)
			}
			if failed := len(r.Failures()) > 0; failed != c.wantFail {
				t.Errorf("failures %q; want failed=%v", r.Failures(), c.wantFail)
			}
			all := slices.Concat(r.LostIDs, r.SequenceBackwardsExamples, r.OrderViolationExamples)
			for _, e := range c.examples {
				if !slices.Contains(all, e) {
					t.Errorf("example %q not in %q", e, all)
				}
			}
		})
	}
}

func TestReport_Analyze_Gaps(t *testing.T) {
	// b delivers every 100 ms from 100 ms to 3 s; a (the victim's) at 5 ms
	// (a request in flight at the kill) and from 1.5 s on.
	var steady []Arrival
	for n := 100; n <= 3000; n += 100 {
		steady = append(steady, arr(n, "b", "b"+time.Duration(n).String(), uint64(n/100)))
	}
	victims := []Arrival{arr(5, "a", "a1", 1), arr(1500, "a", "a2", 2), arr(1600, "a", "a3", 3)}
	cases := []struct {
		name     string
		kill     Kill // At: t0
		arrivals []Arrival
		loadEnd  time.Time
		// want
		gap, resumed, first, overall time.Duration
	}{
		{name: "a pause after the kill",
			arrivals: []Arrival{arr(-500, "b", "x0", 1), arr(100, "b", "x1", 2), arr(300, "b", "x2", 3), arr(2300, "b", "x3", 4)},
			loadEnd:  ms(3000),
			gap:      2 * time.Second, resumed: 2300 * time.Millisecond, first: 100 * time.Millisecond, overall: 2 * time.Second},
		{name: "nothing after the kill: the pause lasts until the load ends",
			arrivals: []Arrival{arr(-200, "b", "x0", 1)},
			loadEnd:  ms(5000),
			gap:      5 * time.Second, overall: 5200 * time.Millisecond},
		{name: "the window ends 10 s after the kill",
			arrivals: []Arrival{arr(1000, "b", "x1", 1), arr(15000, "b", "x2", 2)},
			loadEnd:  ms(20000),
			gap:      9 * time.Second, resumed: time.Second, first: time.Second, overall: 14 * time.Second},
		{name: "the victim's persons resume after their own pause, not after a straggler",
			kill:     Kill{owned: map[string]bool{"a": true}},
			arrivals: slices.Concat(victims, steady),
			loadEnd:  ms(3000),
			gap:      100 * time.Millisecond, resumed: 1500 * time.Millisecond, first: 5 * time.Millisecond,
			overall: 100 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k := c.kill
			k.At = t0
			r := &Report{Kills: []Kill{k}}
			// The receiver records in order of arrival.
			arrivals := slices.SortedFunc(slices.Values(c.arrivals), func(a, b Arrival) int { return a.At.Compare(b.At) })
			r.analyze(nil, arrivals, c.loadEnd)
			got := r.Kills[0]
			if got.LongestGap != Duration(c.gap) || got.Resumed != Duration(c.resumed) || got.FirstDelivery != Duration(c.first) ||
				r.LongestGap != Duration(c.overall) || r.LongestGapAfterKill != Duration(c.gap) {
				t.Errorf("gap %s, resumed %s, first %s, overall %s, after kills %s; want %s, %s, %s, %s, %s",
					got.LongestGap, got.Resumed, got.FirstDelivery, r.LongestGap, r.LongestGapAfterKill,
					Duration(c.gap), Duration(c.resumed), Duration(c.first), Duration(c.overall), Duration(c.gap))
			}
		})
	}
}

func TestReport_Outputs(t *testing.T) {
	r := &Report{Nodes: 3, People: 2, Rate: 10, KillEvery: Duration(30 * time.Second), Downtime: Duration(3 * time.Second),
		Kills: []Kill{{Victim: "node-2", At: t0, Detected: Duration(1250 * time.Millisecond), Resumed: Duration(1400 * time.Millisecond)}}}
	r.analyze(accepted("a", "e1", "e2"), []Arrival{arr(10, "a", "e1", 1)}, ms(1000))
	text := r.String()
	for _, want := range []string{"node-2", "1.25s", "1 lost", "lost, e.g.: e2", "FAILED: 1 accepted page views lost"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	raw, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	kill := back["kills"].([]any)[0].(map[string]any)
	if back["lost"] != 1.0 || back["kill_every_s"] != 30.0 || kill["detected_after_s"] != 1.25 || kill["victim"] != "node-2" {
		t.Errorf("JSON: %s", raw)
	}
	// A report written with --json reads back into a Report that renders
	// the same text.
	var again Report
	if err := json.Unmarshal(raw, &again); err != nil {
		t.Fatal(err)
	}
	if again.String() != text {
		t.Errorf("read back from JSON, the report renders\n%s\nnot\n%s", again.String(), text)
	}
}

func TestReport_Analyze_WindowEndsAtTheNextKill(t *testing.T) {
	r := &Report{Kills: []Kill{{At: t0}, {At: ms(3000)}}}
	r.analyze(nil, []Arrival{arr(100, "b", "x1", 1), arr(5000, "b", "x2", 2)}, ms(20000))
	if g := r.Kills[0].LongestGap; g != Duration(2900*time.Millisecond) {
		t.Errorf("first kill's longest gap %s; want 2.9s (up to the second kill)", g)
	}
	if g := r.Kills[1].LongestGap; g != Duration(8*time.Second) {
		t.Errorf("second kill's longest gap %s; want 8s (5 s to the end of its window)", g)
	}
}

func TestReport_Analyze_Latencies(t *testing.T) {
	views := []PageView{
		{Person: "a", At: ms(0), Took: 10 * time.Millisecond, Status: 202, ID: "e1"},
		{Person: "a", At: ms(100), Took: 2 * time.Second, Status: 202, ID: "e2"},
		{Person: "a", At: ms(2200), Took: 5 * time.Millisecond, Status: 202, ID: "e3"},
		{Person: "a", At: ms(2300), Took: 5 * time.Second}, // no answer
	}
	arrivals := []Arrival{arr(40, "a", "e1", 1), arr(2105, "a", "e2", 2), arr(2110, "a", "e2", 2), arr(7205, "a", "e3", 3)}
	r := &Report{}
	r.analyze(views, arrivals, ms(8000))
	// Answers: 5 ms, 10 ms, 2 s, 5 s. From the 202 to the first delivery:
	// e1 30 ms, e2 5 ms, e3 5 s.
	want := Report{
		Answer:   Latency{P50: Duration(10 * time.Millisecond), P99: Duration(2 * time.Second), Max: Duration(5 * time.Second)},
		Delivery: Latency{P50: Duration(30 * time.Millisecond), P99: Duration(30 * time.Millisecond), Max: Duration(5 * time.Second)},
	}
	if r.Answer != want.Answer || r.Delivery != want.Delivery {
		t.Errorf("answer %s, delivery %s; want %s, %s", r.Answer, r.Delivery, want.Answer, want.Delivery)
	}
}
