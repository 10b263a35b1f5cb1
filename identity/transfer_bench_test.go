package identity_test

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/firehook/firehook/identity"
)

// benchGraph opens a graph in dir holding persons records of four
// indexed identifiers each (cookie, device id, two more cookies: 4 index
// entries a person) and a learned link for one person in ten.
func benchGraph(b *testing.B, dir string, persons int) *identity.Graph {
	b.Helper()
	st, g := openBenchGraph(b, dir)
	b.Cleanup(func() { g.Close(); st.Close() })
	batch := make([]identity.Record, 0, 5000)
	flush := func() {
		if err := g.Upsert(batch); err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
	}
	for p := range persons {
		n := strconv.Itoa(p)
		batch = append(batch, worldRecord("p_"+n, []identity.Identifier{
			{Type: identity.TypeCookie, Value: "ck-a-" + n},
			{Type: identity.TypeDeviceID, Value: "dev-" + n},
			{Type: identity.TypeCookie, Value: "ck-b-" + n},
			{Type: identity.TypeCookie, Value: "ck-c-" + n},
		}, p%50 == 0))
		if len(batch) == cap(batch) {
			flush()
		}
	}
	flush()
	for p := 0; p < persons; p += 10 {
		rec, ok, err := g.Profile("p_" + strconv.Itoa(p))
		if err != nil || !ok {
			b.Fatalf("Profile(p_%d) = %v, %v", p, ok, err)
		}
		if err := g.LearnRecord("ten_bench", "v-"+strconv.Itoa(p), rec); err != nil {
			b.Fatal(err)
		}
	}
	if err := g.Sync(); err != nil {
		b.Fatal(err)
	}
	return g
}

// benchEntries is the size of the graph of the shard benchmarks:
// FIREHOOK_BENCH_ENTRIES index entries (default 1,000,000).
func benchEntries(b *testing.B) int {
	if v, err := strconv.Atoi(os.Getenv("FIREHOOK_BENCH_ENTRIES")); err == nil && v > 0 {
		return v
	}
	return 1_000_000
}

// BenchmarkGraph_ShardDigest measures the digests of all NumShards shards
// of a graph of one million index entries (FIREHOOK_BENCH_ENTRIES): one
// operation is all 256 shards.
//
//	go test -run '^$' -bench ShardDigest ./identity/
func BenchmarkGraph_ShardDigest(b *testing.B) {
	g := benchGraph(b, b.TempDir(), benchEntries(b)*10/41) // 4 entries a person, a link for one in ten
	entries := g.Stats().IndexEntries
	b.ResetTimer()
	for range b.N {
		for s := range identity.NumShards {
			g.ShardDigest(s)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(entries), "entries")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(entries), "ns/entry")
}

// BenchmarkTransfer_ExportApply measures a whole transfer of every shard
// between two graphs in one process, through the binary form of the
// batches (no network): the sender's ExportShards, the receiver's Apply,
// Finish and Sync. The sender holds FIREHOOK_BENCH_ENTRIES/4 index
// entries' worth of persons (default: about 244,000 persons and 24,000
// links).
//
//	go test -run '^$' -bench Transfer_ExportApply -benchtime 3x ./identity/
func BenchmarkTransfer_ExportApply(b *testing.B) {
	persons := benchEntries(b) * 10 / 41
	a := benchGraph(b, b.TempDir(), persons)
	shards := allShards()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		recv := benchGraph(b, b.TempDir(), 0)
		b.StartTimer()
		start := time.Now()
		tr := recv.BeginTransfer(shards, nil)
		records, links := 0, 0
		err := a.ExportShards(shards, identity.DefaultTransferBatch, func(batch identity.ShardBatch) error {
			records += len(batch.Records)
			links += len(batch.Links)
			_, err := tr.Apply(overTheWire(batch))
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tr.Finish(); err != nil {
			b.Fatal(err)
		}
		if err := recv.Sync(); err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(start)
		if i == 0 {
			if d, e := a.ShardDigest(7), recv.ShardDigest(7); d != e {
				b.Fatalf("shard 7: %+v on the sender, %+v on the receiver", d, e)
			}
		}
		b.ReportMetric(float64(records)/elapsed.Seconds(), "records/s")
		b.ReportMetric(float64(links)/elapsed.Seconds(), "links/s")
		b.ReportMetric(float64(records), "records")
	}
}
