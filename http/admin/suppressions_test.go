package admin_test

import (
	"bytes"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/internal/testkit"
)

// suppressionList is the answer of GET on a suppression list.
type suppressionList struct {
	Suppressions []identity.SuppressionEntry `json:"suppressions"`
}

// listSuppressions reads the list at path (/v1/suppressions or
// /v1/tenants/{id}/suppressions) and checks the shape of the answer.
func (e *env) listSuppressions(t testing.TB, path, token string) []identity.SuppressionEntry {
	t.Helper()
	r := e.do(t, http.MethodGet, path, token, "")
	got := ok[suppressionList](t, r, http.StatusOK)
	if keys := slices.Sorted(maps.Keys(jsonKeys(t, r.Body))); !slices.Equal(keys, []string{"suppressions"}) {
		t.Errorf("GET %s: keys %v, want [suppressions]", path, keys)
	}
	if got.Suppressions == nil {
		t.Errorf("GET %s: suppressions is %s, want an array", path, r.Body)
	}
	return got.Suppressions
}

// addSuppressions posts values of kind to the list at path and returns
// the entries the answer says were added.
func (e *env) addSuppressions(t testing.TB, path, token, kind string, values ...string) []identity.SuppressionEntry {
	t.Helper()
	r := e.do(t, http.MethodPost, path, token, jsonOf(t, map[string]any{"kind": kind, "values": values}))
	got := ok[struct {
		Added []identity.SuppressionEntry `json:"added"`
	}](t, r, http.StatusOK)
	if keys := slices.Sorted(maps.Keys(jsonKeys(t, r.Body))); !slices.Equal(keys, []string{"added"}) {
		t.Errorf("POST %s: keys %v, want [added]", path, keys)
	}
	return got.Added
}

// removeSuppressions deletes values of kind from the list at path.
func (e *env) removeSuppressions(t testing.TB, path, token, kind string, values ...string) {
	t.Helper()
	noContent(t, e.do(t, http.MethodDelete, path, token, jsonOf(t, map[string]any{"kind": kind, "values": values})))
}

// sameEntries reports whether a and b hold the same entries in any order.
func sameEntries(a, b []identity.SuppressionEntry) bool {
	cmp := func(x, y identity.SuppressionEntry) int {
		return strings.Compare(string(x.Kind)+"/"+x.Value, string(y.Kind)+"/"+y.Value)
	}
	return slices.Equal(slices.SortedFunc(slices.Values(a), cmp), slices.SortedFunc(slices.Values(b), cmp))
}

func hem(v string) identity.SuppressionEntry {
	return identity.SuppressionEntry{Kind: identity.KindHEM, Value: v}
}

func TestSuppressions_ATenantAddsListsAndRemovesItsOwn(t *testing.T) {
	e, a, b := newWorld(t)
	path := "/v1/tenants/" + a.tenant.ID + "/suppressions"
	key := a.tenant.APIKey
	jane := testkit.HEMs(t, "jane.doe@acme.example")
	gmail := testkit.HEMs(t, "jdoe@gmail.com") // J.Doe+news@GoogleMail.com, normalised
	other := testkit.HEMs(t, "other@acme.example")

	// Emails are stored as the sha256 of their normalised form, kind hem.
	added := e.addSuppressions(t, path, key, "email", "  Jane.Doe@Acme.EXAMPLE ", "J.Doe+news@GoogleMail.com",
		"jane.doe@acme.example")
	if want := []identity.SuppressionEntry{hem(jane.SHA256), hem(gmail.SHA256)}; !slices.Equal(added, want) {
		t.Errorf("added = %+v, want %+v (sha256 of the normalised addresses, once each)", added, want)
	}
	// Hems of any of the three sizes, in any case, are lower-cased.
	added = e.addSuppressions(t, path, key, "hem", strings.ToUpper(other.SHA1), " "+other.MD5+" ")
	if want := []identity.SuppressionEntry{hem(other.SHA1), hem(other.MD5)}; !slices.Equal(added, want) {
		t.Errorf("added = %+v, want %+v", added, want)
	}
	added = e.addSuppressions(t, path, key, "email_domain", " Mail.Example. ")
	if want := []identity.SuppressionEntry{{Kind: identity.KindEmailDomain, Value: "mail.example"}}; !slices.Equal(added, want) {
		t.Errorf("added = %+v, want %+v", added, want)
	}
	e.addSuppressions(t, path, key, "company_domain", "Rival.Example")
	// Adding what is listed already changes nothing.
	e.addSuppressions(t, path, key, "hem", jane.SHA256)

	want := []identity.SuppressionEntry{
		{Kind: identity.KindCompanyDomain, Value: "rival.example"},
		{Kind: identity.KindEmailDomain, Value: listedDomain},
		{Kind: identity.KindEmailDomain, Value: "mail.example"},
		hem(jane.SHA256), hem(gmail.SHA256), hem(other.SHA1), hem(other.MD5),
	}
	got := e.listSuppressions(t, path, key)
	if !sameEntries(got, want) {
		t.Errorf("list = %+v, want %+v", got, want)
	}
	if !slices.IsSortedFunc(got, func(x, y identity.SuppressionEntry) int {
		if c := strings.Compare(string(x.Kind), string(y.Kind)); c != 0 {
			return c
		}
		return strings.Compare(x.Value, y.Value)
	}) {
		t.Errorf("list %+v is not sorted by kind, then value", got)
	}
	// The operator reads the same list.
	if op := e.listSuppressions(t, path, operatorToken); !slices.Equal(op, got) {
		t.Errorf("the operator's list = %+v, want %+v", op, got)
	}
	// B's list and the global one are untouched.
	if got := e.listSuppressions(t, "/v1/tenants/"+b.tenant.ID+"/suppressions", b.tenant.APIKey); !sameEntries(got,
		[]identity.SuppressionEntry{{Kind: identity.KindEmailDomain, Value: listedDomain}}) {
		t.Errorf("B's list = %+v", got)
	}
	if got := e.listSuppressions(t, "/v1/suppressions", operatorToken); len(got) != 0 {
		t.Errorf("global list = %+v, want empty", got)
	}
	// The list applies to A's matches only.
	rival := identity.Subject{CompanyDomain: "rival.example"}
	if sup, _ := e.sup.Suppressed(a.tenant.ID, rival); !sup {
		t.Error("A's company_domain entry does not suppress A's match")
	}
	if sup, _ := e.sup.Suppressed(b.tenant.ID, rival); sup {
		t.Error("A's company_domain entry suppresses B's match")
	}

	// Removal takes the same kinds; an email removes its hem.
	e.removeSuppressions(t, path, key, "email", "JANE.DOE@acme.example")
	e.removeSuppressions(t, path, key, "hem", strings.ToUpper(other.MD5))
	e.removeSuppressions(t, path, key, "company_domain", "rival.example", "never-listed.example")
	e.removeSuppressions(t, path, key, "email_domain", "not-listed.example") // nothing to remove: still 204
	want = []identity.SuppressionEntry{
		{Kind: identity.KindEmailDomain, Value: listedDomain},
		{Kind: identity.KindEmailDomain, Value: "mail.example"},
		hem(gmail.SHA256), hem(other.SHA1),
	}
	if got := e.listSuppressions(t, path, key); !sameEntries(got, want) {
		t.Errorf("list after removals = %+v, want %+v", got, want)
	}
}

func TestSuppressions_TheGlobalListIsTheOperators(t *testing.T) {
	e, a, _ := newWorld(t)
	ann := testkit.HEMs(t, "ann@acme.example")
	added := e.addSuppressions(t, "/v1/suppressions", operatorToken, "email", "Ann@Acme.example")
	if want := []identity.SuppressionEntry{hem(ann.SHA256)}; !slices.Equal(added, want) {
		t.Errorf("added = %+v, want %+v", added, want)
	}
	e.addSuppressions(t, "/v1/suppressions", operatorToken, "company_domain", "blocked.example")
	want := []identity.SuppressionEntry{{Kind: identity.KindCompanyDomain, Value: "blocked.example"}, hem(ann.SHA256)}
	if got := e.listSuppressions(t, "/v1/suppressions", operatorToken); !slices.Equal(got, want) {
		t.Errorf("global list = %+v, want %+v", got, want)
	}
	// Tenant lists do not show it, yet it applies to every tenant.
	if got := e.listSuppressions(t, "/v1/tenants/"+a.tenant.ID+"/suppressions", a.tenant.APIKey); !sameEntries(got,
		[]identity.SuppressionEntry{{Kind: identity.KindEmailDomain, Value: listedDomain}}) {
		t.Errorf("A's list = %+v", got)
	}
	if sup, kind := e.sup.Suppressed(a.tenant.ID, identity.Subject{HEMs: []string{ann.SHA256}}); !sup || kind != identity.KindHEM {
		t.Errorf("Suppressed = %v, %q; want true, hem", sup, kind)
	}

	e.removeSuppressions(t, "/v1/suppressions", operatorToken, "email", "ann@acme.example")
	e.removeSuppressions(t, "/v1/suppressions", operatorToken, "company_domain", "blocked.example")
	if got := e.listSuppressions(t, "/v1/suppressions", operatorToken); len(got) != 0 {
		t.Errorf("global list after removal = %+v, want empty", got)
	}
}

// An email put on a list is hashed before anything else sees it: no
// answer and no badger record (any version of any key or value) holds it
// in clear, nor its local part.
func TestSuppressions_EmailsAreNeverKeptInClear(t *testing.T) {
	e := newEnv(t)
	tenant := e.createTenant(t, "Acme")
	emails := []string{"Secret.Person@Hidden-Corp.example", "another.secret@hidden-corp.example"}
	needles := []string{"secret.person", "another.secret", "Secret.Person"}
	check := func(where string, b []byte) {
		t.Helper()
		for _, n := range needles {
			if bytes.Contains(bytes.ToLower(b), []byte(strings.ToLower(n))) {
				t.Errorf("%s holds %q in clear: %q", where, n, b)
			}
		}
	}
	for _, path := range []string{"/v1/tenants/" + tenant.ID + "/suppressions", "/v1/suppressions"} {
		for _, email := range emails {
			r := e.do(t, http.MethodPost, path, operatorToken, jsonOf(t, map[string]any{"kind": "email", "values": []string{email}}))
			ok[map[string]any](t, r, http.StatusOK)
			check("POST "+path, r.Body)
		}
		r := e.do(t, http.MethodGet, path, operatorToken, "")
		ok[suppressionList](t, r, http.StatusOK)
		check("GET "+path, r.Body)
	}
	scan := func() {
		t.Helper()
		n := 0
		for _, db := range []*badger.DB{e.store.DB(), e.store.GraphDB()} {
			n += testkit.EachRecord(t, db, func(key, value []byte) {
				check("badger key", key)
				check("badger value of "+string(key), value)
			})
		}
		if n == 0 {
			t.Fatal("badger holds no record: the scan is broken")
		}
	}
	scan()
	// The hems are there.
	var stored int
	testkit.EachRecord(t, e.store.GraphDB(), func(key, _ []byte) { // the suppression lists live with the graph
		if bytes.Contains(key, []byte(testkit.HEMs(t, "secret.person@hidden-corp.example").SHA256)) {
			stored++
		}
	})
	if stored != 2 {
		t.Errorf("%d badger keys hold the first address's sha256, want 2 (the tenant's and the global list)", stored)
	}

	e.removeSuppressions(t, "/v1/suppressions", operatorToken, "email", emails...)
	scan()
	e.restart(t)
	scan()
}

func TestSuppressions_BadBodiesAreRefused(t *testing.T) {
	e := newEnv(t)
	tenant := e.createTenant(t, "Acme")
	e.addSuppressions(t, "/v1/suppressions", operatorToken, "email_domain", "kept.example")
	e.addSuppressions(t, "/v1/tenants/"+tenant.ID+"/suppressions", tenant.APIKey, "email_domain", "kept.example")

	values := func(n int, v string) string {
		return `{"kind":"email_domain","values":[` + strings.TrimSuffix(strings.Repeat(`"`+v+`",`, n), ",") + `]}`
	}
	overLimit := values(10_001, "a.b")
	if len(overLimit) > 64<<10 {
		t.Fatalf("the body of 10,001 values is %d bytes, over the 64 KiB limit", len(overLimit))
	}
	for _, tc := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"unknown kind", `{"kind":"phone","values":["+4912345"]}`, 400, "validation_failed"},
		{"no kind", `{"values":["acme.example"]}`, 400, "validation_failed"},
		{"kind in another case", `{"kind":"EMAIL","values":["a@acme.example"]}`, 400, "validation_failed"},
		{"no values", `{"kind":"email"}`, 400, "validation_failed"},
		{"empty values", `{"kind":"email","values":[]}`, 400, "validation_failed"},
		{"null values", `{"kind":"email","values":null}`, 400, "validation_failed"},
		{"not an email", `{"kind":"email","values":["not-an-email"]}`, 400, "validation_failed"},
		{"one bad email among good ones", `{"kind":"email","values":["good@acme.example","bad@","also.good@acme.example"]}`, 400, "validation_failed"},
		{"empty email", `{"kind":"email","values":[""]}`, 400, "validation_failed"},
		{"hem too short", `{"kind":"hem","values":["abc123"]}`, 400, "validation_failed"},
		{"hem not hex", `{"kind":"hem","values":["` + strings.Repeat("g", 64) + `"]}`, 400, "validation_failed"},
		{"all-zero hem", `{"kind":"hem","values":["` + strings.Repeat("0", 64) + `"]}`, 400, "validation_failed"},
		{"an email as a hem", `{"kind":"hem","values":["a@acme.example"]}`, 400, "validation_failed"},
		{"domain without a dot", `{"kind":"email_domain","values":["localhost"]}`, 400, "validation_failed"},
		{"domain with a space", `{"kind":"email_domain","values":["acme .example"]}`, 400, "validation_failed"},
		{"an email as a domain", `{"kind":"email_domain","values":["a@acme.example"]}`, 400, "validation_failed"},
		{"a URL as a domain", `{"kind":"company_domain","values":["https://acme.example/"]}`, 400, "validation_failed"},
		{"empty domain", `{"kind":"company_domain","values":[" "]}`, 400, "validation_failed"},
		{"10,001 values", overLimit, 400, "validation_failed"},
		{"unknown field", `{"kind":"email","values":["a@acme.example"],"scope":"global"}`, 400, "invalid_json"},
		{"values not an array", `{"kind":"email","values":"a@acme.example"}`, 400, "invalid_json"},
		{"a value not a string", `{"kind":"email","values":[42]}`, 400, "invalid_json"},
		{"kind not a string", `{"kind":1,"values":["a@acme.example"]}`, 400, "invalid_json"},
		{"not JSON", `kind=email&values=a@acme.example`, 400, "invalid_json"},
		{"no body", ``, 400, "invalid_json"},
		{"data after the object", `{"kind":"email","values":["a@acme.example"]}{}`, 400, "invalid_json"},
		{"invalid UTF-8", "{\"kind\":\"email\",\"values\":[\"\xff@acme.example\"]}", 400, "invalid_utf8"},
		{"over 4 MiB", `{"kind":"email","values":["a@acme.example"]}` + strings.Repeat(" ", 4<<20), 413, "payload_too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, rt := range []struct{ method, path, token string }{
				{http.MethodPost, "/v1/tenants/" + tenant.ID + "/suppressions", tenant.APIKey},
				{http.MethodDelete, "/v1/tenants/" + tenant.ID + "/suppressions", tenant.APIKey},
				{http.MethodPost, "/v1/suppressions", operatorToken},
				{http.MethodDelete, "/v1/suppressions", operatorToken},
			} {
				e.refuses(t, rt.method, rt.path, rt.token, tc.body, tc.status, tc.code)
			}
		})
	}
}

func TestSuppressions_TenThousandValuesIsTheLimit(t *testing.T) {
	e := newEnv(t)
	tenant := e.createTenant(t, "Acme")
	// Small repeated values, so that 10,001 of them fit in the 64 KiB
	// body limit and the count is what decides.
	values := func(n int) []string {
		v := make([]string, n)
		for i := range v {
			v[i] = "a.b"
		}
		return v
	}
	for _, rt := range []struct{ path, token string }{
		{"/v1/tenants/" + tenant.ID + "/suppressions", tenant.APIKey},
		{"/v1/suppressions", operatorToken},
	} {
		added := e.addSuppressions(t, rt.path, rt.token, "company_domain", values(10_000)...)
		if want := []identity.SuppressionEntry{{Kind: identity.KindCompanyDomain, Value: "a.b"}}; !slices.Equal(added, want) {
			t.Errorf("POST %s of 10,000 values: added %+v, want %+v (duplicates once)", rt.path, added, want)
		}
		e.refuses(t, http.MethodPost, rt.path, rt.token, jsonOf(t, map[string]any{"kind": "email_domain", "values": values(10_001)}),
			http.StatusBadRequest, "validation_failed")
		e.refuses(t, http.MethodDelete, rt.path, rt.token, jsonOf(t, map[string]any{"kind": "company_domain", "values": values(10_001)}),
			http.StatusBadRequest, "validation_failed")
		e.removeSuppressions(t, rt.path, rt.token, "company_domain", values(10_000)...)
		if got := e.listSuppressions(t, rt.path, rt.token); len(got) != 0 {
			t.Errorf("GET %s = %+v, want empty", rt.path, got)
		}
	}
}
