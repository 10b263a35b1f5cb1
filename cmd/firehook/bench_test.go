package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/firehook/firehook/bench"
)

// A few seconds of `firehook bench` against an in-process node: every
// accepted page view reaches every healthy endpoint, nothing is lost or
// duplicated, the raw baseline ran, and --json is JSON.
func TestBench_SmokeRunDeliversEverythingAndPrintsJSON(t *testing.T) {
	var stdout, stderr bytes.Buffer
	start := time.Now()
	err := Run(context.Background(), []string{"bench", "--rate", "200", "--duration", "2s", "--endpoints", "3",
		"--people", "200", "--warmup", "500ms", "--drain", "20s", "--json"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("bench: %v\nstderr:\n%s", err, &stderr)
	}
	var res bench.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, &stdout)
	}
	if res.Node != "in-process" || res.Endpoints != 3 || res.Healthy != 3 || len(res.Runs) != 1 {
		t.Fatalf("result: %s", &stdout)
	}
	r := res.Runs[0]
	// Loose bounds: the machine is shared and the test may run under -race.
	if r.Sent != 400 || r.Accepted < 360 || r.Errors > r.Sent-r.Accepted {
		t.Errorf("sent %d, accepted %d, errors %d (%s)", r.Sent, r.Accepted, r.Errors, r.FirstError)
	}
	if d := r.Deliveries; d.Expected != 3*r.Accepted || d.Delivered != d.Expected || d.Lost != 0 || d.Duplicates != 0 {
		t.Errorf("deliveries %+v; want all %d of 3 × %d accepted, none lost or duplicated", d, 3*r.Accepted, r.Accepted)
	}
	if r.Ingest.Count != r.Accepted || r.Delivery.Count != r.Deliveries.Delivered || r.Delivery.P50MS <= 0 {
		t.Errorf("latencies: 202 %+v, arrival %+v", r.Ingest, r.Delivery)
	}
	if r.Raw == nil || r.Raw.Sent != 3*400 || r.Raw.Delivered != r.Raw.Sent || r.Raw.Arrival.Count != r.Raw.Sent || r.Ratio == nil || r.Ratio.Throughput <= 0 {
		t.Errorf("raw baseline: %+v, ratio %+v", r.Raw, r.Ratio)
	}
	if res.Process == nil || res.Process.CPUSeconds <= 0 || res.Process.PeakRSSBytes <= 0 {
		t.Errorf("process: %+v", res.Process)
	}
	if res.Unexpected != 0 || res.BadSignatures != 0 {
		t.Errorf("unexpected deliveries %d, bad signatures %d", res.Unexpected, res.BadSignatures)
	}
	t.Logf("%s in %s: 202 p99 %.2f ms, arrival p50 %.2f / p99 %.2f ms, raw p50 %.2f / p99 %.2f ms",
		"bench", time.Since(start).Round(time.Millisecond), r.Ingest.P99MS, r.Delivery.P50MS, r.Delivery.P99MS,
		r.Raw.Arrival.P50MS, r.Raw.Arrival.P99MS)
}

func TestBench_RefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--endpoints", "2", "--bad-endpoints", "100"},
		{"bench", "--target", "http://127.0.0.1:1"},
		{"bench", "--pid", "1"},
		{"bench", "--log-level", "loud", "--rate", "1", "--duration", "1ms"},
		{"bench", "stray"},
	} {
		var stdout, stderr bytes.Buffer
		err := Run(context.Background(), args, &stdout, &stderr)
		if exitCode(err) != 2 {
			t.Errorf("%q: %v (exit %d); want a usage error", args, err, exitCode(err))
		}
	}
}

// Against a running `firehook serve` (--target): the endpoints go through
// its admin API, its CPU time and peak RSS come from /proc/PID, and the
// endpoints are deleted afterwards.
func TestBench_TargetModeAgainstServe(t *testing.T) {
	const token = "fho_benchtargettoken"
	p := startServeArgs(t, t.TempDir(), []string{"--allow-private-endpoints"}, "FIREHOOK_ADMIN_TOKEN="+token)
	var stdout, stderr bytes.Buffer
	err := Run(context.Background(), []string{"bench", "--target", p.ingest, "--admin", p.admin, "--token", token,
		"--pid", strconv.Itoa(p.cmd.Process.Pid), "--rate", "100", "--duration", "1s", "--endpoints", "2",
		"--people", "50", "--warmup", "0", "--drain", "20s", "--json"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("bench: %v\nstderr:\n%s\nnode:\n%s", err, &stderr, p.log())
	}
	var res bench.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, &stdout)
	}
	r := res.Runs[0]
	if d := r.Deliveries; d.Expected == 0 || d.Lost != 0 || d.Delivered != d.Expected {
		t.Errorf("deliveries %+v", d)
	}
	if pr := res.Process; pr == nil || pr.Source != "/proc/"+strconv.Itoa(p.cmd.Process.Pid) || pr.CPUSeconds <= 0 || pr.PeakRSSBytes <= 0 {
		t.Errorf("process: %+v", res.Process)
	}
	var eps struct {
		Endpoints []any `json:"endpoints"`
	}
	if call(t, http.MethodGet, p.admin+"/v1/endpoints", token, nil, &eps); len(eps.Endpoints) != 0 {
		t.Errorf("%d endpoints left on the node after the run", len(eps.Endpoints))
	}
}
