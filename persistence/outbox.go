package persistence

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/dgraph-io/badger/v4"
	"github.com/oklog/ulid/v2"

	"github.com/firehook/firehook"
)

// OutboxConfig configures the dispatch step and the delivery outbox.
type OutboxConfig struct {
	// ReceiptRetention is how long a finished delivery (delivered or
	// failed: a receipt) is kept after its last update, with its payload
	// and index entries; badger drops them after that (TTL, to the
	// second). Unfinished deliveries never expire. Default 7 days
	// (API.md, issue 4).
	ReceiptRetention time.Duration
	// FlushInterval bounds how long a change written with Record (not
	// waited for) stays without an fsync when no other write brings one.
	// Default 1 s: attempt results are at-least-once anyway (a lost one
	// means the attempt is made again), and the pipeline's checkpoint
	// syncs them under load; each badger fsync stalls badger's readers and
	// writers for an msync.
	FlushInterval time.Duration
}

// DefaultOutboxConfig returns the outbox defaults.
func DefaultOutboxConfig() OutboxConfig {
	return OutboxConfig{ReceiptRetention: 7 * 24 * time.Hour, FlushInterval: time.Second}
}

func (c *OutboxConfig) withDefaults() {
	if c.ReceiptRetention <= 0 {
		c.ReceiptRetention = DefaultOutboxConfig().ReceiptRetention
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = DefaultOutboxConfig().FlushInterval
	}
}

// maxConflictTries bounds how often a write is tried when badger reports
// a conflict (another transaction changed what it read). Dispatch
// serialises each (tenant, person), Update each delivery and
// MarkProcessed the mark with a lock stripe, so conflicts come only from
// rare crossings (one event dispatched for two persons at once); a few
// tries settle them.
const maxConflictTries = 8

// Outbox is the durable record of every (event, endpoint) delivery: what
// the endpoint actors work from, and the receipts the admin API serves.
// Deliveries are created by Store.Dispatch; the actors record each attempt
// with Update. Every write is fsynced before it returns, and concurrent
// writers share fsyncs (group commit, see groupSync).
//
// Next to each record the outbox keeps, in the same transaction, three
// per-endpoint indexes: creation order (List, Since), creation order by
// status (List and Since with a status), and the queue of unfinished
// deliveries in (priority, creation) order (Pending). A finished record,
// its payload and its index entries expire together after
// ReceiptRetention.
//
// Reads return copies. Its methods are safe for concurrent use; they must
// not be called after the Store is closed. Lock order: a stripe, then
// groupSync.mu (a transaction registers with the group commit before it
// commits); nobody takes a stripe while holding groupSync.mu, and nobody
// holds two stripes.
type Outbox struct {
	db        *badger.DB
	cfg       OutboxConfig
	gs        *groupSync
	conflicts atomic.Uint64 // transactions retried after a badger conflict
	unsynced  atomic.Bool   // a Record was committed and no fsync has started since

	// stripes serialise the read-modify-write transactions of one key —
	// Dispatch's (tenant, person), Update's delivery, MarkProcessed's
	// mark — so that they do not conflict in badger; see stripe and write.
	stripes [1024]sync.Mutex
}

// stripe returns the lock of key. Unrelated keys may share a stripe: it
// is held only for one transaction, up to its commit (never across an
// fsync).
func (o *Outbox) stripe(key string) *sync.Mutex {
	return &o.stripes[xxhash.Sum64String(key)%uint64(len(o.stripes))]
}

func newOutbox(db *badger.DB, cfg OutboxConfig) *Outbox {
	cfg.withDefaults()
	return &Outbox{db: db, cfg: cfg, gs: newGroupSync(db.Sync)}
}

// Outbox returns the store's delivery outbox.
func (s *Store) Outbox() *Outbox { return s.outbox }

// OutboxStats counts the outbox's durable writes since the store opened.
type OutboxStats struct {
	Writes    uint64        // acknowledged writes (Dispatch, Update, MarkProcessed)
	Syncs     uint64        // fsyncs that made them durable
	SyncTime  time.Duration // total time spent in those fsyncs
	Conflicts uint64        // transactions tried again after a badger conflict
}

// Stats returns the outbox's counters.
func (o *Outbox) Stats() OutboxStats {
	st := o.gs.stats()
	st.Conflicts = o.conflicts.Load()
	return st
}

// Get returns the delivery with id, with its payload. ok is false when
// there is none (never created, or an expired receipt).
func (o *Outbox) Get(id string) (d firehook.Delivery, ok bool, err error) {
	err = o.db.View(func(txn *badger.Txn) error {
		d, ok, err = getDelivery(txn, id, true)
		return err
	})
	if err != nil {
		return firehook.Delivery{}, false, fmt.Errorf("outbox: get %s: %w", id, err)
	}
	return d, ok, nil
}

// Update records the new state of a delivery after an attempt (or a
// replay): its Status, Attempts and NextAttemptAt; UpdatedAt becomes now.
// The other fields are fixed at creation and are taken from the stored
// record, whatever d holds. The indexes move with the status:
// a finished delivery leaves the queue and starts to expire; a finished
// one set back to pending or retrying (replay) is queued again and
// expires no more. It returns once the change is on disk. ErrNotFound
// when the delivery does not exist (or has expired), ErrInvalid for an
// unknown status.
func (o *Outbox) Update(d firehook.Delivery) error {
	_, err := o.update(d, true)
	return err
}

// Record is Update without the wait for the fsync: the change is
// committed — read back by every later read, in badger's write-ahead log —
// and becomes durable with the next fsync, another writer's or, at the
// latest, the flush that follows within OutboxConfig.FlushInterval. A
// crash before that loses the change. The endpoint actors record attempt
// results with it: a lost result means the attempt is made again (at
// least once, with the same webhook-id), never a lost delivery, and a
// lane does not wait for a disk flush between a person's deliveries.
//
// It returns the record as stored (without Payload). That differs from d
// when the delivery was replayed after d was read (its stored ReplayedAt
// is later than d's): the replay wins — a delivery d says is finished
// stays pending, due at the replay, and a retry due later is brought
// forward to it — so a replay that came while an attempt was in flight is
// not lost. Update does the same.
func (o *Outbox) Record(d firehook.Delivery) (firehook.Delivery, error) {
	return o.update(d, false)
}

func (o *Outbox) update(d firehook.Delivery, wait bool) (firehook.Delivery, error) {
	if !d.Status.Valid() {
		return firehook.Delivery{}, fmt.Errorf("outbox: update %s: status %q: %w", d.ID, d.Status, firehook.ErrInvalid)
	}
	stored, err := o.changeMode(d.ID, time.Now(), wait, func(next *firehook.Delivery) {
		replay := next.ReplayedAt
		next.Status = d.Status
		next.Attempts = d.Attempts
		next.NextAttemptAt = d.NextAttemptAt
		if !replay.After(d.ReplayedAt) {
			return
		}
		switch {
		case d.Status.Finished():
			next.Status, next.NextAttemptAt = firehook.DeliveryPending, replay
		case replay.Before(d.NextAttemptAt):
			next.NextAttemptAt = replay
		}
	})
	if err != nil {
		return firehook.Delivery{}, fmt.Errorf("outbox: update %s: %w", d.ID, err)
	}
	return stored, nil
}

// syncShared makes everything committed so far durable with one fsync of
// the outbox's group commit, shared with the outbox's own writers. A
// failed fsync stops the outbox.
func (o *Outbox) syncShared() error { return o.gs.wait(o.gs.begin()) }

// flush makes every Record so far durable, if any is not yet: one fsync
// through the group commit.
func (o *Outbox) flush() error {
	if !o.unsynced.Swap(false) {
		return nil
	}
	return o.syncShared()
}

// syncAll makes everything committed so far durable (the checkpoint's
// fsync), including the writes flush would sync.
func (o *Outbox) syncAll() error {
	o.unsynced.Store(false)
	return o.syncShared()
}

// change is the read-modify-write of one stored delivery (Update,
// Replay): it applies fn to the record of id, sets UpdatedAt to now, and
// writes it with putDelivery (which moves the index entries and the
// expiry with the status), in one transaction under the delivery's
// stripe. It returns the new record, without Payload, once it is on
// disk; ErrNotFound when the delivery does not exist (or has expired).
// fn may run more than once (see write).
func (o *Outbox) change(id string, now time.Time, fn func(d *firehook.Delivery)) (firehook.Delivery, error) {
	return o.changeMode(id, now, true, fn)
}

// changeMode is change, waiting for the fsync or not (see Record).
func (o *Outbox) changeMode(id string, now time.Time, wait bool, fn func(d *firehook.Delivery)) (firehook.Delivery, error) {
	var next firehook.Delivery
	err := o.writeMode(id, wait, func(txn *badger.Txn) error {
		old, ok, err := getDelivery(txn, id, false)
		if err != nil {
			return err
		}
		if !ok {
			return firehook.ErrNotFound
		}
		next = old
		fn(&next)
		next.UpdatedAt = now
		return o.putDelivery(txn, &old, &next, now)
	})
	if err != nil {
		return firehook.Delivery{}, err
	}
	return next, nil
}

// List returns an endpoint's deliveries newest first (by creation), those
// with status only unless status is "", up to limit of them (all when
// limit ≤ 0), from cursor on ("" for the first page). next is the cursor
// of the following page, "" after the last one. Items carry no Payload.
// A cursor stays valid while deliveries come and go: each page continues
// strictly after the last item of the previous one. ErrInvalid for a
// malformed cursor or an unknown status.
func (o *Outbox) List(endpointID string, status firehook.DeliveryStatus, cursor string, limit int) (items []firehook.Delivery, next string, err error) {
	prefix, err := listPrefix(endpointID, status)
	if err != nil {
		return nil, "", fmt.Errorf("outbox: list %s: %w", endpointID, err)
	}
	seek := append([]byte(prefix), 0xff) // past the newest
	if cursor != "" {
		after, err := decodeCursor(cursor)
		if err != nil {
			return nil, "", fmt.Errorf("outbox: list %s: %w", endpointID, err)
		}
		seek = append([]byte(prefix), after...)
	}
	items, last, more, err := o.scan(prefix, seek, true, limit, false, nil)
	if err != nil {
		return nil, "", fmt.Errorf("outbox: list %s: %w", endpointID, err)
	}
	if more {
		next = encodeCursor(last)
	}
	return items, next, nil
}

// Pending returns an endpoint's unfinished deliveries (pending and
// retrying) in queue order: First Match before Every Update, then in
// creation order; up to limit of them (all when limit ≤ 0), after the
// cursor after ("" for the start). next is the cursor of the following
// page, "" after the last one. Items carry their Payload: an endpoint
// actor pages its queue with it after a restart. ErrInvalid for a
// malformed cursor.
func (o *Outbox) Pending(endpointID string, after string, limit int) (items []firehook.Delivery, next string, err error) {
	prefix := prefixDlvQueue + endpointID + "/"
	seek := []byte(prefix)
	if after != "" {
		pos, err := decodeCursor(after)
		if err != nil {
			return nil, "", fmt.Errorf("outbox: pending %s: %w", endpointID, err)
		}
		seek = append(seek, pos...)
	}
	items, last, more, err := o.scan(prefix, seek, false, limit, true, func(pos []byte) []byte {
		if len(pos) < 2 {
			return nil
		}
		return pos[1:] // the priority byte, then the delivery id
	})
	if err != nil {
		return nil, "", fmt.Errorf("outbox: pending %s: %w", endpointID, err)
	}
	if more {
		next = encodeCursor(last)
	}
	return items, next, nil
}

// Since returns an endpoint's deliveries created at or after since, those
// with status only unless status is "", oldest first: what "replay every
// delivery since T" goes through. Items carry no Payload. It reads them
// all into memory.
func (o *Outbox) Since(endpointID string, since time.Time, status firehook.DeliveryStatus) ([]firehook.Delivery, error) {
	prefix, err := listPrefix(endpointID, status)
	if err != nil {
		return nil, fmt.Errorf("outbox: since %s: %w", endpointID, err)
	}
	// Ids sort by their ULID's millisecond: start at the first id of
	// since's millisecond, then compare CreatedAt exactly.
	var start ulid.ULID
	if since.UnixMilli() > 0 {
		if err := start.SetTime(ulid.Timestamp(since)); err != nil {
			return nil, fmt.Errorf("outbox: since %s: %v: %w", endpointID, err, firehook.ErrInvalid)
		}
	}
	seek := []byte(prefix + firehook.PrefixDelivery + start.String())
	items, _, _, err := o.scan(prefix, seek, false, 0, false, nil)
	if err != nil {
		return nil, fmt.Errorf("outbox: since %s: %w", endpointID, err)
	}
	kept := items[:0]
	for _, d := range items {
		if !d.CreatedAt.Before(since) {
			kept = append(kept, d)
		}
	}
	return kept, nil
}

// scan walks the index keys under prefix from seek (forward, or backward
// with reverse), skipping a key equal to seek (a cursor's own item), and
// loads up to limit deliveries (all when limit ≤ 0) in one snapshot. id
// maps a key without prefix to the delivery id (nil: it is the id; a
// nil result: a malformed key).
// It returns the position (key without prefix) of the last item and
// whether another index key follows it. An index key whose record has
// just expired is skipped.
func (o *Outbox) scan(prefix string, seek []byte, reverse bool, limit int, payload bool, id func(k []byte) []byte) (items []firehook.Delivery, last []byte, more bool, err error) {
	err = o.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(prefix)
		opts.PrefetchValues = false // index values are empty
		opts.Reverse = reverse
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(seek); it.Valid(); it.Next() {
			k := it.Item().Key()
			if bytes.Equal(k, seek) {
				continue
			}
			if limit > 0 && len(items) == limit {
				more = true
				return nil
			}
			pos := k[len(prefix):]
			did := pos
			if id != nil {
				if did = id(pos); len(did) == 0 {
					return fmt.Errorf("malformed index key %q", k)
				}
			}
			d, ok, err := getDelivery(txn, string(did), payload)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			items = append(items, d)
			last = append(last[:0], pos...)
		}
		return nil
	})
	return items, last, more, err
}

// listPrefix is the index prefix of an endpoint's deliveries, all or by
// status.
func listPrefix(endpointID string, status firehook.DeliveryStatus) (string, error) {
	if status == "" {
		return prefixDlvEndpoint + endpointID + "/", nil
	}
	if !status.Valid() {
		return "", fmt.Errorf("status %q: %w", status, firehook.ErrInvalid)
	}
	return prefixDlvStatus + endpointID + "/" + string(status) + "/", nil
}

// Cursors are the index position of the last item of a page, opaque to
// callers.
func encodeCursor(pos []byte) string { return base64.RawURLEncoding.EncodeToString(pos) }

// ListCursorAfter is the cursor of List that continues after the
// delivery id: what a page that ended with it would have answered (a
// merged page of several members' shows part of a member's page).
func ListCursorAfter(id string) string { return encodeCursor([]byte(id)) }

func decodeCursor(c string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) == 0 || strings.ContainsRune(string(b), '/') {
		return nil, fmt.Errorf("cursor %q: %w", c, firehook.ErrInvalid)
	}
	return b, nil
}

// getDelivery reads delivery id in txn, with its payload when asked. It
// reads both stored forms, the binary one and an older node's JSON (see
// decodeDelivery).
func getDelivery(txn *badger.Txn, id string, payload bool) (firehook.Delivery, bool, error) {
	var d firehook.Delivery
	it, err := txn.Get([]byte(prefixDelivery + id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return d, false, nil
	}
	if err != nil {
		return d, false, err
	}
	if err := it.Value(func(v []byte) error { return decodeDelivery(v, &d) }); err != nil {
		return d, false, fmt.Errorf("decode delivery %s: %w", id, err)
	}
	if payload {
		if d.Payload, err = getPayload(txn, id); err != nil {
			return d, false, err
		}
	}
	return d, true, nil
}

// getPayload reads the payload of delivery id (nil when there is none).
func getPayload(txn *badger.Txn, id string) ([]byte, error) {
	it, err := txn.Get([]byte(prefixPayload + id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	v, err := it.ValueCopy(nil)
	if err != nil {
		return nil, fmt.Errorf("read payload of %s: %w", id, err)
	}
	return v, nil
}

// putDelivery writes d (in the binary form of deliverycodec.go; the
// payload apart), and moves its index entries from old (nil for a new
// delivery, whose payload is d.Payload) in txn. A finished d is
// written with an expiry of ReceiptRetention from now on every key of
// it, the payload included; an unfinished one without.
func (o *Outbox) putDelivery(txn *badger.Txn, old, d *firehook.Delivery, now time.Time) error {
	var exp uint64 // as Entry.WithTTL sets it, but one instant for every key
	if d.Status.Finished() {
		exp = uint64(now.Add(o.cfg.ReceiptRetention).Unix())
	}
	set := func(k string, v []byte) error {
		e := badger.NewEntry([]byte(k), v)
		e.ExpiresAt = exp
		return txn.SetEntry(e)
	}
	if err := set(prefixDelivery+d.ID, encodeDelivery(d)); err != nil {
		return err
	}

	// The payload is rewritten only when its expiry changes: at creation,
	// and when the delivery is or was finished.
	payload := d.Payload
	rewrite := old == nil || old.Status.Finished() || d.Status.Finished()
	if old != nil && rewrite {
		var err error
		if payload, err = getPayload(txn, d.ID); err != nil {
			return err
		}
	}
	if rewrite {
		if err := set(prefixPayload+d.ID, payload); err != nil {
			return err
		}
	}

	if err := set(prefixDlvEndpoint+d.EndpointID+"/"+d.ID, nil); err != nil {
		return err
	}
	if old != nil && old.Status != d.Status {
		if err := txn.Delete([]byte(statusKey(old))); err != nil {
			return err
		}
	}
	if err := set(statusKey(d), nil); err != nil {
		return err
	}
	switch {
	case !d.Status.Finished():
		return txn.Set([]byte(queueKey(d)), nil)
	case old != nil && !old.Status.Finished():
		return txn.Delete([]byte(queueKey(old)))
	}
	return nil
}

func statusKey(d *firehook.Delivery) string {
	return prefixDlvStatus + d.EndpointID + "/" + string(d.Status) + "/" + d.ID
}

func queueKey(d *firehook.Delivery) string {
	return prefixDlvQueue + d.EndpointID + "/" + string([]byte{byte(d.Priority)}) + d.ID
}

// validDeliveryID reports whether id is dlv_ + a ULID (NewDeliveryID):
// the outbox orders by it and keys hold it.
func validDeliveryID(id string) bool {
	rest, ok := strings.CutPrefix(id, firehook.PrefixDelivery)
	if !ok {
		return false
	}
	_, err := ulid.ParseStrict(rest)
	return err == nil
}
