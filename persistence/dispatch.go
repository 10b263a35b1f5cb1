package persistence

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/firehook/firehook"
)

// Decision is the dispatch decision of one event for one person.
type Decision struct {
	// Type is firehook.EventIdentified (First Match: the person's first
	// event for the tenant, ever) or firehook.EventUpdated (Every Update).
	Type string
	// Sequence is the event's place among the person's events for the
	// tenant: 1, 2, 3 … without gaps.
	Sequence uint64
	// Replayed is true when an earlier Dispatch of the same event made the
	// decision (a replay after a crash): nothing was built or stored, and
	// the deliveries returned are the stored ones in their current state.
	Replayed bool
}

// dispatchRecord is an event's decision as stored under dd/<event id>, in
// the binary form of deliverycodec.go. The JSON tags name the fields of
// the records older nodes stored as JSON, which are still read.
type dispatchRecord struct {
	Type       string   `json:"type"`
	Sequence   uint64   `json:"sequence"`
	PersonKey  string   `json:"person_key"`
	Deliveries []string `json:"deliveries"` // ids, in the order build returned them
}

// metaProcessedUpTo is the visitor stage's "processed up to" mark: an
// event log sequence, 8 bytes big-endian.
const metaProcessedUpTo = prefixMeta + "dispatch_processed_up_to"

// Dispatch makes the decision for eventID and, in the same badger
// transaction, stores the deliveries built for it (one per subscribed
// endpoint), fsynced before it returns.
//
// The first Dispatch for (tenant, person) ever decides visitor.identified
// with Sequence 1; each later one visitor.updated with Sequence n+1. The
// seen set and the sequences are stored with the deliveries, so they
// survive restarts: there is exactly one visitor.identified per (tenant,
// person).
//
// build is called with the decision and returns the deliveries to store.
// Dispatch fills in what the decision fixes — EventID, TenantID,
// PersonKey, Type, Sequence, Priority (from Type) — and, when zero, ID
// (NewDeliveryID of CreatedAt), CreatedAt (now), UpdatedAt (CreatedAt),
// Status (pending) and NextAttemptAt (CreatedAt, for an unfinished one);
// a field that build set to something else is ErrInvalid. IDs must be
// unique dlv_<ULID>s and endpoints unique; EndpointID is required. The
// deliveries returned are build's slice, filled in. build may be called
// again when the first transaction conflicts with another (see below), so
// it must not have effects beyond its result; an error from it is
// returned, wrapped, and nothing is stored. Zero deliveries are fine: the
// decision is stored all the same.
//
// Dispatch is idempotent by eventID: calling it again for the same event
// (a replay after a crash) returns the first decision with Replayed set,
// and the stored deliveries (with payloads, in their current state;
// expired receipts are missing), and stores nothing new — even when the
// replay resolved the event to another person.
//
// Concurrency: the visitor actor sequences a person's events, but the
// store does not rely on it. Dispatches of one (tenant, person) are
// serialised by a lock stripe (the read of the sequence, build and the
// commit; not the fsync), and badger's conflict detection catches what a
// stripe cannot see (one event dispatched for two persons at once): the
// loser is retried a few times and then fails with ErrConflict.
//
// Durability: the decision is derived state (the event is in the event
// log), so Dispatch returns once its transaction is committed, without
// waiting for an fsync: committed, it is in badger's memory-mapped
// write-ahead log, which a process crash (SIGKILL, OOM, panic) does not
// lose, so a webhook sent after Dispatch returns is never re-decided
// differently. The pipeline's checkpoint (MarkProcessed) fsyncs it with
// everything else; a power loss before that loses the decisions made
// since the last checkpoint, and the replay of the log from the mark
// makes them again — the same deliveries under the same ids (see
// firehook.DeliveryIDFor), though a person seen from two devices within
// that window may get their sequences in another order. After a failed
// fsync every later write is refused until the node restarts.
func (s *Store) Dispatch(eventID, tenantID, personID string, build func(d Decision) ([]firehook.Delivery, error)) (Decision, []firehook.Delivery, error) {
	dec, dels, err := s.outbox.dispatch(eventID, tenantID, personID, build)
	if err != nil {
		return Decision{}, nil, fmt.Errorf("dispatch %s: %w", eventID, err)
	}
	return dec, dels, nil
}

func (o *Outbox) dispatch(eventID, tenantID, personID string, build func(Decision) ([]firehook.Delivery, error)) (Decision, []firehook.Delivery, error) {
	if eventID == "" || tenantID == "" || personID == "" || strings.Contains(tenantID, "/") {
		return Decision{}, nil, fmt.Errorf("event %q, tenant %q, person %q: %w", eventID, tenantID, personID, firehook.ErrInvalid)
	}
	lane := firehook.PersonKey(tenantID, personID)
	var dec Decision
	var dels []firehook.Delivery
	err := o.writeMode(lane, false, func(txn *badger.Txn) error {
		var err error
		dec, dels, err = o.dispatchTxn(txn, eventID, tenantID, lane, build)
		return err
	})
	if errors.Is(err, badger.ErrTxnTooBig) {
		err = fmt.Errorf("the deliveries are too big for one transaction: %w", err)
	}
	if err != nil {
		return Decision{}, nil, err
	}
	return dec, dels, nil
}

// dispatchTxn decides and stores in txn, or reads back an earlier
// decision of eventID.
func (o *Outbox) dispatchTxn(txn *badger.Txn, eventID, tenantID, lane string, build func(Decision) ([]firehook.Delivery, error)) (Decision, []firehook.Delivery, error) {
	recKey := []byte(prefixDispatched + eventID)
	it, err := txn.Get(recKey)
	switch {
	case err == nil:
		return replayed(txn, it)
	case !errors.Is(err, badger.ErrKeyNotFound):
		return Decision{}, nil, err
	}

	seqKey := []byte(prefixLaneSeq + lane)
	last, err := getUint64(txn, seqKey)
	if err != nil {
		return Decision{}, nil, fmt.Errorf("read sequence of %s: %w", lane, err)
	}
	dec := Decision{Type: firehook.EventIdentified, Sequence: 1}
	if last > 0 {
		dec = Decision{Type: firehook.EventUpdated, Sequence: last + 1}
	}
	dels, err := build(dec)
	if err != nil {
		return Decision{}, nil, fmt.Errorf("build deliveries: %w", err)
	}

	now := time.Now()
	rec := dispatchRecord{Type: dec.Type, Sequence: dec.Sequence, PersonKey: lane, Deliveries: make([]string, 0, len(dels))}
	endpoints := make(map[string]bool, len(dels))
	ids := make(map[string]bool, len(dels))
	for i := range dels {
		d := &dels[i]
		if err := fillDelivery(d, eventID, tenantID, lane, dec, now); err != nil {
			return Decision{}, nil, err
		}
		if endpoints[d.EndpointID] || ids[d.ID] {
			return Decision{}, nil, fmt.Errorf("delivery %s: a second delivery for endpoint %s or with the same id: %w", d.ID, d.EndpointID, firehook.ErrInvalid)
		}
		endpoints[d.EndpointID], ids[d.ID] = true, true
		if _, err := txn.Get([]byte(prefixDelivery + d.ID)); err == nil {
			return Decision{}, nil, fmt.Errorf("delivery %s exists: %w", d.ID, firehook.ErrConflict)
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return Decision{}, nil, err
		}
		rec.Deliveries = append(rec.Deliveries, d.ID)
	}

	if err := txn.Set(recKey, encodeDispatchRecord(&rec)); err != nil {
		return Decision{}, nil, err
	}
	if err := txn.Set(seqKey, binary.BigEndian.AppendUint64(nil, dec.Sequence)); err != nil {
		return Decision{}, nil, err
	}
	for i := range dels {
		if err := o.putDelivery(txn, nil, &dels[i], now); err != nil {
			return Decision{}, nil, err
		}
	}
	return dec, dels, nil
}

// replayed returns the stored decision in item and its deliveries.
func replayed(txn *badger.Txn, item *badger.Item) (Decision, []firehook.Delivery, error) {
	var rec dispatchRecord
	if err := item.Value(func(v []byte) error { return decodeDispatchRecord(v, &rec) }); err != nil {
		return Decision{}, nil, fmt.Errorf("decode dispatch record %s: %w", item.Key(), err)
	}
	dels := make([]firehook.Delivery, 0, len(rec.Deliveries))
	for _, id := range rec.Deliveries {
		d, ok, err := getDelivery(txn, id, true)
		if err != nil {
			return Decision{}, nil, err
		}
		if ok {
			dels = append(dels, d)
		}
	}
	return Decision{Type: rec.Type, Sequence: rec.Sequence, Replayed: true}, dels, nil
}

// fillDelivery sets what the decision fixes and the defaults of a new
// delivery, or reports a field that contradicts them (ErrInvalid).
func fillDelivery(d *firehook.Delivery, eventID, tenantID, lane string, dec Decision, now time.Time) error {
	if d.EndpointID == "" || strings.Contains(d.EndpointID, "/") {
		return fmt.Errorf("delivery %s: endpoint id %q: %w", d.ID, d.EndpointID, firehook.ErrInvalid)
	}
	fixed := func(field string, got *string, want string) error {
		if *got != "" && *got != want {
			return fmt.Errorf("delivery for %s: %s is %q, not %q: %w", d.EndpointID, field, *got, want, firehook.ErrInvalid)
		}
		*got = want
		return nil
	}
	if err := errors.Join(
		fixed("event id", &d.EventID, eventID),
		fixed("tenant id", &d.TenantID, tenantID),
		fixed("person key", &d.PersonKey, lane),
		fixed("type", &d.Type, dec.Type),
	); err != nil {
		return err
	}
	if d.Sequence != 0 && d.Sequence != dec.Sequence {
		return fmt.Errorf("delivery for %s: sequence is %d, not %d: %w", d.EndpointID, d.Sequence, dec.Sequence, firehook.ErrInvalid)
	}
	d.Sequence = dec.Sequence
	prio := firehook.EventPriority(dec.Type)
	if d.Priority != 0 && d.Priority != prio {
		return fmt.Errorf("delivery for %s: priority is %d, not %d: %w", d.EndpointID, d.Priority, prio, firehook.ErrInvalid)
	}
	d.Priority = prio
	if d.Status == "" {
		d.Status = firehook.DeliveryPending
	}
	if !d.Status.Valid() {
		return fmt.Errorf("delivery for %s: status %q: %w", d.EndpointID, d.Status, firehook.ErrInvalid)
	}
	if d.CreatedAt.IsZero() {
		d.CreatedAt = now
	}
	if d.ID == "" {
		d.ID = firehook.NewDeliveryID(d.CreatedAt)
	}
	if !validDeliveryID(d.ID) {
		return fmt.Errorf("delivery for %s: id %q is not %s<ULID>: %w", d.EndpointID, d.ID, firehook.PrefixDelivery, firehook.ErrInvalid)
	}
	if d.UpdatedAt.IsZero() {
		d.UpdatedAt = d.CreatedAt
	}
	if d.NextAttemptAt.IsZero() && !d.Status.Finished() {
		d.NextAttemptAt = d.CreatedAt
	}
	return nil
}

// MarkProcessed is the pipeline's checkpoint: it records that every event
// of the log up to sequence seq is processed (a low watermark: every
// event ≤ seq is dispatched or dropped, and its visitor's state put), so
// that a restart replays the log from after it. It writes the visitor
// states put so far (PutVisitor), then the mark, then makes everything
// committed before — the decisions and outbox entries written without a
// wait, the attempt results, the states, the mark — durable with one
// fsync. The mark only grows: a seq at or below the stored one changes
// nothing but the rest is still written and synced.
func (s *Store) MarkProcessed(seq uint64) error {
	if err := s.visitors.flush(s.db); err != nil {
		return fmt.Errorf("checkpoint at %d: %w", seq, err)
	}
	key := []byte(metaProcessedUpTo)
	err := s.outbox.writeMode(metaProcessedUpTo, false, func(txn *badger.Txn) error {
		cur, err := getUint64(txn, key)
		if err != nil || seq <= cur {
			return err
		}
		return txn.Set(key, binary.BigEndian.AppendUint64(nil, seq))
	})
	if err == nil {
		err = s.outbox.syncAll()
	}
	if err != nil {
		return fmt.Errorf("checkpoint at %d: %w", seq, err)
	}
	return nil
}

// ProcessedUpTo returns the visitor stage's mark (0 when none was stored).
func (s *Store) ProcessedUpTo() (uint64, error) {
	var seq uint64
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		seq, err = getUint64(txn, []byte(metaProcessedUpTo))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("read processed-up-to mark: %w", err)
	}
	return seq, nil
}

// getUint64 reads a big-endian uint64 under key (0 when absent).
func getUint64(txn *badger.Txn, key []byte) (uint64, error) {
	it, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var n uint64
	err = it.Value(func(v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("malformed counter %q", key)
		}
		n = binary.BigEndian.Uint64(v)
		return nil
	})
	return n, err
}

// write runs fn in a read-write transaction and returns once the
// transaction is on disk. Transactions of one key (a person's lane, a
// delivery) are serialised by the key's lock stripe, held until the
// commit (not the fsync); a badger conflict (a crossing the stripes do
// not see) runs fn again, at most maxConflictTries times in all. fn may
// only read and write txn: it may run more than once. Writes are refused
// after a failed fsync.
func (o *Outbox) write(key string, fn func(txn *badger.Txn) error) error {
	return o.writeMode(key, true, fn)
}

// writeMode is write; with wait false it returns after the commit, and the
// commit is left to a later fsync (see Outbox.Record).
func (o *Outbox) writeMode(key string, wait bool, fn func(txn *badger.Txn) error) error {
	if err := o.gs.failure(); err != nil {
		return err
	}
	stripe := o.stripe(key)
	var err error
	for range maxConflictTries {
		var ticket syncTicket
		begun := false
		stripe.Lock()
		err = o.db.Update(func(txn *badger.Txn) error {
			if err := fn(txn); err != nil {
				return err
			}
			ticket, begun = o.gs.begin(), true // db.Update commits next
			return nil
		})
		stripe.Unlock()
		if err == nil && !wait {
			o.unsynced.Store(true)
			o.gs.abandon(ticket) // committed; no wait for its fsync
			return nil
		}
		if err == nil {
			return o.gs.wait(ticket)
		}
		if begun {
			o.gs.abandon(ticket)
		}
		if !errors.Is(err, badger.ErrConflict) {
			return err
		}
		o.conflicts.Add(1)
	}
	return fmt.Errorf("still conflicting after %d tries: %w (%w)", maxConflictTries, firehook.ErrConflict, err)
}

// groupSync makes committed badger transactions durable in groups. The
// store runs badger with SyncWrites off, so a commit is in badger's
// memory-mapped WAL but not on disk. A writer calls begin just before it
// commits, and wait after the commit, which returns once an fsync that
// started after the commit has ended (abandon instead of wait when the
// commit failed).
//
// Leader and followers, no goroutine of its own, no timer: the first
// waiter that finds no fsync running leads: it closes the current group
// (later begins join the next one), waits until every commit of the group
// has come to wait, then fsyncs once for all of them; waiters that arrive
// meanwhile wait for the next fsync, which one of them leads. An idle
// store syncs a single write at once.
//
// Waiting for the group's commits matters because badger cannot commit
// during an fsync (db.Sync holds db.lock for reading, badger's writer
// needs it for writing): the commits that queue up during one fsync land
// just after it, and a leader that did not wait for them would start the
// next fsync with one or two writes and leave the rest to the one after.
type groupSync struct {
	sync func() error // db.Sync; replaced in tests to inject faults

	mu       sync.Mutex // guards the fields below
	cond     sync.Cond  // on mu; broadcast when an fsync ends and when a closed group has fully committed
	group    uint64     // the open group, which begin joins
	inflight [2]int     // begun, not yet waiting or abandoned, by group parity: only the open and the closing group have any
	issued   uint64     // waits so far: the number of the latest
	synced   uint64     // waits up to this number are durable
	running  bool       // a leader is waiting for its group or fsyncing
	broken   error      // set by the first failed fsync; see failure
	st       OutboxStats
}

// syncTicket is the group a commit joined.
type syncTicket uint64

func newGroupSync(sync func() error) *groupSync {
	g := &groupSync{sync: sync}
	g.cond.L = &g.mu
	return g
}

// begin registers a commit about to happen.
func (g *groupSync) begin() syncTicket {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inflight[g.group%2]++
	return syncTicket(g.group)
}

// abandon unregisters a commit that failed.
func (g *groupSync) abandon(t syncTicket) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.left(t)
}

// left counts a commit of group t out; mu is held.
func (g *groupSync) left(t syncTicket) {
	g.inflight[t%2]--
	if g.inflight[t%2] == 0 && uint64(t) != g.group {
		g.cond.Broadcast() // a leader may be waiting for its closed group
	}
}

// wait returns once the commit registered as t, and every transaction
// committed before it, is on disk, or with the error of the fsync that
// should have put it there.
func (g *groupSync) wait(t syncTicket) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.issued++
	n := g.issued
	g.left(t)
	for g.synced < n {
		if g.broken != nil {
			return g.broken
		}
		if g.running {
			g.cond.Wait()
			continue
		}
		// Lead: close the group, wait until its commits have all come
		// here (each issued its number after committing), then one fsync
		// for every number issued by then.
		g.running = true
		closing := g.group
		g.group++
		for g.inflight[closing%2] > 0 {
			g.cond.Wait()
		}
		upto := g.issued
		g.mu.Unlock()
		start := time.Now()
		err := g.sync()
		took := time.Since(start)
		g.mu.Lock()
		g.running = false
		g.st.Syncs++
		g.st.SyncTime += took
		if err != nil {
			g.broken = fmt.Errorf("outbox: refusing writes after a failed fsync (restart the node): %w", err)
		} else {
			g.st.Writes += upto - g.synced
			g.synced = upto
		}
		g.cond.Broadcast()
	}
	return nil
}

// failure returns the error that stops writes after a failed fsync: the
// disk state is unknown then, and a decision read from memory might not
// be on disk. A restart reads back what is really there.
func (g *groupSync) failure() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.broken
}

func (g *groupSync) stats() OutboxStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.st
}
