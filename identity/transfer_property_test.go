package identity_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/internal/testkit"
)

// drawOp draws a live write over ids.
func drawOp(t *rapid.T, ids []identity.Identifier) liveOp {
	switch rapid.IntRange(0, 9).Draw(t, "op") {
	case 0, 1, 2, 3, 4:
		var recs []identity.Record
		for range rapid.IntRange(1, 3).Draw(t, "records") {
			idx := rapid.SliceOfNDistinct(rapid.IntRange(0, len(ids)-1), 1, 5, rapid.ID[int]).Draw(t, "identifiers")
			var picked []identity.Identifier
			for _, i := range idx {
				picked = append(picked, ids[i])
			}
			recs = append(recs, worldRecord(worldPerson(rapid.IntRange(0, worldPersons-1).Draw(t, "person")), picked,
				rapid.IntRange(0, 3).Draw(t, "companyOnly") == 0))
		}
		return liveOp{kind: opUpsert, recs: recs}
	case 5, 6:
		return liveOp{kind: opErase, person: worldPerson(rapid.IntRange(0, worldPersons-1).Draw(t, "erase"))}
	default:
		return liveOp{kind: opLearn, tenant: worldTenant(rapid.IntRange(0, worldTenants-1).Draw(t, "tenant")),
			vid: worldVisitor(rapid.IntRange(0, worldVisitors-1).Draw(t, "vid")), via: ids[rapid.IntRange(0, len(ids)-1).Draw(t, "via")]}
	}
}

// While a transfer runs, the receiver already gets the shards' live
// writes (the same as the sender). Whatever the writes and however they
// fall between the batches (read by the sender before or after a write,
// applied by the receiver after it), once the writes and the transfer
// are done the receiver answers every lookup in the transferred shards as
// the sender does, their digests are equal, and the receiver's index
// equals its store (a restart builds the same digests). The receiver may
// start with contents of its own, which the transfer must correct.
//
// The interleaving is drawn, not left to the scheduler: the writes run in
// the export's callback, between a batch's reading and its Apply, so
// that rapid can replay and shrink a failure.
func TestTransfer_ConvergesUnderInterleavedWrites(t *testing.T) {
	ids := universe()
	links := worldLinks()
	rapid.Check(t, func(t *rapid.T) {
		dir, err := os.MkdirTemp("", "transfer-property-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		stA := openRapidStore(t, filepath.Join(dir, "a"))
		defer func() { _ = stA.Close() }()
		stB := openRapidStore(t, filepath.Join(dir, "b"))
		defer func() { _ = stB.Close() }() // whichever store is open when the check ends (Close is idempotent)
		a, _ := openRapidGraph(t, stA, "")
		defer a.Close()
		b, _ := openRapidGraph(t, stB, "")

		// Each graph learns links as a cluster's link owner does
		// (LearnRecordAndHold), owning every shard until the transfer
		// begins; the receiver then owns the transferred shards.
		var received []int
		learn := func(g *identity.Graph, tenant, vid string, rec *identity.Record) error {
			return g.LearnRecordAndHold(tenant, vid, rec, func(s int) bool {
				return g != b || received == nil || slices.Contains(received, s)
			})
		}
		var log []string
		do := func(o liveOp, graphs ...*identity.Graph) {
			log = append(log, o.String())
			if err := o.applyLearning(learn, graphs...); err != nil {
				t.Fatal(err)
			}
		}
		// The sender's history, and what the receiver holds of its own.
		for range rapid.IntRange(0, 12).Draw(t, "history") {
			do(drawOp(t, ids), a)
		}
		for range rapid.IntRange(0, 4).Draw(t, "receiverHistory") {
			do(drawOp(t, ids), b)
		}

		shards := allShards()
		if rapid.Bool().Draw(t, "someShards") {
			shards = nil
			for _, i := range rapid.SliceOfNDistinct(rapid.IntRange(0, len(ids)+len(links)-1), 1, 10, rapid.ID[int]).Draw(t, "shardsOf") {
				shards = append(shards, identity.ShardOf(append(slices.Clone(ids), links...)[i]))
			}
		}
		tr := b.BeginTransfer(shards, nil)
		received = shards
		defer tr.Close()
		for range rapid.IntRange(0, 3).Draw(t, "before") {
			do(drawOp(t, ids), a, b)
		}
		// The batches travel as over a network: the sender may read ahead,
		// and the receiver applies what has arrived at drawn points.
		var wire []identity.ShardBatch
		deliver := func(least int) {
			n := rapid.IntRange(min(least, len(wire)), len(wire)).Draw(t, "deliver")
			for _, batch := range wire[:n] {
				if _, err := tr.Apply(batch); err != nil {
					t.Fatal(err)
				}
			}
			wire = wire[n:]
		}
		err = a.ExportShards(shards, rapid.IntRange(1, 4).Draw(t, "batch"), func(batch identity.ShardBatch) error {
			wire = append(wire, overTheWire(batch))
			for range rapid.IntRange(0, 3).Draw(t, "during") {
				do(drawOp(t, ids), a, b)
			}
			deliver(0)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for {
			for range rapid.IntRange(0, 3).Draw(t, "after") {
				do(drawOp(t, ids), a, b)
			}
			if len(wire) == 0 {
				break
			}
			deliver(1)
		}
		if _, err := tr.Finish(); err != nil {
			t.Fatal(err)
		}
		if err := b.Sync(); err != nil {
			t.Fatal(err)
		}

		all := append(slices.Clone(ids), links...)
		if diff, err := shardDifference(a, b, shards, all); err != nil || diff != "" {
			t.Fatalf("after the transfer: %s (%v)\nwrites:\n%s", diff, err, joinLines(log))
		}
		// The receiver's index is its store: a restart builds the same.
		before := make([]identity.ShardDigest, identity.NumShards)
		for s := range before {
			before[s] = b.ShardDigest(s)
		}
		b.Close()
		if err := stB.Close(); err != nil {
			t.Fatal(err)
		}
		stB = openRapidStore(t, filepath.Join(dir, "b"))
		b2, _ := openRapidGraph(t, stB, "")
		defer b2.Close()
		for s := range before {
			if got := b2.ShardDigest(s); got != before[s] {
				t.Fatalf("shard %d: digest %+v before a restart, %+v after\nwrites:\n%s", s, before[s], got, joinLines(log))
			}
		}
	})
}

func joinLines(lines []string) string {
	out := ""
	for _, l := range lines {
		out += "  " + l + "\n"
	}
	return out
}

// The same with real concurrency: a writer goroutine sends the same
// writes to both graphs while the transfer streams small batches on
// another, as a cluster does. The scheduler decides the interleaving, so
// each round logs its seed; FIREHOOK_TRANSFER_SEED replays one.
func TestTransfer_ConvergesUnderConcurrentWrites(t *testing.T) {
	rounds := 20
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("FIREHOOK_TRANSFER_SEED"); v != "" {
		if _, err := fmt.Sscan(v, &seed); err != nil {
			t.Fatal(err)
		}
		rounds = 1
	}
	for i := range rounds {
		s := seed + uint64(i)
		t.Run(fmt.Sprint("seed=", s), func(t *testing.T) { concurrentTransferRound(t, s) })
	}
}

func concurrentTransferRound(t *testing.T, seed uint64) {
	r := rand.New(rand.NewPCG(seed, seed))
	ids := universe()
	stA, stB := testkit.OpenStore(t, t.TempDir()), testkit.OpenStore(t, t.TempDir())
	a, _ := openGraph(t, stA)
	b, _ := openGraph(t, stB)
	for range 30 {
		if err := randomOp(r, ids).apply(a); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		if err := randomOp(r, ids).apply(b); err != nil {
			t.Fatal(err)
		}
	}
	ops := make([]liveOp, 10+r.IntN(40))
	for i := range ops {
		ops[i] = randomOp(r, ids)
	}
	batch := 1 + r.IntN(3)
	// The receiver applies its batches at random points of the writes
	// (the sender reads ahead, as over a network): it waits for the
	// writer to have done at least the next of these many writes.
	marks := make([]int, 64)
	for i := range marks {
		marks[i] = r.IntN(len(ops) + 1)
	}
	slices.Sort(marks)
	var done atomic.Int64

	tr := b.BeginTransfer(allShards(), nil)
	defer tr.Close()
	var wg sync.WaitGroup
	var writeErr, applyErr error
	wg.Add(2)
	go func() { // the writer
		defer wg.Done()
		for _, o := range ops {
			if writeErr = o.apply(a, b); writeErr != nil {
				done.Store(int64(len(ops))) // release the receiver
				return
			}
			done.Add(1)
		}
	}()
	wire := make(chan []byte, 1024)
	go func() { // the receiver
		defer wg.Done()
		i := 0
		for data := range wire {
			for i < len(marks) && done.Load() < int64(marks[i]) {
				runtime.Gosched()
			}
			i++
			var batch identity.ShardBatch
			if err := batch.UnmarshalBinary(data); err != nil {
				applyErr = err
			} else if _, err := tr.Apply(batch); err != nil {
				applyErr = err
			}
		}
	}()
	exportErr := a.ExportShards(allShards(), batch, func(batch identity.ShardBatch) error {
		data, err := batch.MarshalBinary()
		wire <- data
		return err
	})
	close(wire)
	wg.Wait()
	if writeErr != nil || exportErr != nil || applyErr != nil {
		t.Fatalf("writes: %v; export: %v; apply: %v", writeErr, exportErr, applyErr)
	}
	if _, err := tr.Finish(); err != nil {
		t.Fatal(err)
	}
	if diff, err := shardDifference(a, b, allShards(), append(ids, worldLinks()...)); err != nil || diff != "" {
		t.Fatalf("seed %d: %s (%v)", seed, diff, err)
	}
}
