package metrics_test

import (
	"context"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/actors"
	"github.com/firehook/firehook/actors/endpoint"
	"github.com/firehook/firehook/http/ingest"
	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/internal/testkit"
	"github.com/firehook/firehook/metrics"
	"github.com/firehook/firehook/persistence"
)

var metricName = regexp.MustCompile(`firehook_[a-z_]+[a-z]`)

// exported returns the names of the firehook_ families a node with every
// source exposes once each kind of observation has been made.
func exported(t *testing.T) []string {
	t.Helper()
	sys, err := actors.New(actors.Config{Log: testkit.Logger(t, slog.LevelWarn)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sys.Close(context.Background()) })
	if _, err := sys.Spawn("endpoint", "ep_docs", func() actor.Actor { return panicky{} }); err != nil {
		t.Fatal(err)
	}
	var matcher *identity.Matcher
	stats := new(endpoint.Stats)
	f := newFixture(t, firehook.TierPro, func(c *metrics.Config) {
		graph, err := identity.OpenGraph(identity.GraphConfig{Store: c.Store.Graph(), Log: testkit.Logger(t, slog.LevelWarn)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(graph.Close)
		sup, err := identity.OpenSuppressions(c.Store.Graph())
		if err != nil {
			t.Fatal(err)
		}
		matcher = identity.NewMatcher(graph, sup)
		c.Matcher, c.System = matcher, sys
		c.Backlog = func() int { return 1 }
		c.EndpointStats = func(string) *endpoint.Stats { return stats }
		c.Gate, c.GateSlots = endpoint.NewGate(2), 2
		one := func() int { return 1 }
		c.Cluster = &metrics.ClusterSource{Members: one, HandoffPending: one, ShardsAwaiting: one}
	})
	f.m.ObserveClusterRequest("Handoff", time.Millisecond, nil)
	f.m.ObserveClusterRequest("Handoff", 0, context.DeadlineExceeded)
	f.m.ObserveIngest(ingest.Observation{TenantID: f.tenant.ID, Accepted: true})
	f.m.ObserveIngest(ingest.Observation{Code: "unknown_site"})
	f.m.Dispatched(&firehook.Event{TenantID: f.tenant.ID}, persistence.Decision{Type: firehook.EventIdentified}, 1, time.Millisecond)
	f.observe(request{status: 200, took: time.Millisecond, attempt: 1}, true)
	fams, err := f.m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, fam := range fams {
		if strings.HasPrefix(fam.GetName(), "firehook_") {
			names = append(names, fam.GetName())
		}
	}
	return names
}

func TestDocs_MetricsMdListsEveryMetricAndTheDashboardUsesOnlyThem(t *testing.T) {
	names := exported(t)
	doc, err := os.ReadFile("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := metricName.FindAllString(string(doc), -1)
	for _, n := range names {
		if !slices.Contains(documented, n) {
			t.Errorf("%s is exported but docs/metrics.md does not list it", n)
		}
	}
	dash, err := os.ReadFile("../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []struct {
		file  string
		names []string
	}{{"docs/metrics.md", documented}, {"docs/grafana-dashboard.json", metricName.FindAllString(string(dash), -1)}} {
		for _, n := range src.names {
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")
			if !slices.Contains(names, n) && !slices.Contains(names, base) {
				t.Errorf("%s names %s, which no collector exports", src.file, n)
			}
		}
	}
}
