package node_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/actors/webhook"
	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/internal/testkit"
	"github.com/firehook/firehook/node"
)

// world is a node with one tenant, one site and people in its graph.
type world struct {
	n      *node.Node
	tenant firehook.Tenant
	key    string // the site key
}

func newWorld(tb testing.TB, mod func(*node.Config)) *world {
	tb.Helper()
	n := startNode(tb, func(c *node.Config) {
		c.AllowPrivateEndpoints = true // the receivers are on 127.0.0.1
		if mod != nil {
			mod(c)
		}
	})
	t := testkit.CreateTenant(tb, n.Store().Config, "acme")
	return &world{n: n, tenant: t, key: testkit.CreateSite(tb, n.Store().Config, t.ID, nil).Key}
}

// person puts a person identified by email in the graph.
func (w *world) person(tb testing.TB, id, email string) {
	tb.Helper()
	rec := identity.Record{PersonID: id,
		Identifiers: []identity.Identifier{{Type: identity.TypeHEMSHA256, Value: testkit.HEMs(tb, email).SHA256}},
		Person:      identity.Person{FirstName: "First " + id, LastName: "Last", BusinessEmail: email},
		Company:     identity.Company{Name: "Analytical Engines", Domain: "engines.example"}}
	if err := w.n.Graph().Upsert([]identity.Record{rec}); err != nil {
		tb.Fatal(err)
	}
}

// endpoint adds an endpoint of the world's tenant posting to url.
func (w *world) endpoint(tb testing.TB, url string, edit func(*firehook.Endpoint)) firehook.Endpoint {
	tb.Helper()
	ep := testkit.CreateEndpoint(tb, w.n.Store().Config, w.tenant.ID, url, edit)
	w.n.Pipeline().EndpointChanged(ep.ID)
	return ep
}

// view sends a page view of visitor vid (with email when not "") and
// returns its event id.
func (w *world) view(tb testing.TB, vid, email, page string) string {
	tb.Helper()
	body := fmt.Sprintf(`{"site":%q,"vid":%q,"url":"https://example.com/%s"`, w.key, vid, page)
	if email != "" {
		body += fmt.Sprintf(`,"email":%q`, email)
	}
	body += "}"
	r := testkit.Do(tb, http.DefaultClient, http.MethodPost, "http://"+w.n.IngestAddr()+"/v1/collect",
		strings.NewReader(body), "Content-Type", "application/json")
	v := testkit.AssertJSON[struct {
		EventID string `json:"event_id"`
	}](tb, r, http.StatusAccepted)
	return v.EventID
}

// decode verifies a delivery's signature with secrets and decodes its body.
func decode(tb testing.TB, got testkit.Received, secrets ...string) webhook.Payload {
	tb.Helper()
	if err := (webhook.Verifier{Secrets: secrets}).Verify(got.Header, got.Body); err != nil {
		tb.Fatalf("delivery %d: signature: %v", got.Call, err)
	}
	var p webhook.Payload
	if err := json.Unmarshal(got.Body, &p); err != nil {
		tb.Fatalf("delivery %d: body %s: %v", got.Call, got.Body, err)
	}
	return p
}

func TestPipeline_PixelToSignedWebhook_FirstMatchThenUpdatesInSequence(t *testing.T) {
	w := newWorld(t, nil)
	w.person(t, "p_ada", "ada@engines.example")
	rc := testkit.NewReceiver(t, nil)
	ep := w.endpoint(t, rc.URL, nil)

	var ids []string
	ids = append(ids, w.view(t, "v_ada", "ada@engines.example", "home"))
	for i := 2; i <= 5; i++ {
		ids = append(ids, w.view(t, "v_ada", "", fmt.Sprintf("page-%d", i))) // matched by the learned visitor id
	}
	w.view(t, "v_stranger", "", "home") // matches nobody: no webhook

	got := rc.WaitFor(t, 5, 10*time.Second)
	for i, g := range got[:5] {
		p := decode(t, g, ep.Secret)
		wantType := firehook.EventUpdated
		if i == 0 {
			wantType = firehook.EventIdentified
		}
		if p.ID != ids[i] || g.Header.Get(webhook.HeaderID) != ids[i] {
			t.Errorf("delivery %d: id %s, webhook-id %s; want the event id %s", i+1, p.ID, g.Header.Get(webhook.HeaderID), ids[i])
		}
		if p.Type != wantType || p.Sequence != uint64(i+1) {
			t.Errorf("delivery %d: %s sequence %d; want %s sequence %d", i+1, p.Type, p.Sequence, wantType, i+1)
		}
		if p.Data.Person == nil || p.Data.Person.ID != "p_ada" || p.Data.Visit.PagesViewed != i+1 || p.Data.Visit.VisitCount != 1 {
			t.Errorf("delivery %d: person %+v visit %+v", i+1, p.Data.Person, p.Data.Visit)
		}
		if g.Header.Get(webhook.HeaderAttempt) != "1" {
			t.Errorf("delivery %d: attempt header %q", i+1, g.Header.Get(webhook.HeaderAttempt))
		}
	}
	// Nothing more arrives (the stranger is not matched), and every
	// receipt says delivered.
	testkit.Eventually(t, 5*time.Second, func() bool {
		ds, _, err := w.n.Store().Outbox().List(ep.ID, firehook.DeliveryDelivered, "", 100)
		return err == nil && len(ds) == 5
	}, "5 delivered receipts")
	if n := len(rc.Got()); n != 5 {
		t.Fatalf("receiver got %d deliveries; want 5", n)
	}
}
