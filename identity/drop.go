package identity

import (
	"fmt"

	"github.com/firehook/firehook/persistence"
)

// dropBatch is how many persons or links DropShards removes under one
// hold of the write lock.
const dropBatch = 1000

// DropShards removes from this node what it no longer owns once the new
// owners of its former shards have confirmed their copy: every learned
// link whose LinkShard is not owned, and every person record none of
// whose indexed identifiers is in an owned shard, unless a learned link
// of an owned shard leads to it (a link answers with its person's
// record). Records with at least one owned shard stay, whole: their
// identifiers in other shards stay indexed (see RecordShards), so a
// shard that is not owned keeps the entries of those records, and only
// them. Removed records leave the store, the index and the profile cache;
// a removed person's remaining links go with it.
//
// owned reports whether this node owns a shard; it is called from this
// goroutine only. It returns how many persons and links it removed. The
// stored records and links are scanned without the write lock (writes
// go on); each batch is removed under it, after checking again that it
// still owns nothing. The writes are not fsynced: call Sync.
func (g *Graph) DropShards(owned func(shard int) bool) (persons, links int, err error) {
	persons, links, err = g.dropShards(owned)
	if err != nil {
		return persons, links, fmt.Errorf("identity: drop shards: %w", err)
	}
	return persons, links, nil
}

func (g *Graph) dropShards(owned func(shard int) bool) (persons, links int, err error) {
	g.waitLinks() // links learned before now are in badger for the scan

	// The links: those of shards not owned go; those of owned shards keep
	// their persons.
	linked := map[string]struct{}{}
	var drop [][2]string
	err = g.store.ScanLinks(func(tenant, vid, personID string) error {
		if owned(LinkShard(tenant, vid)) {
			linked[personID] = struct{}{}
		} else {
			drop = append(drop, [2]string{tenant, vid})
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	for len(drop) > 0 {
		chunk := drop[:min(len(drop), dropBatch)]
		drop = drop[len(chunk):]
		n, err := g.dropLinks(chunk)
		links += n
		if err != nil {
			return persons, links, err
		}
	}

	// The persons that own nothing here.
	var candidates []string
	var hashes []typedHash
	err = g.store.ScanPersons(func(id string, value []byte) error {
		if _, ok := linked[id]; ok {
			return nil
		}
		var companyOnly bool
		var err error
		hashes, companyOnly, err = scanStored(value, hashes[:0])
		if err != nil {
			return fmt.Errorf("decode person %s: %w", id, err)
		}
		for _, th := range hashes {
			if indexed(th.t, companyOnly) && owned(int(th.h>>56)) {
				return nil
			}
		}
		candidates = append(candidates, id)
		return nil
	})
	if err != nil {
		return persons, links, err
	}
	for len(candidates) > 0 {
		chunk := candidates[:min(len(candidates), dropBatch)]
		candidates = candidates[len(chunk):]
		n, m, err := g.dropPersons(chunk, owned)
		persons, links = persons+n, links+m
		if err != nil {
			return persons, links, err
		}
	}
	return persons, links, nil
}

// dropLinks deletes the links of keys ((tenant, visitor id) pairs) from
// the store and the index.
func (g *Graph) dropLinks(keys [][2]string) (int, error) {
	g.writeMu.Lock()
	defer g.writeMu.Unlock()
	g.linkWrites.Wait()
	if err := g.markChanged(); err != nil {
		return 0, err
	}
	deleted, err := g.store.DeleteLinkKeys(keys)
	if err != nil {
		return 0, err
	}
	for k, p := range deleted {
		h := linkHash(k[0], k[1])
		if ord, ok := g.get(h); ok && g.personID(ord) == p {
			g.drop(h, ord)
		}
		g.links.Add(-1)
	}
	return len(deleted), nil
}

// dropPersons removes those of ids that still have no indexed identifier
// in an owned shard and no link in one, with their links.
func (g *Graph) dropPersons(ids []string, owned func(int) bool) (persons, links int, err error) {
	g.writeMu.Lock()
	defer g.writeMu.Unlock()
	g.linkWrites.Wait()
	recs, err := g.readRecords(ids)
	if err != nil {
		return 0, 0, err
	}
	linksOf, err := g.store.LinksOfPersons(ids)
	if err != nil {
		return 0, 0, err
	}
	var gone []string
	var writes []persistence.PersonWrite
	var dropLinks [][2]string
next:
	for _, id := range ids {
		rec, ok := recs[id]
		if !ok {
			continue // erased meanwhile
		}
		for _, s := range RecordShards(rec) {
			if owned(s) {
				continue next
			}
		}
		for _, l := range linksOf[id] {
			if owned(LinkShard(l[0], l[1])) {
				continue next
			}
		}
		gone = append(gone, id)
		writes = append(writes, persistence.PersonWrite{ID: id})
		dropLinks = append(dropLinks, linksOf[id]...)
	}
	if len(gone) == 0 {
		return 0, 0, nil
	}
	if err := g.markChanged(); err != nil {
		return 0, 0, err
	}
	deleted, err := g.store.DeleteLinkKeys(dropLinks)
	if err != nil {
		return 0, 0, err
	}
	if err := g.store.WritePersons(writes); err != nil {
		return 0, 0, err
	}
	g.gen.Add(1)
	for k, p := range deleted {
		h := linkHash(k[0], k[1])
		if ord, ok := g.get(h); ok && g.personID(ord) == p {
			g.drop(h, ord)
		}
		g.links.Add(-1)
	}
	for _, id := range gone {
		g.unindex(id, recs[id])
		g.persons.Add(-1)
		g.cache.del(id)
	}
	return len(gone), len(deleted), nil
}
