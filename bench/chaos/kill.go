package chaos

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/cluster"
	"github.com/firehook/firehook/internal/localcluster"
)

// clusterView is what the run reads of GET /v1/cluster.
type clusterView struct {
	Members []struct {
		Name          string    `json:"name"`
		State         string    `json:"state"`
		Since         time.Time `json:"since"` // when the answering member saw the state change
		PrimaryShards []int     `json:"primary_shards"`
	} `json:"members"`
}

// view reads m's GET /v1/cluster, within a second.
func (r *run) view(ctx context.Context, m *localcluster.Member) (clusterView, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var v clusterView
	err := r.adminOf(m).Call(ctx, http.MethodGet, "/v1/cluster", nil, http.StatusOK, &v)
	return v, err
}

// kill kills a member chosen at random, watches a survivor until it sees
// the victim dead, starts the victim again after the downtime, joining
// through the survivors, and waits until every member sees every member
// alive. The kill goes to the report, as far as it got.
func (r *run) kill(ctx context.Context) error {
	n := len(r.rep.Kills) + 1
	victim := r.members[r.rng.IntN(len(r.members))]
	var survivors []*localcluster.Member
	var targets, join []string
	for _, m := range r.members {
		if m != victim {
			survivors = append(survivors, m)
			targets = append(targets, m.IngestURL())
			join = append(join, m.Gossip)
		}
	}
	k := Kill{Victim: victim.Name, owned: r.ownedBy(ctx, survivors[0], victim.Name)}
	k.OwnedPersons = len(k.owned)
	r.load.setTargets(targets)
	k.At = time.Now()
	err := victim.Kill()
	defer func() { r.rep.Kills = append(r.rep.Kills, k) }()
	if err != nil {
		return fmt.Errorf("chaos: kill %d: %w", n, err)
	}
	r.logf("kill %d: %s at %s (%d page views accepted so far)", n, victim.Name, k.At.Format("15:04:05.000"), r.load.accepted.Load())

	restart := k.At.Add(r.cfg.Downtime)
	r.watch(ctx, &k, survivors, restart)
	if err := sleepUntil(ctx, restart); err != nil {
		return err
	}
	if err := victim.Start(ctx, join); err != nil {
		return fmt.Errorf("chaos: kill %d: restart: %w", n, err)
	}
	k.Restarted = Duration(time.Since(k.At))
	r.load.setTargets(append(targets, victim.IngestURL()))
	if _, err := r.waitAllAlive(ctx, RejoinWithin); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("chaos: %w", ctx.Err())
		}
		r.logf("kill %d: %s did not rejoin: %v", n, victim.Name, err)
		return nil
	}
	k.Rejoined = Duration(time.Since(k.At))
	r.logf("kill %d: %s detected after %s, dead after %s, ready again after %s, seen alive by all after %s",
		n, victim.Name, k.Detected, k.Dead, k.Restarted, k.Rejoined)
	return nil
}

// ownedBy returns the persons whose shard member is the primary of, as
// from's view says (none when it does not answer).
func (r *run) ownedBy(ctx context.Context, from *localcluster.Member, member string) map[string]bool {
	v, err := r.view(ctx, from)
	if err != nil {
		return nil
	}
	owned := map[string]bool{}
	for _, m := range v.Members {
		if m.Name != member {
			continue
		}
		for _, vis := range r.visitors {
			if slices.Contains(m.PrimaryShards, cluster.KeyShard(firehook.PersonKey(r.tenant, vis.person))) {
				owned[vis.person] = true
			}
		}
	}
	return owned
}

// watch polls the survivors' views every pollEvery until one shows the
// victim dead, or until, and sets k.Detected (not alive) and k.Dead
// from the time the survivor says it saw the change.
func (r *run) watch(ctx context.Context, k *Kill, survivors []*localcluster.Member, until time.Time) {
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for time.Now().Before(until) {
		for _, s := range survivors {
			v, err := r.view(ctx, s)
			if err != nil {
				continue // the next survivor
			}
			state, since := cluster.StateDead, time.Now() // a member the view forgot is gone
			for _, m := range v.Members {
				if m.Name == k.Victim {
					state, since = m.State, m.Since
				}
			}
			if since.Before(k.At) {
				since = time.Now()
			}
			if state != cluster.StateAlive && k.Detected == 0 {
				k.Detected = Duration(since.Sub(k.At))
			}
			if state == cluster.StateDead || state == cluster.StateLeft {
				k.Dead = Duration(since.Sub(k.At))
				return
			}
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// waitAllAlive polls until every member's view shows every member alive,
// and returns how long it waited; an error after within.
func (r *run) waitAllAlive(ctx context.Context, within time.Duration) (time.Duration, error) {
	start := time.Now()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		var pending error
		for _, m := range r.members {
			v, err := r.view(ctx, m)
			if err != nil {
				pending = fmt.Errorf("%s: %w", m.Name, err)
				break
			}
			alive := 0
			for _, vm := range v.Members {
				if vm.State == cluster.StateAlive {
					alive++
				}
			}
			if alive != len(r.members) {
				pending = fmt.Errorf("%s sees %d of %d members alive", m.Name, alive, len(r.members))
				break
			}
		}
		if pending == nil {
			return time.Since(start), nil
		}
		if time.Since(start) > within {
			return 0, fmt.Errorf("not within %s: %w", within, pending)
		}
		select {
		case <-ctx.Done():
			return 0, errors.Join(pending, ctx.Err())
		case <-tick.C:
		}
	}
}
