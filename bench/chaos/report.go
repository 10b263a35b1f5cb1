package chaos

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/firehook/firehook/actors/webhook"
)

// GapWindow is how long after a kill the pauses between deliveries are
// measured (Kill.LongestGap).
const GapWindow = 10 * time.Second

// examples is how many ids or persons a report names for each finding.
const examples = 5

// Duration is a time.Duration that JSON writes as seconds (a number with
// microsecond precision) and text as a rounded duration. 0 means "not
// seen" where a field says so.
type Duration time.Duration

// MarshalJSON writes d in seconds.
func (d Duration) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, time.Duration(d).Round(time.Microsecond).Seconds(), 'f', -1, 64), nil
}

// UnmarshalJSON reads MarshalJSON's seconds, so that a report written
// with --json can be read back.
func (d *Duration) UnmarshalJSON(b []byte) error {
	secs, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("chaos: duration %s: %w", b, err)
	}
	*d = Duration(time.Duration(secs * float64(time.Second)).Round(time.Microsecond))
	return nil
}

// String rounds d to the millisecond, below one to the microsecond.
func (d Duration) String() string {
	if time.Duration(d) < time.Millisecond {
		return time.Duration(d).Round(time.Microsecond).String()
	}
	return time.Duration(d).Round(time.Millisecond).String()
}

// Report is what a chaos run found; it is also the --json output.
type Report struct {
	// What ran.
	Nodes     int      `json:"nodes"`
	People    int      `json:"people"`
	Rate      float64  `json:"rate"` // page views/s offered
	KillEvery Duration `json:"kill_every_s"`
	Downtime  Duration `json:"downtime_s"`
	Seed      uint64   `json:"seed"` // of the victims' draw: the same seed, the same victims
	Load      Duration `json:"load_s"`
	Kills     []Kill   `json:"kills"`

	// Page views: sent, and what they were answered.
	Sent       int `json:"sent"`
	Accepted   int `json:"accepted"`   // answered 202 with an event id
	Unanswered int `json:"unanswered"` // no answer (the member died, or the client timed out): not acknowledged
	Refused    int `json:"refused"`    // answered, but not 202
	// Answer is the page views' times from sending to their answers (or
	// errors): a member whose visitor's owner was killed answers once the
	// event was handed over, or after the hand-over's timeout.
	Answer Latency `json:"answer"`
	// Delivery is the accepted page views' times from their 202 to their
	// first delivery.
	Delivery Latency `json:"accepted_to_delivery"`

	// Deliveries: what the receiver got.
	Deliveries int `json:"deliveries"` // requests, retries and duplicates included
	// Delivered is the accepted page views delivered at least once
	// (distinct event ids).
	Delivered int `json:"delivered"`
	// Unacknowledged is the distinct events delivered whose page view got
	// no 202 (stored as the answer was cut off by a kill): not a failure.
	Unacknowledged int      `json:"unacknowledged_delivered"`
	Lost           int      `json:"lost"` // accepted, never delivered within the drain
	LostIDs        []string `json:"lost_ids,omitempty"`
	Duplicates     int      `json:"duplicate_deliveries"` // deliveries of an event id already received
	// DuplicateFirstMatches is the persons with more than one distinct
	// visitor.identified event.
	DuplicateFirstMatches      int      `json:"duplicate_first_matches"`
	DuplicateFirstMatchPersons []string `json:"duplicate_first_match_persons,omitempty"`
	// SequenceBackwards is the persons for whom a distinct event arrived
	// with a sequence ≤ one already received.
	SequenceBackwards         int      `json:"sequence_backwards"`
	SequenceBackwardsExamples []string `json:"sequence_backwards_examples,omitempty"`
	// OrderViolations is the persons whose accepted page views' events
	// first arrived in another order than they were accepted.
	OrderViolations        int      `json:"order_violations"`
	OrderViolationExamples []string `json:"order_violation_examples,omitempty"`
	BadSignatures          int      `json:"bad_signatures"`
	Malformed              int      `json:"malformed"` // deliveries that are not a webhook about a person
	// LongestGap is the longest pause between deliveries while the load
	// ran; LongestGapAfterKill the largest Kill.LongestGap.
	LongestGap          Duration `json:"longest_gap_s"`
	LongestGapAfterKill Duration `json:"longest_gap_after_kill_s"`
	// DrainTook is from the end of the load until every accepted page view
	// had arrived, or the drain ran out.
	DrainTook Duration `json:"drain_s"`

	DataDir     string `json:"data_dir,omitempty"`    // kept: the members' data and logs (node.log)
	Interrupted bool   `json:"interrupted,omitempty"` // the run was cancelled: what it found until then
	Error       string `json:"error,omitempty"`       // what stopped the run early
}

// Latency sums up durations.
type Latency struct {
	P50 Duration `json:"p50_s"`
	P99 Duration `json:"p99_s"`
	Max Duration `json:"max_s"`
}

// latencyOf sums up ds (sorting it).
func latencyOf(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	slices.Sort(ds)
	at := func(q float64) Duration { return Duration(ds[int(q*float64(len(ds)-1))]) }
	return Latency{P50: at(0.5), P99: at(0.99), Max: at(1)}
}

func (l Latency) String() string {
	return fmt.Sprintf("%s (p50), %s (p99), %s (max)", l.P50, l.P99, l.Max)
}

// Kill is one SIGKILL of a member and what followed. Its durations are
// from the kill.
type Kill struct {
	Victim string    `json:"victim"`
	At     time.Time `json:"at"`
	// Detected is when a surviving member's GET /v1/cluster first showed
	// the victim not alive (suspect or dead), Dead when it showed it dead;
	// polled every 50 ms until the restart. 0: not seen before it.
	Detected Duration `json:"detected_after_s"`
	Dead     Duration `json:"dead_after_s"`
	// Restarted is when the victim answered GET /readyz again, Rejoined
	// when every member saw every member alive again (0: not within
	// RejoinWithin).
	Restarted Duration `json:"restarted_after_s"`
	Rejoined  Duration `json:"rejoined_after_s"`
	// OwnedPersons is how many of the run's persons the victim delivered
	// for (it was their shard's primary) when it was killed.
	OwnedPersons int `json:"owned_persons"`
	// FirstDelivery is the first delivery after the kill, of any person.
	// Resumed is when the victim's persons' deliveries (every person's,
	// when it owned none) resumed: the delivery that ended the longest of
	// their pauses after the kill (requests in flight at the kill may
	// still arrive just after it). 0: none within GapWindow.
	FirstDelivery Duration `json:"first_delivery_after_s"`
	Resumed       Duration `json:"resumed_after_s"`
	// LongestGap is the longest pause between deliveries within GapWindow
	// of the kill (up to the next kill or the end of the load, when
	// sooner), counted from the kill.
	LongestGap Duration `json:"longest_gap_s"`

	owned map[string]bool // the persons the victim owned
}

// PageView is one POST /v1/collect of the load, in the order its person
// sent it (a line of page_views.ndjson in the data dir).
type PageView struct {
	Person string        `json:"person"`
	Target string        `json:"target"` // the member's ingest URL
	At     time.Time     `json:"at"`     // sent
	Took   time.Duration `json:"took_ns"`
	Status int           `json:"status"` // the answer's status; 0: no answer
	ID     string        `json:"id,omitempty"`
}

// Accepted reports whether the page view was answered 202 with an event id.
func (v PageView) Accepted() bool { return v.Status == 202 && v.ID != "" }

// Arrival is one request the receiver got (a line of deliveries.ndjson
// in the data dir).
type Arrival struct {
	At       time.Time `json:"at"`
	ID       string    `json:"id"`   // webhook-id
	Type     string    `json:"type"` // webhook.TypeIdentified or TypeUpdated
	Sequence uint64    `json:"sequence"`
	Person   string    `json:"person"`       // data.person.id; "" when the body is not a webhook about a person
	SigOK    bool      `json:"signature_ok"` // the signature verified as of At
}

// analyze fills r's counts from the page views (each person's in the
// order sent) and the arrivals (in the order received), and each kill's
// resumption and pauses; the load ran until loadEnd.
func (r *Report) analyze(views []PageView, arrivals []Arrival, loadEnd time.Time) {
	accepted := map[string]int{}      // event id → its index among its person's accepted page views
	ackAt := map[string]time.Time{}   // event id → when its 202 came
	personOf := map[string][]string{} // person → accepted event ids, in order
	firstAt := map[string]time.Time{} // event id → its first (signed) delivery
	var persons []string
	took := make([]time.Duration, 0, len(views))
	for _, v := range views {
		r.Sent++
		took = append(took, v.Took)
		switch {
		case v.Accepted():
			if _, dup := accepted[v.ID]; dup {
				continue // the same event id answered twice: counted once
			}
			r.Accepted++
			if _, ok := personOf[v.Person]; !ok {
				persons = append(persons, v.Person)
			}
			accepted[v.ID] = len(personOf[v.Person])
			ackAt[v.ID] = v.At.Add(v.Took)
			personOf[v.Person] = append(personOf[v.Person], v.ID)
		case v.Status == 0:
			r.Unanswered++
		default:
			r.Refused++
		}
	}

	r.Answer = latencyOf(took)

	// What arrived of each person's distinct events.
	type personState struct {
		identified int    // visitor.identified events
		arrived    bool   // any event
		maxSeq     uint64 // the highest sequence so far
		arrivedAcc bool   // an accepted page view's event
		maxIdx     int    // the highest accepted index so far
		backwards  string // the first sequence that went backwards
		disordered string // the first accepted page view that arrived late
	}
	state := map[string]*personState{}
	get := func(p string) *personState {
		s := state[p]
		if s == nil {
			s = &personState{}
			state[p] = s
			if _, ok := personOf[p]; !ok {
				persons = append(persons, p)
			}
		}
		return s
	}
	seen := map[string]bool{}
	var times []time.Time
	for _, a := range arrivals {
		r.Deliveries++
		if !a.SigOK {
			r.BadSignatures++ // answered 401: the node sends it again
			continue
		}
		if a.Person == "" {
			r.Malformed++
			continue
		}
		times = append(times, a.At)
		if seen[a.ID] {
			r.Duplicates++
			continue
		}
		seen[a.ID] = true
		firstAt[a.ID] = a.At
		s := get(a.Person)
		if a.Type == webhook.TypeIdentified {
			s.identified++
		}
		if s.arrived && a.Sequence <= s.maxSeq && s.backwards == "" {
			s.backwards = fmt.Sprintf("%s: sequence %d after %d", a.Person, a.Sequence, s.maxSeq)
		}
		s.arrived = true
		s.maxSeq = max(s.maxSeq, a.Sequence)
		idx, ok := accepted[a.ID]
		if !ok {
			r.Unacknowledged++
			continue
		}
		r.Delivered++
		if s.arrivedAcc && idx < s.maxIdx && s.disordered == "" {
			s.disordered = fmt.Sprintf("%s: page view #%d arrived after #%d", a.Person, idx+1, s.maxIdx+1)
		}
		s.arrivedAcc = true
		s.maxIdx = max(s.maxIdx, idx)
	}
	var delivery []time.Duration
	for _, p := range persons {
		for _, id := range personOf[p] {
			if seen[id] {
				if !ackAt[id].IsZero() {
					delivery = append(delivery, max(0, firstAt[id].Sub(ackAt[id])))
				}
			} else {
				r.Lost++
				r.LostIDs = appendExample(r.LostIDs, id)
			}
		}
		s := state[p]
		if s == nil {
			continue
		}
		if s.identified > 1 {
			r.DuplicateFirstMatches++
			r.DuplicateFirstMatchPersons = appendExample(r.DuplicateFirstMatchPersons, p)
		}
		if s.backwards != "" {
			r.SequenceBackwards++
			r.SequenceBackwardsExamples = appendExample(r.SequenceBackwardsExamples, s.backwards)
		}
		if s.disordered != "" {
			r.OrderViolations++
			r.OrderViolationExamples = appendExample(r.OrderViolationExamples, s.disordered)
		}
	}

	r.Delivery = latencyOf(delivery)

	byTime := func(a, b time.Time) int { return a.Compare(b) }
	slices.SortFunc(times, byTime)
	if len(times) > 0 {
		r.LongestGap, _ = longestGap(times, times[0], loadEnd)
	}
	for i := range r.Kills {
		k := &r.Kills[i]
		end := k.At.Add(GapWindow) // or the next kill, or the end of the load
		if i+1 < len(r.Kills) && r.Kills[i+1].At.Before(end) {
			end = r.Kills[i+1].At
		}
		if loadEnd.Before(end) {
			end = loadEnd
		}
		k.LongestGap, _ = longestGap(times, k.At, end)
		r.LongestGapAfterKill = max(r.LongestGapAfterKill, k.LongestGap)
		var owned []time.Time // the victim's persons' deliveries
		for _, a := range arrivals {
			if a.Person == "" || !a.SigOK || !a.At.After(k.At) || a.At.After(end) {
				continue
			}
			if d := Duration(a.At.Sub(k.At)); k.FirstDelivery == 0 || d < k.FirstDelivery {
				k.FirstDelivery = d
			}
			if len(k.owned) == 0 || k.owned[a.Person] {
				owned = append(owned, a.At)
			}
		}
		slices.SortFunc(owned, byTime)
		if _, resumed := longestGap(owned, k.At, end); !resumed.IsZero() {
			k.Resumed = Duration(resumed.Sub(k.At))
		}
	}
}

// longestGap returns the longest pause between from, the times (sorted)
// in (from, to], and to (0 when to is not after from), and the time that
// ended the longest of the pauses that ended before to (zero when nothing
// came).
func longestGap(times []time.Time, from, to time.Time) (Duration, time.Time) {
	if !to.After(from) {
		return 0, time.Time{}
	}
	var gap, ended time.Duration
	var endedAt time.Time
	prev := from
	i, _ := slices.BinarySearchFunc(times, from, func(a, b time.Time) int { return a.Compare(b) })
	for ; i < len(times) && !times[i].After(to); i++ {
		if d := times[i].Sub(prev); d > ended || endedAt.IsZero() {
			ended, endedAt = d, times[i]
		}
		gap = max(gap, times[i].Sub(prev))
		prev = times[i]
	}
	return Duration(max(gap, to.Sub(prev))), endedAt
}

func appendExample(list []string, s string) []string {
	if len(list) < examples {
		return append(list, s)
	}
	return list
}

// Failures lists what makes the run a failure: accepted page views lost,
// a person's second First Match, a delivery not signed with the
// endpoint's secret, a body that is not a webhook, a victim that did not
// come back, an error of the run. Sequences that went backwards and order
// violations are reported, not failures (yet: issue 13, Cluster II).
func (r *Report) Failures() []string {
	var out []string
	if r.Error != "" {
		out = append(out, "the run failed: "+r.Error)
	}
	if r.Lost > 0 {
		out = append(out, fmt.Sprintf("%d accepted page views lost", r.Lost))
	}
	if r.DuplicateFirstMatches > 0 {
		out = append(out, fmt.Sprintf("%d persons got a second First Match", r.DuplicateFirstMatches))
	}
	if r.SequenceBackwards > 0 {
		out = append(out, fmt.Sprintf("%d persons whose sequence went backwards", r.SequenceBackwards))
	}
	if r.BadSignatures > 0 {
		out = append(out, fmt.Sprintf("%d deliveries with a bad signature", r.BadSignatures))
	}
	if r.Malformed > 0 {
		out = append(out, fmt.Sprintf("%d deliveries that are not a webhook about a person", r.Malformed))
	}
	for i, k := range r.Kills {
		if k.Restarted > 0 && k.Rejoined == 0 {
			out = append(out, fmt.Sprintf("kill %d: %s did not rejoin within %s of its restart", i+1, k.Victim, RejoinWithin))
		}
	}
	return out
}

// String renders r for people: the run, a line per kill, the counts.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "firehook chaos: %d nodes, %d persons at %.0f page views/s for %s; a kill every %s, each victim down %s; seed %d\n",
		r.Nodes, r.People, r.Rate, r.Load, r.KillEvery, r.Downtime, r.Seed)
	if r.Interrupted {
		b.WriteString("INTERRUPTED: what the run found until then\n")
	}
	if len(r.Kills) > 0 {
		b.WriteString("\nkill  victim   at            detected  dead     ready    rejoined  owned  1st delivery  resumed  longest gap (10 s)\n")
	}
	seen := func(d Duration) string {
		if d == 0 {
			return "-"
		}
		return d.String()
	}
	for i, k := range r.Kills {
		fmt.Fprintf(&b, "%-5d %-8s %-13s %-9s %-8s %-8s %-9s %-6d %-13s %-8s %s\n", i+1, k.Victim, k.At.Format("15:04:05.000"),
			seen(k.Detected), seen(k.Dead), seen(k.Restarted), seen(k.Rejoined), k.OwnedPersons, seen(k.FirstDelivery), seen(k.Resumed), k.LongestGap)
	}
	fmt.Fprintf(&b, "\npage views: %d sent, %d accepted (202), %d unanswered, %d refused; answered in %s\n",
		r.Sent, r.Accepted, r.Unanswered, r.Refused, r.Answer)
	fmt.Fprintf(&b, "deliveries: %d received; %d accepted page views delivered, %d lost; %d duplicate deliveries; %d delivered without a 202 (answer cut off by a kill)\n",
		r.Deliveries, r.Delivered, r.Lost, r.Duplicates, r.Unacknowledged)
	if r.Lost > 0 {
		fmt.Fprintf(&b, "  lost, e.g.: %s\n", strings.Join(r.LostIDs, " "))
	}
	fmt.Fprintf(&b, "from 202 to first delivery: %s\n", r.Delivery)
	fmt.Fprintf(&b, "duplicate First Matches: %d persons", r.DuplicateFirstMatches)
	if r.DuplicateFirstMatches > 0 {
		fmt.Fprintf(&b, " (e.g. %s)", strings.Join(r.DuplicateFirstMatchPersons, " "))
	}
	fmt.Fprintf(&b, "\nsequence went backwards: %d persons", r.SequenceBackwards)
	if r.SequenceBackwards > 0 {
		fmt.Fprintf(&b, " (e.g. %s)", strings.Join(r.SequenceBackwardsExamples, "; "))
	}
	fmt.Fprintf(&b, "\norder violations (arrived in another order than accepted): %d persons", r.OrderViolations)
	if r.OrderViolations > 0 {
		fmt.Fprintf(&b, " (e.g. %s)", strings.Join(r.OrderViolationExamples, "; "))
	}
	fmt.Fprintf(&b, "\nbad signatures: %d; malformed deliveries: %d\n", r.BadSignatures, r.Malformed)
	fmt.Fprintf(&b, "longest pause between deliveries: %s after a kill, %s over the whole load\n", r.LongestGapAfterKill, r.LongestGap)
	if r.Lost == 0 {
		fmt.Fprintf(&b, "every accepted page view delivered %s after the load\n", r.DrainTook)
	} else {
		fmt.Fprintf(&b, "the drain ran out %s after the load\n", r.DrainTook)
	}
	if r.DataDir != "" {
		fmt.Fprintf(&b, "the members' data and logs (node.log) are kept in %s\n", r.DataDir)
	}
	if f := r.Failures(); len(f) > 0 {
		fmt.Fprintf(&b, "FAILED: %s\n", strings.Join(f, "; "))
	} else {
		b.WriteString("OK: nothing lost, no second First Match, no sequence backwards\n")
	}
	return b.String()
}
