package identity

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/firehook/firehook/internal/binread"
)

// ShardBatch is one batch of a shard transfer (ExportShards to
// Transfer.Apply): person records and learned links.
//
// It goes on the wire as MarshalBinary returns it, or field by field:
// Records are in the stored form of a record (EncodeRecord; DecodeRecord
// reads them), the form records already travel in between nodes, and a
// link is three strings.
type ShardBatch struct {
	// Records are complete person records as the sender stores them, in
	// the form EncodeRecord returns.
	Records [][]byte
	// Links are learned links.
	Links []LearnedLink
}

// LearnedLink is a learned link: tenant's visitor VisitorID is PersonID
// (see Graph.LearnRecord).
type LearnedLink struct {
	Tenant    string
	VisitorID string
	PersonID  string
	// ExpiresAt is when the link expires (unix s; 0: never): a copy keeps
	// it, so that every owner forgets the link alike.
	ExpiresAt uint64
}

// Len is the number of items (records and links) in the batch.
func (b *ShardBatch) Len() int { return len(b.Records) + len(b.Links) }

// shardBatchVersion is the first byte of a marshalled ShardBatch.
// Version 1 (links without their expiry) is still read.
const shardBatchVersion = 2

// MarshalBinary encodes the batch:
//
//	version   byte (2)
//	records   uvarint count, then each as uvarint length + bytes
//	links     uvarint count, then each as tenant, visitor id, person id,
//	          each a uvarint length + bytes, and its expiry (uvarint
//	          unix s, 0: none)
func (b *ShardBatch) MarshalBinary() ([]byte, error) {
	n := 1 + 2*binary.MaxVarintLen64
	for _, r := range b.Records {
		n += binary.MaxVarintLen64 + len(r)
	}
	for _, l := range b.Links {
		n += 4*binary.MaxVarintLen64 + len(l.Tenant) + len(l.VisitorID) + len(l.PersonID)
	}
	buf := make([]byte, 0, n)
	buf = append(buf, shardBatchVersion)
	buf = binary.AppendUvarint(buf, uint64(len(b.Records)))
	for _, r := range b.Records {
		buf = appendString(buf, string(r))
	}
	buf = binary.AppendUvarint(buf, uint64(len(b.Links)))
	for _, l := range b.Links {
		buf = appendString(buf, l.Tenant)
		buf = appendString(buf, l.VisitorID)
		buf = appendString(buf, l.PersonID)
		buf = binary.AppendUvarint(buf, l.ExpiresAt)
	}
	return buf, nil
}

// UnmarshalBinary decodes what MarshalBinary returned, replacing b's
// contents. The batch shares no memory with data. Errors wrap
// ErrCorruptBatch.
func (b *ShardBatch) UnmarshalBinary(data []byte) error {
	r := binread.New(data, ErrCorruptBatch)
	version := r.Byte()
	if version != 1 && version != shardBatchVersion && r.Err == nil {
		r.Fail("version %d", version)
	}
	*b = ShardBatch{}
	// Counts are checked against the bytes left before anything is
	// allocated: each item takes at least one byte.
	n := r.Uvarint()
	if r.Err == nil && n > uint64(len(r.B)) {
		r.Fail("%d records in %d bytes", n, len(r.B))
	}
	if r.Err == nil && n > 0 {
		b.Records = make([][]byte, 0, n)
	}
	for i := uint64(0); i < n && r.Err == nil; i++ {
		b.Records = append(b.Records, slices.Clone(r.LenBytes()))
	}
	n = r.Uvarint()
	if r.Err == nil && n > uint64(len(r.B))/3 {
		r.Fail("%d links in %d bytes", n, len(r.B))
	}
	if r.Err == nil && n > 0 {
		b.Links = make([]LearnedLink, 0, n)
	}
	for i := uint64(0); i < n && r.Err == nil; i++ {
		l := LearnedLink{Tenant: r.String(), VisitorID: r.String(), PersonID: r.String()}
		if version >= 2 {
			l.ExpiresAt = r.Uvarint()
		}
		b.Links = append(b.Links, l)
	}
	if err := r.Finish(); err != nil {
		*b = ShardBatch{}
		return fmt.Errorf("identity: decode shard batch: %w", err)
	}
	return nil
}

// DefaultTransferBatch is the batch size ExportShards uses when it is
// given none.
const DefaultTransferBatch = 1000

// ExportShards streams to fn what a node that becomes an owner of shards
// must receive (see Transfer): every person record with an indexed
// identifier in one of the shards, every learned link whose LinkShard is
// one of them, and the record of every person such a link leads to (a
// link answers a lookup with its person's record). Records come first,
// then links, then the records of persons that links learned during the
// export lead to; each at most once.
//
// Each batch holds at most batchSize items (records and links; 0 or less:
// DefaultTransferBatch). fn is called on the caller's goroutine, one
// batch at a time, and may keep the batch; its error stops the export and
// is returned wrapped.
//
// The export does not hold the graph's write lock (writes go on at their
// usual latency), so it is not a snapshot: each record is read as it is
// at the time its batch is read. The receiver reconciles this with the
// writes it receives meanwhile (see BeginTransfer). Learned links whose
// commit was in flight when the export started are waited for first; the
// links are read in one badger read transaction, open while fn handles
// their batches (a slow fn only delays badger's reclaiming of old
// versions).
func (g *Graph) ExportShards(shards []int, batchSize int, fn func(ShardBatch) error) error {
	in, err := shardSet(shards)
	if err == nil {
		err = g.exportShards(&in, batchSize, fn)
	}
	if err != nil {
		return fmt.Errorf("identity: export shards: %w", err)
	}
	return nil
}

// shardSet is the set of shards, which must all be in range.
func shardSet(shards []int) ([NumShards]bool, error) {
	var in [NumShards]bool
	for _, s := range shards {
		if s < 0 || s >= NumShards {
			return in, fmt.Errorf("shard %d out of range [0, %d)", s, NumShards)
		}
		in[s] = true
	}
	return in, nil
}

func (g *Graph) exportShards(in *[NumShards]bool, batchSize int, fn func(ShardBatch) error) error {
	if batchSize <= 0 {
		batchSize = DefaultTransferBatch
	}
	g.waitLinks() // links learned before now are in badger for the scan

	// The persons of the shards' index entries: records with an
	// identifier there, and the persons of the links there.
	var ids []string
	for s := range NumShards {
		if in[s] {
			ids = append(ids, g.ShardPersons(s)...)
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)

	var b ShardBatch
	flush := func() error {
		if b.Len() == 0 {
			return nil
		}
		batch := b
		b = ShardBatch{}
		return fn(batch)
	}
	sendRecords := func(ids []string) error {
		for len(ids) > 0 {
			chunk := ids[:min(len(ids), batchSize-b.Len())]
			ids = ids[len(chunk):]
			raw, err := g.store.Persons(chunk)
			if err != nil {
				return err
			}
			for _, id := range chunk {
				if v, ok := raw[id]; ok { // absent: erased meanwhile
					b.Records = append(b.Records, v)
				}
			}
			if b.Len() >= batchSize {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := sendRecords(ids); err != nil {
		return err
	}

	var later []string // persons of links learned since ids was read
	err := g.store.ScanLinksWhere(func(key []byte) bool {
		return in[hashOf(typeVisitor, key)>>56]
	}, func(tenant, vid, personID string, expiresAt uint64) error {
		if _, sent := slices.BinarySearch(ids, personID); !sent {
			later = append(later, personID)
		}
		b.Links = append(b.Links, LearnedLink{Tenant: tenant, VisitorID: vid, PersonID: personID, ExpiresAt: expiresAt})
		if b.Len() >= batchSize {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	slices.Sort(later)
	if err := sendRecords(slices.Compact(later)); err != nil {
		return err
	}
	return flush()
}
