package main

import (
	"errors"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/firehook/firehook/actors/webhook"
	"github.com/firehook/firehook/internal/failpoint"
	"github.com/firehook/firehook/internal/testkit"
)

// Crashes at exact steps of an event's way (internal/failpoint arms a
// SIGKILL of the real binary at one step): whatever step the process dies
// at, every event answered 202 is delivered after the restart, a person's
// webhooks carry sequence 1..n in log order with one visitor.identified,
// and a resent webhook carries what it carried the first time — the
// replay from the checkpoint makes the same decisions, never new ones.
func TestCrash_AtEachStep_ReplayFromTheCheckpointDecidesNothingTwice(t *testing.T) {
	for _, c := range []struct {
		name  string
		point string // failpoint.Env: where the first process dies
		slow  bool   // a slow receiver before the kill: deliveries wait, decided and checkpointed, when it comes
	}{
		{"between the log append and the checkpoint: stored, not decided", "visitor.before-dispatch:40", false},
		{"between the decision and the checkpoint: decided, not handed to the endpoint", "person.after-dispatch:40", false},
		{"between the checkpoint and the send: checkpointed, not sent", "pipeline.after-checkpoint:3", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			const token = "op-crashpoint-token"
			env := "FIREHOOK_ADMIN_TOKEN=" + token
			flags := []string{"--allow-private-endpoints"}
			p1 := startServeArgs(t, dir, flags, env, failpoint.Env+"="+c.point)

			var slow atomic.Bool
			slow.Store(c.slow)
			rc := testkit.NewReceiver(t, func(w http.ResponseWriter, _ *testkit.Received) {
				if slow.Load() {
					time.Sleep(50 * time.Millisecond)
				}
				w.WriteHeader(http.StatusOK)
			})
			tenantID, siteKey, _, secret := crashSetup(t, p1, token, rc.URL)
			visitors := crashPeople(t, p1, token, 10)
			tr := &http.Transport{MaxIdleConnsPerHost: 2}
			t.Cleanup(tr.CloseIdleConnections)
			cc := &crashClient{client: &http.Client{Transport: tr, Timeout: 30 * time.Second}, siteKey: siteKey}

			// Two clients post until the failpoint kills the node.
			var wg sync.WaitGroup
			deadline := time.Now().Add(30 * time.Second)
			for w := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; time.Now().Before(deadline); i++ {
						if s := cc.send(p1.ingest, visitors[w+2*(i%5)], 1); s.err != nil {
							return // the node is gone
						}
					}
				}()
			}
			wg.Wait()
			var exit *exec.ExitError
			select {
			case err := <-p1.exited:
				if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
					t.Fatalf("the node ended with %v; want the failpoint's SIGKILL\n%s", err, p1.log())
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("the failpoint %s did not fire within 30 s of load", c.point)
			}
			p1.cmd.ProcessState = exit.ProcessState // reaped: the cleanup does not kill it again
			acceptedAtKill := int(cc.accepted.Load())
			deliveredAtKill := map[string]bool{}
			for _, g := range rc.Got() {
				deliveredAtKill[g.Header.Get(webhook.HeaderID)] = true
			}
			if c.slow && len(deliveredAtKill) >= acceptedAtKill {
				t.Fatalf("all %d accepted events were delivered before the kill: the crash did not come between checkpoint and send", acceptedAtKill)
			}
			slow.Store(false)
			tr.CloseIdleConnections()

			p2 := startServeArgs(t, dir, flags, env)
			for _, v := range visitors {
				if s := cc.send(p2.ingest, v, 2); !s.accepted() {
					t.Errorf("after the restart: %s: status %d, err %v", s.url, s.status, s.err)
				}
			}
			accepted, _ := acceptedEvents(t, visitors)
			missing, waited := waitDelivered(rc, accepted, 60*time.Second)
			if len(missing) > 0 {
				t.Errorf("%d of %d accepted events not delivered: %s", len(missing), len(accepted), strings.Join(missing[:min(len(missing), 10)], " "))
			}
			if err := p2.stop(t, syscall.SIGTERM); err != nil {
				t.Errorf("SIGTERM: %v", err)
			}
			res := checkCrashDeliveries(t, dir, visitors, rc, tenantID, secret)
			if res.bad > 0 || len(missing) > 0 {
				t.Logf("before the kill:\n%s\nafter the restart:\n%s", p1.log(), p2.log())
			}
			t.Logf("killed at %s with %d accepted, %d delivered; after the restart everything arrived in %s; %s",
				c.point, acceptedAtKill, len(deliveredAtKill), waited.Round(time.Millisecond), res)
		})
	}
}
