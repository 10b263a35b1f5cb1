package node

import (
	"context"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/http/ingest"
	"github.com/firehook/firehook/persistence"
)

// handoffWait bounds how long a page view's answer waits for the handoff
// to its visitor's owner.
const handoffWait = 2 * time.Second

// clusterIngest is the event log as a clustered node's ingest handler
// uses it. A page view is stored here (the durable acceptance, as on a
// lone node); when another member is to process it (its visitor's owner,
// or the previous owner during a change of owners, as the pipeline will
// route it — asked after the append, since the owners may change during
// it), the 202 waits until that member has stored it too (one round trip
// and its fsync, a few milliseconds), at most handoffWait. That makes the order of a
// visitor's page views the order of their answers, whichever members
// they reach: a page view sent after another's 202 is stored after it on
// the owner. When the owner does not answer in time the 202 goes out
// anyway (the event is durable here and handed over later); only then can
// two page views of one visitor that reach different members within that
// window be swapped.
type clusterIngest struct {
	cl     *clusterNode
	events *persistence.EventLog
}

var _ ingest.EventLog = clusterIngest{}

// Append implements ingest.EventLog.
func (c clusterIngest) Append(ctx context.Context, ev *firehook.Event) error {
	stored := c.cl.ho.expect(ev.ID) // before the append: the feeder may route it at once
	defer c.cl.ho.forget(ev.ID)
	if err := c.events.Append(ctx, ev); err != nil {
		return err
	}
	// Asked after the append (the owner may have changed meanwhile): the
	// answer the feeder gives, or will give, for this event.
	if c.cl.LocalVisitor(ev) {
		return nil
	}
	t := time.NewTimer(handoffWait)
	defer t.Stop()
	select {
	case <-stored:
	case <-t.C:
		c.cl.log.Warn("cluster: answering before the visitor's owner stored the event", "event", ev.ID,
			"owner", c.cl.visitorOwner(ev.TenantID, ev.VisitorID))
	case <-ctx.Done():
	}
	return nil
}

// ingestLog is the event log the ingest handler appends to.
func (n *Node) ingestLog() ingest.EventLog {
	if n.cluster == nil {
		return n.store.Events
	}
	return clusterIngest{cl: n.cluster, events: n.store.Events}
}
