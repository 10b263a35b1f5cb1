package admin_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/firehook/firehook/identity"
)

// GET /v1/identified pages through a tenant's identified page views in
// log order: page by page with limit 1, every visit once, none of another
// tenant's, page views without a decision left out; first_match keeps
// the person's first.
func TestIdentified_PagesEveryVisitOnceInLogOrder(t *testing.T) {
	e, a, b := newWorld(t)
	// A person the tenant has not identified yet: the first decision
	// below is their First Match.
	if err := e.graph.Upsert([]identity.Record{{PersonID: "p_new", Person: identity.Person{FirstName: "New"},
		Identifiers: []identity.Identifier{{Type: identity.TypeCookie, Value: "ck-new"}}}}); err != nil {
		t.Fatal(err)
	}
	a.person = "p_new"
	var want []string
	for _, title := range []string{"one", "two", "three"} {
		ev := e.appendEvent(t, a.tenant.ID, "v_a", title, e.clock.Now())
		e.appendEvent(t, b.tenant.ID, "v_b", "b's", e.clock.Now()) // another tenant's, decided below
		e.appendEvent(t, a.tenant.ID, "v_x", "undecided", e.clock.Now())
		e.decide(t, ev, a.tenant.ID, a.person)
		want = append(want, ev.ID)
	}
	type page struct {
		Visits []struct {
			EventID string `json:"event_id"`
			Type    string
			Person  struct{ ID string }
		}
		NextCursor string `json:"next_cursor"`
		HasMore    bool   `json:"has_more"`
	}
	get := func(query string) page {
		t.Helper()
		r := e.do(t, http.MethodGet, "/v1/identified?"+query, a.tenant.APIKey, "")
		if r.Status != http.StatusOK {
			t.Fatalf("GET /v1/identified?%s: %d %s", query, r.Status, r.Body)
		}
		var p page
		if err := json.Unmarshal(r.Body, &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var got []string
	cursor := ""
	for range 10 {
		p := get("limit=1&cursor=" + cursor)
		for _, v := range p.Visits {
			got = append(got, v.EventID)
			if v.Person.ID != a.person {
				t.Errorf("visit %s names %s; want %s", v.EventID, v.Person.ID, a.person)
			}
		}
		cursor = p.NextCursor
		if len(p.Visits) == 0 && !p.HasMore {
			break
		}
	}
	if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("paged visits %v; want %v", got, want)
	}
	first := get("first_match=true")
	if len(first.Visits) != 1 || first.Visits[0].EventID != want[0] || first.Visits[0].Type != "visitor.identified" {
		t.Errorf("first_match=true: %+v; want only %s", first.Visits, want[0])
	}
	if r := e.do(t, http.MethodGet, "/v1/identified?first_match=maybe", a.tenant.APIKey, ""); r.Status != http.StatusBadRequest {
		t.Errorf("first_match=maybe: %d; want 400", r.Status)
	}
}

// GET /v1/identified/lookup answers a person only to a tenant that
// identified them, without their identifiers; to any other tenant the
// same 404 as for an identifier no one has.
func TestIdentified_LookupOnlyPersonsTheTenantIdentified(t *testing.T) {
	e, a, b := newWorld(t)
	e.populate(t, &a) // a.person is identified for A
	path := "/v1/identified/lookup?type=hem_sha256&value=" + a.hem
	r := e.do(t, http.MethodGet, path, a.tenant.APIKey, "")
	var got map[string]any
	if err := json.Unmarshal(r.Body, &got); r.Status != http.StatusOK || err != nil || got["person_id"] != a.person {
		t.Fatalf("A's lookup of its person: %d %s", r.Status, r.Body)
	}
	if _, shown := got["identifiers"]; shown {
		t.Errorf("the answer shows the person's identifiers: %s", r.Body)
	}
	notFound := e.do(t, http.MethodGet, "/v1/identified/lookup?type=hem_sha256&value="+strings.Repeat("ab", 32), a.tenant.APIKey, "")
	other := e.do(t, http.MethodGet, path, b.tenant.APIKey, "")
	if notFound.Status != http.StatusNotFound || other.Status != http.StatusNotFound || string(other.Body) != string(notFound.Body) {
		t.Errorf("B's lookup of A's person: %d %s; an unknown identifier: %d %s; want the same 404", other.Status, other.Body, notFound.Status, notFound.Body)
	}
}
