package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// doctor runs `firehook doctor --json` on dir and returns its report, its
// exit code and its stderr.
func doctor(t *testing.T, dir string) (doctorReport, int, string) {
	t.Helper()
	cmd := exec.Command(binPath, "doctor", "--data", dir, "--json")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var rep doctorReport
	if len(out) > 0 {
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatalf("doctor printed %q: %v", out, err)
		}
	}
	return rep, code, stderr.String()
}

// `firehook doctor` on a stopped node's data directory: a summary that
// matches what the node was given, exit 0; refused while the node runs;
// exit 1 with the damage named when the event log is damaged.
func TestDoctor_SummarisesAStoppedNodesDataAndFindsDamage(t *testing.T) {
	dir := t.TempDir()
	const n = 20
	p, _, visitors := nodeWithDeliveredEvents(t, dir, "op-doctor-token", 4, n)

	if _, code, stderr := doctor(t, dir); code != 1 || !strings.Contains(stderr, "is a node running") {
		t.Errorf("doctor on a running node's directory: exit %d, %q; want 1 and a clear refusal", code, stderr)
	}
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	rep, code, stderr := doctor(t, dir)
	if code != 0 || len(rep.Problems) != 0 {
		t.Fatalf("doctor on a sound directory: exit %d, problems %q, %s", code, rep.Problems, stderr)
	}
	if rep.Events.Count != n || rep.Events.FirstSeq != 1 || rep.Events.LastSeq != n {
		t.Errorf("events %+v; want %d, sequences 1 to %d", rep.Events, n, n)
	}
	if rep.Config.Tenants != 1 || rep.Config.Sites != 1 || rep.Config.Endpoints != 1 {
		t.Errorf("config %+v; want 1 tenant, 1 site, 1 endpoint", rep.Config)
	}
	if rep.Deliveries["delivered"] != n || rep.Graph.Persons != int64(len(visitors)) {
		t.Errorf("deliveries %v, graph %+v; want %d delivered, %d persons", rep.Deliveries, rep.Graph, n, len(visitors))
	}

	seg, b := onlySegment(t, dir)
	b[len(b)/2] ^= 0xff // inside an event in the middle of the log
	if err := os.WriteFile(seg, b, 0o644); err != nil {
		t.Fatal(err)
	}
	rep, code, _ = doctor(t, dir)
	if code != 1 || len(rep.Events.Damaged) != 1 || len(rep.Problems) == 0 || !strings.Contains(rep.Problems[0], "lost") {
		t.Fatalf("doctor on a damaged log: exit %d, events %+v, problems %q; want exit 1 naming the damage", code, rep.Events, rep.Problems)
	}
	if rep.Events.Count >= n {
		t.Errorf("%d events read through a damaged stretch; want fewer than %d", rep.Events.Count, n)
	}
}
