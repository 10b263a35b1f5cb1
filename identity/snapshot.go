package identity

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
)

// The index snapshot: a clean shutdown writes the in-memory index to a
// file, and the next start loads it instead of scanning every record (at
// 10M people, seconds instead of more than a minute).
//
// A snapshot is only used when it certainly matches the records: it
// carries a generation number that is also stored in badger when the
// snapshot is written, and the first change of the graph after a start
// replaces badger's generation with a new random one before anything
// else is written. After a crash, or after any change since the snapshot,
// the generations differ and the index is rebuilt from the records. A
// file that is torn or corrupt fails its checksum and is rebuilt from the
// records too.
//
// Layout (little-endian): magic "FHIX", version u32, generation u64,
// persons i64, links i64; the id table (refs count, refs, chunk count,
// each chunk's length and bytes); per shard the entry count, keys, vals;
// then the CRC-32C of everything before it.

const (
	snapshotMagic   = "FHIX"
	snapshotVersion = 1
)

var (
	errSnapshotStale   = errors.New("index snapshot does not match the records")
	errSnapshotCorrupt = errors.New("index snapshot is corrupt")
	crcTable           = crc32.MakeTable(crc32.Castagnoli)
)

// markChanged is called (under writeMu) before the first change of the
// graph since it was loaded: it retires the generation a snapshot could
// match.
func (g *Graph) markChanged() error {
	if g.changed {
		return nil
	}
	if err := g.store.SetGraphGeneration(randomGeneration()); err != nil {
		return err
	}
	g.changed = true
	return nil
}

func randomGeneration() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:]) | 1 // never 0: 0 means "none stored"
}

// SaveSnapshot writes the index to cfg.SnapshotPath so that the next
// start can skip the scan of the records. Call it at a clean shutdown,
// after the last write; writes racing with it make it fail safe (the
// snapshot is then not used). A no-op when SnapshotPath is empty.
func (g *Graph) SaveSnapshot() error {
	path := g.cfg.SnapshotPath
	if path == "" {
		return nil
	}
	g.writeMu.Lock()
	defer g.writeMu.Unlock()
	g.linkWrites.Wait() // the snapshot's links are in badger too
	gen := randomGeneration()
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("identity: write snapshot: %w", err)
	}
	defer os.Remove(tmp) // after a successful rename there is nothing to remove
	crc := crc32.New(crcTable)
	w := bufio.NewWriterSize(io.MultiWriter(f, crc), 1<<20)
	err = g.writeSnapshot(w, gen)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = binary.Write(f, binary.LittleEndian, crc.Sum32())
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	// Only now may the records claim to match the snapshot.
	if err == nil {
		err = g.store.SetGraphGeneration(gen)
	}
	if err != nil {
		return fmt.Errorf("identity: write snapshot: %w", err)
	}
	g.changed = false // the next write retires this generation again
	return nil
}

func (g *Graph) writeSnapshot(w io.Writer, gen uint64) error {
	le := binary.LittleEndian
	put := func(v any) error { return binary.Write(w, le, v) }
	if _, err := io.WriteString(w, snapshotMagic); err != nil {
		return err
	}
	g.ids.mu.RLock()
	refs, chunks := g.ids.refs, g.ids.chunks
	g.ids.mu.RUnlock()
	for _, v := range []any{uint32(snapshotVersion), gen, g.persons.Load(), g.links.Load(),
		uint64(len(refs)), refs, uint64(len(chunks))} {
		if err := put(v); err != nil {
			return err
		}
	}
	for _, c := range chunks {
		if err := put(uint64(len(c))); err != nil {
			return err
		}
		if _, err := w.Write(c); err != nil {
			return err
		}
	}
	for i := range g.shards {
		s := &g.shards[i]
		s.mu.Lock()
		if len(s.overlay) > 0 {
			s.merge()
		}
		err := put(uint64(len(s.keys)))
		if err == nil {
			err = put(s.keys)
		}
		if err == nil {
			err = put(s.vals)
		}
		s.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// loadSnapshot fills an empty graph from cfg.SnapshotPath when the
// snapshot matches the records; errSnapshotStale or errSnapshotCorrupt
// (or a file error) otherwise, and then the graph is left empty.
func (g *Graph) loadSnapshot() error {
	f, err := os.Open(g.cfg.SnapshotPath)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() < 4 {
		return errSnapshotCorrupt
	}
	want, err := g.store.GraphGeneration()
	if err != nil {
		return err
	}
	crc := crc32.New(crcTable)
	r := bufio.NewReaderSize(io.TeeReader(io.LimitReader(f, st.Size()-4), crc), 1<<20)
	le := binary.LittleEndian
	get := func(v any) error { return binary.Read(r, le, v) }

	magic := make([]byte, 4)
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != snapshotMagic {
		return errSnapshotCorrupt
	}
	var version uint32
	var gen, nrefs, nchunks uint64
	var persons, links int64
	for _, v := range []any{&version, &gen, &persons, &links, &nrefs} {
		if err := get(v); err != nil {
			return errSnapshotCorrupt
		}
	}
	if version != snapshotVersion || gen == 0 || gen != want {
		return errSnapshotStale
	}
	// Counts are checked against the file's size before anything is
	// allocated, so a corrupt count cannot ask for terabytes.
	maxCount := uint64(st.Size())
	if nrefs > maxCount/8 {
		return errSnapshotCorrupt
	}
	refs := make([]uint64, nrefs)
	if err := get(refs); err != nil || get(&nchunks) != nil || nchunks > maxCount/8 {
		return errSnapshotCorrupt
	}
	chunks := make([][]byte, nchunks)
	for i := range chunks {
		var n uint64
		if err := get(&n); err != nil || n > idChunk || n > maxCount {
			return errSnapshotCorrupt
		}
		chunks[i] = make([]byte, n, idChunk)
		if _, err := io.ReadFull(r, chunks[i]); err != nil {
			return errSnapshotCorrupt
		}
	}
	type loaded struct {
		keys []uint64
		vals []uint32
	}
	var shards [NumShards]loaded
	for i := range shards {
		var n uint64
		if err := get(&n); err != nil || n > maxCount/12 {
			return errSnapshotCorrupt
		}
		shards[i] = loaded{make([]uint64, n), make([]uint32, n)}
		if get(shards[i].keys) != nil || get(shards[i].vals) != nil {
			return errSnapshotCorrupt
		}
	}
	if _, err := r.ReadByte(); err != io.EOF {
		return errSnapshotCorrupt // bytes left before the checksum
	}
	var sum uint32
	if err := binary.Read(f, le, &sum); err != nil || sum != crc.Sum32() {
		return errSnapshotCorrupt
	}
	// Every check passed: install.
	for _, ref := range refs {
		if ref>>32 >= nchunks || int(ref>>8&0xFFFFFF)+int(ref&0xFF) > len(chunks[ref>>32]) {
			return errSnapshotCorrupt
		}
	}
	g.ids.refs, g.ids.chunks = refs, chunks
	for ord := range refs {
		g.known.add(g.ids.get(uint32(ord)))
	}
	for i := range shards {
		s := &g.shards[i]
		s.keys, s.vals, s.n = shards[i].keys, shards[i].vals, len(shards[i].keys)
		s.overlay = map[uint64]uint32{}
	}
	g.persons.Store(persons)
	g.links.Store(links)
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
