package webhook

import (
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/internal/jsonw"
)

// Event types of a payload (API.md, "Webhook delivery").
const (
	TypeIdentified = "visitor.identified" // the first match of a person for a tenant (First Match)
	TypeUpdated    = "visitor.updated"    // every later visit of a matched person (Every Update)
)

// Types of a hashed email in a payload's hems.
const (
	HEMSHA256 = "sha256"
	HEMSHA1   = "sha1"
	HEMMD5    = "md5"
)

// Payload is the body of a webhook delivery (API.md, "Webhook delivery").
// [Build] assembles one from an event and its match; [AppendJSON] encodes
// it, [AppendBatch] encodes several as one JSON array (a batched POST).
//
// The wire form, decided here once for every receiver:
//
//   - data.person is null when no person matched (a company-only match
//     has a company and a null person); data.company is null when no
//     company is known.
//   - Every member of person, company, visit and match is always present,
//     "" or 0 when unknown, so that receivers can map fields without
//     checking for them. location is the exception: it holds only the
//     members known (city, region, country), and is {} when none is.
//   - visit.utm is always an object, {} when the page had no campaign
//     parameters, its keys in byte order; hems is always an array, []
//     when none is known.
//   - created_at and seen_at are RFC 3339 with nanoseconds (trailing
//     zeros dropped) in UTC: "2026-03-01T12:00:00.25Z".
//   - Strings are escaped as encoding/json escapes them, except that <, >
//     and & are written as they are (json.Encoder.SetEscapeHTML(false)):
//     the body is JSON for programs, never HTML, and URLs keep their &
//     readable. So: \" \\ \b \f \n \r \t, the other control characters
//     as \u00XX, U+2028 and U+2029 as \u2028 and \u2029 (JSONP-safe), and
//     each byte of invalid UTF-8 as \ufffd.
//   - Numbers are written as encoding/json writes them; a NaN or infinite
//     confidence (which encoding/json refuses) is written as 0.
//
// The JSON names in the struct tags say the same, so that encoding/json
// is the reference AppendJSON is tested against.
type Payload struct {
	ID        string    `json:"id"`         // the event id: also the webhook-id header
	Type      string    `json:"type"`       // TypeIdentified or TypeUpdated
	CreatedAt time.Time `json:"created_at"` // when the node accepted the event
	TenantID  string    `json:"tenant_id"`
	Sequence  uint64    `json:"sequence"` // 1, 2, 3 … per (tenant, person)
	Data      Data      `json:"data"`
}

// Data is who the visitor is and what they did.
type Data struct {
	Person  *PersonData  `json:"person"`  // nil (null) when no person matched
	Company *CompanyData `json:"company"` // nil (null) when no company is known
	Visit   Visit        `json:"visit"`
	HEMs    []HEM        `json:"hems"` // nil is written as []
	Match   MatchData    `json:"match"`
}

// PersonData is the matched person's profile.
type PersonData struct {
	ID            string   `json:"id"` // the person id of the identity graph
	FirstName     string   `json:"first_name"`
	LastName      string   `json:"last_name"`
	JobTitle      string   `json:"job_title"`
	LinkedInURL   string   `json:"linkedin_url"`
	BusinessEmail string   `json:"business_email"`
	Location      Location `json:"location"`
}

// Location is where a person is; unknown members are left out.
type Location struct {
	City    string `json:"city,omitempty"`
	Region  string `json:"region,omitempty"`
	Country string `json:"country,omitempty"`
}

// CompanyData is the matched company: the person's employer, or the
// company an IP address belongs to.
type CompanyData struct {
	Name          string `json:"name"`
	Domain        string `json:"domain"`
	Industry      string `json:"industry"`
	EmployeeRange string `json:"employee_range"`
	RevenueRange  string `json:"revenue_range"`
}

// Visit is the page view and its session.
type Visit struct {
	VisitorID   string            `json:"visitor_id"`
	SessionID   string            `json:"session_id"`
	PageURL     string            `json:"page_url"`
	PageTitle   string            `json:"page_title"`
	Referrer    string            `json:"referrer"`
	UTM         map[string]string `json:"utm"` // source, medium, campaign, …; nil is written as {}
	SeenAt      time.Time         `json:"seen_at"`
	PagesViewed int               `json:"pages_viewed"` // in this session, this page included
	VisitCount  int               `json:"visit_count"`  // sessions of the visitor, this one included
}

// HEM is a hashed email, lower-case hex.
type HEM struct {
	Type  string `json:"type"` // HEMSHA256, HEMSHA1 or HEMMD5
	Value string `json:"value"`
}

// MatchData says how the visitor was matched.
type MatchData struct {
	Method     string  `json:"method"`     // cookie, hem, device or ip
	Confidence float64 `json:"confidence"` // 0 to 1
}

// SessionInfo is what the visitor actor knows of the event's session.
type SessionInfo struct {
	ID          string // the session id; "" means the pixel's sid of the event
	PagesViewed int    // page views of the session so far, this one included
	VisitCount  int    // sessions of the visitor so far, this one included
}

// noUTM is the utm of an event without campaign parameters: shared, never
// written to.
var noUTM = map[string]string{}

// payloadBlock lets Build allocate a payload, its person, its company
// and up to three hashed emails at once.
type payloadBlock struct {
	payload Payload
	person  PersonData
	company CompanyData
	hems    [3]HEM
}

// Build assembles the payload of event ev of type typ (TypeIdentified or
// TypeUpdated), number seq of its (tenant, person), matched as m, in the
// session described by session:
//
//   - created_at is the time the node accepted the event (ev.ReceivedAt)
//     and seen_at the browser's time of the page view (ev.ClientTS,
//     checked at ingest; ReceivedAt when absent), both in UTC, so that
//     building a payload again, for a replay or after a restart, gives
//     the same bytes;
//   - person is m.Person's profile, its id the graph's person id;
//   - company is m.Company, else the person's company; nil when neither
//     names one;
//   - hems are the event's hashed emails (sha256, sha1, md5), or when it
//     has none the person's, in the order of their record;
//   - confidence is m.Confidence kept within 0 to 1 (NaN is 0).
//
// The payload shares its strings and its utm map with ev and m: none of
// them may be modified afterwards. Its nil-able fields are set as
// AppendJSON writes them (an empty utm map, an empty hems slice), so that
// encoding/json encodes it the same way too.
func Build(ev *firehook.Event, typ string, seq uint64, m identity.Match, session SessionInfo) *Payload {
	blk := new(payloadBlock)
	p := &blk.payload
	p.ID, p.Type, p.TenantID, p.Sequence = ev.ID, typ, ev.TenantID, seq
	p.CreatedAt = ev.ReceivedAt.UTC()
	d := &p.Data

	if r := m.Person; r != nil {
		pr := &r.Person
		blk.person = PersonData{
			ID:            r.PersonID,
			FirstName:     pr.FirstName,
			LastName:      pr.LastName,
			JobTitle:      pr.JobTitle,
			LinkedInURL:   pr.LinkedInURL,
			BusinessEmail: pr.BusinessEmail,
			Location:      Location(pr.Location),
		}
		d.Person = &blk.person
	}
	c := m.Company
	if c == nil && m.Person != nil {
		c = &m.Person.Company
	}
	if c != nil && !c.IsZero() {
		blk.company = CompanyData(*c)
		d.Company = &blk.company
	}

	seen := ev.ClientTS
	if seen.IsZero() {
		seen = ev.ReceivedAt
	}
	sid := session.ID
	if sid == "" {
		sid = ev.SessionID
	}
	utm := ev.UTM
	if utm == nil {
		utm = noUTM
	}
	d.Visit = Visit{
		VisitorID:   ev.VisitorID,
		SessionID:   sid,
		PageURL:     ev.URL,
		PageTitle:   ev.Title,
		Referrer:    ev.Referrer,
		UTM:         utm,
		SeenAt:      seen.UTC(),
		PagesViewed: session.PagesViewed,
		VisitCount:  session.VisitCount,
	}
	d.HEMs = hemsOf(blk.hems[:0], ev, m.Person)
	d.Match = MatchData{Method: string(m.Method), Confidence: clampConfidence(m.Confidence)}
	return p
}

// hemsOf appends the event's hashed emails to dst, or when it has none
// those of the person's record.
func hemsOf(dst []HEM, ev *firehook.Event, r *identity.Record) []HEM {
	for _, h := range [...]HEM{{HEMSHA256, ev.HEMs.SHA256}, {HEMSHA1, ev.HEMs.SHA1}, {HEMMD5, ev.HEMs.MD5}} {
		if h.Value != "" {
			dst = append(dst, h)
		}
	}
	if len(dst) > 0 || r == nil {
		return dst
	}
	for _, id := range r.Identifiers {
		switch id.Type {
		case identity.TypeHEMSHA256:
			dst = append(dst, HEM{HEMSHA256, id.Value})
		case identity.TypeHEMSHA1:
			dst = append(dst, HEM{HEMSHA1, id.Value})
		case identity.TypeHEMMD5:
			dst = append(dst, HEM{HEMMD5, id.Value})
		}
	}
	return dst
}

func clampConfidence(f float64) float64 {
	switch {
	case !(f > 0): // NaN too
		return 0
	case f > 1:
		return 1
	}
	return f
}

// AppendJSON appends the JSON encoding of p to buf and returns the
// extended buffer; nil is written as null. The encoding is the one
// Payload describes: byte for byte what a json.Encoder with
// SetEscapeHTML(false) writes for p (without its newline) once p's times
// are in UTC, a nil utm is an empty map, a nil hems an empty slice and a
// NaN or infinite confidence 0. A time outside the years 0 to 9999, which
// encoding/json refuses, is written in the same layout with its longer
// year (Build never makes one).
//
// It uses no reflection and, when buf has room, allocates nothing.
func AppendJSON(buf []byte, p *Payload) []byte {
	if p == nil {
		return append(buf, "null"...)
	}
	buf = slices.Grow(buf, sizeHint(p))
	buf = append(buf, `{"id":`...)
	buf = appendString(buf, p.ID)
	buf = append(buf, `,"type":`...)
	buf = appendString(buf, p.Type)
	buf = append(buf, `,"created_at":`...)
	buf = appendTime(buf, p.CreatedAt)
	buf = append(buf, `,"tenant_id":`...)
	buf = appendString(buf, p.TenantID)
	buf = append(buf, `,"sequence":`...)
	buf = strconv.AppendUint(buf, p.Sequence, 10)

	d := &p.Data
	buf = append(buf, `,"data":{"person":`...)
	buf = appendPerson(buf, d.Person)
	buf = append(buf, `,"company":`...)
	buf = appendCompany(buf, d.Company)
	buf = append(buf, `,"visit":`...)
	buf = appendVisit(buf, &d.Visit)
	buf = append(buf, `,"hems":[`...)
	for i, h := range d.HEMs {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"type":`...)
		buf = appendString(buf, h.Type)
		buf = append(buf, `,"value":`...)
		buf = appendString(buf, h.Value)
		buf = append(buf, '}')
	}
	buf = append(buf, `],"match":{"method":`...)
	buf = appendString(buf, d.Match.Method)
	buf = append(buf, `,"confidence":`...)
	buf = appendFloat(buf, d.Match.Confidence)
	return append(buf, "}}}"...)
}

// AppendBatch appends ps as one JSON array, each item as AppendJSON
// writes it: the body of a batched delivery, one event id per item. An
// empty batch is []; a nil item is null, as encoding/json writes it.
func AppendBatch(buf []byte, ps []*Payload) []byte {
	buf = append(buf, '[')
	for i, p := range ps {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = AppendJSON(buf, p)
	}
	return append(buf, ']')
}

// sizeHint is about the encoded size of p: the fixed text and the length
// of its strings, so that a payload written into an empty buffer
// allocates once.
func sizeHint(p *Payload) int {
	const fixed = 512 // keys, punctuation, times and numbers
	d := &p.Data
	n := fixed + len(p.ID) + len(p.Type) + len(p.TenantID)
	if pr := d.Person; pr != nil {
		n += len(pr.ID) + len(pr.FirstName) + len(pr.LastName) + len(pr.JobTitle) + len(pr.LinkedInURL) +
			len(pr.BusinessEmail) + len(pr.Location.City) + len(pr.Location.Region) + len(pr.Location.Country)
	}
	if c := d.Company; c != nil {
		n += len(c.Name) + len(c.Domain) + len(c.Industry) + len(c.EmployeeRange) + len(c.RevenueRange)
	}
	v := &d.Visit
	n += len(v.VisitorID) + len(v.SessionID) + len(v.PageURL) + len(v.PageTitle) + len(v.Referrer)
	for k, val := range v.UTM {
		n += len(k) + len(val) + 6
	}
	for _, h := range d.HEMs {
		n += len(h.Type) + len(h.Value) + 24
	}
	return n + len(d.Match.Method)
}

func appendPerson(buf []byte, p *PersonData) []byte {
	if p == nil {
		return append(buf, "null"...)
	}
	buf = append(buf, `{"id":`...)
	buf = appendString(buf, p.ID)
	buf = append(buf, `,"first_name":`...)
	buf = appendString(buf, p.FirstName)
	buf = append(buf, `,"last_name":`...)
	buf = appendString(buf, p.LastName)
	buf = append(buf, `,"job_title":`...)
	buf = appendString(buf, p.JobTitle)
	buf = append(buf, `,"linkedin_url":`...)
	buf = appendString(buf, p.LinkedInURL)
	buf = append(buf, `,"business_email":`...)
	buf = appendString(buf, p.BusinessEmail)
	buf = append(buf, `,"location":{`...)
	l := &p.Location
	sep := false
	for _, f := range [...]struct{ key, val string }{{`"city":`, l.City}, {`"region":`, l.Region}, {`"country":`, l.Country}} {
		if f.val == "" {
			continue
		}
		if sep {
			buf = append(buf, ',')
		}
		buf = append(buf, f.key...)
		buf = appendString(buf, f.val)
		sep = true
	}
	return append(buf, "}}"...)
}

func appendCompany(buf []byte, c *CompanyData) []byte {
	if c == nil {
		return append(buf, "null"...)
	}
	buf = append(buf, `{"name":`...)
	buf = appendString(buf, c.Name)
	buf = append(buf, `,"domain":`...)
	buf = appendString(buf, c.Domain)
	buf = append(buf, `,"industry":`...)
	buf = appendString(buf, c.Industry)
	buf = append(buf, `,"employee_range":`...)
	buf = appendString(buf, c.EmployeeRange)
	buf = append(buf, `,"revenue_range":`...)
	buf = appendString(buf, c.RevenueRange)
	return append(buf, '}')
}

func appendVisit(buf []byte, v *Visit) []byte {
	buf = append(buf, `{"visitor_id":`...)
	buf = appendString(buf, v.VisitorID)
	buf = append(buf, `,"session_id":`...)
	buf = appendString(buf, v.SessionID)
	buf = append(buf, `,"page_url":`...)
	buf = appendString(buf, v.PageURL)
	buf = append(buf, `,"page_title":`...)
	buf = appendString(buf, v.PageTitle)
	buf = append(buf, `,"referrer":`...)
	buf = appendString(buf, v.Referrer)
	buf = append(buf, `,"utm":`...)
	buf = appendUTM(buf, v.UTM)
	buf = append(buf, `,"seen_at":`...)
	buf = appendTime(buf, v.SeenAt)
	buf = append(buf, `,"pages_viewed":`...)
	buf = strconv.AppendInt(buf, int64(v.PagesViewed), 10)
	buf = append(buf, `,"visit_count":`...)
	buf = strconv.AppendInt(buf, int64(v.VisitCount), 10)
	return append(buf, '}')
}

// appendUTM writes m as an object with its keys in byte order, as
// encoding/json orders map keys. The ingest keeps at most six keys, which
// are sorted on the stack.
func appendUTM(buf []byte, m map[string]string) []byte {
	if len(m) == 0 {
		return append(buf, "{}"...)
	}
	var small [8]string
	keys := small[:0]
	if len(m) > len(small) {
		keys = make([]string, 0, len(m))
	}
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	buf = append(buf, '{')
	for i, k := range keys {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendString(buf, k)
		buf = append(buf, ':')
		buf = appendString(buf, m[k])
	}
	return append(buf, '}')
}

// appendTime writes t in UTC as an RFC 3339 string with nanoseconds, as
// time.Time.MarshalJSON writes a UTC time.
func appendTime(buf []byte, t time.Time) []byte {
	buf = append(buf, '"')
	buf = t.UTC().AppendFormat(buf, time.RFC3339Nano)
	return append(buf, '"')
}

// appendFloat writes f as encoding/json does (like ECMAScript's
// Number.prototype.toString: plain decimals from 1e-6 to 1e21, an
// exponent outside), and NaN and infinities, which JSON cannot carry,
// as 0.
func appendFloat(buf []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(buf, '0')
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	buf = strconv.AppendFloat(buf, f, format, -1, 64)
	if format == 'e' { // e-07 → e-7, as encoding/json does
		if n := len(buf); n >= 4 && buf[n-4] == 'e' && buf[n-3] == '-' && buf[n-2] == '0' {
			buf[n-2] = buf[n-1]
			buf = buf[:n-1]
		}
	}
	return buf
}

// appendString writes s as a JSON string, escaped as encoding/json does
// with HTML escaping off (see Payload).
func appendString(buf []byte, s string) []byte { return jsonw.AppendString(buf, s, false) }
