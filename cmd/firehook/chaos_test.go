package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/firehook/firehook/actors/webhook"
	"github.com/firehook/firehook/internal/testkit"
)

// chaosMember is a member of the chaos test's cluster that can be killed
// and started again on the same data dir, ports and name.
type chaosMember struct {
	name, dir                   string
	ingest, admin, gossip, join string
	p                           *proc
	logs                        strings.Builder // of the starts before p
}

func (m *chaosMember) start(t *testing.T) {
	t.Helper()
	if m.p != nil {
		m.logs.WriteString(m.p.log())
		m.logs.WriteString("---- restart ----\n")
	}
	args := []string{"--node", m.name, "--listen", m.ingest, "--admin-listen", m.admin,
		"--gossip-listen", m.gossip, "--allow-private-endpoints"}
	if m.join != "" {
		args = append(args, "--join", m.join)
	}
	m.p = startServeArgs(t, m.dir, args, "FIREHOOK_ADMIN_TOKEN="+clusterToken)
}

// chaosReport is what a chaos run found.
type chaosReport struct {
	accepted, delivered, lost, duplicates    int
	duplicateFirstMatches, sequenceBackwards int
	orderViolations                          int
	longestGap                               time.Duration
	kills                                    int
}

func (r chaosReport) String() string {
	return fmt.Sprintf("%d kills; %d page views accepted, %d delivered, %d lost, %d duplicate deliveries, %d duplicate First Matches, %d persons whose sequence went backwards, %d persons whose events arrived out of the order sent; longest pause between deliveries %s",
		r.kills, r.accepted, r.delivered, r.lost, r.duplicates, r.duplicateFirstMatches, r.sequenceBackwards, r.orderViolations, r.longestGap.Round(time.Millisecond))
}

// Killing members under load: three members, one of them killed
// (SIGKILL) and started again every few seconds. Every page view answered
// 202 is delivered, no person gets a second First Match (a person's
// dispatch state is on the other owner of its shard before its webhooks
// go out), and deliveries go on within the failure detection time plus a
// second after each kill.
//
// Not asserted yet (issue 13, Cluster II): that a person's sequence never
// goes backwards at the endpoint. A killed member's unfinished deliveries
// wait in its outbox until it is back, while the person's new owner goes
// on with later ones; the count is logged.

func TestCluster_Chaos_KillsUnderLoadLoseNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos: 30 s of kills; not with -short")
	}
	// FIREHOOK_CHAOS_KILLS and FIREHOOK_CHAOS_EVERY make a longer run
	// (docs/benchmarks.md); the defaults are CI's: 3 kills, 3 s apart.
	kills, every := 3, 3*time.Second
	if v, err := strconv.Atoi(os.Getenv("FIREHOOK_CHAOS_KILLS")); err == nil && v > 0 {
		kills = v
	}
	if v, err := time.ParseDuration(os.Getenv("FIREHOOK_CHAOS_EVERY")); err == nil && v > 0 {
		every = v
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	members := make([]*chaosMember, 3)
	for i := range members {
		ports, err := freePorts(3)
		if err != nil {
			t.Fatal(err)
		}
		members[i] = &chaosMember{name: fmt.Sprintf("n%d", i+1), dir: t.TempDir(),
			ingest: ports[0], admin: ports[1], gossip: ports[2]}
		if i > 0 {
			members[i].join = members[0].gossip
		}
		members[i].start(t)
	}
	members[0].join = members[1].gossip // when n1 comes back, it joins through n2
	procs := func() []*proc {
		out := make([]*proc, len(members))
		for i, m := range members {
			out[i] = m.p
		}
		return out
	}
	waitAllAlive(t, procs())
	rc := testkit.NewReceiver(t, nil)
	_, siteKey, _, secret := crashSetup(t, members[0].p, clusterToken, rc.URL)
	visitors := crashPeople(t, members[0].p, clusterToken, 30)
	waitSiteOnEveryMember(t, procs(), siteKey)

	c := &crashClient{client: &http.Client{Timeout: 5 * time.Second}, siteKey: siteKey}
	load := startClusterLoad(t, c, visitors, procs())
	var killedAt []time.Time
	for k := range kills {
		time.Sleep(every)
		victim := members[rng.IntN(len(members))]
		var live []*proc
		for _, m := range members {
			if m != victim {
				live = append(live, m.p)
			}
		}
		load.setTargets(live)
		killedAt = append(killedAt, time.Now())
		if err := victim.p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-victim.p.exited
		t.Logf("kill %d: %s at %s", k+1, victim.name, time.Now().Format("15:04:05.000"))
		time.Sleep(3 * time.Second)
		victim.start(t)
		load.setTargets(procs())
	}
	time.Sleep(2 * time.Second)
	load.stop()

	accepted, _ := acceptedEvents(t, visitors)
	missing, waited := waitDelivered(rc, accepted, 60*time.Second)
	rep := chaosCheck(t, visitors, rc, secret, accepted, killedAt)
	rep.kills, rep.lost = kills, len(missing)
	t.Logf("chaos: %s (all delivered %s after the load)", rep, waited.Round(time.Millisecond))
	if rep.lost > 0 || rep.duplicateFirstMatches > 0 {
		d, err := os.MkdirTemp("", "firehook-chaos-logs-")
		if err == nil {
			for _, m := range members {
				_ = os.WriteFile(d+"/"+m.name+".log", []byte(m.logs.String()+m.p.log()), 0o644)
			}
			t.Logf("member logs kept in %s", d)
		}
	}
	if rep.lost > 0 {
		slices.Sort(missing)
		byTarget := map[string]int{}
		lost := map[string]bool{}
		for _, id := range missing {
			lost[id] = true
		}
		for _, v := range visitors {
			for _, s := range v.sends {
				if lost[s.id] {
					byTarget[s.target]++
				}
			}
		}
		t.Errorf("%d accepted page views not delivered (accepted by: %v): %s", rep.lost, byTarget, strings.Join(missing[:min(10, len(missing))], " "))
	}
	if rep.duplicateFirstMatches > 0 {
		t.Errorf("%d persons got a second First Match", rep.duplicateFirstMatches)
	}
	// Detection (~1.25 s, ≤ 2 s) plus a second, with slack for a -race
	// build on 2 shared cores.
	if rep.longestGap > 4*time.Second {
		t.Errorf("deliveries paused for %s after a kill; want at most the detection time + 1 s (4 s allowed)", rep.longestGap)
	}
}

// chaosCheck reads what rc received: per person, distinct events'
// First Matches, the sequences in order of first arrival, the order
// against the order sent; and the longest pause between deliveries
// after a kill.
func chaosCheck(t *testing.T, visitors []*crashVisitor, rc *testkit.Receiver, secret string, accepted map[string]bool, killedAt []time.Time) chaosReport {
	t.Helper()
	type arrival struct {
		id, typ string
		seq     uint64
	}
	var rep chaosReport
	rep.accepted = len(accepted)
	arrivals := map[string][]arrival{}
	seen := map[string]bool{}
	var times []time.Time
	for _, g := range rc.Got() {
		// Checked as of its arrival: a long run ends after the timestamps'
		// tolerance (5 min) has passed for its first deliveries.
		verifier := webhook.Verifier{Secrets: []string{secret}, Now: func() time.Time { return g.At }}
		if err := verifier.Verify(g.Header, g.Body); err != nil {
			t.Errorf("delivery %d: signature: %v", g.Call, err)
		}
		var p webhook.Payload
		if err := json.Unmarshal(g.Body, &p); err != nil || p.Data.Person == nil {
			continue // the warm-up's anonymous page views make no webhook; anything else is an error below
		}
		times = append(times, g.At)
		if seen[p.ID] {
			rep.duplicates++
			continue
		}
		seen[p.ID] = true
		rep.delivered++
		arrivals[p.Data.Person.ID] = append(arrivals[p.Data.Person.ID], arrival{p.ID, p.Type, p.Sequence})
	}
	for _, v := range visitors {
		var sent []string
		for _, s := range v.sends {
			if s.accepted() {
				sent = append(sent, s.id)
			}
		}
		identified := 0
		backwards, disorder := false, false
		var last uint64
		for k, a := range arrivals[v.person] {
			if a.typ == webhook.TypeIdentified {
				identified++
			}
			if a.seq <= last {
				backwards = true
			}
			last = a.seq
			if k < len(sent) && a.id != sent[k] {
				disorder = true
			}
		}
		if identified > 1 {
			rep.duplicateFirstMatches++
		}
		if backwards {
			rep.sequenceBackwards++
		}
		if disorder {
			rep.orderViolations++
		}
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	for _, k := range killedAt {
		i, _ := slices.BinarySearchFunc(times, k, func(a, b time.Time) int { return a.Compare(b) })
		prev := k
		for ; i < len(times) && times[i].Sub(k) < 10*time.Second; i++ {
			rep.longestGap = max(rep.longestGap, times[i].Sub(prev))
			prev = times[i]
		}
	}
	return rep
}
