package main

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/firehook/firehook/bench/chaos"
)

// Killing members under load, with the driver of `firehook chaos`
// (package bench/chaos): three members, one of them, chosen at random,
// killed (SIGKILL) and started again three times. Every page view
// answered 202 is delivered, no person gets a second First Match and no
// person's sequence goes backwards (a decision is copied to the other
// owner of its person's shard before its webhooks go out, and taken over
// from there), and the victim's persons' deliveries go on within the
// failure detection time plus a second after each kill.
func TestCluster_Chaos_KillsUnderLoadLoseNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos: 30 s of kills; not with -short")
	}
	cfg := chaos.Config{
		Binary:    binPath,
		Nodes:     3,
		Kills:     3,
		KillEvery: 7 * time.Second, // 3 s down, ~1 s to start, 3 s up
		Downtime:  3 * time.Second,
		People:    30,
		Rate:      500,
		// Fewer deliveries at a time than page views: the outbox holds a
		// backlog, and deliveries are under way when a member is killed.
		MaxInFlight: 2,
		Log:         testLog{t},
	}
	// FIREHOOK_CHAOS_KILLS and FIREHOOK_CHAOS_EVERY (the time from one kill
	// to the next) make a longer run (docs/benchmarks.md).
	if v, err := strconv.Atoi(os.Getenv("FIREHOOK_CHAOS_KILLS")); err == nil && v > 0 {
		cfg.Kills = v
	}
	if v, err := time.ParseDuration(os.Getenv("FIREHOOK_CHAOS_EVERY")); err == nil && v > cfg.Downtime {
		cfg.KillEvery = v
	}
	// The members' data and logs (node.log) stay when the test fails.
	dir, err := os.MkdirTemp("", "firehook-chaos-test-")
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = dir
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the members' data and logs are kept in %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	rep, err := chaos.Run(context.Background(), cfg)
	if rep != nil {
		t.Logf("chaos report:\n%s", rep)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Kills) != cfg.Kills {
		t.Errorf("%d kills made; want %d", len(rep.Kills), cfg.Kills)
	}
	if rep.Lost > 0 {
		t.Errorf("%d accepted page views not delivered (e.g. %s)", rep.Lost, strings.Join(rep.LostIDs, " "))
	}
	if rep.DuplicateFirstMatches > 0 {
		t.Errorf("%d persons got a second First Match: %v", rep.DuplicateFirstMatches, rep.DuplicateFirstMatchPersons)
	}
	if rep.BadSignatures > 0 || rep.Malformed > 0 {
		t.Errorf("%d deliveries with a bad signature, %d not a webhook about a person", rep.BadSignatures, rep.Malformed)
	}
	// A killed member's unfinished deliveries are taken over from their
	// copies before its persons' later events are decided elsewhere, and
	// those it decided but could not copy are decided again when it comes
	// back: no person's sequence goes backwards, none is used twice.
	if rep.SequenceBackwards > 0 {
		t.Errorf("%d persons' sequence went backwards at the endpoint (e.g. %s); want 0",
			rep.SequenceBackwards, strings.Join(rep.SequenceBackwardsExamples, "; "))
	}
	// Deliveries of the victim's persons resume within the detection time
	// plus a second. Under CI — a -race build of three members and the
	// test on 2 cores, beside the other packages' tests — a visitor whose
	// owner died waits up to 2 s for its page view's answer before its next
	// one, so 3 s more are allowed here; the benchmark without the race
	// detector (docs/benchmarks.md) resumes within 40 ms of the detection.
	//
	// That holds also for a kill in the middle of a hand-over between the
	// victim and another member: the other member stops waiting for the
	// victim and gathers the victim's persons' state from the copies of
	// its decisions (node/cluster_rebalance.go, awaitedFromTheDead).
	for i, k := range rep.Kills {
		t.Logf("kill %d (%s): detected after %s, its persons resumed after %s", i+1, k.Victim, k.Detected, k.Resumed)
		if k.Resumed > k.Detected+chaos.Duration(4*time.Second) {
			t.Errorf("kill %d (%s): its persons' deliveries resumed %s after the kill, detected after %s, restarted after %s; want at most detection + 1 s (4 s allowed under -race)",
				i+1, k.Victim, k.Resumed, k.Detected, k.Restarted)
		}
	}
	if rep.LongestGapAfterKill > chaos.Duration(4*time.Second) {
		t.Errorf("deliveries paused for %s after a kill; want at most the detection time + 1 s (4 s allowed)", rep.LongestGapAfterKill)
	}
}

// testLog writes each line of a chaos run's progress to the test's log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// `firehook chaos` refuses a configuration it cannot run before it
// starts anything (exit status 2).
func TestChaos_BadFlagsAreUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--nodes", "1"},
		{"--kill-every", "2s", "--downtime", "3s"},
		{"--people", "-1"},
		{"--no-such-flag"},
		{"extra"},
	} {
		var out, errOut strings.Builder
		err := Run(context.Background(), append([]string{"chaos", "--binary", binPath}, args...), &out, &errOut)
		if exitCode(err) != 2 {
			t.Errorf("firehook chaos %v: %v (exit %d); want a usage error (exit 2)", args, err, exitCode(err))
		}
		if out.Len() > 0 {
			t.Errorf("firehook chaos %v printed a report:\n%s", args, out.String())
		}
	}
}
