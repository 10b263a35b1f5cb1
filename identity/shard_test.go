package identity

import (
	"math/rand/v2"
	"testing"
)

// A shard answers like a map under any mix of bulk load, puts and
// drops, across many overlay merges.
func TestShard_BehavesLikeAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var s shard
	model := map[uint64]uint32{}
	key := func() uint64 { return rng.Uint64N(20_000) * 0x9E3779B97F4A7C15 } // spread, with repeats
	for range 5_000 {
		k, v := key(), rng.Uint32N(1000)
		s.load(k, v)
		model[k] = v // later loads win
	}
	s.seal()
	merges := 0
	for i := range 200_000 {
		k := key()
		before := len(s.keys)
		switch rng.IntN(3) {
		case 0, 1:
			v := rng.Uint32N(1000)
			s.put(k, v)
			model[k] = v
		default:
			v, ok := model[k]
			if rng.IntN(4) == 0 {
				v++ // a stale drop must not delete
			}
			s.drop(k, v)
			if ok && model[k] == v {
				delete(model, k)
			}
		}
		if len(s.keys) != before {
			merges++
		}
		if i%10_000 == 0 || i == 199_999 {
			if s.len() != len(model) {
				t.Fatalf("op %d: len %d, model %d", i, s.len(), len(model))
			}
			for mk, mv := range model {
				if got, ok := s.get(mk); !ok || got != mv {
					t.Fatalf("op %d: get(%x) = %d, %v; want %d", i, mk, got, ok, mv)
				}
			}
			for range 1000 {
				k := key()
				_, inModel := model[k]
				if _, ok := s.get(k); ok != inModel {
					t.Fatalf("op %d: get(%x) found=%v, model %v", i, k, ok, inModel)
				}
			}
		}
	}
	if merges < 10 {
		t.Fatalf("only %d merges: the test did not exercise merging", merges)
	}
}
