package keyrate_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/firehook/firehook/internal/keyrate"
)

var t0 = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

func TestLimiter_EachKeyHasItsOwnBucket(t *testing.T) {
	l := keyrate.New(keyrate.Config{PerSecond: 2, Burst: 3})
	for i := range 3 {
		if ok, _ := l.Allow("a", t0); !ok {
			t.Fatalf("request %d of a refused within its burst", i+1)
		}
	}
	ok, wait := l.Allow("a", t0)
	if ok {
		t.Fatal("a's fourth request at once allowed; want refused (burst 3)")
	}
	if wait != 500*time.Millisecond {
		t.Fatalf("a waits %s; want 500ms at 2 tokens/s", wait)
	}
	if ok, _ := l.Allow("b", t0); !ok {
		t.Fatal("b refused because a used its bucket")
	}
	if ok, _ := l.Allow("a", t0.Add(500*time.Millisecond)); !ok {
		t.Fatal("a refused after its wait")
	}
}

func TestLimiter_EmptyTakesNothing(t *testing.T) {
	l := keyrate.New(keyrate.Config{PerSecond: 1, Burst: 2})
	if empty, _ := l.Empty("a", t0); empty {
		t.Fatal("an unknown key is empty")
	}
	l.Allow("a", t0)
	if empty, _ := l.Empty("a", t0); empty {
		t.Fatal("a key with a token left is empty")
	}
	l.Allow("a", t0)
	empty, wait := l.Empty("a", t0)
	if !empty || wait != time.Second {
		t.Fatalf("Empty = %v, %s; want true, 1s", empty, wait)
	}
	for range 5 { // asking does not take
		l.Empty("a", t0.Add(time.Second))
	}
	if ok, _ := l.Allow("a", t0.Add(time.Second)); !ok {
		t.Fatal("a refused a second later")
	}
}

// Memory follows the keys of the last two windows, and MaxKeys bounds a
// flood of new keys; a key seen in the window before keeps its bucket.
func TestLimiter_ForgetsIdleKeysAndBoundsMemory(t *testing.T) {
	l2 := keyrate.New(keyrate.Config{PerSecond: 0.001, Burst: 1, Window: time.Minute, MaxKeys: 100})
	l2.Allow("a", t0)
	if ok, _ := l2.Allow("a", t0.Add(90*time.Second)); ok {
		t.Fatal("a's empty bucket was forgotten after one window; want it kept for two")
	}
	if ok, _ := l2.Allow("a", t0.Add(5*time.Minute)); !ok {
		t.Fatal("a still refused after two idle windows; want its bucket forgotten")
	}

	l := keyrate.New(keyrate.Config{PerSecond: 1, Burst: 1, Window: time.Minute, MaxKeys: 100})
	for i := range 1000 {
		l.Allow(fmt.Sprint("flood-", i), t0.Add(3*time.Minute))
	}
	if n := l.Keys(); n > 200 {
		t.Fatalf("%d keys remembered after a flood; want at most 2 × MaxKeys", n)
	}
}

// BenchmarkLimiter_Allow is the per-address check on every page view from
// a non-loopback client: one map lookup and one token bucket, under one
// mutex (go test ./internal/keyrate -bench Allow -benchtime 2s).
func BenchmarkLimiter_Allow(b *testing.B) {
	l := keyrate.New(keyrate.Config{PerSecond: 50, Burst: 100})
	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = fmt.Sprintf("203.0.%d.%d", i/256, i%256)
	}
	now := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			l.Allow(keys[i%len(keys)], now)
			i++
		}
	})
}
