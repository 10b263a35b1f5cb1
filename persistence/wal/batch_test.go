package wal

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

func TestLog_AppendBatch(t *testing.T) {
	t.Run("a batch keeps its order among concurrent appends and is durable when it returns", func(t *testing.T) {
		dir := t.TempDir()
		l := open(t, Config{Dir: dir})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // interleaving single appends
			defer wg.Done()
			appendN(t, l, 1000, 200)
		}()
		batch := make([][]byte, 100)
		for i := range batch {
			batch[i] = record(i)
		}
		last, err := l.AppendBatch(context.Background(), batch, nil)
		if err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l2 := open(t, Config{Dir: dir})
		_, data := scanAll(t, l2, 1)
		next := 0
		var lastSeq uint64
		for i, d := range data {
			if next < len(batch) && d == string(batch[next]) {
				next++
				lastSeq = uint64(i + 1)
			}
		}
		if next != len(batch) {
			t.Fatalf("after a reopen, %d of the batch's %d records are found in order", next, len(batch))
		}
		if lastSeq != last {
			t.Fatalf("AppendBatch returned %d; its last record is at %d", last, lastSeq)
		}
	})
	t.Run("an oversized record refuses the whole batch", func(t *testing.T) {
		l := open(t, Config{Dir: t.TempDir(), MaxRecord: 64})
		_, err := l.AppendBatch(context.Background(), [][]byte{record(1), make([]byte, 65)}, nil)
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("err = %v, want ErrTooLarge", err)
		}
		if l.LastSeq() != 0 {
			t.Fatalf("LastSeq %d: part of a refused batch was stored", l.LastSeq())
		}
	})
	t.Run("after Close it is ErrClosed", func(t *testing.T) {
		l := open(t, Config{Dir: t.TempDir()})
		_ = l.Close()
		if _, err := l.AppendBatch(context.Background(), [][]byte{record(1)}, []any{1}); !errors.Is(err, ErrClosed) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("tags reach OnDurable with their records", func(t *testing.T) {
		var mu sync.Mutex
		got := map[uint64]any{}
		l := open(t, Config{Dir: t.TempDir(), OnDurable: func(es []Entry) {
			mu.Lock()
			defer mu.Unlock()
			for _, e := range es {
				got[e.Seq] = e.Tag
			}
		}})
		if _, err := l.AppendBatch(context.Background(), [][]byte{record(1), record(2)}, []any{"a", "b"}); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if fmt.Sprintf("%v %v", got[1], got[2]) != "a b" {
			t.Fatalf("tags %v", got)
		}
	})
}
