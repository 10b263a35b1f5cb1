package node_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/internal/testkit"
)

// Erasing a person (DELETE /v1/graph/persons/{id}) removes them from the
// payloads of their deliveries: the ones still waiting (here for an
// endpoint that is down) go out later with only the person's id, in
// sequence, none skipped; the receipts kept for the retention period show
// no person either; and the export leaves the person out.
func TestErase_RemovesThePersonFromPendingPayloadsReceiptsAndExports(t *testing.T) {
	w := newWorld(t, fastRetries)
	w.person(t, "p_ada", "ada@engines.example")
	var up atomic.Bool
	rc := testkit.NewReceiver(t, func(rw http.ResponseWriter, _ *testkit.Received) {
		if !up.Load() {
			rw.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	ep := w.endpoint(t, rc.URL, nil)
	other := w.endpoint(t, testkit.NewReceiver(t, nil).URL, nil) // delivers at once: a receipt
	for _, page := range []string{"home", "pricing", "docs"} {
		w.view(t, "v_ada", "ada@engines.example", page)
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		ds, _, err := w.n.Store().Outbox().List(other.ID, firehook.DeliveryDelivered, "", 10)
		return err == nil && len(ds) == 3
	}, "the healthy endpoint's three receipts")
	rc.WaitFor(t, 1, 10*time.Second) // the down endpoint was tried

	admin := "http://" + w.n.AdminAddr()
	if r := testkit.Do(t, http.DefaultClient, http.MethodDelete, admin+"/v1/graph/persons/p_ada", nil, "Authorization", "Bearer op"); r.Status != http.StatusNoContent {
		t.Fatalf("erase: %d %s", r.Status, r.Body)
	}
	up.Store(true)
	testkit.Eventually(t, 10*time.Second, func() bool {
		ds, _, err := w.n.Store().Outbox().List(ep.ID, firehook.DeliveryDelivered, "", 10)
		return err == nil && len(ds) == 3
	}, "the waiting deliveries delivered once the endpoint is up")

	pii := []string{"First p_ada", "ada@engines.example", testkit.HEMs(t, "ada@engines.example").SHA256}
	var seqs []uint64
	for _, got := range rc.Got() {
		if got.Status == http.StatusServiceUnavailable {
			continue // tried while the endpoint was down
		}
		p := decode(t, got, ep.Secret)
		seqs = append(seqs, p.Sequence)
		if p.Data.Person == nil || p.Data.Person.ID != "p_ada" {
			t.Errorf("a delivery after the erasure has person %+v; want only the id p_ada", p.Data.Person)
		}
		for _, s := range pii {
			if strings.Contains(string(got.Body), s) {
				t.Errorf("a delivery after the erasure holds %q: %s", s, got.Body)
			}
		}
	}
	if len(seqs) != 3 || seqs[0] != 1 || seqs[1] != 2 || seqs[2] != 3 {
		t.Errorf("sequences delivered after the erasure %v; want 1 2 3", seqs)
	}
	ds, _, err := w.n.Store().Outbox().List(other.ID, firehook.DeliveryDelivered, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		r := testkit.Do(t, http.DefaultClient, http.MethodGet, admin+"/v1/deliveries/"+d.ID, nil, "Authorization", "Bearer op")
		for _, s := range pii {
			if strings.Contains(string(r.Body), s) {
				t.Errorf("the receipt %s still shows %q: %s", d.ID, s, r.Body)
			}
		}
	}
	r := testkit.Do(t, http.DefaultClient, http.MethodGet, admin+"/v1/export.csv?tenant_id="+w.tenant.ID, nil, "Authorization", "Bearer op")
	if r.Status != http.StatusOK || strings.Contains(string(r.Body), "p_ada") {
		t.Errorf("the export after the erasure: %d %s; want no row of p_ada", r.Status, r.Body)
	}
}
