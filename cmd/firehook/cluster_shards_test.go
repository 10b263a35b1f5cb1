package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/firehook/firehook/cluster"
	"github.com/firehook/firehook/internal/localcluster"
	"github.com/firehook/firehook/internal/testkit"
)

// shardsView is what the tests read of GET /v1/cluster/shards.
type shardsView struct {
	Node  string `json:"node"`
	Graph struct {
		Persons int `json:"persons"`
	} `json:"graph"`
	Shards []struct {
		Shard   int      `json:"shard"`
		Owners  []string `json:"owners"`
		Owned   bool     `json:"owned"`
		Entries int      `json:"entries"`
		Digest  string   `json:"digest"`
	} `json:"shards"`
	Copy *struct {
		Pending   int    `json:"pending"`
		Copying   int    `json:"copying"`
		Copied    int64  `json:"copied_total"`
		CaughtUp  bool   `json:"caught_up"`
		LastError string `json:"last_error"`
		Records   int64  `json:"records_copied_total"`
	} `json:"copy"`
}

// getShards reads GET /v1/cluster/shards of the member whose admin API is
// at admin.
func getShards(t *testing.T, admin string) shardsView {
	t.Helper()
	r := testkit.Do(t, http.DefaultClient, http.MethodGet, admin+"/v1/cluster/shards", nil, "Authorization", "Bearer "+clusterToken)
	return testkit.AssertJSON[shardsView](t, r, http.StatusOK)
}

// graphWriter imports persons into a cluster's graph through its members
// in turn: new persons, and persons that take an identifier another
// person held (a move, which rewrites both).
type graphWriter struct {
	t     *testing.T
	nodes []string // the members' admin URLs
	rng   *rand.Rand
	n     int      // persons made so far
	ids   []string // each person's first identifier, by person number
}

func hem(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// batch imports size lines through member i%len(nodes): mostly new
// persons, a fifth moves.
func (w *graphWriter) batch(i, size int) {
	var buf bytes.Buffer
	for range size {
		person := fmt.Sprintf("p_shard_%05d", w.n)
		ids := []map[string]string{{"type": "hem_sha256", "value": hem(person + "/a")}, {"type": "hem_sha256", "value": hem(person + "/b")}}
		if len(w.ids) > 10 && w.rng.IntN(5) == 0 {
			// Take another person's first identifier.
			ids = append(ids, map[string]string{"type": "hem_sha256", "value": w.ids[w.rng.IntN(len(w.ids))]})
		}
		line, _ := json.Marshal(map[string]any{"person_id": person, "updated_at": "2026-01-01T00:00:00Z",
			"identifiers": ids, "person": map[string]any{"first_name": "Shard", "last_name": person}})
		buf.Write(line)
		buf.WriteByte('\n')
		w.ids = append(w.ids, hem(person+"/a"))
		w.n++
	}
	admin := w.nodes[i%len(w.nodes)]
	r := testkit.Do(w.t, http.DefaultClient, http.MethodPost, admin+"/v1/graph/import", &buf,
		"Authorization", "Bearer "+clusterToken, "Content-Type", "application/x-ndjson")
	if r.Status != http.StatusOK {
		w.t.Errorf("graph import through %s: %d %s", admin, r.Status, r.Body)
	}
}

// Cluster II: a member that joins becomes an owner of some of the graph's
// shards and copies them from a live owner while imports go on through
// the other members. Once the copies are confirmed, every shard is the
// same on its two owners (equal digests), and the members that stopped
// owning shards dropped the records that had no identifier left in the
// shards they own.
func TestCluster_JoinCopiesShards_OwnersAgreeByDigestUnderWrites(t *testing.T) {
	nodes := startCluster(t, 2)
	keepClusterLogs(t, nodes)
	w := &graphWriter{t: t, nodes: []string{nodes[0].admin, nodes[1].admin}, rng: rand.New(rand.NewPCG(1, 2))}
	for i := range 20 {
		w.batch(i, 200) // 4,000 persons, 8,000+ identifiers
	}

	// Imports go on while n3 joins and copies its shards.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	writes := 0
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			w.batch(i, 20)
			writes++
		}
	}()
	n3, _ := startClusterNode(t, "n3", gossipOf(t, nodes[0]))
	all := append(nodes, n3)
	keepClusterLogs(t, []*proc{n3})
	waitAllAlive(t, all)
	time.Sleep(time.Second) // writes after the copies began, too
	close(stop)
	wg.Wait()
	t.Logf("%d import batches during the join; %d persons in all", writes, w.n)

	var views []shardsView
	pollUntil(t, 60*time.Second, "every member's shard copies confirmed", func() bool {
		views = views[:0]
		for _, p := range all {
			v := getShards(t, p.admin)
			if v.Copy == nil || v.Copy.Pending > 0 || v.Copy.Copying > 0 {
				return false
			}
			views = append(views, v)
		}
		return true
	})
	n3v := views[2]
	if n3v.Copy.Copied == 0 || n3v.Copy.Records == 0 {
		t.Errorf("n3 copied %d shards, %d records; want some of each", n3v.Copy.Copied, n3v.Copy.Records)
	}
	total := 0
	for s := range 256 {
		holders := map[string]string{}
		for _, v := range views {
			sh := v.Shards[s]
			if sh.Owned {
				holders[v.Node] = fmt.Sprintf("%s (%d entries)", sh.Digest, sh.Entries)
				total += sh.Entries
			}
		}
		if len(holders) != 2 {
			t.Errorf("shard %d: owned by %v; want 2 owners", s, holders)
			continue
		}
		var first string
		for _, d := range holders {
			if first == "" {
				first = d
			} else if d != first {
				t.Errorf("shard %d: the owners' copies differ: %v", s, holders)
			}
		}
	}
	if total == 0 {
		t.Fatal("no entries in any shard: the graph was not imported")
	}
	// n1 and n2 held every person before the join; each lost a third of
	// the shards, and with them the persons whose identifiers all fall in
	// those (about one in nine here). n3 holds only persons of its shards.
	for _, v := range views {
		if v.Graph.Persons == 0 || v.Graph.Persons >= w.n {
			t.Errorf("%s holds %d of the %d persons; want fewer than all, more than none", v.Node, v.Graph.Persons, w.n)
		}
	}
}

// ownersAgree reports the shards whose two owners' copies differ, given
// every member's view.
func ownersAgree(views []shardsView) (differ []string) {
	for s := range 256 {
		digests := map[string]string{}
		for _, v := range views {
			if sh := v.Shards[s]; sh.Owned {
				digests[v.Node] = fmt.Sprintf("%s/%d", sh.Digest, sh.Entries)
			}
		}
		seen := ""
		for _, d := range digests {
			if seen != "" && d != seen {
				differ = append(differ, fmt.Sprintf("shard %d: %v", s, digests))
				break
			}
			seen = d
		}
	}
	return differ
}

// Cluster II: a member that comes back after a crash catches up before
// it serves. n3 is killed, persons are imported while it is down (they
// reach the live owners only), and n3 is started again: the moment it is
// ready, its shards are equal to their other owners'.
func TestCluster_RestartedMemberCatchesUpItsShardsBeforeItServes(t *testing.T) {
	opts := localcluster.Options{Binary: binPath, Token: clusterToken, AllowPrivateEndpoints: true}
	var members []*localcluster.Member
	for i := range 3 {
		m, err := localcluster.NewMember(opts, fmt.Sprintf("n%d", i+1), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		var join []string
		if i > 0 {
			join = []string{members[0].Gossip}
		}
		if err := m.Start(context.Background(), join); err != nil {
			t.Fatal(err)
		}
		members = append(members, m)
	}
	t.Cleanup(func() { _ = localcluster.StopAll(5*time.Second, members...) })
	admins := func() []string {
		var out []string
		for _, m := range members {
			out = append(out, m.AdminURL())
		}
		return out
	}
	pollUntil(t, 10*time.Second, "three members, shards copied", func() bool {
		for _, a := range admins() {
			v := getShards(t, a)
			if v.Copy == nil || !v.Copy.CaughtUp || v.Copy.Pending > 0 {
				return false
			}
		}
		return true
	})
	w := &graphWriter{t: t, nodes: admins()[:2], rng: rand.New(rand.NewPCG(3, 4))}
	for i := range 5 {
		w.batch(i, 200)
	}

	n3 := members[2]
	if err := n3.Kill(); err != nil {
		t.Fatal(err)
	}
	<-n3.Done()
	pollUntil(t, 5*time.Second, "n1 sees n3 dead", func() bool {
		for _, m := range getClusterAt(t, members[0].AdminURL()).Members {
			if m.Name == "n3" {
				return m.State != cluster.StateAlive && m.State != cluster.StateSuspect
			}
		}
		return false
	})
	for i := range 10 {
		w.batch(i, 200) // 2,000 persons n3 does not see
	}
	if err := n3.Start(context.Background(), []string{members[0].Gossip}); err != nil {
		t.Fatal(err)
	}
	// Ready: it caught up before it served.
	v3 := getShards(t, n3.AdminURL())
	if v3.Copy == nil || !v3.Copy.CaughtUp || v3.Copy.Pending > 0 || v3.Copy.Copied == 0 {
		t.Fatalf("n3 ready with its shard copies at %+v; want caught up, some copied", v3.Copy)
	}
	views := []shardsView{getShards(t, members[0].AdminURL()), getShards(t, members[1].AdminURL()), v3}
	if differ := ownersAgree(views); len(differ) > 0 {
		t.Errorf("%d shards differ between their owners once n3 is ready: %v", len(differ), differ[:min(5, len(differ))])
	}
	t.Logf("n3 copied %d shards (%d records) before it was ready", v3.Copy.Copied, v3.Copy.Records)
}
