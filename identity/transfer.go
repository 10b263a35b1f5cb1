package identity

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/firehook/firehook/persistence"
)

// Transfer is the receiving side of a shard transfer: a node that becomes
// an owner of some shards receives their content from a live owner (its
// ExportShards, in batches) while it already receives the shards' live
// writes. The Transfer reconciles the two, so that when both streams
// end the node answers every lookup in the shards as the sender does
// (equal ShardDigests).
//
// The protocol, on the receiving node:
//
//  1. t := g.BeginTransfer(shards, owned), before the node receives any
//     live write for the shards (before it is placed as their owner);
//  2. the sender runs ExportShards after that, and the receiver calls
//     t.Apply for each batch, in the order sent, while live writes
//     (Upsert, LearnRecord, Erase) go on, sent to both nodes;
//  3. after the last batch, t.Finish, then g.Sync; then the nodes compare
//     the ShardDigest of each shard. On any failure, t.Close abandons the
//     transfer (what was applied stays; run a new transfer).
//
// How the copies and the live writes are reconciled: the export is not a
// snapshot, so a copy may have been read before a live write that the
// receiver has already applied. From BeginTransfer on, every write of the
// graph records in the Transfer what it decided: the persons an upsert
// wrote or an erasure removed, the identifiers (of the shards) that an
// upsert gave to someone, the links a LearnRecord set. Apply then skips
// the copies of those persons and links, and a copy never takes an
// identifier of the shards that a live write gave. The receiver's own
// entries in the shards from before BeginTransfer (of records it keeps
// for other shards, possibly stale) are kept only when the transfer or a
// live write confirms them: Finish removes the others.
//
// Live writes must be the same on both nodes, whatever each holds: the
// erasure of a person who leaves the node's shards (see RecordShards)
// goes to the receiver even when it does not hold the person yet (Erase
// records it for the transfer), and a node that stores a person's record
// only to answer a learned link uses LearnRecordAndHold, not Upsert (an
// Upsert is a live write, on that node alone).
//
// The memory it takes is that of the person ids and identifier hashes
// written live meanwhile, of the records of links learned live before
// their person was held (see LearnRecord), and of the keys of the
// receiver's index entries in the shards at BeginTransfer.
//
// Apply, Finish and Close are safe for concurrent use with each other and
// with every method of the graph; Apply is meant to be called by one
// goroutine, in the order of the batches.
type Transfer struct {
	g     *Graph
	in    [NumShards]bool      // the shards transferred
	owned func(shard int) bool // the shards this node owns (see BeginTransfer); nil: in only

	// Everything below is guarded by g.writeMu.
	done        bool
	persons     map[string]struct{} // written live: upserted or erased
	erased      map[string]struct{} // erased live
	hashes      map[uint64]struct{} // index entries of the shards set live (identifiers taken, links learned)
	links       map[string]struct{} // "tenant/visitor" of the links of the shards learned live
	provisional map[string]string   // "tenant/visitor" → person: learned live before the person was held
	awaited     map[string]*Record  // person of provisional links → the record its latest one was learned with
	stale       map[uint64]struct{} // entries of the shards at BeginTransfer that nothing confirmed yet
}

// BeginTransfer starts receiving shards (each 0 ≤ s < NumShards; a shard
// out of range panics, as a programming error). From now until Finish or
// Close, every write of the graph is recorded for the transfer (see
// Transfer).
//
// owned reports the shards this node owns or is receiving (the shards of
// every transfer in progress included) once the membership change is
// done; nil means the transferred shards alone (a node that joins
// empty). It decides what a transferred record brings besides the
// identifiers of the transferred shards: the sender's copy of a record
// is current in the shards the sender owns, and may be stale in others,
// so
//
//   - an identifier of a transferred shard is taken as the copy says
//     (moving it from the person who held it here, as an upsert does);
//   - in another shard this node owns, this node's own copy of the record
//     decides (the transfer never changes the answers of those shards);
//   - in a shard this node does not own, the copy's identifier is kept
//     unless another person holds it here (the copies of a record may
//     differ there; see RecordShards).
//
// owned is called by Apply under the graph's write lock: it must be quick
// and must not call the graph.
func (g *Graph) BeginTransfer(shards []int, owned func(shard int) bool) *Transfer {
	in, err := shardSet(shards)
	if err != nil {
		panic("identity: BeginTransfer: " + err.Error())
	}
	t := &Transfer{g: g, in: in, owned: owned,
		persons: map[string]struct{}{}, erased: map[string]struct{}{}, hashes: map[uint64]struct{}{},
		links: map[string]struct{}{}, provisional: map[string]string{}, awaited: map[string]*Record{},
		stale: map[uint64]struct{}{}}
	g.writeMu.Lock()
	defer g.writeMu.Unlock()
	g.linkWrites.Wait() // links learned before now are in badger (Finish may scan them)
	for s := range NumShards {
		if in[s] {
			for _, k := range g.shards[s].liveKeys() {
				t.stale[k] = struct{}{}
			}
			g.receiving[s].Add(1)
		}
	}
	g.transfers = append(g.transfers, t)
	return t
}

// Shards returns the transferred shards, in increasing order.
func (t *Transfer) Shards() []int {
	var out []int
	for s, in := range t.in {
		if in {
			out = append(out, s)
		}
	}
	return out
}

// owns reports whether this node owns shard s (see BeginTransfer).
func (t *Transfer) owns(s int) bool { return t.in[s] || (t.owned != nil && t.owned(s)) }

// Apply stores a batch that ExportShards sent: its records as an import
// on an owner would upsert them (an identifier belongs to one person;
// taking it rewrites the previous holder), merged with this node's copy
// as BeginTransfer describes, and its links. It skips what live writes
// decided since BeginTransfer (see Transfer), and links of other shards.
// It returns the number of records and links it applied.
//
// The writes are not fsynced: call Graph.Sync after the last batch. Each
// batch is applied under the graph's write lock, so live writes wait for
// at most one batch. After Finish or Close it returns ErrTransferClosed.
func (t *Transfer) Apply(b ShardBatch) (int, error) {
	recs := make([]Record, 0, len(b.Records))
	for i, raw := range b.Records {
		r, err := decodeRecord(raw)
		if err == nil && !validPersonID(r.PersonID) {
			err = fmt.Errorf("%w: person_id %q", ErrInvalidRecord, clip(r.PersonID))
		}
		if err != nil {
			return 0, fmt.Errorf("identity: apply shard batch: record %d: %w", i, err)
		}
		recs = append(recs, r)
	}
	for i, l := range b.Links {
		if l.Tenant == "" || strings.Contains(l.Tenant, "/") || l.VisitorID == "" || !validPersonID(l.PersonID) {
			return 0, fmt.Errorf("identity: apply shard batch: link %d: %w", i, ErrInvalidRecord)
		}
	}

	g := t.g
	g.writeMu.Lock()
	defer g.writeMu.Unlock()
	if t.done {
		return 0, ErrTransferClosed
	}
	n, err := t.applyRecords(recs)
	if err != nil {
		return n, fmt.Errorf("identity: apply shard batch: %w", err)
	}
	m, err := t.applyLinks(b.Links)
	if err != nil {
		return n + m, fmt.Errorf("identity: apply shard batch: %w", err)
	}
	return n + m, nil
}

// applyRecords upserts the copies of recs that no live write decided.
func (t *Transfer) applyRecords(recs []Record) (int, error) {
	g := t.g
	recs = slices.DeleteFunc(recs, func(r Record) bool {
		_, live := t.persons[r.PersonID]
		return live
	})
	if len(recs) == 0 {
		return 0, nil
	}
	var toRead []string
	for i := range recs {
		if g.known.mayContain(recs[i].PersonID) {
			toRead = append(toRead, recs[i].PersonID)
		}
	}
	local, err := g.readRecords(toRead)
	if err != nil {
		return 0, err
	}
	read := make(map[string]*Record, len(recs))
	merged := make([]Record, len(recs))
	for i := range recs {
		id := recs[i].PersonID
		read[id] = local[id] // nil: not stored here
		merged[i] = t.merge(&recs[i], local[id])
	}
	if err := g.upsertLocked(merged, nil, read, false); err != nil {
		return 0, err
	}
	for i := range merged {
		r := &merged[i]
		for _, id := range r.Identifiers {
			if indexed(id.Type, r.IsCompanyOnly()) {
				delete(t.stale, id.Hash()) // confirmed (a no-op outside the shards)
			}
		}
	}
	return len(merged), nil
}

// merge returns the record to store for the sender's copy r of a person
// whose record here is local (nil: none), as BeginTransfer describes.
func (t *Transfer) merge(r, local *Record) Record {
	g := t.g
	company := r.IsCompanyOnly()
	out := *r
	out.Identifiers = make([]Identifier, 0, len(r.Identifiers))
	heldBy := func(h uint64) string {
		if ord, ok := g.get(h); ok {
			return g.personID(ord)
		}
		return ""
	}
	for _, id := range r.Identifiers {
		if indexed(id.Type, company) {
			h := id.Hash()
			s := int(h >> 56)
			switch {
			case t.in[s]:
				if _, live := t.hashes[h]; live {
					continue // a live write gave it to someone since the copy was read
				}
			case t.owns(s):
				continue // this node's copy decides (below)
			default:
				if p := heldBy(h); p != "" && p != r.PersonID {
					continue // another person holds it here
				}
			}
		}
		out.Identifiers = append(out.Identifiers, id)
	}
	if local != nil {
		for _, id := range local.Identifiers {
			if !indexed(id.Type, company) {
				continue
			}
			h := id.Hash()
			if s := int(h >> 56); !t.in[s] && t.owns(s) && heldBy(h) == r.PersonID {
				out.Identifiers = append(out.Identifiers, id)
			}
		}
	}
	return out
}

// applyLinks stores the links of the transferred shards that no live
// write decided.
func (t *Transfer) applyLinks(links []LearnedLink) (int, error) {
	g := t.g
	// The last of a key wins (a scan sends each once anyway).
	last := make(map[string]int, len(links))
	for i, l := range links {
		last[l.Tenant+"/"+l.VisitorID] = i
	}
	type linkEntry struct {
		h     uint64
		ord   uint32
		isNew bool
	}
	var puts []persistence.LinkPut
	var entries []linkEntry
	applied := 0
	for i, l := range links {
		key := l.Tenant + "/" + l.VisitorID
		h := linkHash(l.Tenant, l.VisitorID)
		if last[key] != i || !t.in[h>>56] {
			continue
		}
		if _, live := t.links[key]; live {
			continue
		}
		if _, gone := t.erased[l.PersonID]; gone {
			continue // erased since the link was read
		}
		if l.ExpiresAt != 0 && l.ExpiresAt <= uint64(time.Now().Unix()) {
			continue // expired since it was read: the sender forgets it too
		}
		delete(t.stale, h)
		applied++
		previous := ""
		if ord, ok := g.get(h); ok {
			if previous = g.personID(ord); previous == l.PersonID {
				continue // already so
			}
		}
		puts = append(puts, persistence.LinkPut{Tenant: l.Tenant, VisitorID: l.VisitorID, PersonID: l.PersonID, Previous: previous,
			ExpiresAt: l.ExpiresAt})
		entries = append(entries, linkEntry{h, t.linkOrdinal(l.PersonID), previous == ""})
	}
	if len(puts) == 0 {
		return applied, nil
	}
	if err := g.markChanged(); err != nil {
		return 0, err
	}
	if err := g.store.PutLinks(puts); err != nil {
		return 0, err
	}
	for _, e := range entries {
		if e.isNew {
			g.links.Add(1)
		}
		g.put(e.h, e.ord)
	}
	return applied, nil
}

// linkOrdinal is the ordinal a link to personID takes: the person's
// current one when its record is held here (as LearnRecord finds it),
// else a new one (as a start builds it). Never a company-only one: a
// start loads every link without the flag.
func (t *Transfer) linkOrdinal(personID string) uint32 {
	if ord, ok := t.g.ordinalOf(personID); ok && ord&companyFlag == 0 {
		return ord
	}
	return t.g.newOrdinal(personID, false)
}

// Close abandons the transfer: writes are no longer recorded for it, and
// what it applied stays. It is a no-op after Finish or a first Close.
func (t *Transfer) Close() {
	t.g.writeMu.Lock()
	defer t.g.writeMu.Unlock()
	t.closeLocked()
}

func (t *Transfer) closeLocked() {
	if t.done {
		return
	}
	t.done = true
	g := t.g
	g.transfers = slices.DeleteFunc(g.transfers, func(o *Transfer) bool { return o == t })
	for s, in := range t.in {
		if in {
			g.receiving[s].Add(-1)
		}
	}
	t.persons, t.erased, t.hashes, t.links, t.provisional, t.awaited, t.stale = nil, nil, nil, nil, nil, nil, nil
}

// The hooks of the graph's writes (called under writeMu when transfers
// are in progress).

// noteUpserted records the persons a live upsert wrote (ids) and the
// identifiers of the transferred shards their records (final) hold.
func (g *Graph) noteUpserted(ids []string, final map[string]*Record) {
	for _, id := range ids {
		r := final[id]
		for _, t := range g.transfers {
			t.persons[id] = struct{}{}
		}
		for _, ident := range r.Identifiers {
			if !indexed(ident.Type, r.IsCompanyOnly()) {
				continue
			}
			h := ident.Hash()
			for _, t := range g.transfers {
				if t.in[h>>56] {
					t.hashes[h] = struct{}{}
					delete(t.stale, h)
				}
			}
		}
	}
}

// noteErased records a live erasure (whether or not the person is held
// here: the sender may hold it).
func (g *Graph) noteErased(personID string) {
	for _, t := range g.transfers {
		t.persons[personID] = struct{}{}
		t.erased[personID] = struct{}{}
	}
}

// noteLearned records a link learned live (h is its hash), whether it
// changed anything or not.
func (g *Graph) noteLearned(tenant, vid string, h uint64) {
	key := tenant + "/" + vid
	for _, t := range g.transfers {
		if t.in[h>>56] {
			t.links[key] = struct{}{}
			t.hashes[h] = struct{}{}
			delete(t.stale, h)
		}
	}
}

// noteProvisional records whether the link just learned live leads to a
// person this graph does not hold yet (see awaitsPerson): provisional is
// then the record the link was learned with (nil: the person is held),
// which Finish holds if no other copy of the person comes.
func (g *Graph) noteProvisional(tenant, vid string, h uint64, personID string, provisional *Record) {
	key := tenant + "/" + vid
	var cp *Record
	if provisional != nil {
		c := *provisional // the caller's record is shared and may be a hit's: keep a copy
		c.Identifiers = slices.Clone(provisional.Identifiers)
		cp = &c
	}
	for _, t := range g.transfers {
		switch {
		case !t.in[h>>56]:
		case cp != nil:
			t.provisional[key] = personID
			t.awaited[personID] = cp
		default:
			delete(t.provisional, key)
		}
	}
}

// awaitsPerson reports (under writeMu) whether a link of hash h to a
// person this graph does not hold is learned all the same: a transfer in
// progress brings the link's shard, and the person's record may still be
// on its way (unless it was erased since the transfer began).
func (g *Graph) awaitsPerson(h uint64, personID string) bool {
	if g.receiving[h>>56].Load() == 0 {
		return false
	}
	for _, t := range g.transfers {
		if _, erased := t.erased[personID]; erased && t.in[h>>56] {
			return false
		}
	}
	return true
}
