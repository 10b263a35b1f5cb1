package identity_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/identity/synth"
	"github.com/firehook/firehook/persistence"
)

// BenchmarkGraph_Lookup measures in-memory index hits: Lookup of an
// identifier that the graph holds (index probe, hot-profile cache,
// collision check). It reports p50/p99 per lookup, the cold start (index
// rebuilt from badger) and the Go heap of the loaded graph.
//
// By default it builds a graph of 50,000 people. To measure a large graph
// imported beforehand (see docs/benchmarks.md):
//
//	FIREHOOK_BENCH_DATA=/path/to/stopped/node/data FIREHOOK_BENCH_TRUTH=graph.ndjson.truth.ndjson \
//	  go test -run '^$' -bench Graph_Lookup -benchtime 1000000x ./identity/
func BenchmarkGraph_Lookup(b *testing.B) {
	dir, truthPath := os.Getenv("FIREHOOK_BENCH_DATA"), os.Getenv("FIREHOOK_BENCH_TRUTH")
	var truth io.Reader
	if dir == "" {
		people := 50_000
		if v, err := strconv.Atoi(os.Getenv("FIREHOOK_BENCH_PEOPLE")); err == nil {
			people = v
		}
		dir = b.TempDir()
		var graph, tr bytes.Buffer
		if err := synth.Generate(synth.Config{People: people, Seed: 1}, &graph, &tr); err != nil {
			b.Fatal(err)
		}
		st, g := openBenchGraph(b, dir)
		if _, err := g.Import(context.Background(), &graph, identity.ImportOptions{}); err != nil {
			b.Fatal(err)
		}
		g.Close()
		st.Close()
		truth = &tr
	} else {
		f, err := os.Open(truthPath)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		truth = f
	}
	ids := truthIdentifiers(b, truth)

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	st, g := openBenchGraph(b, dir)
	defer st.Close()
	defer g.Close()
	cold := time.Since(start)
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)

	for _, id := range ids { // warm the hot-profile cache once
		_, _, _ = g.Lookup(id)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		id := ids[i%len(ids)]
		t0 := time.Now()
		if _, ok, err := g.Lookup(id); err != nil || !ok {
			b.Fatalf("Lookup(%s) = %v, %v", id.Key(), ok, err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	s := g.Stats()
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50_µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99_µs")
	b.ReportMetric(cold.Seconds(), "cold_start_s")
	b.ReportMetric(float64(s.Persons), "persons")
	b.ReportMetric(float64(s.IndexEntries), "index_entries")
	b.ReportMetric(float64(after.HeapAlloc-min(before.HeapAlloc, after.HeapAlloc))/(1<<20), "heap_MiB")
}

func openBenchGraph(b *testing.B, dir string) (*persistence.Store, *identity.Graph) {
	b.Helper()
	cfg := persistence.DefaultConfig(dir)
	cfg.Log = slog.New(slog.DiscardHandler)
	st, err := persistence.Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	g, err := identity.OpenGraph(identity.GraphConfig{Store: st.Graph(), Log: cfg.Log})
	if err != nil {
		b.Fatal(err)
	}
	return st, g
}

// truthIdentifiers collects the identifiers of the ground-truth visits
// that must match a person (one per visit: the first).
func truthIdentifiers(b *testing.B, r io.Reader) []identity.Identifier {
	var out []identity.Identifier
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var v synth.Visit
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			b.Fatal(err)
		}
		if v.PersonID != "" && v.Kind != synth.KindMixed && len(v.Identifiers) == 1 {
			out = append(out, v.Identifiers[0])
		}
	}
	if len(out) == 0 {
		b.Fatal("no single-identifier person visits in the ground truth")
	}
	return out
}

// BenchmarkGraph_Import measures the import pipeline in process (parse,
// encode, badger writes, index) on a synthetic graph of 100,000 people.
//
//	go test -run '^$' -bench Graph_Import -benchtime 1x ./identity/
func BenchmarkGraph_Import(b *testing.B) {
	var graph, tr bytes.Buffer
	if err := synth.Generate(synth.Config{People: 100_000, Seed: 1}, &graph, &tr); err != nil {
		b.Fatal(err)
	}
	lines := bytes.Count(graph.Bytes(), []byte("\n"))
	b.SetBytes(int64(graph.Len()))
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		st, g := openBenchGraph(b, b.TempDir())
		b.StartTimer()
		start := time.Now()
		if _, err := g.Import(context.Background(), bytes.NewReader(graph.Bytes()), identity.ImportOptions{}); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(lines)/time.Since(start).Seconds(), "lines/s")
		b.StopTimer()
		g.Close()
		st.Close()
		b.StartTimer()
	}
}

// BenchmarkMatcher_Match measures the match stage as a visitor actor runs
// it for a known visitor: resolution, the suppression check, and the
// learned-link check (learned once, then found), with allocations.
//
//	go test -run '^$' -bench Matcher_Match -benchmem ./identity/
func BenchmarkMatcher_Match(b *testing.B) {
	benchmarkMatcher(b, func(g *identity.Graph, sup *identity.Suppressions) *identity.Matcher {
		return identity.NewMatcher(g, sup)
	})
}

// BenchmarkMatcher_MatchThroughSource is BenchmarkMatcher_Match with the
// graph behind an identity.Source of another type (as a cluster's is):
// the cost of the interface, without any network.
func BenchmarkMatcher_MatchThroughSource(b *testing.B) {
	benchmarkMatcher(b, func(g *identity.Graph, sup *identity.Suppressions) *identity.Matcher {
		return identity.NewMatcherWith(struct{ identity.Source }{g}, sup)
	})
}

func benchmarkMatcher(b *testing.B, newMatcher func(*identity.Graph, *identity.Suppressions) *identity.Matcher) {
	var graph, tr bytes.Buffer
	if err := synth.Generate(synth.Config{People: 20_000, Seed: 1}, &graph, &tr); err != nil {
		b.Fatal(err)
	}
	st, g := openBenchGraph(b, b.TempDir())
	defer st.Close()
	defer g.Close()
	if _, err := g.Import(context.Background(), &graph, identity.ImportOptions{}); err != nil {
		b.Fatal(err)
	}
	sup, err := identity.OpenSuppressions(st.Graph())
	if err != nil {
		b.Fatal(err)
	}
	m := newMatcher(g, sup)
	ids := truthIdentifiers(b, &tr)
	visits := make([]identity.Visit, len(ids))
	for i, id := range ids {
		visits[i] = identity.Visit{Tenant: "ten_bench", VisitorID: "v" + strconv.Itoa(i), Identifiers: []identity.Identifier{id}}
		if _, err := m.Match(visits[i]); err != nil { // learns the link, warms the profile cache
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := m.Match(visits[i%len(visits)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGraph_Resolve measures Graph.Resolve over every kind of
// ground-truth visit (emails, devices, cookies, company IPs, unknown
// identifiers, conflicts, mixed), each with a visitor id so that the
// learned-link probe runs too, with allocations.
//
//	go test -run '^$' -bench Graph_Resolve -benchmem ./identity/
func BenchmarkGraph_Resolve(b *testing.B) {
	var graph, tr bytes.Buffer
	if err := synth.Generate(synth.Config{People: 20_000, Seed: 1}, &graph, &tr); err != nil {
		b.Fatal(err)
	}
	st, g := openBenchGraph(b, b.TempDir())
	defer st.Close()
	defer g.Close()
	if _, err := g.Import(context.Background(), &graph, identity.ImportOptions{}); err != nil {
		b.Fatal(err)
	}
	var visits []identity.Visit
	sc := bufio.NewScanner(&tr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var v synth.Visit
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			b.Fatal(err)
		}
		visits = append(visits, identity.Visit{Tenant: "ten_bench", VisitorID: "v" + strconv.Itoa(len(visits)), Identifiers: v.Identifiers})
	}
	for _, v := range visits { // warm the hot-profile cache
		if _, err := g.Resolve(v); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := g.Resolve(visits[i%len(visits)]); err != nil {
			b.Fatal(err)
		}
	}
}
