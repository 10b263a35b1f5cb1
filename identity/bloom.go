package identity

import (
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
)

// personFilter is a Bloom filter of the person ids in the graph. An
// upsert must read a person's stored record to replace its identifiers;
// for a person the graph has never held (most lines of a first import)
// the filter answers "certainly not" and the read is skipped. A false
// positive only costs that read. Ids are never removed (an erased
// person's bits stay set); a restart rebuilds the filter from the store.
type personFilter struct {
	bits []atomic.Uint64
	mask uint64 // len(bits)*64 - 1; the size is a power of two
}

// filterProbes is the number of bits set per id: with 10 bits an id
// (the default sizing) seven probes give about 1 % false positives.
const filterProbes = 7

// newPersonFilter sizes a filter for about n ids (10 bits an id, rounded
// up to a power of two, at least 2^16 bits).
func newPersonFilter(n int) *personFilter {
	size := uint64(1 << 16)
	for size < uint64(n)*10 {
		size <<= 1
	}
	return &personFilter{bits: make([]atomic.Uint64, size/64), mask: size - 1}
}

func (f *personFilter) add(id string) {
	h1, h2 := filterHashes(id)
	for i := range uint64(filterProbes) {
		b := (h1 + i*h2) & f.mask
		f.bits[b/64].Or(1 << (b % 64))
	}
}

func (f *personFilter) mayContain(id string) bool {
	h1, h2 := filterHashes(id)
	for i := range uint64(filterProbes) {
		b := (h1 + i*h2) & f.mask
		if f.bits[b/64].Load()&(1<<(b%64)) == 0 {
			return false
		}
	}
	return true
}

// filterHashes derives the two hashes of double hashing from one xxhash.
func filterHashes(id string) (uint64, uint64) {
	h := xxhash.Sum64String(id)
	return h, (h >> 33) | (h << 31) | 1 // odd, so the probes cycle the whole table
}
