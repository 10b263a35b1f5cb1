package admin_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/http/admin"
	"github.com/firehook/firehook/persistence"
)

// eventCounter makes event ids unique within the test binary.
var eventCounter atomic.Uint64

// dispatch stores a new event of (tenantID, personID) with one delivery
// per endpoint, created at the env's clock time, through the store's
// Dispatch (as the pipeline does), and returns the deliveries.
func (e *env) dispatch(t testing.TB, tenantID, personID string, endpointIDs ...string) []firehook.Delivery {
	t.Helper()
	ev := fmt.Sprintf("evt_admin_test_%d", eventCounter.Add(1))
	at := e.clock.Now()
	_, dels, err := e.store.Dispatch(ev, tenantID, personID, func(d persistence.Decision) ([]firehook.Delivery, error) {
		out := make([]firehook.Delivery, len(endpointIDs))
		for i, ep := range endpointIDs {
			out[i] = firehook.Delivery{EndpointID: ep, CreatedAt: at,
				Payload: fmt.Appendf(nil, `{"id":%q,"type":%q,"sequence":%d}`, ev, d.Type, d.Sequence)}
		}
		return out, nil
	})
	if err != nil {
		t.Fatalf("dispatch %s: %v", ev, err)
	}
	return dels
}

// finish records one attempt of d at the clock time with the outcome
// status (delivered: 200, failed: 500), as an endpoint actor would, and
// returns the delivery as stored.
func (e *env) finish(t testing.TB, d firehook.Delivery, status firehook.DeliveryStatus) firehook.Delivery {
	t.Helper()
	code := http.StatusOK
	if status != firehook.DeliveryDelivered {
		code = http.StatusInternalServerError
	}
	d.Status, d.NextAttemptAt = status, time.Time{}
	d.Attempts = append(d.Attempts, firehook.Attempt{N: len(d.Attempts) + 1, At: e.clock.Now(), StatusCode: code, DurationMS: 42})
	if err := e.store.Outbox().Update(d); err != nil {
		t.Fatalf("record the attempt of %s: %v", d.ID, err)
	}
	return e.storedDelivery(t, d.ID)
}

// storedDelivery reads the delivery with id from the outbox.
func (e *env) storedDelivery(t testing.TB, id string) firehook.Delivery {
	t.Helper()
	d, found, err := e.store.Outbox().Get(id)
	if err != nil || !found {
		t.Fatalf("Get(%s) = %v, %v; want the delivery", id, found, err)
	}
	return d
}

// recorder collects the endpoint ids a Config callback is called with.
type recorder struct {
	mu  sync.Mutex
	ids []string
}

func (r *recorder) record(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, id)
}

// take returns the ids recorded since the last take.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.ids
	r.ids = nil
	return out
}

// deliveryEnv is an env whose OnReplay calls are recorded, with a tenant
// and an endpoint of it.
func deliveryEnv(t testing.TB) (e *env, replays *recorder, tenant tenantResp, ep endpointResp) {
	t.Helper()
	replays = &recorder{}
	e = newEnv(t, func(c *admin.Config) { c.OnReplay = replays.record })
	tenant = e.createTenant(t, "Acme")
	ep = e.createEndpoint(t, tenant.APIKey, tenant.ID, "https://hooks.example.com/a")
	return e, replays, tenant, ep
}

// deliveryPage is the answer of GET /v1/endpoints/{id}/deliveries.
type deliveryPage struct {
	Deliveries []firehook.Delivery `json:"deliveries"`
	NextCursor *string             `json:"next_cursor"`
}

// listPages walks every page of path (a deliveries route with its query,
// without cursor) and returns the ids in order, failing on a page that
// breaks the paging contract.
func (e *env) listPages(t testing.TB, token, path string, limit int) []string {
	t.Helper()
	var out []string
	cursor := ""
	for page := 0; ; page++ {
		if page > 100 {
			t.Fatal("the pages never end")
		}
		p := ok[deliveryPage](t, e.do(t, http.MethodGet, path+"&cursor="+url.QueryEscape(cursor), token, ""), http.StatusOK)
		if p.Deliveries == nil || p.NextCursor == nil {
			t.Fatalf("page %d lacks deliveries or next_cursor: %+v", page, p)
		}
		if len(p.Deliveries) > limit || (*p.NextCursor != "" && len(p.Deliveries) != limit) {
			t.Fatalf("page %d has %d items (limit %d) and next_cursor %q", page, len(p.Deliveries), limit, *p.NextCursor)
		}
		for _, d := range p.Deliveries {
			out = append(out, d.ID)
		}
		if *p.NextCursor == "" {
			return out
		}
		cursor = *p.NextCursor
	}
}

func deliveryIDs(ds []firehook.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

func TestDeliveries_ListNewestFirstInPages(t *testing.T) {
	e, _, tenant, ep := deliveryEnv(t)
	other := e.createEndpoint(t, tenant.APIKey, tenant.ID, "https://hooks.example.com/b")
	var created []firehook.Delivery
	for i := range 7 {
		d := e.dispatch(t, tenant.ID, fmt.Sprintf("person_%d", i%3), ep.ID, other.ID)[0]
		switch i % 3 {
		case 1:
			d = e.finish(t, d, firehook.DeliveryFailed)
		case 2:
			d = e.finish(t, d, firehook.DeliveryDelivered)
		}
		created = append(created, d)
		e.clock.Advance(time.Second)
	}
	newestFirst := func(status firehook.DeliveryStatus) []string {
		var out []string
		for _, d := range slices.Backward(created) {
			if status == "" || d.Status == status {
				out = append(out, d.ID)
			}
		}
		return out
	}
	base := "/v1/endpoints/" + ep.ID + "/deliveries"

	t.Run("every page size gives every receipt once, newest first", func(t *testing.T) {
		for _, limit := range []int{1, 2, 3, 7, 500} {
			if got := e.listPages(t, tenant.APIKey, base+"?limit="+fmt.Sprint(limit), limit); !slices.Equal(got, newestFirst("")) {
				t.Errorf("pages of %d = %v, want %v", limit, got, newestFirst(""))
			}
		}
	})

	t.Run("status filter", func(t *testing.T) {
		for _, st := range []firehook.DeliveryStatus{firehook.DeliveryPending, firehook.DeliveryFailed, firehook.DeliveryDelivered, firehook.DeliveryRetrying} {
			if got := e.listPages(t, tenant.APIKey, base+"?limit=2&status="+string(st), 2); !slices.Equal(got, newestFirst(st)) {
				t.Errorf("status %s = %v, want %v", st, got, newestFirst(st))
			}
		}
	})

	t.Run("receipts are the stored deliveries without payload", func(t *testing.T) {
		r := e.do(t, http.MethodGet, base, tenant.APIKey, "")
		page := ok[deliveryPage](t, r, http.StatusOK)
		if *page.NextCursor != "" || len(page.Deliveries) != len(created) {
			t.Fatalf("default page: %d receipts, next %q; want all %d and no next", len(page.Deliveries), *page.NextCursor, len(created))
		}
		failed := page.Deliveries[len(created)-2] // created[1]
		want := created[1]
		if failed.ID != want.ID || failed.EventID != want.EventID || failed.EndpointID != ep.ID ||
			failed.Status != firehook.DeliveryFailed || len(failed.Attempts) != 1 || failed.Attempts[0].StatusCode != 500 {
			t.Errorf("receipt = %+v, want %+v", failed, want)
		}
		if contains(r.Body, `"payload"`) || contains(r.Body, string(want.Payload)) {
			t.Errorf("the list shows payloads: %s", r.Body)
		}
	})

	t.Run("default page size is 50", func(t *testing.T) {
		for range 50 {
			e.dispatch(t, tenant.ID, "person_bulk", other.ID)
		}
		page := ok[deliveryPage](t, e.do(t, http.MethodGet, "/v1/endpoints/"+other.ID+"/deliveries", tenant.APIKey, ""), http.StatusOK)
		if len(page.Deliveries) != 50 || *page.NextCursor == "" {
			t.Errorf("first page: %d receipts, next %q; want 50 and a next cursor", len(page.Deliveries), *page.NextCursor)
		}
	})

	t.Run("an endpoint without deliveries lists none", func(t *testing.T) {
		empty := e.createEndpoint(t, tenant.APIKey, tenant.ID, "https://hooks.example.com/c")
		r := e.do(t, http.MethodGet, "/v1/endpoints/"+empty.ID+"/deliveries", tenant.APIKey, "")
		if page := ok[deliveryPage](t, r, http.StatusOK); len(page.Deliveries) != 0 || !contains(r.Body, `"deliveries":[]`) {
			t.Errorf("answer %s, want an empty array", r.Body)
		}
	})
}

func TestDeliveries_ListRefusesBadQueries(t *testing.T) {
	e, _, tenant, ep := deliveryEnv(t)
	e.dispatch(t, tenant.ID, "person_1", ep.ID)
	base := "/v1/endpoints/" + ep.ID + "/deliveries"
	for _, q := range []string{"?status=lost", "?status=PENDING", "?limit=0", "?limit=-1", "?limit=501", "?limit=ten",
		"?limit=1.5", "?cursor=%25%25", "?cursor=Zm9vL2Jhcg", "?status=pending&limit=100000"} {
		t.Run(q, func(t *testing.T) {
			e.refuses(t, http.MethodGet, base+q, tenant.APIKey, "", http.StatusBadRequest, "validation_failed")
		})
	}
	e.refuses(t, http.MethodGet, "/v1/endpoints/ep_01JZZZZZZZZZZZZZZZZZZZZZZZ/deliveries", tenant.APIKey, "",
		http.StatusNotFound, "not_found")
}

func TestDeliveries_GetAnswersTheReceiptWithItsPayload(t *testing.T) {
	e, _, tenant, ep := deliveryEnv(t)
	d := e.finish(t, e.dispatch(t, tenant.ID, "person_1", ep.ID)[0], firehook.DeliveryFailed)

	r := e.do(t, http.MethodGet, "/v1/deliveries/"+d.ID, tenant.APIKey, "")

	got := ok[firehook.Delivery](t, r, http.StatusOK)
	if got.ID != d.ID || got.EventID != d.EventID || got.EndpointID != ep.ID || got.TenantID != tenant.ID ||
		got.Status != firehook.DeliveryFailed || len(got.Attempts) != 1 || !got.Attempts[0].At.Equal(d.Attempts[0].At) {
		t.Errorf("receipt = %+v, want %+v", got, d)
	}
	keys := jsonKeys(t, r.Body)
	for _, k := range []string{"id", "event_id", "endpoint_id", "status", "attempts"} {
		if _, found := keys[k]; !found {
			t.Errorf("receipt %s has no %q", r.Body, k)
		}
	}
	var payload map[string]any
	if err := json.Unmarshal(keys["payload"], &payload); err != nil || payload["id"] != d.EventID {
		t.Errorf("payload = %s, want the webhook body of %s as a JSON object", keys["payload"], d.EventID)
	}
	if _, found := keys["replayed_at"]; found {
		t.Errorf("receipt of a delivery never replayed has replayed_at: %s", r.Body)
	}

	apiError(t, e.do(t, http.MethodGet, "/v1/deliveries/dlv_01JZZZZZZZZZZZZZZZZZZZZZZZ", tenant.APIKey, ""),
		http.StatusNotFound, "not_found")
	apiError(t, e.do(t, http.MethodGet, "/v1/deliveries/not-an-id", tenant.APIKey, ""), http.StatusNotFound, "not_found")
}

func TestDeliveries_ReplayADeliveredDelivery(t *testing.T) {
	e, replays, tenant, ep := deliveryEnv(t)
	d := e.finish(t, e.dispatch(t, tenant.ID, "person_1", ep.ID)[0], firehook.DeliveryDelivered)
	e.clock.Advance(time.Hour)
	now := e.clock.Now()

	got := ok[firehook.Delivery](t, e.do(t, http.MethodPost, "/v1/deliveries/"+d.ID+"/replay", tenant.APIKey, ""),
		http.StatusAccepted)

	if got.ID != d.ID || got.EventID != d.EventID || got.Status != firehook.DeliveryPending ||
		!got.NextAttemptAt.Equal(now) || !got.ReplayedAt.Equal(now) || len(got.Attempts) != 1 {
		t.Errorf("answer = %+v; want %s pending, due and replayed at %v, with its one attempt", got, d.ID, now)
	}
	if calls := replays.take(); !slices.Equal(calls, []string{ep.ID}) {
		t.Errorf("OnReplay calls = %v, want [%s]", calls, ep.ID)
	}
	if stored := e.storedDelivery(t, d.ID); stored.Status != firehook.DeliveryPending || !stored.ReplayedAt.Equal(now) {
		t.Errorf("stored = %+v, want it pending, replayed at %v", stored, now)
	}
	queue, _, err := e.store.Outbox().Pending(ep.ID, "", 0)
	if err != nil || !slices.Equal(deliveryIDs(queue), []string{d.ID}) {
		t.Errorf("the endpoint's queue = %v, %v; want [%s]", deliveryIDs(queue), err, d.ID)
	}
	shown := ok[firehook.Delivery](t, e.do(t, http.MethodGet, "/v1/deliveries/"+d.ID, tenant.APIKey, ""), http.StatusOK)
	if shown.Status != firehook.DeliveryPending || !shown.ReplayedAt.Equal(now) {
		t.Errorf("GET after the replay = %+v, want pending with replayed_at %v", shown, now)
	}
}

func TestDeliveries_ReplayRefusesAndChangesNothing(t *testing.T) {
	e, replays, tenant, ep := deliveryEnv(t)
	d := e.finish(t, e.dispatch(t, tenant.ID, "person_1", ep.ID)[0], firehook.DeliveryFailed)

	e.refuses(t, http.MethodPost, "/v1/deliveries/dlv_01JZZZZZZZZZZZZZZZZZZZZZZZ/replay", tenant.APIKey, "",
		http.StatusNotFound, "not_found")

	// A delivery whose endpoint was deleted has no actor to deliver it.
	noContent(t, e.do(t, http.MethodDelete, "/v1/endpoints/"+ep.ID, tenant.APIKey, ""))
	before := e.snapshot()
	apiError(t, e.do(t, http.MethodPost, "/v1/deliveries/"+d.ID+"/replay", tenant.APIKey, ""), http.StatusConflict, "conflict")
	e.unchanged(t, before)
	if stored := e.storedDelivery(t, d.ID); stored.Status != firehook.DeliveryFailed || !stored.ReplayedAt.IsZero() {
		t.Errorf("stored = %+v, want it failed, never replayed", stored)
	}
	if calls := replays.take(); len(calls) != 0 {
		t.Errorf("OnReplay calls = %v, want none", calls)
	}
}

func TestDeliveries_ReplayAnEndpointSinceATime(t *testing.T) {
	// Five finished deliveries a minute apart: failed, delivered, failed, …
	setup := func(t *testing.T) (*env, *recorder, tenantResp, endpointResp, []firehook.Delivery) {
		e, replays, tenant, ep := deliveryEnv(t)
		var created []firehook.Delivery
		for i := range 5 {
			st := firehook.DeliveryFailed
			if i%2 == 1 {
				st = firehook.DeliveryDelivered
			}
			created = append(created, e.finish(t, e.dispatch(t, tenant.ID, "person_1", ep.ID)[0], st))
			e.clock.Advance(time.Minute)
		}
		return e, replays, tenant, ep, created
	}
	for _, tc := range []struct {
		name   string
		status string
		want   []int // indexes of the deliveries replayed
	}{
		{"every status", "", []int{2, 3, 4}},
		{"failed only", "failed", []int{2, 4}},
		{"delivered only", "delivered", []int{3}},
		{"pending only: none", "pending", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, replays, tenant, ep, created := setup(t)
			body := jsonOf(t, map[string]any{"since": created[2].CreatedAt.Format(time.RFC3339Nano), "status": tc.status})

			got := ok[map[string]int](t, e.do(t, http.MethodPost, "/v1/endpoints/"+ep.ID+"/replay", tenant.APIKey, body),
				http.StatusAccepted)

			if got["replayed"] != len(tc.want) {
				t.Errorf("replayed = %d, want %d", got["replayed"], len(tc.want))
			}
			for i, d := range created {
				stored := e.storedDelivery(t, d.ID)
				if slices.Contains(tc.want, i) != (stored.Status == firehook.DeliveryPending) {
					t.Errorf("delivery %d (was %s) is now %s", i, d.Status, stored.Status)
				}
			}
			wantCalls := []string{ep.ID}
			if len(tc.want) == 0 {
				wantCalls = nil
			}
			if calls := replays.take(); !slices.Equal(calls, wantCalls) {
				t.Errorf("OnReplay calls = %v, want %v", calls, wantCalls)
			}
		})
	}
}

func TestDeliveries_ReplayAnEndpointRefusesBadBodies(t *testing.T) {
	e, replays, tenant, ep := deliveryEnv(t)
	e.finish(t, e.dispatch(t, tenant.ID, "person_1", ep.ID)[0], firehook.DeliveryFailed)
	future := e.clock.Now().Add(time.Second).Format(time.RFC3339)
	path := "/v1/endpoints/" + ep.ID + "/replay"
	for _, tc := range []struct{ name, body, code string }{
		{"no body", "", "invalid_json"},
		{"malformed JSON", `{"since":`, "invalid_json"},
		{"unknown field", `{"since":"2025-01-01T00:00:00Z","before":"2026-01-01T00:00:00Z"}`, "invalid_json"},
		{"since as a number", `{"since":1700000000}`, "invalid_json"},
		{"since missing", `{"status":"failed"}`, "validation_failed"},
		{"since empty", `{"since":""}`, "validation_failed"},
		{"since not RFC 3339", `{"since":"2025-03-14 15:09:26"}`, "validation_failed"},
		{"since a date only", `{"since":"2025-03-14"}`, "validation_failed"},
		{"since in the future", `{"since":"` + future + `"}`, "validation_failed"},
		{"unknown status", `{"since":"2025-01-01T00:00:00Z","status":"lost"}`, "validation_failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.refuses(t, http.MethodPost, path, tenant.APIKey, tc.body, http.StatusBadRequest, tc.code)
		})
	}
	e.refuses(t, http.MethodPost, "/v1/endpoints/ep_01JZZZZZZZZZZZZZZZZZZZZZZZ/replay", tenant.APIKey,
		`{"since":"2025-01-01T00:00:00Z"}`, http.StatusNotFound, "not_found")
	if calls := replays.take(); len(calls) != 0 {
		t.Errorf("OnReplay calls = %v, want none", calls)
	}
}

func TestDeliveries_RoutesNeedAnOutbox(t *testing.T) {
	e := newEnv(t, func(c *admin.Config) { c.Outbox = nil })
	tenant := e.createTenant(t, "Acme")
	ep := e.createEndpoint(t, tenant.APIKey, tenant.ID, "https://hooks.example.com/a")
	d := e.dispatch(t, tenant.ID, "person_1", ep.ID)[0]
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/v1/endpoints/" + ep.ID + "/deliveries"},
		{http.MethodPost, "/v1/endpoints/" + ep.ID + "/replay"},
		{http.MethodGet, "/v1/deliveries/" + d.ID},
		{http.MethodPost, "/v1/deliveries/" + d.ID + "/replay"},
	} {
		apiError(t, e.do(t, tc.method, tc.path, operatorToken, ""), http.StatusNotFound, "not_found")
	}
}
