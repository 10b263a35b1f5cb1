package persistence

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// The learned links as whole sets, for moving the identity graph's shards
// between the nodes of a cluster (package identity's ExportShards,
// Transfer and DropShards): a filtered scan, writes and deletions in
// batches, and the links of given persons.

// LinkPut is the write of one learned link: tenant's visitor VisitorID
// is PersonID. Previous is the person the link belonged to until now
// ("" when none); its reverse entry is removed.
type LinkPut struct {
	Tenant, VisitorID, PersonID, Previous string
	// ExpiresAt is when the link expires (unix s), as the member it is
	// copied from has it; 0: as a link learned now (LinkRetention).
	ExpiresAt uint64
}

// ScanLinksWhere calls fn for every learned link whose key match accepts,
// in key order, with its expiry (unix s; 0: none). The key is
// "<tenant>/<visitor id>" and only valid during the call; a link that
// match rejects costs no allocation.
func (g *GraphStore) ScanLinksWhere(match func(key []byte) bool, fn func(tenant, vid, personID string, expiresAt uint64) error) error {
	prefix := []byte(prefixLink)
	err := g.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = prefix
		opts.PrefetchValues = false // most links may be rejected
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			k := bytes.TrimPrefix(item.Key(), prefix)
			if !match(k) {
				continue
			}
			tenant, vid, ok := strings.Cut(string(k), "/")
			if !ok {
				return fmt.Errorf("malformed link key %q", k)
			}
			if err := item.Value(func(v []byte) error { return fn(tenant, vid, string(v), item.ExpiresAt()) }); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("graph: scan links: %w", err)
	}
	return nil
}

// PutLinks stores links in write batches (any number), like PutLink each.
// The writes are not fsynced (see Sync).
func (g *GraphStore) PutLinks(links []LinkPut) error {
	wb := g.db.NewWriteBatch()
	defer wb.Cancel()
	now := g.expiry(time.Now())
	for _, l := range links {
		if l.ExpiresAt == 0 {
			l.ExpiresAt = now
		}
		if err := putLink(wb, l); err != nil {
			return fmt.Errorf("graph: put link: %w", err)
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("graph: put links: %w", err)
	}
	return nil
}

func putLink(wb *badger.WriteBatch, l LinkPut) error {
	set := func(k, v []byte) error { return wb.SetEntry(withExpiry(badger.NewEntry(k, v), l.ExpiresAt)) }
	if err := set(linkKey(l.Tenant, l.VisitorID), []byte(l.PersonID)); err != nil {
		return err
	}
	if l.Previous != "" && l.Previous != l.PersonID {
		if err := wb.Delete(reverseLinkKey(l.Previous, l.Tenant, l.VisitorID)); err != nil {
			return err
		}
	}
	if err := set(reverseLinkKey(l.PersonID, l.Tenant, l.VisitorID), nil); err != nil {
		return err
	}
	if l.ExpiresAt != 0 {
		return wb.Set(linkExpiryKey(l.ExpiresAt, l.Tenant, l.VisitorID), []byte(l.PersonID))
	}
	return nil
}

func reverseLinkKey(personID, tenant, vid string) []byte {
	return []byte(prefixLinkReverse + personID + "/" + tenant + "/" + vid)
}

// DeleteLinkKeys deletes the learned links of keys ((tenant, visitor id)
// pairs) with their reverse entries, and returns the person each deleted
// link pointed to; keys without a link are absent from the map. The
// writes are not fsynced (see Sync).
func (g *GraphStore) DeleteLinkKeys(keys [][2]string) (map[[2]string]string, error) {
	deleted := make(map[[2]string]string, len(keys))
	err := g.db.View(func(txn *badger.Txn) error {
		for _, k := range keys {
			it, err := txn.Get(linkKey(k[0], k[1]))
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			v, err := it.ValueCopy(nil)
			if err != nil {
				return err
			}
			deleted[k] = string(v)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("graph: read links: %w", err)
	}
	if len(deleted) == 0 {
		return deleted, nil
	}
	wb := g.db.NewWriteBatch()
	defer wb.Cancel()
	for k, person := range deleted {
		if err := wb.Delete(linkKey(k[0], k[1])); err != nil {
			return nil, fmt.Errorf("graph: delete link: %w", err)
		}
		if err := wb.Delete(reverseLinkKey(person, k[0], k[1])); err != nil {
			return nil, fmt.Errorf("graph: delete link: %w", err)
		}
	}
	if err := wb.Flush(); err != nil {
		return nil, fmt.Errorf("graph: delete links: %w", err)
	}
	return deleted, nil
}

// LinksOfPersons returns the learned links of each of ids as (tenant,
// visitor id) pairs, found through their reverse entries; persons without
// a link are absent from the map.
func (g *GraphStore) LinksOfPersons(ids []string) (map[string][][2]string, error) {
	out := map[string][][2]string{}
	err := g.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(prefixLinkReverse)
		opts.PrefetchValues = false
		it := txn.NewIterator(opts)
		defer it.Close()
		for _, id := range ids {
			prefix := []byte(prefixLinkReverse + id + "/")
			for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
				tenant, vid, ok := strings.Cut(string(it.Item().Key()[len(prefix):]), "/")
				if !ok {
					return fmt.Errorf("malformed link key %q", it.Item().Key())
				}
				out[id] = append(out[id], [2]string{tenant, vid})
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("graph: read links of persons: %w", err)
	}
	return out, nil
}
