package identity

import (
	"sync"
	"unsafe"
)

// idTable maps ordinals to person ids without a Go string per id: the ids
// are appended to 1 MiB byte chunks and an ordinal's entry packs where its
// bytes are. Ten million ids as strings would be ten million allocations
// at a cold start and ten million pointers for every GC cycle to scan;
// here they are a few hundred pointer-free chunks.
//
// Entries are never changed or removed (an ordinal always names the same
// id), so a string handed out is a view of bytes that never change.
type idTable struct {
	mu     sync.RWMutex // guards chunks and refs
	chunks [][]byte     // each at most idChunk bytes; only the last grows
	refs   []uint64     // chunk<<32 | offset<<8 | length
}

const (
	idChunk   = 1 << 20
	maxIDSize = 255 // person ids are at most 128 bytes (validPersonID)
)

// add appends id and returns its ordinal.
func (t *idTable) add(id []byte) uint32 {
	if len(id) > maxIDSize {
		id = id[:maxIDSize] // cannot happen for validated ids; never corrupt the table
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	last := len(t.chunks) - 1
	if last < 0 || len(t.chunks[last])+len(id) > idChunk {
		t.chunks = append(t.chunks, make([]byte, 0, idChunk))
		last++
	}
	off := len(t.chunks[last])
	t.chunks[last] = append(t.chunks[last], id...)
	t.refs = append(t.refs, uint64(last)<<32|uint64(off)<<8|uint64(len(id)))
	return uint32(len(t.refs) - 1)
}

// get returns the id of ordinal ord (which add returned).
func (t *idTable) get(ord uint32) string {
	t.mu.RLock()
	ref := t.refs[ord]
	chunk := t.chunks[ref>>32]
	t.mu.RUnlock()
	off, n := int(ref>>8&0xFFFFFF), int(ref&0xFF)
	if n == 0 {
		return ""
	}
	// The bytes at chunk[off:off+n] are written once, before ord exists,
	// and never again: a string may share them.
	return unsafe.String(&chunk[off], n)
}

// len is the number of ordinals handed out.
func (t *idTable) len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.refs)
}
