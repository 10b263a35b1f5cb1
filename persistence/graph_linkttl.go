package persistence

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Learned links expire: a link (visitor → person) is kept LinkRetention
// after it was learned, then forgotten until the visitor's next strong
// match learns it again. A link learned again for the same person keeps
// its expiry; learned for another person, it gets a new one.
//
// The link and its reverse entry carry badger's expiry, so reads and a
// start never see an expired link. The in-memory index of package
// identity learns of expiries from a third entry per link, written with
// it and without an expiry: glx/<expiry>/<tenant>/<visitor id> → person.
// DueLinkExpiries reads those that are due, in expiry order, and removes
// them. A link copied to another member (a shard transfer) keeps its
// expiry, so that both owners forget it alike.

// DefaultLinkRetention is Config.LinkRetention's default.
const DefaultLinkRetention = 90 * 24 * time.Hour

// expiry is the expiry (unix s) of a link learned at now; 0 when links
// do not expire.
func (g *GraphStore) expiry(now time.Time) uint64 {
	if g.linkTTL <= 0 {
		return 0
	}
	return uint64(now.Add(g.linkTTL).Unix())
}

// withExpiry sets e's expiry (unix s; 0: none).
func withExpiry(e *badger.Entry, exp uint64) *badger.Entry {
	e.ExpiresAt = exp
	return e
}

func linkExpiryKey(exp uint64, tenant, vid string) []byte {
	k := make([]byte, 0, len(prefixLinkExpiry)+8+1+len(tenant)+1+len(vid))
	k = append(k, prefixLinkExpiry...)
	k = binary.BigEndian.AppendUint64(k, exp)
	k = append(k, '/')
	k = append(k, tenant...)
	k = append(k, '/')
	return append(k, vid...)
}

// ExpiredLink is a learned link that expired: tenant's visitor VisitorID
// was PersonID.
type ExpiredLink struct {
	Tenant, VisitorID, PersonID string
}

// DueLinkExpiries returns the links whose expiry is at or before now and
// that are gone (expired), at most limit of them, and removes their
// expiry entries, and those of links learned again since (with a later
// expiry). The caller drops the links it returns from its index.
func (g *GraphStore) DueLinkExpiries(now time.Time, limit int) ([]ExpiredLink, error) {
	type due struct {
		key     []byte
		link    ExpiredLink
		expires uint64
	}
	var found []due
	cut := uint64(now.Unix())
	err := g.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(prefixLinkExpiry)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid() && len(found) < limit; it.Next() {
			k := it.Item().KeyCopy(nil)
			rest := k[len(prefixLinkExpiry):]
			if len(rest) < 9 {
				return fmt.Errorf("malformed link expiry key %q", k)
			}
			exp := binary.BigEndian.Uint64(rest)
			if exp > cut {
				break // in expiry order: the rest is later
			}
			tenant, vid, ok := strings.Cut(string(rest[9:]), "/")
			if !ok {
				return fmt.Errorf("malformed link expiry key %q", k)
			}
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			found = append(found, due{key: k, link: ExpiredLink{tenant, vid, string(v)}, expires: exp})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("graph: link expiries: %w", err)
	}
	var out []ExpiredLink
	wb := g.db.NewWriteBatch()
	defer wb.Cancel()
	err = g.db.View(func(txn *badger.Txn) error {
		for _, d := range found {
			item, err := txn.Get(linkKey(d.link.Tenant, d.link.VisitorID))
			switch {
			case errors.Is(err, badger.ErrKeyNotFound):
				out = append(out, d.link) // expired (or erased: the caller finds no entry)
			case err != nil:
				return err
			case item.ExpiresAt() != 0 && item.ExpiresAt() <= d.expires:
				continue // not expired yet (badger reads to the second): the next pass
			}
			if err := wb.Delete(d.key); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		err = wb.Flush()
	}
	if err != nil {
		return nil, fmt.Errorf("graph: link expiries: %w", err)
	}
	return out, nil
}
