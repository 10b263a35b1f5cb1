package admin_test

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/firehook/firehook/http/admin"
	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/internal/testkit"
)

// lookupResp is the answer of GET /v1/graph/lookup.
type lookupResp struct {
	PersonID    string                `json:"person_id"`
	CompanyOnly bool                  `json:"company_only"`
	Person      identity.Person       `json:"person"`
	Company     identity.Company      `json:"company"`
	Identifiers []identity.Identifier `json:"identifiers"`
	UpdatedAt   *time.Time            `json:"updated_at"`
}

// lookup asks GET /v1/graph/lookup for the identifier (typ, value).
func (e *env) lookup(t testing.TB, typ, value string) testkit.Response {
	t.Helper()
	q := url.Values{"type": {typ}, "value": {value}}
	return e.do(t, http.MethodGet, "/v1/graph/lookup?"+q.Encode(), operatorToken, "")
}

// found asserts that (typ, value) resolves to personID and returns the
// answer.
func (e *env) found(t testing.TB, typ, value, personID string) lookupResp {
	t.Helper()
	got := ok[lookupResp](t, e.lookup(t, typ, value), http.StatusOK)
	if got.PersonID != personID {
		t.Errorf("lookup %s %s = %s, want %s", typ, value, got.PersonID, personID)
	}
	return got
}

// notFound asserts that (typ, value) resolves to no one.
func (e *env) notFound(t testing.TB, typ, value string) {
	t.Helper()
	apiError(t, e.lookup(t, typ, value), http.StatusNotFound, "not_found")
}

// graphStats reads GET /v1/graph/stats.
func (e *env) graphStats(t testing.TB) identity.GraphStats {
	t.Helper()
	return ok[identity.GraphStats](t, e.do(t, http.MethodGet, "/v1/graph/stats", operatorToken, ""), http.StatusOK)
}

// ndjson joins lines of the import format into a body.
func ndjson(t testing.TB, recs ...map[string]any) string {
	t.Helper()
	var b strings.Builder
	for _, r := range recs {
		b.WriteString(jsonOf(t, r))
		b.WriteByte('\n')
	}
	return b.String()
}

// ident is one identifier of an import line.
func ident(typ, value string) map[string]string {
	return map[string]string{"type": typ, "value": value}
}

// personLine is an import line for a person with the given identifiers.
func personLine(id, firstName string, ids ...map[string]string) map[string]any {
	return map[string]any{"person_id": id, "identifiers": ids, "person": map[string]any{"first_name": firstName}}
}

// hex64 is a sha256-sized hex digest that differs for every n.
func hex64(n int) string { return fmt.Sprintf("%064x", 0xabc000000+n) }

func TestGraph_RoutesNeedTheOperatorToken(t *testing.T) {
	e, a, b := newWorld(t)
	line := ndjson(t, personLine("p_planted", "Planted", ident("cookie", "planted-cookie")))
	for _, tc := range []struct{ name, method, path, body string }{
		{"import", http.MethodPost, "/v1/graph/import", line},
		{"lookup", http.MethodGet, "/v1/graph/lookup?type=hem_sha256&value=" + testkit.HEMs(t, "someone@bravo.example").SHA256, ""},
		{"stats", http.MethodGet, "/v1/graph/stats", ""},
		{"erase", http.MethodDelete, "/v1/graph/persons/" + b.person, ""},
		{"add global suppressions", http.MethodPost, "/v1/suppressions", `{"kind":"company_domain","values":["planted.example"]}`},
		{"list global suppressions", http.MethodGet, "/v1/suppressions", ""},
		{"remove global suppressions", http.MethodDelete, "/v1/suppressions", `{"kind":"hem","values":["` + hex64(1) + `"]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Something to remove, so that a removal that went through
			// would show.
			ok[map[string]any](t, e.do(t, http.MethodPost, "/v1/suppressions", operatorToken,
				`{"kind":"hem","values":["`+hex64(1)+`"]}`), http.StatusOK)
			before := e.snapshot()

			r := e.do(t, tc.method, tc.path, "", tc.body)
			apiError(t, r, http.StatusUnauthorized, "unauthorized")
			if got := r.Header.Get("WWW-Authenticate"); got != `Bearer realm="firehook"` {
				t.Errorf("WWW-Authenticate = %q", got)
			}
			apiError(t, e.do(t, tc.method, tc.path, "not-a-token", tc.body), http.StatusUnauthorized, "unauthorized")
			for _, key := range []string{a.tenant.APIKey, b.tenant.APIKey} {
				r := e.do(t, tc.method, tc.path, key, tc.body)
				apiError(t, r, http.StatusForbidden, "forbidden")
				if contains(r.Body, "someone@") || contains(r.Body, hex64(1)) {
					t.Errorf("a refused answer shows graph or list data: %s", r.Body)
				}
			}
			e.unchanged(t, before)
		})
	}
}

func TestGraph_RoutesAreServedOnlyWithAGraphAndSuppressions(t *testing.T) {
	e := newEnv(t, func(c *admin.Config) { c.Graph, c.Suppressions = nil, nil })
	tenant := e.createTenant(t, "Acme")
	for _, tc := range []struct{ method, path string }{
		{http.MethodPost, "/v1/graph/import"},
		{http.MethodGet, "/v1/graph/lookup?type=cookie&value=abc"},
		{http.MethodGet, "/v1/graph/stats"},
		{http.MethodDelete, "/v1/graph/persons/p1"},
		{http.MethodGet, "/v1/suppressions"},
		{http.MethodPost, "/v1/suppressions"},
		{http.MethodGet, "/v1/tenants/" + tenant.ID + "/suppressions"},
		{http.MethodPost, "/v1/tenants/" + tenant.ID + "/suppressions"},
	} {
		apiError(t, e.do(t, tc.method, tc.path, operatorToken, ""), http.StatusNotFound, "not_found")
	}
}

func TestGraph_WrongMethodIsJSON405(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		method, path string
		allow        []string
	}{
		{http.MethodGet, "/v1/graph/import", []string{"POST"}},
		{http.MethodPost, "/v1/graph/lookup", []string{"GET"}},
		{http.MethodDelete, "/v1/graph/stats", []string{"GET"}},
		{http.MethodGet, "/v1/graph/persons/p1", []string{"DELETE"}},
		{http.MethodPut, "/v1/suppressions", []string{"GET", "POST", "DELETE"}},
		{http.MethodPatch, "/v1/tenants/ten_x/suppressions", []string{"GET", "POST", "DELETE"}},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := e.do(t, tc.method, tc.path, operatorToken, "")
			apiError(t, r, http.StatusMethodNotAllowed, "method_not_allowed")
			allow := strings.Split(r.Header.Get("Allow"), ", ")
			slices.Sort(allow)
			if want := slices.Sorted(slices.Values(tc.allow)); !slices.Equal(allow, want) {
				t.Errorf("Allow = %q, want %q", r.Header.Get("Allow"), want)
			}
		})
	}
}

func TestGraph_ImportReportsBadLinesAndImportsTheGoodOnes(t *testing.T) {
	e := newEnv(t)
	good := func(id, cookie string) string {
		return jsonOf(t, personLine(id, "Name of "+id, ident("cookie", cookie)))
	}
	company := jsonOf(t, map[string]any{"person_id": "c1", "identifiers": []any{ident("ip", "9.9.9.9")},
		"company": map[string]any{"name": "Quad9", "domain": "quad9.net"}})
	lines := []string{
		1:  good("p1", "cookie-1"),
		2:  "", // blank: skipped, but counted
		3:  "not json at all",
		4:  company,
		5:  "   \t ", // white space only: skipped
		6:  `{"person_id":"p2","person":{"first_name":"No ids"}}`,
		7:  `[1,2,3]`,
		8:  good("p3", "cookie-3") + "\r", // a CRLF line end
		9:  `{"person_id":"bad id!","identifiers":[{"type":"cookie","value":"x1"}],"person":{"last_name":"X"}}`,
		10: `{"person_id":"p4","identifiers":[{"type":"fax","value":"123"}],"person":{"last_name":"X"}}`,
		11: `{"person_id":"p5","identifiers":[{"type":"cookie","value":"c5"}],"person":{"first_name":"Trunc`,
		12: "",
		13: good("p6", "cookie-6"), // no newline at the end of the body
	}
	res := e.importGraph(t, strings.Join(lines[1:], "\n"))

	if res.Imported != 4 || res.Rejected != 6 {
		t.Errorf("imported %d, rejected %d; want 4 and 6", res.Imported, res.Rejected)
	}
	var gotLines []int
	for _, le := range res.Errors {
		gotLines = append(gotLines, le.Line)
		if le.Error == "" {
			t.Errorf("line %d: empty error", le.Line)
		}
	}
	if want := []int{3, 6, 7, 9, 10, 11}; !slices.Equal(gotLines, want) {
		t.Errorf("error lines = %v, want %v (1-based, blank lines counted); errors %+v", gotLines, want, res.Errors)
	}
	// The messages say what is wrong with the line.
	for line, want := range map[int]string{6: "identifiers", 9: "person_id", 10: "identifiers[0]", 11: "malformed JSON"} {
		for _, le := range res.Errors {
			if le.Line == line && !strings.Contains(le.Error, want) {
				t.Errorf("line %d: error %q does not mention %q", line, le.Error, want)
			}
		}
	}

	e.found(t, "cookie", "cookie-1", "p1")
	e.found(t, "cookie", "cookie-3", "p3")
	e.found(t, "cookie", "cookie-6", "p6")
	e.found(t, "ip", "9.9.9.9", "c1")
	e.notFound(t, "cookie", "x1")
	e.notFound(t, "cookie", "c5")
	if st := e.graphStats(t); st.Persons != 4 || st.IndexEntries != 4 || st.LearnedLinks != 0 {
		t.Errorf("stats = %+v, want 4 persons, 4 index entries, 0 links", st)
	}
}

func TestGraph_ImportOfNothing(t *testing.T) {
	e := newEnv(t)
	for _, body := range []string{"", "\n", "\n\n  \n\r\n"} {
		r := e.doRaw(t, http.MethodPost, "/v1/graph/import", body, "Authorization", "Bearer "+operatorToken,
			"Content-Type", "application/x-ndjson")
		ok[identity.ImportResult](t, r, http.StatusOK)
		// errors is an empty array, never null.
		if want := `{"imported":0,"rejected":0,"errors":[]}`; strings.TrimSpace(string(r.Body)) != want {
			t.Errorf("import of %q = %s, want %s", body, r.Body, want)
		}
	}
	if st := e.graphStats(t); st != (identity.GraphStats{}) {
		t.Errorf("stats = %+v, want zeros", st)
	}
}

func TestGraph_ImportReportsAtMost100Errors(t *testing.T) {
	e := newEnv(t)
	var b strings.Builder
	for i := 1; i <= 150; i++ {
		if i == 42 {
			b.WriteString(jsonOf(t, personLine("p42", "Good", ident("cookie", "cookie-42"))) + "\n")
			continue
		}
		fmt.Fprintf(&b, "{broken %d\n", i)
	}
	res := e.importGraph(t, b.String())
	if res.Imported != 1 || res.Rejected != 149 {
		t.Errorf("imported %d, rejected %d; want 1 and 149", res.Imported, res.Rejected)
	}
	if len(res.Errors) != identity.MaxImportErrors || identity.MaxImportErrors != 100 {
		t.Fatalf("%d errors reported, want the first 100", len(res.Errors))
	}
	// The first 100 bad lines, in order: 1-41, 43-101.
	for i, le := range res.Errors {
		want := i + 1
		if want >= 42 {
			want++
		}
		if le.Line != want {
			t.Fatalf("errors[%d].line = %d, want %d", i, le.Line, want)
		}
	}
	e.found(t, "cookie", "cookie-42", "p42")
}

// An import body is streamed: it is not bound by the 64 KiB limit of the
// JSON bodies, and line numbers hold across the import's internal chunks
// and batches.
func TestGraph_ImportOfAMultiMegabyteBody(t *testing.T) {
	e := newEnv(t)
	const n = 12_000
	bad := map[int]bool{512: true, 513: true, 1024: true, 5001: true, 10_000: true} // line numbers
	var b strings.Builder
	line := 0
	emit := func(s string) {
		b.WriteString(s)
		b.WriteByte('\n')
		line++
	}
	var wantErrLines []int
	for i := 1; i <= n; i++ {
		for bad[line+1] {
			emit(`{"person_id":"broken","identifiers":[]}`)
			wantErrLines = append(wantErrLines, line)
		}
		if i%1000 == 0 { // a blank line now and then
			emit("")
		}
		emit(fmt.Sprintf(`{"person_id":"p%05d","updated_at":"2025-01-02T03:04:05Z","identifiers":[`+
			`{"type":"hem_sha256","value":"%s"},{"type":"cookie","value":"c%05d"}],`+
			`"person":{"first_name":"First%05d","last_name":"Last","job_title":"Engineer"},`+
			`"company":{"name":"Company %d","domain":"company%d.example"}}`, i, hex64(i), i, i, i%97, i%97))
	}
	wantImported := n
	body := b.String()
	if len(body) < 2<<20 {
		t.Fatalf("the body is %d bytes; the test wants at least 2 MiB", len(body))
	}

	res := e.importGraph(t, body)
	if res.Imported != wantImported || res.Rejected != len(wantErrLines) {
		t.Errorf("imported %d, rejected %d; want %d and %d", res.Imported, res.Rejected, wantImported, len(wantErrLines))
	}
	var gotErrLines []int
	for _, le := range res.Errors {
		gotErrLines = append(gotErrLines, le.Line)
	}
	if !slices.Equal(gotErrLines, wantErrLines) {
		t.Errorf("error lines = %v, want %v", gotErrLines, wantErrLines)
	}
	for _, i := range []int{1, 511, 514, 999, 1000, 5000, 9999, n} {
		got := e.found(t, "hem_sha256", hex64(i), fmt.Sprintf("p%05d", i))
		if got.Person.FirstName != fmt.Sprintf("First%05d", i) {
			t.Errorf("p%05d: first_name = %q", i, got.Person.FirstName)
		}
		e.found(t, "cookie", fmt.Sprintf("c%05d", i), fmt.Sprintf("p%05d", i))
	}
	if st := e.graphStats(t); st.Persons != int64(wantImported) || st.IndexEntries != int64(2*wantImported) {
		t.Errorf("stats = %+v, want %d persons and %d index entries", st, wantImported, 2*wantImported)
	}
}

func TestGraph_ALaterRecordReplacesTheEarlierOne(t *testing.T) {
	e := newEnv(t)
	// Within one import, the later line wins; across imports, the later
	// import. Identifiers are replaced, not merged.
	res := e.importGraph(t, ndjson(t,
		personLine("p1", "First", ident("cookie", "old-cookie")),
		personLine("p1", "Second", ident("cookie", "mid-cookie"))))
	if res.Imported != 2 || res.Rejected != 0 {
		t.Fatalf("import: %+v", res)
	}
	e.notFound(t, "cookie", "old-cookie")
	if got := e.found(t, "cookie", "mid-cookie", "p1"); got.Person.FirstName != "Second" {
		t.Errorf("first_name = %q, want the later line's", got.Person.FirstName)
	}

	e.importGraph(t, ndjson(t, personLine("p1", "Third", ident("cookie", "new-cookie"))))
	e.notFound(t, "cookie", "mid-cookie")
	if got := e.found(t, "cookie", "new-cookie", "p1"); got.Person.FirstName != "Third" {
		t.Errorf("first_name = %q, want the later import's", got.Person.FirstName)
	}
	if st := e.graphStats(t); st.Persons != 1 || st.IndexEntries != 1 {
		t.Errorf("stats = %+v, want 1 person with 1 index entry", st)
	}
}

func TestGraph_AnIdentifierMovesToItsNewOwner(t *testing.T) {
	e := newEnv(t)
	e.importGraph(t, ndjson(t, personLine("p1", "Ann",
		ident("hem_sha256", hex64(1)), ident("hem_sha256", hex64(2)), ident("cookie", "ann-cookie"))))
	e.importGraph(t, ndjson(t, personLine("p2", "Bob", ident("hem_sha256", hex64(1)))))

	e.found(t, "hem_sha256", hex64(1), "p2")
	// p1 loses the moved identifier and keeps the others.
	got := e.found(t, "hem_sha256", hex64(2), "p1")
	e.found(t, "cookie", "ann-cookie", "p1")
	want := []identity.Identifier{{Type: identity.TypeHEMSHA256, Value: hex64(2)}, {Type: identity.TypeCookie, Value: "ann-cookie"}}
	if !slices.Equal(got.Identifiers, want) {
		t.Errorf("p1's identifiers = %v, want %v", got.Identifiers, want)
	}
	if st := e.graphStats(t); st.Persons != 2 || st.IndexEntries != 3 {
		t.Errorf("stats = %+v, want 2 persons and 3 index entries", st)
	}
}

func TestGraph_Lookup(t *testing.T) {
	e := newEnv(t)
	hems := testkit.HEMs(t, "jane.doe@acme.example")
	e.importGraph(t, ndjson(t, map[string]any{
		"person_id":  "p_jane",
		"updated_at": "2025-02-03T04:05:06+02:00",
		"identifiers": []any{
			ident("hem_sha256", strings.ToUpper(hems.SHA256)),
			ident("maid", "6D92078A-8246-4BA4-AE5B-76104861E7DC"),
			ident("ip", "8.8.8.8"),
			ident("cookie", "null"), // junk: dropped
		},
		"person": map[string]any{"first_name": " Jane ", "last_name": "Doe", "job_title": "CTO",
			"linkedin_url": "https://www.linkedin.com/in/janedoe", "business_email": "jane.doe@acme.example",
			"location": map[string]any{"city": "Berlin", "country": "DE"}},
		"company": map[string]any{"name": "Acme", "domain": "https://WWW.Acme.example/about",
			"industry": "Software", "employee_range": "51-200", "revenue_range": "$10M-$50M"},
		"unknown_member": map[string]any{"ignored": true},
	}, personLine("p_plain", "Plain", ident("device_id", "Device-ABC"))))

	t.Run("fields", func(t *testing.T) {
		r := e.lookup(t, "hem_sha256", hems.SHA256)
		got := ok[lookupResp](t, r, http.StatusOK)
		keys := slices.Sorted(maps.Keys(jsonKeys(t, r.Body)))
		if want := []string{"company", "company_only", "identifiers", "person", "person_id", "updated_at"}; !slices.Equal(keys, want) {
			t.Errorf("keys = %v, want %v", keys, want)
		}
		want := lookupResp{
			PersonID: "p_jane",
			Person: identity.Person{FirstName: "Jane", LastName: "Doe", JobTitle: "CTO",
				LinkedInURL: "https://www.linkedin.com/in/janedoe", BusinessEmail: "jane.doe@acme.example",
				Location: identity.Location{City: "Berlin", Country: "DE"}},
			Company: identity.Company{Name: "Acme", Domain: "www.acme.example", Industry: "Software",
				EmployeeRange: "51-200", RevenueRange: "$10M-$50M"},
			Identifiers: []identity.Identifier{
				{Type: identity.TypeHEMSHA256, Value: hems.SHA256},
				{Type: identity.TypeMAID, Value: "6d92078a-8246-4ba4-ae5b-76104861e7dc"},
				{Type: identity.TypeIP, Value: "8.8.8.8"},
			},
		}
		if got.PersonID != want.PersonID || got.CompanyOnly || got.Person != want.Person || got.Company != want.Company ||
			!slices.Equal(got.Identifiers, want.Identifiers) {
			t.Errorf("lookup =\n %+v\nwant\n %+v", got, want)
		}
		if wantAt := time.Date(2025, 2, 3, 2, 5, 6, 0, time.UTC); got.UpdatedAt == nil || !got.UpdatedAt.Equal(wantAt) ||
			!contains(r.Body, `"updated_at":"2025-02-03T02:05:06Z"`) {
			t.Errorf("updated_at = %v in %s, want %v in UTC", got.UpdatedAt, r.Body, wantAt)
		}
	})
	t.Run("the query is normalised like an import", func(t *testing.T) {
		e.found(t, "hem_sha256", "  "+strings.ToUpper(hems.SHA256)+" ", "p_jane")
		e.found(t, "maid", "6D92078A-8246-4BA4-AE5B-76104861E7DC", "p_jane")
		e.found(t, "device_id", "DEVICE-abc", "p_plain")
	})
	t.Run("without updated_at and company", func(t *testing.T) {
		r := e.lookup(t, "device_id", "device-abc")
		got := ok[lookupResp](t, r, http.StatusOK)
		if got.UpdatedAt != nil || contains(r.Body, "updated_at") {
			t.Errorf("a record without updated_at answers %s", r.Body)
		}
		if !contains(r.Body, `"company":{}`) || got.Person.FirstName != "Plain" {
			t.Errorf("answer %s, want an empty company object and the person", r.Body)
		}
	})
	t.Run("unknown identifier", func(t *testing.T) {
		for _, tc := range [][2]string{
			{"hem_sha256", testkit.HEMs(t, "someone.else@acme.example").SHA256},
			{"hem_sha1", hems.SHA1}, // not imported for this person
			{"cookie", "never-seen"},
			{"device_id", "6d92078a-8246-4ba4-ae5b-76104861e7dc"}, // the maid's value, another type
		} {
			r := e.lookup(t, tc[0], tc[1])
			apiError(t, r, http.StatusNotFound, "not_found")
		}
	})
	t.Run("bad identifier", func(t *testing.T) {
		for _, tc := range []struct{ name, query string }{
			{"no query", ""},
			{"no type", "?value=abc"},
			{"no value", "?type=cookie"},
			{"unknown type", "?type=fax&value=123"},
			{"a learned link's internal type", "?type=vid&value=ten_x/v1"},
			{"junk value", "?type=cookie&value=undefined"},
			{"hem of the wrong length", "?type=hem_sha256&value=" + hems.SHA1},
			{"hem not hex", "?type=hem_md5&value=" + strings.Repeat("zz", 16)},
			{"maid not a UUID", "?type=maid&value=abc"},
			{"private ip", "?type=ip&value=10.1.2.3"},
			{"not an ip", "?type=ip&value=999.1.1.1"},
			{"cookie with a space", "?type=cookie&value=a%20b"},
			{"invalid UTF-8", "?type=cookie&value=%ff%fe"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				apiError(t, e.do(t, http.MethodGet, "/v1/graph/lookup"+tc.query, operatorToken, ""),
					http.StatusBadRequest, "validation_failed")
			})
		}
	})
}

// An IP alone never names a person: a person's IP is kept in the record
// but not indexed. A company-only record's IPs name the company.
func TestGraph_APersonsIPDoesNotResolveButACompanysDoes(t *testing.T) {
	e := newEnv(t)
	e.importGraph(t, ndjson(t,
		personLine("p1", "Ann", ident("cookie", "ann-cookie"), ident("ip", "8.8.8.8")),
		map[string]any{"person_id": "c_quad9", "identifiers": []any{ident("ip", "9.9.9.9"), ident("ip", "2620:fe::fe")},
			"company": map[string]any{"name": "Quad9", "domain": "quad9.net"}},
	))

	e.notFound(t, "ip", "8.8.8.8")
	if got := e.found(t, "cookie", "ann-cookie", "p1"); !slices.Contains(got.Identifiers,
		identity.Identifier{Type: identity.TypeIP, Value: "8.8.8.8"}) || got.CompanyOnly {
		t.Errorf("p1 = %+v, want a person record that keeps its IP", got)
	}

	for _, ip := range []string{"9.9.9.9", "2620:fe::fe", "2620:00fe:0::00fe", "::ffff:9.9.9.9"} {
		r := e.lookup(t, "ip", ip)
		got := ok[lookupResp](t, r, http.StatusOK)
		if got.PersonID != "c_quad9" || !got.CompanyOnly || got.Company.Name != "Quad9" || !got.Person.IsZero() ||
			!contains(r.Body, `"person":{}`) {
			t.Errorf("lookup ip %s = %s, want the company-only record", ip, r.Body)
		}
	}
	if st := e.graphStats(t); st.Persons != 2 || st.IndexEntries != 3 {
		t.Errorf("stats = %+v, want 2 records and 3 index entries (the cookie, the company's 2 IPs)", st)
	}
}

func TestGraph_EraseRemovesThePersonAndSuppressesTheirHashedEmails(t *testing.T) {
	e := newEnv(t)
	tenant := e.createTenant(t, "Acme")
	jane := testkit.HEMs(t, "jane@acme.example")
	e.importGraph(t, ndjson(t,
		map[string]any{"person_id": "p_jane", "identifiers": []any{
			ident("hem_sha256", jane.SHA256), ident("hem_sha1", jane.SHA1), ident("hem_md5", jane.MD5),
			ident("cookie", "jane-cookie"), ident("ip", "8.8.8.8"),
		}, "person": map[string]any{"first_name": "Jane", "business_email": "jane@acme.example"}},
		personLine("p_bob", "Bob", ident("cookie", "bob-cookie")),
	))
	// A learned link, as the match stage makes them.
	if err := e.graph.Learn(tenant.ID, "vid_jane", "p_jane"); err != nil {
		t.Fatalf("learn: %v", err)
	}
	if st := e.graphStats(t); st != (identity.GraphStats{Persons: 2, LearnedLinks: 1, IndexEntries: 6}) {
		t.Fatalf("stats before = %+v", st)
	}

	noContent(t, e.do(t, http.MethodDelete, "/v1/graph/persons/p_jane", operatorToken, ""))

	for _, id := range [][2]string{{"hem_sha256", jane.SHA256}, {"hem_sha1", jane.SHA1}, {"hem_md5", jane.MD5},
		{"cookie", "jane-cookie"}} {
		e.notFound(t, id[0], id[1])
	}
	e.found(t, "cookie", "bob-cookie", "p_bob")
	if st := e.graphStats(t); st != (identity.GraphStats{Persons: 1, LearnedLinks: 0, IndexEntries: 1}) {
		t.Errorf("stats after = %+v, want Bob alone", st)
	}
	// The record and the link are gone from the store, not only from the index.
	if _, stored, err := e.store.Graph().Person("p_jane"); err != nil || stored {
		t.Errorf("the store still holds p_jane (%v)", err)
	}
	if err := e.store.Graph().ScanLinks(func(tenant, vid, person string) error {
		t.Errorf("the store still holds the link %s/%s → %s", tenant, vid, person)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The person's hashed emails are on the global list, as hem; the
	// cookie and the IP are not.
	want := []identity.SuppressionEntry{
		{Kind: identity.KindHEM, Value: jane.SHA256}, {Kind: identity.KindHEM, Value: jane.SHA1},
		{Kind: identity.KindHEM, Value: jane.MD5},
	}
	got := e.listSuppressions(t, "/v1/suppressions", operatorToken)
	if !sameEntries(got, want) {
		t.Errorf("global list = %+v, want %+v", got, want)
	}
	// The tenant's own list is not where they go.
	if got := e.listSuppressions(t, "/v1/tenants/"+tenant.ID+"/suppressions", operatorToken); len(got) != 0 {
		t.Errorf("tenant list = %+v, want empty", got)
	}

	// Erasing again, or anyone unknown, is 404.
	before := e.snapshot()
	apiError(t, e.do(t, http.MethodDelete, "/v1/graph/persons/p_jane", operatorToken, ""), http.StatusNotFound, "not_found")
	apiError(t, e.do(t, http.MethodDelete, "/v1/graph/persons/p_nobody", operatorToken, ""), http.StatusNotFound, "not_found")
	e.unchanged(t, before)

	// A re-import brings the record back, but the hems stay suppressed.
	e.importGraph(t, ndjson(t, personLine("p_jane", "Jane", ident("hem_sha256", jane.SHA256))))
	e.found(t, "hem_sha256", jane.SHA256, "p_jane")
	if !sameEntries(e.listSuppressions(t, "/v1/suppressions", operatorToken), want) {
		t.Error("a re-import changed the global list")
	}
	if sup, kind := e.sup.Suppressed(tenant.ID, identity.Subject{HEMs: []string{jane.SHA256}}); !sup || kind != identity.KindHEM {
		t.Errorf("Suppressed(jane's sha256) = %v, %q; want true, hem", sup, kind)
	}
}

func TestGraph_EraseOfAPersonWithoutHashedEmailsSuppressesNothing(t *testing.T) {
	e := newEnv(t)
	e.importGraph(t, ndjson(t, personLine("p1", "Ann", ident("cookie", "ann-cookie"), ident("maid", "6d92078a-8246-4ba4-ae5b-76104861e7dc"))))
	noContent(t, e.do(t, http.MethodDelete, "/v1/graph/persons/p1", operatorToken, ""))
	e.notFound(t, "cookie", "ann-cookie")
	if got := e.listSuppressions(t, "/v1/suppressions", operatorToken); len(got) != 0 {
		t.Errorf("global list = %+v, want empty", got)
	}
}

// A visitor id learned for one person and later for another belongs to
// the later one: erasing the first must not take the link from the second.
func TestGraph_EraseKeepsALinkThatWentToAnotherPerson(t *testing.T) {
	e := newEnv(t)
	e.importGraph(t, ndjson(t, personLine("p1", "Ann", ident("cookie", "ann-cookie")),
		personLine("p2", "Bob", ident("cookie", "bob-cookie"))))
	for _, p := range []string{"p1", "p2"} { // a shared computer: Ann first, then Bob
		if err := e.graph.Learn("ten_a", "vid_shared", p); err != nil {
			t.Fatalf("learn %s: %v", p, err)
		}
	}
	noContent(t, e.do(t, http.MethodDelete, "/v1/graph/persons/p1", operatorToken, ""))
	want := identity.GraphStats{Persons: 1, LearnedLinks: 1, IndexEntries: 2}
	if st := e.graphStats(t); st != want {
		t.Errorf("stats after erasing p1 = %+v, want %+v", st, want)
	}
	e.restart(t)
	if st := e.graphStats(t); st != want {
		t.Errorf("stats after the restart = %+v, want %+v", st, want)
	}
	if m, err := e.graph.Resolve(identity.Visit{Tenant: "ten_a", VisitorID: "vid_shared"}); err != nil ||
		m.Person == nil || m.Person.PersonID != "p2" {
		t.Errorf("resolve vid_shared = %+v, %v; want p2", m, err)
	}
}

func TestGraph_EverythingSurvivesARestart(t *testing.T) {
	e := newEnv(t)
	tenant := e.createTenant(t, "Acme")
	ann, bob := testkit.HEMs(t, "ann@acme.example"), testkit.HEMs(t, "bob@acme.example")
	e.importGraph(t, ndjson(t,
		map[string]any{"person_id": "p_ann", "updated_at": "2025-01-02T03:04:05Z",
			"identifiers": []any{ident("hem_sha256", ann.SHA256), ident("cookie", "ann-cookie"), ident("ip", "8.8.8.8")},
			"person":      map[string]any{"first_name": "Ann", "location": map[string]any{"city": "Oslo"}},
			"company":     map[string]any{"name": "Acme", "domain": "acme.example"}},
		personLine("p_bob", "Bob", ident("hem_sha256", bob.SHA256), ident("device_id", "bob-device")),
		map[string]any{"person_id": "c_quad9", "identifiers": []any{ident("ip", "9.9.9.9")},
			"company": map[string]any{"name": "Quad9"}},
	))
	if err := e.graph.Learn(tenant.ID, "vid_ann", "p_ann"); err != nil {
		t.Fatalf("learn: %v", err)
	}
	noContent(t, e.do(t, http.MethodDelete, "/v1/graph/persons/p_bob", operatorToken, ""))
	e.addSuppressions(t, "/v1/tenants/"+tenant.ID+"/suppressions", tenant.APIKey, "email", "carol@acme.example")
	e.addSuppressions(t, "/v1/tenants/"+tenant.ID+"/suppressions", tenant.APIKey, "company_domain", "rival.example")
	e.addSuppressions(t, "/v1/suppressions", operatorToken, "email_domain", "blocked.example")

	reads := []string{
		"/v1/graph/stats",
		"/v1/graph/lookup?type=hem_sha256&value=" + ann.SHA256,
		"/v1/graph/lookup?type=cookie&value=ann-cookie",
		"/v1/graph/lookup?type=ip&value=9.9.9.9",
		"/v1/suppressions",
		"/v1/tenants/" + tenant.ID + "/suppressions",
	}
	answers := map[string]string{}
	for _, path := range reads {
		answers[path] = string(ok[jsonBody](t, e.do(t, http.MethodGet, path, operatorToken, ""), http.StatusOK).raw)
	}
	before := e.snapshot()
	if before.GraphStats != (identity.GraphStats{Persons: 2, LearnedLinks: 1, IndexEntries: 4}) {
		t.Fatalf("stats = %+v", before.GraphStats)
	}

	e.restart(t)

	for _, path := range reads {
		if got := string(ok[jsonBody](t, e.do(t, http.MethodGet, path, operatorToken, ""), http.StatusOK).raw); got != answers[path] {
			t.Errorf("GET %s after the restart:\n got %s\nwant %s", path, got, answers[path])
		}
	}
	e.unchanged(t, before)
	// The erased person stays erased, its hem suppressed; the learned link
	// still resolves; the person's IP still names no one.
	e.notFound(t, "hem_sha256", bob.SHA256)
	e.notFound(t, "device_id", "bob-device")
	e.notFound(t, "ip", "8.8.8.8")
	if m, err := e.graph.Resolve(identity.Visit{Tenant: tenant.ID, VisitorID: "vid_ann"}); err != nil || m.Person == nil ||
		m.Person.PersonID != "p_ann" || !m.Learned {
		t.Errorf("resolve the learned visitor after the restart = %+v, %v; want p_ann, learned", m, err)
	}
	if sup, _ := e.sup.Suppressed(tenant.ID, identity.Subject{HEMs: []string{bob.SHA256}}); !sup {
		t.Error("the erased person's hem is not suppressed after the restart")
	}
	// And the restarted graph takes imports.
	e.importGraph(t, ndjson(t, personLine("p_dan", "Dan", ident("cookie", "dan-cookie"))))
	e.found(t, "cookie", "dan-cookie", "p_dan")
}
