package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Result is what Run measured; it is also the --json output.
type Result struct {
	Mode  string `json:"mode"` // fixed, or ramp
	Node  string `json:"node"` // in-process, or the target's ingest URL
	Fsync *bool  `json:"fsync,omitempty"`
	// What was set up.
	Tenants    int     `json:"tenants"`
	Endpoints  int     `json:"endpoints"`
	Healthy    int     `json:"healthy_endpoints"`
	BlackHoles int     `json:"black_hole_endpoints"`
	Failing    int     `json:"failing_endpoints"` // answering 500
	People     int     `json:"people"`
	SetupS     float64 `json:"setup_s"`
	Senders    int     `json:"senders"`
	Seed       int64   `json:"seed"`
	WarmupS    float64 `json:"warmup_s"` // unmeasured load before the runs
	// Runs has one entry per step: one for a fixed rate, one per rate of a
	// ramp.
	Runs []RunResult `json:"runs"`
	// MaxSustainedRate is the accepted rate of the last sustained step of
	// a ramp (MaxSustainedOffered its offered rate); 0 when the first step
	// was not sustained.
	MaxSustainedRate    float64 `json:"max_sustained_rate,omitempty"`
	MaxSustainedOffered float64 `json:"max_sustained_offered,omitempty"`
	// Unexpected counts webhook ids that reached a healthy endpoint
	// without being the event id of a page view seen accepted: one the
	// node stored but whose 202 never reached the sender (a client
	// timeout, say).
	Unexpected    int64 `json:"unexpected_deliveries"`
	BadSignatures int64 `json:"bad_signatures"`
	// Process is the node process's CPU time and peak RSS; nil against a
	// target without a pid.
	Process *Process `json:"process,omitempty"`
}

// RunResult is one step: a fixed rate for a duration.
type RunResult struct {
	OfferedRate float64 `json:"offered_rate"` // page views/s
	DurationS   float64 `json:"duration_s"`
	Sent        int64   `json:"sent"`
	Accepted    int64   `json:"accepted"` // answered 202
	Errors      int64   `json:"errors"`   // any other answer, or none
	FirstError  string  `json:"first_error,omitempty"`
	// AchievedRate is the accepted page views per second, from the first
	// scheduled send to the last 202.
	AchievedRate float64 `json:"achieved_rate"`
	// Ingest is pixel → 202: from each page view's scheduled send time.
	Ingest Latency `json:"pixel_to_202"`
	// Delivery is pixel → arrival at a healthy endpoint, from the
	// scheduled send time of the page view.
	Delivery   Latency    `json:"pixel_to_arrival"`
	Deliveries Deliveries `json:"deliveries"`
	// BacklogAtEnd is the deliveries still to arrive when the last page
	// view was answered.
	BacklogAtEnd int64      `json:"backlog_at_end_of_load"`
	DrainS       float64    `json:"drain_s"` // from the end of the load until all arrived, or the drain timeout
	BadEndpoints BadCounts  `json:"bad_endpoints"`
	Raw          *RawResult `json:"raw,omitempty"`
	// Ratio is pipeline / raw baseline (nil without a baseline).
	Ratio *Ratio `json:"ratio_pipeline_to_raw,omitempty"`
	// CPUSeconds is the CPU time of the node process (user + system) from
	// the start of the step to the end of its drain; CPUPercent of the
	// same wall time (200 % is two cores).
	CPUSeconds *float64 `json:"cpu_s,omitempty"`
	CPUPercent float64  `json:"cpu_percent,omitempty"`
	// Sustained and Verdict are set in a ramp (see judge).
	Sustained *bool  `json:"sustained,omitempty"`
	Verdict   string `json:"verdict,omitempty"`
}

// Deliveries counts the deliveries to healthy endpoints that the
// accepted page views call for.
type Deliveries struct {
	Expected   int64 `json:"expected"`
	Delivered  int64 `json:"delivered"`  // arrived at least once
	Lost       int64 `json:"lost"`       // never arrived within the drain
	Duplicates int64 `json:"duplicates"` // arrivals after the first of the same webhook id at the same endpoint
	// RatePerS is Delivered per second, from the first scheduled send to
	// the last arrival.
	RatePerS float64 `json:"rate_per_s"`
}

// BadCounts is the requests the bad endpoints received (first attempts
// and retries).
type BadCounts struct {
	BlackHoleRequests int64 `json:"black_hole_requests"`
	FailingRequests   int64 `json:"failing_requests"`
}

// RawResult is the raw baseline: for every page view, a POST straight to
// each healthy endpoint of its tenant, at the page view's scheduled time.
type RawResult struct {
	Sent       int64   `json:"sent"`
	OK         int64   `json:"ok"` // answered 2xx
	Errors     int64   `json:"errors"`
	Delivered  int64   `json:"delivered"`
	Lost       int64   `json:"lost"`
	Duplicates int64   `json:"duplicates"`
	RatePerS   float64 `json:"rate_per_s"`
	// Arrival is scheduled send → arrival at the receiver.
	Arrival Latency `json:"post_to_arrival"`
}

// Ratio is pipeline / raw baseline: of the arrival latencies' p50 and
// p99, and of the delivery throughputs.
type Ratio struct {
	P50        float64 `json:"p50"`
	P99        float64 `json:"p99"`
	Throughput float64 `json:"throughput"`
}

// Process is the node process's resources over all the steps.
type Process struct {
	Source       string  `json:"source,omitempty"` // /proc/self or /proc/PID
	CPUSeconds   float64 `json:"cpu_s"`
	CPUPercent   float64 `json:"cpu_percent"`
	PeakRSSBytes int64   `json:"peak_rss_bytes"` // VmHWM: the peak over the process's life
	Note         string  `json:"note,omitempty"`
}

// WriteText writes r as compact tables for people.
func (r *Result) WriteText(out io.Writer) error {
	var b strings.Builder
	node := r.Node
	if r.Fsync != nil {
		node += map[bool]string{true: " node (fsync on)", false: " node (fsync OFF)"}[*r.Fsync]
	}
	fmt.Fprintf(&b, "firehook bench: %s; %d tenant(s), %d endpoint(s): %d healthy, %d black hole, %d answering 500; %d people; %d senders; seed %d; set up in %.1f s; warm-up %.1f s\n",
		node, r.Tenants, r.Endpoints, r.Healthy, r.BlackHoles, r.Failing, r.People, r.Senders, r.Seed, r.SetupS, r.WarmupS)
	if r.Mode == "ramp" {
		writeRamp(&b, r)
	} else {
		for _, rr := range r.Runs {
			writeRun(&b, &rr)
		}
	}
	if r.Unexpected > 0 || r.BadSignatures > 0 {
		fmt.Fprintf(&b, "unexpected deliveries %d, bad signatures %d\n", r.Unexpected, r.BadSignatures)
	}
	if p := r.Process; p != nil {
		if p.Source == "" {
			fmt.Fprintf(&b, "node process: %s\n", p.Note)
		} else {
			fmt.Fprintf(&b, "node process (%s): CPU %.2f s (%.0f %% of one core), peak RSS %.0f MiB; %s\n",
				p.Source, p.CPUSeconds, p.CPUPercent, float64(p.PeakRSSBytes)/(1<<20), p.Note)
		}
	}
	_, err := io.WriteString(out, b.String())
	return err
}

func writeRun(b *strings.Builder, rr *RunResult) {
	fmt.Fprintf(b, "\noffered %.0f page views/s for %.1f s: sent %d, accepted %d (%.1f/s), errors %d\n",
		rr.OfferedRate, rr.DurationS, rr.Sent, rr.Accepted, rr.AchievedRate, rr.Errors)
	if rr.FirstError != "" {
		fmt.Fprintf(b, "first error: %s\n", rr.FirstError)
	}
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "latency (ms)\tcount\tp50\tp90\tp99\tp99.9\tmax\t")
	row := func(name string, l Latency) {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t\n", name, l.Count, l.P50MS, l.P90MS, l.P99MS, l.P999MS, l.MaxMS)
	}
	row("pixel → 202", rr.Ingest)
	row("pixel → arrival", rr.Delivery)
	if rr.Raw != nil {
		row("raw POST → arrival", rr.Raw.Arrival)
	}
	tw.Flush()
	d := rr.Deliveries
	fmt.Fprintf(b, "deliveries to healthy endpoints: expected %d, delivered %d (%.1f/s), lost %d, duplicates %d; backlog at end of load %d, drained in %.2f s\n",
		d.Expected, d.Delivered, d.RatePerS, d.Lost, d.Duplicates, rr.BacklogAtEnd, rr.DrainS)
	if d.Lost > 0 {
		fmt.Fprintf(b, "LOST %d deliveries: not delivered within the drain; the arrival latencies above cover the delivered ones only\n", d.Lost)
	}
	if rr.BadEndpoints.BlackHoleRequests > 0 || rr.BadEndpoints.FailingRequests > 0 {
		fmt.Fprintf(b, "bad endpoints received: %d requests (black holes), %d (answering 500)\n",
			rr.BadEndpoints.BlackHoleRequests, rr.BadEndpoints.FailingRequests)
	}
	if r := rr.Raw; r != nil {
		fmt.Fprintf(b, "raw baseline: sent %d, delivered %d (%.1f/s), lost %d, errors %d\n", r.Sent, r.Delivered, r.RatePerS, r.Lost, r.Errors)
	}
	if q := rr.Ratio; q != nil {
		fmt.Fprintf(b, "pipeline / raw: p50 %.2fx, p99 %.2fx, throughput %.3fx\n", q.P50, q.P99, q.Throughput)
	}
	if rr.CPUSeconds != nil {
		fmt.Fprintf(b, "CPU during the step: %.2f s (%.0f %% of one core)\n", *rr.CPUSeconds, rr.CPUPercent)
	}
}

func writeRamp(b *strings.Builder, r *Result) {
	b.WriteString("\n")
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "offered/s\taccepted/s\terrors\t202 p50\t202 p99\tarrival p50\tarrival p99\tdeliveries/s\tbacklog\tlost\tCPU %\tverdict")
	for _, rr := range r.Runs {
		fmt.Fprintf(tw, "%.0f\t%.0f\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.0f\t%d\t%d\t%.0f\t%s\n",
			rr.OfferedRate, rr.AchievedRate, rr.Errors, rr.Ingest.P50MS, rr.Ingest.P99MS, rr.Delivery.P50MS, rr.Delivery.P99MS,
			rr.Deliveries.RatePerS, rr.BacklogAtEnd, rr.Deliveries.Lost, rr.CPUPercent, rr.Verdict)
	}
	tw.Flush()
	if r.MaxSustainedOffered > 0 {
		fmt.Fprintf(b, "max sustained rate: %.0f page views/s accepted (step offered %.0f/s)\n", r.MaxSustainedRate, r.MaxSustainedOffered)
	} else {
		fmt.Fprintf(b, "max sustained rate: below the first step's %.0f page views/s\n", r.Runs[0].OfferedRate)
	}
}
