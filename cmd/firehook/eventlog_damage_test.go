package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/firehook/firehook/internal/testkit"
)

// The event log's segments damaged on disk while the node was down — a
// byte flipped inside one event, and a torn tail — are found by their
// CRCs at the next start: the damage is cut out, logged and reported by
// /readyz, every event outside it is kept and replayed, and new events
// get sequences no lost event had.
func TestEventLog_DamagedSegmentIsRepairedAndReported(t *testing.T) {
	dir := t.TempDir()
	const token = "op-damage-token"
	env := "FIREHOOK_ADMIN_TOKEN=" + token
	flags := []string{"--allow-private-endpoints"}
	const n = 30
	p1, cc, visitors := nodeWithDeliveredEvents(t, dir, token, 5, n)
	if err := p1.stop(t, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	seg, b := onlySegment(t, dir)
	b[len(b)/2] ^= 0xff // inside an event in the middle of the log
	b = b[:len(b)-7]    // and the last event torn
	if err := os.WriteFile(seg, b, 0o644); err != nil {
		t.Fatal(err)
	}

	p2 := startServeArgs(t, dir, flags, env)
	var ready struct {
		Status   string
		Warnings []string
	}
	if s := call(t, http.MethodGet, p2.admin+"/readyz", "", nil, &ready); s != http.StatusOK || ready.Status != "ready" {
		t.Fatalf("/readyz = %d %+v; want 200 ready", s, ready)
	}
	if len(ready.Warnings) != 2 || !strings.Contains(ready.Warnings[0], "event log damaged") {
		t.Fatalf("/readyz warnings %q; want the two damaged stretches", ready.Warnings)
	}
	if got := strings.Count(p2.log(), "event log: damaged bytes found at start"); got != 2 {
		t.Errorf("%d damage lines in the log; want 2:\n%s", got, p2.log())
	}
	after := cc.send(p2.ingest, visitors[0], 2)
	if !after.accepted() {
		t.Fatalf("after the repair: %d %v", after.status, after.err)
	}
	if err := p2.stop(t, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	st := testkit.OpenStore(t, dir)
	evs, err := st.Events.Read(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != n-2+1 {
		t.Fatalf("%d events in the log; want the %d intact ones and the new one", len(evs), n-2)
	}
	if last := evs[len(evs)-1]; last.ID != after.id || last.Seq <= n {
		t.Fatalf("the new event is %s with seq %d; want %s after every lost sequence (> %d)", last.ID, last.Seq, after.id, n)
	}
}

// nodeWithDeliveredEvents starts a node on dir (operator token token)
// with a tenant, site and endpoint, people persons in its graph, and n
// page views of theirs accepted and delivered.
func nodeWithDeliveredEvents(t *testing.T, dir, token string, people, n int) (*proc, *crashClient, []*crashVisitor) {
	t.Helper()
	p := startServeArgs(t, dir, []string{"--allow-private-endpoints"}, "FIREHOOK_ADMIN_TOKEN="+token)
	rc := testkit.NewReceiver(t, func(w http.ResponseWriter, _ *testkit.Received) { w.WriteHeader(http.StatusOK) })
	_, siteKey, _, _ := crashSetup(t, p, token, rc.URL)
	visitors := crashPeople(t, p, token, people)
	cc := &crashClient{client: http.DefaultClient, siteKey: siteKey}
	for i := range n {
		if s := cc.send(p.ingest, visitors[i%len(visitors)], 1); !s.accepted() {
			t.Fatalf("%s: %d %v", s.url, s.status, s.err)
		}
	}
	rc.WaitFor(t, n, 30*time.Second)
	return p, cc, visitors
}

// onlySegment returns the path and bytes of the event log's one segment
// in a stopped node's dir.
func onlySegment(t *testing.T, dir string) (string, []byte) {
	t.Helper()
	segs, _ := filepath.Glob(filepath.Join(dir, "events", "*.wal"))
	if len(segs) != 1 {
		t.Fatalf("segments %v; want one", segs)
	}
	b, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	return segs[0], b
}
