// Package splitmix holds the finaliser of the splitmix64 generator: a
// bijection of 64-bit values whose outputs of nearby inputs look
// unrelated. The identity graph's shard digests and the synthetic graph
// generator both scramble with it.
package splitmix

// Mix64 scrambles x; distinct inputs give distinct outputs.
func Mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
