package node_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/actors/webhook"
	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/internal/testkit"
	"github.com/firehook/firehook/node"
)

// faultyDispatch is a pipeline.Router for one node that has the node's
// own person actors decide (Pipeline.DispatchHere) once its first fails
// calls have failed, as a disk that cannot take the decision would.
type faultyDispatch struct {
	n     atomic.Pointer[node.Node]
	fails atomic.Int32
}

func (f *faultyDispatch) LocalVisitor(*firehook.Event) bool { return true }

func (f *faultyDispatch) HandOff(*firehook.Event, func(), func()) {
	panic("a lone node hands nothing off")
}

func (f *faultyDispatch) Dispatch(_ context.Context, ev *firehook.Event, m identity.Match, s webhook.SessionInfo) error {
	if f.fails.Add(-1) >= 0 {
		return errors.New("injected: no space left on device")
	}
	return f.n.Load().Pipeline().DispatchHere(ev, m, s)
}

// A visitor's event that cannot be processed (its decision cannot be
// stored) is tried again, and the visitor's later events wait behind it:
// once the fault is gone every event is delivered, in the order of the
// page views, with no restart.
func TestPipeline_AFailedEventIsTriedAgainAndKeepsItsPlace(t *testing.T) {
	f := &faultyDispatch{}
	f.fails.Store(3)
	w := newWorld(t, func(c *node.Config) { c.Pipeline.Router = f })
	f.n.Store(w.n)
	w.person(t, "p_ada", "ada@engines.example")
	rc := testkit.NewReceiver(t, nil)
	ep := w.endpoint(t, rc.URL, nil)
	ids := []string{
		w.view(t, "v_ada", "ada@engines.example", "one"),
		w.view(t, "v_ada", "", "two"),
		w.view(t, "v_ada", "", "three"),
	}
	got := rc.WaitFor(t, 3, 20*time.Second)
	for i, g := range got[:3] {
		p := decode(t, g, ep.Secret)
		if p.ID != ids[i] || p.Sequence != uint64(i+1) {
			t.Errorf("delivery %d: event %s sequence %d; want %s sequence %d", i+1, p.ID, p.Sequence, ids[i], i+1)
		}
	}
	if f.fails.Load() >= 0 {
		t.Fatal("the fault was never injected")
	}
}
