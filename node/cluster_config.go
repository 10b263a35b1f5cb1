package node

import (
	"errors"

	"google.golang.org/protobuf/proto"

	"github.com/firehook/firehook/cluster"
	"github.com/firehook/firehook/cluster/clusterpb"
	"github.com/firehook/firehook/persistence"
)

// Configuration (tenants, sites, endpoints, suppression lists) is small
// and everywhere: every node holds all of it. A write on any node is sent
// at once to every live member (watchConfig), and every few seconds a
// member exchanges its whole configuration with a random peer
// (memberlist's push/pull, also run when a node joins), which heals a
// send that a member missed. Each record carries a version (a hybrid
// clock and the writer's name): the newest write wins on every node,
// whatever order the writes arrive in, so concurrent writes converge.

// watchConfig sends every local configuration write to the members.
func (cl *clusterNode) watchConfig() {
	cl.n.store.Config.SetOnChange(cl.broadcastConfig)
	cl.n.sup.SetOnChange(cl.broadcastConfig)
}

// broadcastConfig sends one change to every other live member. It does
// not wait: the push/pull exchange repairs what a send loses.
func (cl *clusterNode) broadcastConfig(ch persistence.Change) {
	msg := &clusterpb.ConfigChanges{Changes: []*clusterpb.ConfigChange{wireChange(ch)}}
	for _, m := range cl.members.Members() {
		if m.Name == cl.name || (m.State != cluster.StateAlive && m.State != cluster.StateSuspect) {
			continue
		}
		cl.tr.Send(m.Meta.Actor, msg)
	}
}

// onConfigChanges applies the changes a member sent.
func (cl *clusterNode) onConfigChanges(m *clusterpb.ConfigChanges) proto.Message {
	if err := cl.applyConfig(m.Changes); err != nil {
		cl.log.Error("cluster: applying configuration from a member", "err", err)
		return &clusterpb.Ack{Error: err.Error()}
	}
	return &clusterpb.Ack{}
}

// applyConfig applies changes that are newer than what this node holds,
// and restarts the endpoint actors whose endpoint changed.
func (cl *clusterNode) applyConfig(changes []*clusterpb.ConfigChange) error {
	var errs []error
	for _, w := range changes {
		ch := changeFromWire(w)
		var applied bool
		var err error
		if ch.Kind == persistence.KindSuppression {
			applied, err = cl.n.sup.Apply(ch)
		} else {
			applied, err = cl.n.store.Config.Apply(ch)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if applied && ch.Kind == persistence.KindEndpoint {
			if p := cl.n.committed.Load(); p != nil {
				p.EndpointChanged(ch.ID)
			}
		}
	}
	return errors.Join(errs...)
}

// configState is this node's whole configuration, for push/pull.
func (cl *clusterNode) configState() []byte {
	changes := append(cl.n.store.Config.Snapshot(), cl.n.sup.Snapshot()...)
	msg := &clusterpb.ConfigChanges{Changes: make([]*clusterpb.ConfigChange, len(changes))}
	for i, ch := range changes {
		msg.Changes[i] = wireChange(ch)
	}
	b, err := proto.Marshal(msg)
	if err != nil {
		cl.log.Error("cluster: encoding the configuration", "err", err)
		return nil
	}
	return b
}

// mergeConfigState applies a peer's whole configuration.
func (cl *clusterNode) mergeConfigState(buf []byte) {
	var msg clusterpb.ConfigChanges
	if err := proto.Unmarshal(buf, &msg); err != nil {
		cl.log.Error("cluster: decoding a member's configuration", "err", err)
		return
	}
	if err := cl.applyConfig(msg.Changes); err != nil {
		cl.log.Error("cluster: applying a member's configuration", "err", err)
	}
}

func wireChange(ch persistence.Change) *clusterpb.ConfigChange {
	return &clusterpb.ConfigChange{Kind: ch.Kind, Id: ch.ID, Time: ch.Version.Time, Node: ch.Version.Node,
		Value: ch.Value, Deleted: ch.Deleted}
}

func changeFromWire(w *clusterpb.ConfigChange) persistence.Change {
	return persistence.Change{Kind: w.Kind, ID: w.Id, Version: persistence.Version{Time: w.Time, Node: w.Node},
		Value: w.Value, Deleted: w.Deleted}
}
