package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/firehook/firehook/actors/webhook"
	"github.com/firehook/firehook/cluster"
	"github.com/firehook/firehook/internal/localcluster"
	"github.com/firehook/firehook/internal/testkit"
)

// clusterToken is the operator token every node of a test cluster shares.
const clusterToken = "fho_cluster_test_token_0123456789abcdefghij"

// startClusterNode starts `firehook serve` as member name, joining join
// (when set), and returns it with its gossip address.
func startClusterNode(t *testing.T, name, join string) (*proc, string) {
	t.Helper()
	ports, err := localcluster.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--node", name, "--gossip-listen", ports[0], "--allow-private-endpoints", "--log-level", "debug"}
	if join != "" {
		args = append(args, "--join", join)
	}
	p := startServeArgs(t, t.TempDir(), args, "FIREHOOK_ADMIN_TOKEN="+clusterToken)
	return p, ports[0]
}

// clusterView is what the tests read of GET /v1/cluster.
type clusterView struct {
	Node    string `json:"node"`
	Members []struct {
		Name          string `json:"name"`
		State         string `json:"state"`
		PrimaryShards []int  `json:"primary_shards"`
		ReplicaShards []int  `json:"replica_shards"`
		Stats         *struct {
			Actors         map[string]int `json:"actors"`
			HandoffPending int            `json:"handoff_pending"`
		} `json:"stats"`
	} `json:"members"`
}

func getCluster(t *testing.T, p *proc) clusterView {
	t.Helper()
	return getClusterAt(t, p.admin)
}

// getClusterAt reads GET /v1/cluster of the member whose admin API is at
// admin.
func getClusterAt(t *testing.T, admin string) clusterView {
	t.Helper()
	var v clusterView
	if s := call(t, "GET", admin+"/v1/cluster", clusterToken, nil, &v); s != http.StatusOK {
		t.Fatalf("GET /v1/cluster on %s: %d", admin, s)
	}
	return v
}

// ownership is a view's members, states and shards, for comparing views.
func (v clusterView) ownership() string {
	var b strings.Builder
	for _, m := range v.Members {
		fmt.Fprintf(&b, "%s %s primary=%v replica=%v\n", m.Name, m.State, m.PrimaryShards, m.ReplicaShards)
	}
	return b.String()
}

// pollUntil polls cond every 20 ms until it holds or d passes.
func pollUntil(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("not within %s: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// startCluster starts n members and waits until each sees all of them alive.
func startCluster(t *testing.T, n int) []*proc {
	t.Helper()
	nodes := make([]*proc, n)
	var seed string
	for i := range nodes {
		var gossip string
		nodes[i], gossip = startClusterNode(t, fmt.Sprintf("n%d", i+1), seed)
		if seed == "" {
			seed = gossip
		}
	}
	waitAllAlive(t, nodes)
	return nodes
}

// waitAllAlive polls until every member sees every member alive.
func waitAllAlive(t *testing.T, nodes []*proc) {
	t.Helper()
	for _, p := range nodes {
		pollUntil(t, 5*time.Second, p.admin+" sees every member alive", func() bool {
			alive := 0
			for _, m := range getCluster(t, p).Members {
				if m.State == cluster.StateAlive {
					alive++
				}
			}
			return alive == len(nodes)
		})
	}
}

// waitSiteOnEveryMember polls until every member accepts a page view of
// the site (its configuration reached them all).
func waitSiteOnEveryMember(t *testing.T, nodes []*proc, siteKey string) {
	t.Helper()
	pollUntil(t, 3*time.Second, "the site on every member", func() bool {
		for _, p := range nodes {
			r := testkit.Do(t, http.DefaultClient, "POST", p.ingest+"/v1/collect",
				stringsReader(`{"site":"`+siteKey+`","vid":"warmup","url":"https://crash.test/warmup"}`), "Content-Type", "application/json")
			if r.Status != http.StatusAccepted {
				return false
			}
		}
		return true
	})
}

// Cluster I with real processes: three members join; configuration
// written on one is on the others within a second; a graph imported on
// one is found from every one; page views sent round-robin to all three
// reach the endpoint once each, in each person's order, with sequence
// 1..n and one First Match; each delivery is made by the member that owns
// its person; every member shows the same /v1/cluster.
func TestCluster_ThreeNodes_RoundRobinPixelsDeliveredInOrder(t *testing.T) {
	nodes := startCluster(t, 3)
	rc := testkit.NewReceiver(t, nil)
	tenantID, siteKey, endpointID, secret := crashSetup(t, nodes[0], clusterToken, rc.URL)

	// Configuration written on n1 reaches n2 and n3.
	took := pollUntil(t, 3*time.Second, "tenant, site and endpoint on every member", func() bool {
		for _, p := range nodes[1:] {
			for _, path := range []string{"/v1/tenants/" + tenantID, "/v1/endpoints/" + endpointID} {
				if call(t, "GET", p.admin+path, clusterToken, nil, nil) != http.StatusOK {
					return false
				}
			}
		}
		return true
	})
	t.Logf("configuration replicated to every member in %s", took.Round(time.Millisecond))
	if took > time.Second {
		t.Errorf("configuration took %s to reach every member; want ≤ 1 s", took)
	}

	// The graph, imported on n2, is spread over the shards' owners and
	// found from every member.
	const people = 24
	visitors := crashPeople(t, nodes[1], clusterToken, people)
	for _, p := range nodes {
		for _, v := range visitors[:4] {
			var rec struct {
				PersonID string `json:"person_id"`
			}
			url := p.admin + "/v1/graph/lookup?type=hem_sha256&value=" + testkit.HEMs(t, v.email).SHA256
			if s := call(t, "GET", url, clusterToken, nil, &rec); s != http.StatusOK || rec.PersonID != v.person {
				t.Fatalf("lookup of %s on %s: %d %q", v.person, p.admin, s, rec.PersonID)
			}
		}
	}

	// Page views, round-robin over the members: each visitor's k-th page
	// view goes to member k mod 3, sent as soon as the previous one was
	// answered (a 202 from a member that does not own the visitor waits
	// for the owner to store the event: see node/cluster_ingest.go).
	const perVisitor = 6
	c := &crashClient{client: &http.Client{Timeout: 10 * time.Second}, siteKey: siteKey}
	var wg sync.WaitGroup
	for i, v := range visitors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range perVisitor {
				p := nodes[(i+k)%len(nodes)]
				if s := c.send(p.ingest, v, 1); !s.accepted() {
					t.Errorf("%s to %s: status %d err %v", s.url, p.ingest, s.status, s.err)
				}
			}
		}()
	}
	wg.Wait()
	accepted, _ := acceptedEvents(t, visitors)
	if missing, waited := waitDelivered(rc, accepted, 30*time.Second); len(missing) > 0 {
		for _, p := range nodes {
			t.Logf("log of %s:\n%s", p.admin, tail(p.log(), 40))
		}
		t.Fatalf("%d of %d accepted events not delivered: %v", len(missing), len(accepted), missing[:min(len(missing), 10)])
	} else {
		t.Logf("%d events accepted round-robin by 3 members, all delivered %s after the last 202", len(accepted), waited.Round(time.Millisecond))
	}

	// Per person: every accepted event arrives, in the order sent, with
	// sequence 1..n, one visitor.identified, duplicates identical.
	checkClusterDeliveries(t, visitors, rc, secret)

	// Each member made the deliveries of the persons it owns.
	view := getCluster(t, nodes[0])
	owns := map[string][]int{}
	for _, m := range view.Members {
		owns[m.Name] = m.PrimaryShards
	}
	for i, p := range nodes {
		name := fmt.Sprintf("n%d", i+1)
		var page struct {
			Deliveries []struct {
				EventID   string `json:"event_id"`
				PersonKey string `json:"person_key"`
			} `json:"deliveries"`
		}
		if s := call(t, "GET", p.admin+"/v1/endpoints/"+endpointID+"/deliveries?limit=500&local=1", clusterToken, nil, &page); s != http.StatusOK {
			t.Fatalf("deliveries on %s: %d", name, s)
		}
		for _, d := range page.Deliveries {
			shard := cluster.KeyShard(d.PersonKey)
			if !strings.HasPrefix(d.PersonKey, tenantID) || !slices.Contains(owns[name], shard) {
				t.Errorf("%s delivered event %s of person %s, whose shard %d it does not own", name, d.EventID, d.PersonKey, shard)
			}
		}
		t.Logf("%s made %d deliveries", name, len(page.Deliveries))
	}

	// Receipts and health answer for the whole cluster from any member:
	// the merged pages list every delivery once, newest first; a delivery
	// held by another member is found, and says where.
	total := 0
	for _, p := range nodes {
		var page struct {
			Deliveries []struct{ ID string } `json:"deliveries"`
		}
		call(t, "GET", p.admin+"/v1/endpoints/"+endpointID+"/deliveries?limit=500&local=1", clusterToken, nil, &page)
		total += len(page.Deliveries)
	}
	var ids []string
	cursor := ""
	for pages := 0; ; pages++ {
		var page struct {
			Deliveries []struct{ ID string } `json:"deliveries"`
			Next       string                `json:"next_cursor"`
		}
		if s := call(t, "GET", nodes[1].admin+"/v1/endpoints/"+endpointID+"/deliveries?limit=50&cursor="+cursor, clusterToken, nil, &page); s != http.StatusOK {
			t.Fatalf("merged page %d: %d", pages, s)
		}
		for _, d := range page.Deliveries {
			ids = append(ids, d.ID)
		}
		if cursor = page.Next; cursor == "" || pages > 100 {
			break
		}
	}
	if len(ids) != total || !slices.IsSortedFunc(ids, func(a, b string) int { return strings.Compare(b, a) }) || len(slices.Compact(slices.Clone(ids))) != total {
		t.Errorf("merged pages of 50 list %d deliveries (sorted newest first: %v); the members hold %d", len(ids), slices.IsSortedFunc(ids, func(a, b string) int { return strings.Compare(b, a) }), total)
	}
	var health struct {
		Delivered int64 `json:"delivered"`
	}
	call(t, "GET", nodes[2].admin+"/v1/endpoints/"+endpointID+"/health", clusterToken, nil, &health)
	if health.Delivered != int64(total) {
		t.Errorf("health from n3 counts %d delivered; the members made %d deliveries", health.Delivered, total)
	}
	for _, id := range ids[:5] {
		var d struct {
			ID   string `json:"id"`
			Node string `json:"node"`
		}
		if s := call(t, "GET", nodes[0].admin+"/v1/deliveries/"+id, clusterToken, nil, &d); s != http.StatusOK || d.ID != id {
			t.Errorf("GET /v1/deliveries/%s on n1: %d %+v", id, s, d)
		}
	}

	// Every member shows the same members, states and shards.
	want := view.ownership()
	for _, p := range nodes[1:] {
		if got := getCluster(t, p).ownership(); got != want {
			t.Errorf("/v1/cluster on %s:\n%s\nwant (as n1 says):\n%s", p.admin, got, want)
		}
	}
}

// checkClusterDeliveries checks what rc received against the visitors'
// sends: every delivery is signed and of an accepted event; per person,
// first arrivals are the person's accepted events in the order they were
// sent, with sequence 1..n and one visitor.identified; a duplicate carries
// what the first arrival carried.
func checkClusterDeliveries(t *testing.T, visitors []*crashVisitor, rc *testkit.Receiver, secret string) (bad int) {
	t.Helper()
	verifier := webhook.Verifier{Secrets: []string{secret}}
	type arrival struct {
		id, typ string
		seq     uint64
	}
	arrivals := map[string][]arrival{}
	for _, g := range rc.Got() {
		if err := verifier.Verify(g.Header, g.Body); err != nil {
			t.Errorf("delivery %d: signature: %v", g.Call, err)
		}
		var p webhook.Payload
		if err := json.Unmarshal(g.Body, &p); err != nil || p.Data.Person == nil {
			t.Errorf("delivery %d: %s (%v)", g.Call, g.Body, err)
			continue
		}
		arrivals[p.Data.Person.ID] = append(arrivals[p.Data.Person.ID], arrival{p.ID, p.Type, p.Sequence})
	}
	for _, v := range visitors {
		var sent []string
		for _, s := range v.sends {
			if s.accepted() {
				sent = append(sent, s.id)
			}
		}
		var first []arrival
		seen := map[string]arrival{}
		var problems []string
		for _, a := range arrivals[v.person] {
			if f, dup := seen[a.id]; dup {
				if f != a {
					problems = append(problems, fmt.Sprintf("duplicate %+v differs from the first %+v", a, f))
				}
				continue
			}
			seen[a.id] = a
			first = append(first, a)
		}
		for k, a := range first {
			typ := webhook.TypeUpdated
			if k == 0 {
				typ = webhook.TypeIdentified
			}
			if a.seq != uint64(k+1) || a.typ != typ {
				problems = append(problems, fmt.Sprintf("arrival #%d %s is %s seq %d; want %s seq %d", k+1, a.id, a.typ, a.seq, typ, k+1))
			}
			if k < len(sent) && a.id != sent[k] {
				problems = append(problems, fmt.Sprintf("arrival #%d is %s; the visitor's accepted page view #%d was %s", k+1, a.id, k+1, sent[k]))
			}
		}
		if len(first) != len(sent) {
			problems = append(problems, fmt.Sprintf("%d events arrived, %d accepted", len(first), len(sent)))
		}
		if len(problems) > 0 {
			bad++
			if bad <= 5 {
				t.Errorf("person %s: %s", v.person, strings.Join(problems, "; "))
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d persons have order, gap or First Match violations", bad, len(visitors))
	}
	return bad
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// clusterLoadRun is a load running over a cluster's members.
type clusterLoadRun struct {
	mu      sync.Mutex // guards targets
	targets []*proc
	quit    chan struct{}
	done    chan struct{}
}

// startClusterLoad starts sending page views of visitors round-robin over
// targets, until stop.
func startClusterLoad(t *testing.T, c *crashClient, visitors []*crashVisitor, targets []*proc) *clusterLoadRun {
	l := &clusterLoadRun{targets: targets, quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		clusterLoad(t, c, visitors, l.current, l.quit)
	}()
	return l
}

// setTargets sends the next page views to targets.
func (l *clusterLoadRun) setTargets(targets []*proc) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.targets = targets
}

func (l *clusterLoadRun) current() []*proc {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.targets
}

// stop stops the senders and waits for them.
func (l *clusterLoadRun) stop() {
	close(l.quit)
	<-l.done
}

// clusterLoad sends page views of visitors round-robin over the members
// in targets() until stop closes; a page view that a member did not
// answer (it is stopping) is sent to the next one. It returns when every
// sender stopped.
func clusterLoad(t *testing.T, c *crashClient, visitors []*crashVisitor, targets func() []*proc, stop <-chan struct{}) {
	var wg sync.WaitGroup
	for i, v := range visitors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := i; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				ps := targets()
				for try := range len(ps) {
					p := ps[(k+try)%len(ps)]
					if s := c.send(p.ingest, v, 1); s.accepted() || s.status != 0 && s.status < 500 {
						break
					}
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
}

// A member that leaves gracefully under load (SIGTERM) hands over what it
// holds: the events it accepted reach their visitors' owners, the
// persons it decided for keep their sequence on their new owners, and its
// deliveries finish. Every page view answered 202 by any member is
// delivered, in each person's order, with one First Match.
func TestCluster_MemberLeavesUnderLoad_NothingLost(t *testing.T) {
	nodes := startCluster(t, 3)
	rc := testkit.NewReceiver(t, nil)
	_, siteKey, _, secret := crashSetup(t, nodes[0], clusterToken, rc.URL)
	visitors := crashPeople(t, nodes[0], clusterToken, 24)
	waitSiteOnEveryMember(t, nodes, siteKey)

	c := &crashClient{client: &http.Client{Timeout: 10 * time.Second}, siteKey: siteKey}
	load := startClusterLoad(t, c, visitors, nodes)
	pollUntil(t, 10*time.Second, "some load", func() bool { return c.accepted.Load() > 200 })
	leaving := nodes[2]
	load.setTargets(nodes[:2]) // clients go to the others from now on; in-flight ones finish
	before := c.accepted.Load()
	if err := leaving.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM: want exit 0, got %v\n%s", err, tail(leaving.log(), 30))
	}
	pollUntil(t, 10*time.Second, "load after the leave", func() bool { return c.accepted.Load() > before+200 })
	load.stop()

	accepted, _ := acceptedEvents(t, visitors)
	if missing, _ := waitDelivered(rc, accepted, 30*time.Second); len(missing) > 0 {
		keepClusterLogs(t, nodes)
		t.Fatalf("%d of %d accepted events not delivered: %v", len(missing), len(accepted), missing[:min(10, len(missing))])
	}
	checkClusterDeliveries(t, visitors, rc, secret)
	for _, line := range strings.Split(leaving.log(), "\n") {
		if strings.Contains(line, "cluster: left") || strings.Contains(line, "handed over") {
			t.Logf("leaving member: %s", line)
		}
	}
	for _, p := range nodes[:2] {
		v := getCluster(t, p)
		for _, m := range v.Members {
			if m.Name == "n3" && m.State != cluster.StateLeft && m.State != cluster.StateDead {
				t.Errorf("%s sees n3 as %s", v.Node, m.State)
			}
		}
	}
	t.Logf("%d page views accepted, all delivered", len(accepted))
}

// A member that joins under load takes over a third of the persons with
// their dispatch state: no person gets a second First Match and every
// sequence goes on.
func TestCluster_MemberJoinsUnderLoad_SequencesGoOn(t *testing.T) {
	nodes := startCluster(t, 2)
	rc := testkit.NewReceiver(t, nil)
	_, siteKey, _, secret := crashSetup(t, nodes[0], clusterToken, rc.URL)
	visitors := crashPeople(t, nodes[0], clusterToken, 24)
	c := &crashClient{client: &http.Client{Timeout: 10 * time.Second}, siteKey: siteKey}
	load := startClusterLoad(t, c, visitors, nodes)
	pollUntil(t, 10*time.Second, "some load", func() bool { return c.accepted.Load() > 200 })
	n3, _ := startClusterNode(t, "n3", gossipOf(t, nodes[0]))
	load.setTargets(append(nodes, n3))
	before := c.accepted.Load()
	pollUntil(t, 10*time.Second, "load after the join", func() bool { return c.accepted.Load() > before+300 })
	load.stop()

	accepted, _ := acceptedEvents(t, visitors)
	if missing, _ := waitDelivered(rc, accepted, 30*time.Second); len(missing) > 0 {
		keepClusterLogs(t, append(nodes, n3))
		t.Fatalf("%d of %d accepted events not delivered: %v", len(missing), len(accepted), missing[:min(10, len(missing))])
	}
	if checkClusterDeliveries(t, visitors, rc, secret) > 0 {
		keepClusterLogs(t, append(nodes, n3))
	}
	for _, line := range strings.Split(nodes[0].log()+nodes[1].log(), "\n") {
		if strings.Contains(line, "handed over") || strings.Contains(line, "without the previous owner") {
			t.Logf("%s", line)
		}
	}
	t.Logf("%d page views accepted, all delivered", len(accepted))
}

// gossipOf returns a member's gossip address from its /v1/cluster.
func gossipOf(t *testing.T, p *proc) string {
	t.Helper()
	var v struct {
		Node    string `json:"node"`
		Members []struct {
			Name   string `json:"name"`
			Gossip string `json:"gossip"`
		} `json:"members"`
	}
	call(t, "GET", p.admin+"/v1/cluster", clusterToken, nil, &v)
	for _, m := range v.Members {
		if m.Name == v.Node {
			return m.Gossip
		}
	}
	t.Fatalf("%s is not among its own members", p.admin)
	return ""
}

// keepClusterLogs writes the members' logs to a temporary directory and
// says where.
func keepClusterLogs(t *testing.T, nodes []*proc) {
	t.Helper()
	d, err := os.MkdirTemp("", "firehook-cluster-logs-")
	if err != nil {
		return
	}
	for i, p := range nodes {
		_ = os.WriteFile(filepath.Join(d, fmt.Sprintf("n%d.log", i+1)), []byte(p.log()), 0o644)
	}
	t.Logf("member logs kept in %s", d)
}

// `firehook cluster up` starts a local cluster whose members see each
// other, prints where they listen, and stops them all on Ctrl-C.
func TestClusterUp_StartsMembersThatJoinAndStopsThemOnInterrupt(t *testing.T) {
	cmd := exec.Command(binPath, "cluster", "up", "--nodes", "2", "--data", t.TempDir())
	cmd.Env = append(os.Environ(), "FIREHOOK_ADMIN_TOKEN="+clusterToken)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	var admins []string
	sc := bufio.NewScanner(out)
	for sc.Scan() && len(admins) < 2 {
		if f := strings.Fields(sc.Text()); len(f) == 4 && strings.HasPrefix(f[0], "node-") {
			admins = append(admins, "http://"+f[2])
		}
	}
	if len(admins) != 2 {
		t.Fatalf("cluster up printed %d members", len(admins))
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	for _, a := range admins {
		p := &proc{admin: a}
		pollUntil(t, 5*time.Second, a+" sees two members alive", func() bool {
			alive := 0
			for _, m := range getCluster(t, p).Members {
				if m.State == cluster.StateAlive {
					alive++
				}
			}
			return alive == 2
		})
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("cluster up after Ctrl-C: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("cluster up did not stop within 30 s of Ctrl-C")
	}
	for _, a := range admins {
		if _, err := http.Get(a + "/healthz"); err == nil {
			t.Errorf("%s still answers after cluster up stopped", a)
		}
	}
}
