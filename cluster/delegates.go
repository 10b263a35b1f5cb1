package cluster

import (
	"encoding/json"
	"fmt"

	"github.com/hashicorp/memberlist"
)

// The memberlist delegates of a Membership. memberlist calls them on its
// own goroutines, some while holding its state lock: they only record
// and signal, and never call back into memberlist.

// gossipDelegate carries the node's metadata and the push/pull exchange
// of replicated state.
type gossipDelegate Membership

func (d *gossipDelegate) NodeMeta(limit int) []byte {
	if len(d.meta) > limit {
		return nil // Join checked the size; memberlist's limit is fixed
	}
	return d.meta
}

// NotifyMsg is unused: changes travel over the actor transport, which is
// reliable and has no packet-size limit.
func (d *gossipDelegate) NotifyMsg([]byte) {}

func (d *gossipDelegate) GetBroadcasts(int, int) [][]byte { return nil }

func (d *gossipDelegate) LocalState(bool) []byte {
	if d.cfg.State == nil {
		return nil
	}
	return d.cfg.State()
}

func (d *gossipDelegate) MergeRemoteState(buf []byte, _ bool) {
	if d.cfg.MergeState != nil && len(buf) > 0 {
		d.cfg.MergeState(buf)
	}
}

// eventDelegate turns join, leave and update events into a refresh.
type eventDelegate Membership

func (d *eventDelegate) NotifyJoin(*memberlist.Node)   { (*Membership)(d).signal() }
func (d *eventDelegate) NotifyLeave(*memberlist.Node)  { (*Membership)(d).signal() }
func (d *eventDelegate) NotifyUpdate(*memberlist.Node) { (*Membership)(d).signal() }

// aliveDelegate refuses peers that are not Firehook nodes of a compatible
// protocol (the gossip label already keeps other clusters out).
type aliveDelegate Membership

func (d *aliveDelegate) NotifyAlive(peer *memberlist.Node) error {
	var meta Meta
	if err := json.Unmarshal(peer.Meta, &meta); err != nil {
		return fmt.Errorf("peer %s: metadata is not a Firehook node's: %w", peer.Name, err)
	}
	if meta.Actor == "" {
		return fmt.Errorf("peer %s: no actor address: not a Firehook node", peer.Name)
	}
	if meta.Protocol != Protocol {
		return fmt.Errorf("peer %s speaks protocol %d, this node %d", peer.Name, meta.Protocol, Protocol)
	}
	if peer.Name != d.cfg.Name {
		(*Membership)(d).noteMeta(peer.Name, meta)
		(*Membership)(d).signal()
	}
	return nil
}

var (
	_ memberlist.Delegate      = (*gossipDelegate)(nil)
	_ memberlist.EventDelegate = (*eventDelegate)(nil)
	_ memberlist.AliveDelegate = (*aliveDelegate)(nil)
)
