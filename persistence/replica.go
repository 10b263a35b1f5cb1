package persistence

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Replication of the configuration and the suppression lists.
//
// Every node holds all of it and any node may write it, so each record
// (a tenant, a site, an endpoint, one suppression entry) carries the
// Version of its last write, and a node applies a record's remote Change
// only when it is newer than what it holds: last writer wins, record by
// record. A deletion is a Change too and leaves a tombstone (the id with
// the deletion's version) so that an older write of the record that
// arrives late — a create delayed in transit, a snapshot from a node that
// has not seen the deletion yet — is refused instead of bringing the
// record back. As the outcome of applying a set of changes depends only on
// the greatest version of each record, every node that has received the
// same changes, in any order and any number of times, holds the same
// state.
//
// Tombstones are never pruned. A node that was down longer than any
// pruning horizon would offer the deleted records, with their old
// versions, in its snapshot when it comes back, and nothing would be left
// to refuse them: a deleted endpoint would receive webhooks again. A
// tombstone is a few dozen bytes and configuration is deleted rarely;
// pruning safely needs to know that every member has seen the deletion,
// which is the transport's knowledge, not the store's.
//
// Node names must be unique within a cluster: two writes of one record
// with the same time and node name would tie, and a tie is a no-op.

// Version orders the writes of one record across nodes: last writer wins,
// by Time, then by Node. The zero Version is that of records written
// before versions existed (older data directories); every stamped version
// is newer than it.
type Version struct {
	// Time is unix nanoseconds from the writing node's hybrid Clock.
	Time int64 `json:"t"`
	// Node is the writing node's name (Config.NodeName).
	Node string `json:"n"`
}

// Less reports whether v is older than o.
func (v Version) Less(o Version) bool { return v.Compare(o) < 0 }

// Compare returns -1, 0 or +1 as v is older than, equal to or newer than o.
func (v Version) Compare(o Version) int {
	if c := cmp.Compare(v.Time, o.Time); c != 0 {
		return c
	}
	return strings.Compare(v.Node, o.Node)
}

// IsZero reports whether v is the zero Version.
func (v Version) IsZero() bool { return v == Version{} }

func (v Version) String() string { return fmt.Sprintf("%d@%s", v.Time, v.Node) }

// Change kinds.
const (
	KindTenant      = "tenant"
	KindSite        = "site"
	KindEndpoint    = "endpoint"
	KindSuppression = "suppression" // see identity.Suppressions
)

// Change is one replicated write: a record's new value, or its deletion
// (Deleted set, Value nil).
type Change struct {
	Kind    string  `json:"kind"`
	ID      string  `json:"id"`
	Version Version `json:"version"`
	// Value is the JSON of the record (firehook.Tenant, firehook.Site,
	// firehook.Endpoint; identity's suppression entry). Nil when Deleted.
	Value   []byte `json:"value,omitempty"`
	Deleted bool   `json:"deleted,omitempty"`
}

func (ch Change) String() string {
	if ch.Deleted {
		return fmt.Sprintf("%s %s deleted at %s", ch.Kind, ch.ID, ch.Version)
	}
	return fmt.Sprintf("%s %s at %s", ch.Kind, ch.ID, ch.Version)
}

// Clock is a node's hybrid clock: the versions it stamps are
// max(wall clock, last stamped or observed + 1) in unix nanoseconds. Every
// version the node stores (loaded at start, applied from another node) is
// observed, so a write on this node always gets a version newer than any
// version it has seen, whatever the skew between the nodes' wall clocks.
// One Clock serves the node's configuration and suppression lists
// (Store.Clock). Safe for concurrent use.
type Clock struct {
	node string
	wall func() int64 // unix nanoseconds; replaced by tests

	mu   sync.Mutex
	last int64
}

// NewClock returns a clock that stamps versions for node.
func NewClock(node string) *Clock {
	return &Clock{node: node, wall: func() int64 { return time.Now().UnixNano() }}
}

// Node returns the name the clock stamps.
func (c *Clock) Node() string { return c.node }

// Now returns a new version, newer than every version stamped or observed
// before.
func (c *Clock) Now() Version {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = max(c.wall(), c.last+1)
	return Version{Time: c.last, Node: c.node}
}

// After returns a new version newer than v and than every version stamped
// or observed before.
func (c *Clock) After(v Version) Version {
	c.Observe(v)
	return c.Now()
}

// Observe advances the clock past v.
func (c *Clock) Observe(v Version) {
	c.mu.Lock()
	c.last = max(c.last, v.Time)
	c.mu.Unlock()
}

// encodeVersion is a version as stored: the time, 8 bytes big-endian, then
// the node name; nothing for the zero Version.
func encodeVersion(v Version) []byte {
	if v.IsZero() {
		return nil // as entries were stored before versions existed
	}
	b := make([]byte, 8, 8+len(v.Node))
	binary.BigEndian.PutUint64(b, uint64(v.Time))
	return append(b, v.Node...)
}

// decodeVersion is the inverse of encodeVersion; empty is the zero Version
// (suppression entries written before versions existed).
func decodeVersion(b []byte) (Version, error) {
	if len(b) == 0 {
		return Version{}, nil
	}
	if len(b) < 8 {
		return Version{}, fmt.Errorf("malformed version (%d bytes)", len(b))
	}
	return Version{Time: int64(binary.BigEndian.Uint64(b)), Node: string(b[8:])}, nil
}

// changeHook holds a store's OnChange function (set once, read on every
// local write).
type changeHook struct{ fn atomic.Pointer[func(Change)] }

func (h *changeHook) set(fn func(Change)) {
	if fn == nil {
		h.fn.Store(nil)
		return
	}
	h.fn.Store(&fn)
}

func (h *changeHook) call(ch Change) {
	if fn := h.fn.Load(); fn != nil {
		(*fn)(ch)
	}
}
