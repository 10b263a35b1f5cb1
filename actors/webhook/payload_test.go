package webhook

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/identity"
)

// encodingJSON is the reference encoder: encoding/json with HTML escaping
// off, as Payload's documentation says, without the Encoder's newline.
func encodingJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		tb.Fatalf("encoding/json: %v", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// canonical returns a copy of p in the form AppendJSON writes it: times in
// UTC, a nil utm empty, nil hems empty, a NaN or infinite confidence 0.
// encoding/json encodes the copy as AppendJSON encodes p.
func canonical(p *Payload) *Payload {
	if p == nil {
		return nil
	}
	c := *p
	c.CreatedAt = c.CreatedAt.UTC()
	c.Data.Visit.SeenAt = c.Data.Visit.SeenAt.UTC()
	if c.Data.Visit.UTM == nil {
		c.Data.Visit.UTM = map[string]string{}
	}
	if c.Data.HEMs == nil {
		c.Data.HEMs = []HEM{}
	}
	if f := c.Data.Match.Confidence; math.IsNaN(f) || math.IsInf(f, 0) {
		c.Data.Match.Confidence = 0
	}
	return &c
}

// parsedBack is what a receiver decodes from the encoding of p: the
// canonical form with each byte of invalid UTF-8 read as U+FFFD.
func parsedBack(p *Payload) *Payload {
	c := canonical(p)
	v := func(s string) string { return string([]rune(s)) } // ranging a string yields U+FFFD per bad byte
	c.ID, c.Type, c.TenantID = v(c.ID), v(c.Type), v(c.TenantID)
	d := &c.Data
	if d.Person != nil {
		pr := *d.Person
		for _, s := range []*string{&pr.ID, &pr.FirstName, &pr.LastName, &pr.JobTitle, &pr.LinkedInURL,
			&pr.BusinessEmail, &pr.Location.City, &pr.Location.Region, &pr.Location.Country} {
			*s = v(*s)
		}
		d.Person = &pr
	}
	if d.Company != nil {
		co := *d.Company
		for _, s := range []*string{&co.Name, &co.Domain, &co.Industry, &co.EmployeeRange, &co.RevenueRange} {
			*s = v(*s)
		}
		d.Company = &co
	}
	vi := &d.Visit
	for _, s := range []*string{&vi.VisitorID, &vi.SessionID, &vi.PageURL, &vi.PageTitle, &vi.Referrer} {
		*s = v(*s)
	}
	// Keys that differ only in their invalid bytes collide once decoded:
	// the last in the written (byte) order wins, as in a JSON decoder.
	utm := make(map[string]string, len(vi.UTM))
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range vi.UTM {
			if !yield(k) {
				return
			}
		}
	}) {
		utm[v(k)] = v(vi.UTM[k])
	}
	vi.UTM = utm
	hems := make([]HEM, len(d.HEMs))
	for i, h := range d.HEMs {
		hems[i] = HEM{v(h.Type), v(h.Value)}
	}
	d.HEMs = hems
	d.Match.Method = v(d.Match.Method)
	return c
}

// checkPayload checks AppendJSON(p) against encoding/json and a parse
// back.
func checkPayload(tb testing.TB, p *Payload) []byte {
	tb.Helper()
	got := AppendJSON(nil, p)
	if want := encodingJSON(tb, canonical(p)); !bytes.Equal(got, want) {
		tb.Fatalf("AppendJSON differs from encoding/json\n got: %q\nwant: %q", got, want)
	}
	if !json.Valid(got) {
		tb.Fatalf("AppendJSON wrote invalid JSON: %q", got)
	}
	if p == nil {
		return got
	}
	var back Payload
	if err := json.Unmarshal(got, &back); err != nil {
		tb.Fatalf("parse back: %v\n%q", err, got)
	}
	if want := parsedBack(p); !reflect.DeepEqual(&back, want) {
		tb.Fatalf("parsed back differs\n got: %+v\nwant: %+v\njson: %s", back, *want, got)
	}
	return got
}

// samplePayload is a typical identified visit.
func samplePayload() *Payload {
	return &Payload{
		ID:        "evt_01JQ8X2M4K7Y9ZB3C5D6E7F8G9",
		Type:      TypeIdentified,
		CreatedAt: time.Date(2026, 3, 1, 12, 0, 0, 250_000_000, time.UTC),
		TenantID:  "ten_01JQ8X0000000000000000000",
		Sequence:  1,
		Data: Data{
			Person: &PersonData{
				ID: "p_123", FirstName: "Ada", LastName: "Lovelace", JobTitle: "Head of Engineering",
				LinkedInURL: "https://www.linkedin.com/in/ada", BusinessEmail: "ada@acme.example",
				Location: Location{City: "London", Country: "GB"},
			},
			Company: &CompanyData{Name: "Acme", Domain: "acme.example", Industry: "Software",
				EmployeeRange: "51-200", RevenueRange: "$10M-$50M"},
			Visit: Visit{
				VisitorID: "v_8f3a", SessionID: "s_1", PageURL: "https://shop.example/pricing?plan=pro&utm_source=news",
				PageTitle: "Pricing <Pro> & Teams", Referrer: "https://news.example/",
				UTM:    map[string]string{"source": "news", "medium": "email", "campaign": "spring"},
				SeenAt: time.Date(2026, 3, 1, 11, 59, 59, 0, time.UTC), PagesViewed: 3, VisitCount: 2,
			},
			HEMs:  []HEM{{HEMSHA256, strings.Repeat("ab", 32)}},
			Match: MatchData{Method: string(identity.MethodHEM), Confidence: 0.97},
		},
	}
}

func TestAppendJSON_Table(t *testing.T) {
	paris, _ := time.LoadLocation("Europe/Paris")
	if paris == nil {
		paris = time.FixedZone("CET", 3600)
	}
	tests := []struct {
		name string
		edit func(p *Payload)
	}{
		{"typical", func(p *Payload) {}},
		{"company only: person null", func(p *Payload) {
			p.Data.Person = nil
			p.Data.Match = MatchData{Method: string(identity.MethodIP), Confidence: 0.5}
		}},
		{"no company: company null", func(p *Payload) { p.Data.Company = nil }},
		{"neither person nor company", func(p *Payload) { p.Data.Person, p.Data.Company = nil, nil }},
		{"empty location is {}", func(p *Payload) { p.Data.Person.Location = Location{} }},
		{"location region only", func(p *Payload) { p.Data.Person.Location = Location{Region: "Île-de-France"} }},
		{"location all", func(p *Payload) { p.Data.Person.Location = Location{"Paris", "IDF", "FR"} }},
		{"empty person and company objects", func(p *Payload) {
			p.Data.Person, p.Data.Company = &PersonData{}, &CompanyData{}
		}},
		{"nil utm is {}", func(p *Payload) { p.Data.Visit.UTM = nil }},
		{"empty utm is {}", func(p *Payload) { p.Data.Visit.UTM = map[string]string{} }},
		{"nine utm keys (sorted off the stack)", func(p *Payload) {
			p.Data.Visit.UTM = map[string]string{}
			for i := range 9 {
				p.Data.Visit.UTM[string(rune('z'-i))+"k"] = strconv.Itoa(i)
			}
		}},
		{"utm keys needing escapes", func(p *Payload) {
			p.Data.Visit.UTM = map[string]string{"a\"b": "1", "a\\": "2", "\x01": "3", "Z": "4", "é": "\u2028", "\xff": "5"}
		}},
		{"nil hems is []", func(p *Payload) { p.Data.HEMs = nil }},
		{"three hems", func(p *Payload) {
			p.Data.HEMs = []HEM{{HEMSHA256, strings.Repeat("0", 64)}, {HEMSHA1, strings.Repeat("1", 40)}, {HEMMD5, strings.Repeat("2", 32)}}
		}},
		{"zero payload", func(p *Payload) { *p = Payload{} }},
		{"times outside UTC are written in UTC", func(p *Payload) {
			p.CreatedAt = time.Date(2026, 7, 1, 14, 0, 0, 123_456_789, paris)
			p.Data.Visit.SeenAt = time.Date(2026, 7, 1, 0, 30, 0, 1, time.FixedZone("", -9*3600-30*60))
		}},
		{"time with a monotonic reading", func(p *Payload) { p.CreatedAt = time.Now() }},
		{"trailing zeros of nanoseconds dropped", func(p *Payload) {
			p.CreatedAt = time.Date(2026, 1, 2, 3, 4, 5, 100_000, time.UTC)
		}},
		{"year 9999", func(p *Payload) { p.CreatedAt = time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC) }},
		{"max sequence, negative counts", func(p *Payload) {
			p.Sequence = math.MaxUint64
			p.Data.Visit.PagesViewed, p.Data.Visit.VisitCount = math.MinInt64, -1
		}},
		{"confidence 1", func(p *Payload) { p.Data.Match.Confidence = 1 }},
		{"confidence 0", func(p *Payload) { p.Data.Match.Confidence = 0 }},
		{"confidence NaN is 0", func(p *Payload) { p.Data.Match.Confidence = math.NaN() }},
		{"confidence +Inf is 0", func(p *Payload) { p.Data.Match.Confidence = math.Inf(1) }},
		{"confidence tiny uses an exponent", func(p *Payload) { p.Data.Match.Confidence = 1e-7 }},
		{"control characters", func(p *Payload) {
			var b strings.Builder
			for c := range 0x20 {
				b.WriteByte(byte(c))
			}
			b.WriteString("\x7f")
			p.Data.Visit.PageTitle = b.String()
		}},
		{"quotes and backslashes", func(p *Payload) {
			p.Data.Visit.PageTitle = `He said "hi" \o/ \"\\`
			p.Data.Person.FirstName = `"`
			p.Data.Person.LastName = `\`
		}},
		{"html characters stay literal", func(p *Payload) { p.Data.Visit.PageURL = "https://x.example/?a=1&b=<script>" }},
		{"line and paragraph separators", func(p *Payload) { p.Data.Visit.PageTitle = "a\u2028b\u2029c\u2027\u202a" }},
		{"unicode", func(p *Payload) {
			p.Data.Visit.PageTitle = "Ünïcödé 日本語 😀 \ufffd \u00a0 \u200b \ufeff"
			p.Data.Company.Name = "Société Générale"
		}},
		{"invalid UTF-8", func(p *Payload) {
			p.Data.Visit.PageTitle = "a\xffb\xc3(c\xed\xa0\x80d\xf4\x90\x80\x80e\xc0\xaff\x80\xe2\x82"
			p.Data.Visit.PageURL = "https://x.example/\xfe\xfe"
			p.Data.Visit.Referrer = "\xf0\x9f\x98" // a truncated emoji at the end
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := samplePayload()
			tt.edit(p)
			checkPayload(t, p)
		})
	}
	t.Run("nil payload is null", func(t *testing.T) {
		if got := string(checkPayload(t, nil)); got != "null" {
			t.Fatalf("AppendJSON(nil) = %q; want null", got)
		}
	})
}

// The shape of API.md, checked on the decoded document rather than on
// our own structs.
func TestAppendJSON_Shape(t *testing.T) {
	p := samplePayload()
	p.Data.Person.Location = Location{}
	p.Data.Visit.UTM = nil
	var doc map[string]any
	if err := json.Unmarshal(AppendJSON(nil, p), &doc); err != nil {
		t.Fatal(err)
	}
	keys := func(v any) []string {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%v is not an object", v)
		}
		return slices.Sorted(func(yield func(string) bool) {
			for k := range m {
				if !yield(k) {
					return
				}
			}
		})
	}
	eq := func(what string, got []string, want ...string) {
		t.Helper()
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s keys = %v; want %v", what, got, want)
		}
	}
	data := doc["data"].(map[string]any)
	eq("payload", keys(doc), "id", "type", "created_at", "tenant_id", "sequence", "data")
	eq("data", keys(data), "person", "company", "visit", "hems", "match")
	eq("person", keys(data["person"]), "id", "first_name", "last_name", "job_title", "linkedin_url", "business_email", "location")
	eq("location", keys(data["person"].(map[string]any)["location"]))
	eq("company", keys(data["company"]), "name", "domain", "industry", "employee_range", "revenue_range")
	eq("visit", keys(data["visit"]), "visitor_id", "session_id", "page_url", "page_title", "referrer", "utm", "seen_at", "pages_viewed", "visit_count")
	eq("utm", keys(data["visit"].(map[string]any)["utm"]))
	eq("match", keys(data["match"]), "method", "confidence")
	eq("hem", keys(data["hems"].([]any)[0]), "type", "value")
	if s := doc["created_at"].(string); s != "2026-03-01T12:00:00.25Z" {
		t.Errorf("created_at = %q; want 2026-03-01T12:00:00.25Z", s)
	}
}

func TestAppendJSON_Random(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 2026))
	n := 3000
	if testing.Short() {
		n = 300
	}
	for i := range n {
		p := randPayload(r)
		ok := t.Run("", func(t *testing.T) { checkPayload(t, p) })
		if !ok {
			t.Fatalf("payload %d of seed (4, 2026) failed", i)
		}
	}
}

// pieces are what random strings are made of: the characters an escaper
// gets wrong.
var pieces = []string{
	"a", "Z", "0", " ", "/", "-", "=", "?", "%20",
	`"`, `\`, `\"`, `\u0041`, "<", ">", "&", "'",
	"\x00", "\x01", "\b", "\t", "\n", "\v", "\f", "\r", "\x1b", "\x1f", "\x7f",
	"é", "ß", "日本", "😀", "\u00a0", "\u200b", "\ufeff", "\ufffd", "\u2027", "\u2028", "\u2029", "\u202a",
	"\x80", "\xbf", "\xc0\xaf", "\xc3", "\xe2\x82", "\xed\xa0\x80", "\xed\xbf\xbf", "\xf0\x9f\x98", "\xf4\x90\x80\x80", "\xf5", "\xfe", "\xff",
}

func randString(r *rand.Rand) string {
	switch r.IntN(8) {
	case 0:
		return ""
	case 1: // plain ASCII, the common case
		return "https://example.com/page/" + strconv.Itoa(r.IntN(1000))
	}
	var b strings.Builder
	for range r.IntN(24) {
		b.WriteString(pieces[r.IntN(len(pieces))])
	}
	return b.String()
}

func randTime(r *rand.Rand) time.Time {
	// Years 1 to 9999, the range encoding/json accepts.
	sec := r.Int64N(253402300799-(-62135596800)) - 62135596800
	nsec := []int64{0, 0, r.Int64N(1e9), r.Int64N(1e3) * 1e6, 500_000_000, 1}[r.IntN(6)]
	t := time.Unix(sec, nsec)
	switch r.IntN(3) {
	case 0:
		return t.UTC()
	case 1:
		return t.In(time.FixedZone("", (r.IntN(27*4)-12*4)*15*60))
	}
	return t.In(time.Local)
}

func randFloat(r *rand.Rand) float64 {
	switch r.IntN(6) {
	case 0:
		return []float64{0, 1, 0.99, 0.97, 0.9, 0.85, 0.75, 0.5, math.Copysign(0, -1)}[r.IntN(9)]
	case 1:
		return r.Float64()
	case 2:
		return math.Round(r.Float64()*100) / 100
	case 3:
		return []float64{math.NaN(), math.Inf(1), math.Inf(-1)}[r.IntN(3)]
	}
	for {
		f := math.Float64frombits(r.Uint64())
		if !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f
		}
	}
}

func randPayload(r *rand.Rand) *Payload {
	s := func() string { return randString(r) }
	p := &Payload{ID: s(), Type: s(), CreatedAt: randTime(r), TenantID: s(), Sequence: r.Uint64() >> r.IntN(64)}
	d := &p.Data
	if r.IntN(3) > 0 {
		d.Person = &PersonData{ID: s(), FirstName: s(), LastName: s(), JobTitle: s(), LinkedInURL: s(), BusinessEmail: s()}
		if r.IntN(2) == 0 {
			d.Person.Location = Location{City: s(), Region: s(), Country: s()}
		}
	}
	if r.IntN(3) > 0 {
		d.Company = &CompanyData{Name: s(), Domain: s(), Industry: s(), EmployeeRange: s(), RevenueRange: s()}
	}
	d.Visit = Visit{VisitorID: s(), SessionID: s(), PageURL: s(), PageTitle: s(), Referrer: s(),
		SeenAt: randTime(r), PagesViewed: int(r.Int64()) >> r.IntN(64), VisitCount: r.IntN(1000)}
	switch r.IntN(4) {
	case 0: // nil
	case 1:
		d.Visit.UTM = map[string]string{}
	default:
		d.Visit.UTM = map[string]string{}
		for range r.IntN(12) {
			d.Visit.UTM[s()] = s()
		}
	}
	if r.IntN(4) > 0 {
		d.HEMs = make([]HEM, r.IntN(5))
		for i := range d.HEMs {
			d.HEMs[i] = HEM{s(), s()}
		}
	}
	d.Match = MatchData{Method: s(), Confidence: randFloat(r)}
	return p
}

// appendString against encoding/json on single bytes, every ASCII
// character, runes around the escaped ones and bad sequences.
func TestAppendString(t *testing.T) {
	var in []string
	for c := range 256 {
		in = append(in, string([]byte{byte(c)}), "x"+string([]byte{byte(c)})+"y")
	}
	for _, r := range []rune{0x7f, 0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xfffd, 0xffff, 0x10000, 0x10ffff, 0x2028, 0x2029} {
		in = append(in, string(r), "ab"+string(r)+"cd")
	}
	in = append(in, pieces...)
	in = append(in, strings.Join(pieces, ""), strings.Repeat("\xff", 5), "")
	for _, s := range in {
		got := appendString(nil, s)
		if want := encodingJSON(t, s); !bytes.Equal(got, want) {
			t.Errorf("appendString(%q) = %s; want %s", s, got, want)
		}
	}
}

// FuzzAppendString checks the escaper against encoding/json; go test runs
// the seeds, go test -fuzz FuzzAppendString explores.
func FuzzAppendString(f *testing.F) {
	for _, s := range pieces {
		f.Add(s)
	}
	f.Add(strings.Join(pieces, "x"))
	f.Fuzz(func(t *testing.T, s string) {
		got := appendString(nil, s)
		if want := encodingJSON(t, s); !bytes.Equal(got, want) {
			t.Fatalf("appendString(%q) = %s; want %s", s, got, want)
		}
		var back string
		if err := json.Unmarshal(got, &back); err != nil || back != string([]rune(s)) {
			t.Fatalf("parse back of %q: %q, %v", s, back, err)
		}
	})
}

// appendFloat is encoding/json's float64 format, for the confidences the
// match stage produces and for every other finite float.
func TestAppendFloat(t *testing.T) {
	in := []float64{0, math.Copysign(0, -1), 1, -1, 0.99, 0.97, 0.9, 0.85, 0.75, 0.5, 0.1, 0.3, 1.0 / 3,
		1e-6, 9.99999e-7, 1e-7, 1e-10, 1e-100, 5e-324, math.SmallestNonzeroFloat64,
		1e20, 1e21, 9.999999e20, 1.5e21, 1e100, math.MaxFloat64, -1e21, -1e-7, 123456789.125}
	for c := range 101 { // every two-digit confidence
		in = append(in, float64(c)/100)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		in = append(in, randFloat(r))
	}
	for _, f := range in {
		got := appendFloat(nil, f)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			if string(got) != "0" {
				t.Errorf("appendFloat(%v) = %s; want 0", f, got)
			}
			continue
		}
		if want := encodingJSON(t, f); !bytes.Equal(got, want) {
			t.Errorf("appendFloat(%v) = %s; want %s", f, got, want)
		}
		// The 'f', -1 form the brief names agrees for the values we produce.
		if f >= 0 && f <= 1 && f >= 1e-6 && !bytes.Equal(got, strconv.AppendFloat(nil, f, 'f', -1, 64)) {
			t.Errorf("appendFloat(%v) = %s; differs from 'f' format", f, got)
		}
	}
}

// A time encoding/json refuses still makes valid JSON.
func TestAppendJSON_YearOutOfRange(t *testing.T) {
	for _, ts := range []time.Time{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)} {
		p := samplePayload()
		p.CreatedAt = ts
		got := AppendJSON(nil, p)
		if !json.Valid(got) {
			t.Fatalf("invalid JSON for %v: %s", ts, got)
		}
		want := `"created_at":"` + ts.Format(time.RFC3339Nano) + `"`
		if !bytes.Contains(got, []byte(want)) {
			t.Fatalf("%s lacks %s", got, want)
		}
	}
}

func TestAppendJSON_AppendsToBuf(t *testing.T) {
	p := samplePayload()
	got := AppendJSON([]byte("prefix:"), p)
	if want := "prefix:" + string(AppendJSON(nil, p)); string(got) != want {
		t.Fatalf("AppendJSON(prefix) = %q; want %q", got, want)
	}
}

func TestAppendJSON_Allocs(t *testing.T) {
	p := samplePayload()
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(200, func() { buf = AppendJSON(buf[:0], p) }); n != 0 {
		t.Errorf("AppendJSON into a buffer with room: %v allocations; want 0", n)
	}
	if raceEnabled() {
		return // the race detector's instrumentation costs slices.Grow a second allocation
	}
	if n := testing.AllocsPerRun(200, func() { buf = AppendJSON(nil, p) }); n != 1 {
		t.Errorf("AppendJSON into nil: %v allocations; want 1 (sizeHint)", n)
	}
}

func TestAppendBatch(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	batches := [][]*Payload{nil, {}, {samplePayload()}, {samplePayload(), nil, samplePayload()}}
	for range 50 {
		var b []*Payload
		for range r.IntN(10) {
			b = append(b, randPayload(r))
		}
		batches = append(batches, b)
	}
	for i, ps := range batches {
		got := AppendBatch([]byte("x"), ps)
		if got[0] != 'x' {
			t.Fatalf("batch %d: prefix lost", i)
		}
		got = got[1:]
		canon := make([]*Payload, len(ps))
		for j, p := range ps {
			canon[j] = canonical(p)
		}
		if want := encodingJSON(t, canon); !bytes.Equal(got, want) && len(ps) > 0 {
			t.Fatalf("batch %d differs from encoding/json\n got: %s\nwant: %s", i, got, want)
		}
		if len(ps) == 0 && string(got) != "[]" {
			t.Fatalf("empty batch = %s; want []", got)
		}
		var items []json.RawMessage
		if err := json.Unmarshal(got, &items); err != nil {
			t.Fatalf("batch %d is not a JSON array: %v", i, err)
		}
		if len(items) != len(ps) {
			t.Fatalf("batch %d: %d items; want %d", i, len(items), len(ps))
		}
		for j, item := range items {
			if want := AppendJSON(nil, ps[j]); !bytes.Equal(item, want) {
				t.Fatalf("batch %d item %d = %s; want %s", i, j, item, want)
			}
		}
	}
	// One event id per item, in order.
	a, b := samplePayload(), samplePayload()
	b.ID, b.Type, b.Sequence = "evt_2", TypeUpdated, 2
	var back []Payload
	if err := json.Unmarshal(AppendBatch(nil, []*Payload{a, b}), &back); err != nil {
		t.Fatal(err)
	}
	if len(back) != 2 || back[0].ID != a.ID || back[1].ID != "evt_2" || back[1].Sequence != 2 {
		t.Fatalf("batch parsed back as %+v", back)
	}
}

// buildFixture is an event and a graph record that match each other.
func buildFixture() (*firehook.Event, *identity.Record) {
	ev := &firehook.Event{
		ID: "evt_01", Seq: 9, TenantID: "ten_1", SiteID: "site_1", VisitorID: "v_1", SessionID: "sid_pixel",
		URL: "https://shop.example/p?utm_source=news", Referrer: "https://news.example/", Title: "Shop & <more>",
		UTM:        map[string]string{"source": "news", "campaign": "x"},
		ClientTS:   time.Date(2026, 3, 1, 11, 59, 58, 500_000_000, time.UTC),
		ReceivedAt: time.Date(2026, 3, 1, 13, 0, 0, 0, time.FixedZone("CET", 3600)),
		HEMs:       firehook.HEMs{SHA256: strings.Repeat("a", 64), MD5: strings.Repeat("c", 32)},
	}
	rec := &identity.Record{
		PersonID: "p_42",
		Identifiers: []identity.Identifier{
			{Type: identity.TypeCookie, Value: "ck"},
			{Type: identity.TypeHEMMD5, Value: strings.Repeat("e", 32)},
			{Type: identity.TypeHEMSHA256, Value: strings.Repeat("d", 64)},
			{Type: identity.TypeIP, Value: "203.0.113.9"},
		},
		Person: identity.Person{FirstName: "Grace", LastName: "Hopper", JobTitle: "CTO",
			LinkedInURL: "https://linkedin.com/in/grace", BusinessEmail: "grace@navy.example",
			Location: identity.Location{City: "Arlington", Country: "US"}},
		Company: identity.Company{Name: "Navy", Domain: "navy.example", Industry: "Defence",
			EmployeeRange: "10001+", RevenueRange: "$1B+"},
	}
	return ev, rec
}

func TestBuild(t *testing.T) {
	ev, rec := buildFixture()
	otherCo := &identity.Company{Name: "Office Co", Domain: "office.example"}
	session := SessionInfo{ID: "s_7", PagesViewed: 4, VisitCount: 2}

	t.Run("person match", func(t *testing.T) {
		p := Build(ev, TypeIdentified, 1, identity.Match{Person: rec, Company: &rec.Company, Method: identity.MethodHEM, Confidence: 0.97}, session)
		want := &Payload{
			ID: "evt_01", Type: TypeIdentified, CreatedAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), TenantID: "ten_1", Sequence: 1,
			Data: Data{
				Person: &PersonData{ID: "p_42", FirstName: "Grace", LastName: "Hopper", JobTitle: "CTO",
					LinkedInURL: "https://linkedin.com/in/grace", BusinessEmail: "grace@navy.example",
					Location: Location{City: "Arlington", Country: "US"}},
				Company: &CompanyData{Name: "Navy", Domain: "navy.example", Industry: "Defence", EmployeeRange: "10001+", RevenueRange: "$1B+"},
				Visit: Visit{VisitorID: "v_1", SessionID: "s_7", PageURL: ev.URL, PageTitle: ev.Title, Referrer: ev.Referrer,
					UTM: ev.UTM, SeenAt: ev.ClientTS, PagesViewed: 4, VisitCount: 2},
				HEMs:  []HEM{{HEMSHA256, strings.Repeat("a", 64)}, {HEMMD5, strings.Repeat("c", 32)}},
				Match: MatchData{Method: "hem", Confidence: 0.97},
			},
		}
		if !reflect.DeepEqual(p, want) {
			t.Fatalf("Build =\n%+v\nwant\n%+v", p, want)
		}
		if p.CreatedAt.Location() != time.UTC || p.Data.Visit.SeenAt.Location() != time.UTC {
			t.Fatal("times not in UTC")
		}
	})
	t.Run("no event hems: the person's", func(t *testing.T) {
		ev := *ev
		ev.HEMs = firehook.HEMs{}
		p := Build(&ev, TypeUpdated, 5, identity.Match{Person: rec, Method: identity.MethodCookie, Confidence: 0.75}, session)
		want := []HEM{{HEMMD5, strings.Repeat("e", 32)}, {HEMSHA256, strings.Repeat("d", 64)}}
		if !reflect.DeepEqual(p.Data.HEMs, want) {
			t.Fatalf("hems = %v; want %v", p.Data.HEMs, want)
		}
		// m.Company nil: the person's company.
		if p.Data.Company == nil || p.Data.Company.Name != "Navy" {
			t.Fatalf("company = %+v; want the person's", p.Data.Company)
		}
	})
	t.Run("many person hems", func(t *testing.T) {
		ev := *ev
		ev.HEMs = firehook.HEMs{}
		rec := *rec
		rec.Identifiers = nil
		for i := range 5 {
			rec.Identifiers = append(rec.Identifiers, identity.Identifier{Type: identity.TypeHEMSHA1, Value: strings.Repeat(strconv.Itoa(i), 40)})
		}
		p := Build(&ev, TypeUpdated, 5, identity.Match{Person: &rec}, session)
		if len(p.Data.HEMs) != 5 || p.Data.HEMs[4].Type != HEMSHA1 {
			t.Fatalf("hems = %v", p.Data.HEMs)
		}
	})
	t.Run("company only: person null", func(t *testing.T) {
		ev := *ev
		ev.HEMs = firehook.HEMs{}
		p := Build(&ev, TypeIdentified, 1, identity.Match{Company: otherCo, Method: identity.MethodIP, Confidence: 0.5}, session)
		if p.Data.Person != nil {
			t.Fatalf("person = %+v; want nil", p.Data.Person)
		}
		if want := (&CompanyData{Name: "Office Co", Domain: "office.example"}); !reflect.DeepEqual(p.Data.Company, want) {
			t.Fatalf("company = %+v; want %+v", p.Data.Company, want)
		}
		if p.Data.HEMs == nil || len(p.Data.HEMs) != 0 {
			t.Fatalf("hems = %#v; want empty, not nil", p.Data.HEMs)
		}
		got := string(AppendJSON(nil, p))
		for _, part := range []string{`"person":null`, `"hems":[]`, `"method":"ip","confidence":0.5`} {
			if !strings.Contains(got, part) {
				t.Errorf("%s lacks %s", got, part)
			}
		}
	})
	t.Run("no company anywhere: company null", func(t *testing.T) {
		rec := *rec
		rec.Company = identity.Company{}
		p := Build(ev, TypeUpdated, 2, identity.Match{Person: &rec, Company: &identity.Company{}}, session)
		if p.Data.Company != nil {
			t.Fatalf("company = %+v; want nil", p.Data.Company)
		}
	})
	t.Run("fallbacks: pixel sid, received time, empty utm", func(t *testing.T) {
		ev := *ev
		ev.UTM, ev.ClientTS = nil, time.Time{}
		p := Build(&ev, TypeUpdated, 2, identity.Match{Person: rec}, SessionInfo{})
		v := p.Data.Visit
		if v.SessionID != "sid_pixel" || !v.SeenAt.Equal(ev.ReceivedAt) || v.UTM == nil || len(v.UTM) != 0 {
			t.Fatalf("visit = %+v", v)
		}
		if !strings.Contains(string(AppendJSON(nil, p)), `"utm":{}`) {
			t.Fatal(`utm not {}`)
		}
	})
	t.Run("confidence kept within 0 to 1", func(t *testing.T) {
		for in, want := range map[float64]float64{math.NaN(): 0, -0.5: 0, math.Inf(1): 1, 1.5: 1, 0.85: 0.85} {
			if got := Build(ev, TypeUpdated, 2, identity.Match{Person: rec, Confidence: in}, session).Data.Match.Confidence; got != want {
				t.Errorf("confidence %v → %v; want %v", in, got, want)
			}
		}
	})
	// A built payload needs no canonical form: encoding/json agrees as is.
	t.Run("encoding/json agrees without canonicalisation", func(t *testing.T) {
		for _, m := range []identity.Match{
			{Person: rec, Company: &rec.Company, Method: identity.MethodHEM, Confidence: 0.99},
			{Company: otherCo, Method: identity.MethodIP, Confidence: 0.5},
			{},
		} {
			ev := *ev
			ev.UTM = nil
			p := Build(&ev, TypeIdentified, 3, m, session)
			if got, want := AppendJSON(nil, p), encodingJSON(t, p); !bytes.Equal(got, want) {
				t.Fatalf("got  %s\nwant %s", got, want)
			}
			checkPayload(t, p)
		}
	})
	t.Run("allocations", func(t *testing.T) {
		m := identity.Match{Person: rec, Company: &rec.Company, Method: identity.MethodHEM, Confidence: 0.97}
		if n := testing.AllocsPerRun(200, func() { Build(ev, TypeUpdated, 2, m, session) }); n > 1 {
			t.Errorf("Build: %v allocations; want 1", n)
		}
	})
}

func BenchmarkAppendJSON(b *testing.B) {
	p := samplePayload()
	b.Run("reused-buffer", func(b *testing.B) {
		b.ReportAllocs()
		buf := AppendJSON(nil, p)
		b.SetBytes(int64(len(buf)))
		for b.Loop() {
			buf = AppendJSON(buf[:0], p)
		}
	})
	b.Run("new-buffer", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(AppendJSON(nil, p))))
		for b.Loop() {
			_ = AppendJSON(nil, p)
		}
	})
}

func BenchmarkEncodingJSON(b *testing.B) {
	p := samplePayload()
	b.Run("Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Encoder-reused-buffer", func(b *testing.B) {
		b.ReportAllocs()
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		for b.Loop() {
			buf.Reset()
			if err := enc.Encode(p); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkBuild(b *testing.B) {
	ev, rec := buildFixture()
	m := identity.Match{Person: rec, Company: &rec.Company, Method: identity.MethodHEM, Confidence: 0.97}
	s := SessionInfo{ID: "s_1", PagesViewed: 3, VisitCount: 1}
	b.ReportAllocs()
	buf := make([]byte, 0, 2048)
	for b.Loop() {
		buf = AppendJSON(buf[:0], Build(ev, TypeUpdated, 2, m, s))
	}
}
