package pipeline

import (
	"context"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/actors/webhook"
	"github.com/firehook/firehook/identity"
)

// Router spreads the pipeline's work over the members of a cluster. The
// pipeline asks it, for every event, whether this node owns the event's
// (tenant, visitor) key, and hands it every match, for the owner of its
// (tenant, person) key; what another member owns goes there. A node
// without a cluster has no Router and owns everything.
//
// Its methods are called concurrently: LocalVisitor and HandOff on the
// feeder goroutine, Dispatch on visitor actors.
type Router interface {
	// LocalVisitor reports whether this node processes ev, an event of its
	// log: as the owner of ev's (tenant, visitor), or as its previous owner
	// for an event stored before the owner changed.
	LocalVisitor(ev *firehook.Event) bool
	// HandOff hands an event this node stored to its visitor's owner, and
	// returns at once. It calls done once the owner has stored the event
	// durably, or here when ownership moved to this node meanwhile (the
	// pipeline then processes the event itself). It never calls either
	// after the pipeline closed; an event handed nowhere stays in this
	// node's log and is handed off again after a restart.
	HandOff(ev *firehook.Event, done func(), here func())
	// Dispatch has the person's owner — this node or another member —
	// decide and deliver a matched event (through DispatchHere there),
	// returning once the owner's decision is stored. ctx bounds it.
	Dispatch(ctx context.Context, ev *firehook.Event, m identity.Match, s webhook.SessionInfo) error
}
