package identity

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Location is where a person is, as free text.
type Location struct {
	City    string `json:"city,omitempty"`
	Region  string `json:"region,omitempty"`
	Country string `json:"country,omitempty"`
}

// Person is the profile of a person in the graph: what a match tells a
// tenant about the visitor.
type Person struct {
	FirstName     string   `json:"first_name,omitempty"`
	LastName      string   `json:"last_name,omitempty"`
	JobTitle      string   `json:"job_title,omitempty"`
	LinkedInURL   string   `json:"linkedin_url,omitempty"` // an http(s) URL
	BusinessEmail string   `json:"business_email,omitempty"`
	Location      Location `json:"location,omitzero"`
}

// IsZero reports whether p has no field set.
func (p Person) IsZero() bool { return p == Person{} }

// Company is the employer of a person, or the subject of a company-only
// record.
type Company struct {
	Name          string `json:"name,omitempty"`
	Domain        string `json:"domain,omitempty"` // a lower-case host name
	Industry      string `json:"industry,omitempty"`
	EmployeeRange string `json:"employee_range,omitempty"` // as the source gives it, e.g. "51-200"
	RevenueRange  string `json:"revenue_range,omitempty"`  // as the source gives it, e.g. "$10M-$50M"
}

// IsZero reports whether c has no field set.
func (c Company) IsZero() bool { return c == Company{} }

// Record is one line of the import format: a person (or, with a zero
// Person, a company-only record) and their identifiers. Records from
// ParseRecord are normalised: identifiers as NewIdentifier returns them,
// without junk or duplicates; text trimmed and bounded.
type Record struct {
	PersonID    string       `json:"person_id"`
	UpdatedAt   time.Time    `json:"updated_at,omitzero"` // UTC
	Identifiers []Identifier `json:"identifiers"`
	Person      Person       `json:"person,omitzero"`
	Company     Company      `json:"company,omitzero"`
}

// IsCompanyOnly reports whether the record names a company and no
// person: no person field is set and the company is. Such a record (for
// instance one listing a company's office IPs) can name the company of a
// visit, never a person.
func (r Record) IsCompanyOnly() bool { return r.Person.IsZero() && !r.Company.IsZero() }

// Limits of a record.
const (
	maxPersonIDLen    = 128
	maxRecordIDs      = 64  // identifiers a record may list, junk and duplicates included
	maxRecordFieldLen = 256 // bytes of a text field; longer text is cut
	maxDomainLen      = 253
	maxRecordDepth    = 32 // nesting of the unknown fields a record may carry
)

// ParseRecord decodes and validates one NDJSON line of the graph import
// format (API.md, "Identity graph import format").
//
// The line must be a JSON object in valid UTF-8; members it does not know
// are ignored, so that newer exports still import. person_id is required
// (1 to 128 of A-Z a-z 0-9 . _ : -), updated_at is optional (RFC 3339,
// returned in UTC). Every identifier must have a known type and a valid
// value; junk values are dropped silently, duplicates once normalised
// too, and at least one identifier must remain, of at most 64 listed.
// Text fields are trimmed and cut to 256 bytes; linkedin_url must be an
// http(s) URL and business_email an address; company.domain becomes a
// lower-case host name. A record needs person fields or a company, and a
// company-only record a company name or domain.
//
// Errors wrap ErrInvalidRecord with a message that names the field, such
// as "identifiers[2]: ..." (the index in the line's array); for a bad
// identifier value they wrap ErrInvalidIdentifier too.
//
// The record shares no memory with line. (Its strings do share memory with
// each other: a caller that keeps one field of many records for long, and
// not the rest, should strings.Clone it.)
func ParseRecord(line []byte) (Record, error) {
	if !utf8.Valid(line) {
		return Record{}, fmt.Errorf("%w: not valid UTF-8", ErrInvalidRecord)
	}
	d := recordDecoder{s: string(line)}
	var r Record
	if err := d.decode(&r); err != nil {
		return Record{}, err
	}
	if err := d.finish(&r); err != nil {
		return Record{}, err
	}
	return r, nil
}

// finish validates and normalises the decoded record and copies every
// string it keeps out of the line.
func (d *recordDecoder) finish(r *Record) error {
	if r.PersonID == "" {
		return fieldErr("person_id", "missing")
	}
	if !validPersonID(r.PersonID) {
		return fieldErr("person_id", "must be 1 to 128 of A-Z a-z 0-9 . _ : -")
	}
	r.PersonID = strings.Clone(r.PersonID)

	if d.updatedAt != "" {
		t, err := time.Parse(time.RFC3339, d.updatedAt)
		if err != nil {
			return fieldErr("updated_at", "not an RFC 3339 time")
		}
		t = t.UTC()
		if y := t.Year(); y < 1 || y > 9999 {
			return fieldErr("updated_at", "year out of range")
		}
		r.UpdatedAt = t
	}

	if err := d.finishIdentifiers(r); err != nil {
		return err
	}
	if err := finishPerson(&r.Person); err != nil {
		return err
	}
	if err := finishCompany(&r.Company); err != nil {
		return err
	}
	switch {
	case r.Person.IsZero() && r.Company.IsZero():
		return fieldErr("person", "a record needs person fields or a company")
	case r.IsCompanyOnly() && r.Company.Name == "" && r.Company.Domain == "":
		return fieldErr("company", "a company-only record needs a name or a domain")
	}
	p, c := &r.Person, &r.Company
	pack([]*string{&p.FirstName, &p.LastName, &p.JobTitle, &p.LinkedInURL, &p.BusinessEmail,
		&p.Location.City, &p.Location.Region, &p.Location.Country,
		&c.Name, &c.Domain, &c.Industry, &c.EmployeeRange, &c.RevenueRange})
	return nil
}

func (d *recordDecoder) finishIdentifiers(r *Record) error {
	ids := make([]Identifier, 0, d.nIDs)
next:
	for i, raw := range d.ids[:d.nIDs] {
		if raw.typ == "" {
			return fieldErr("identifiers["+strconv.Itoa(i)+"]", "type missing")
		}
		t, ok := parseType(raw.typ)
		if !ok {
			return fieldErr("identifiers["+strconv.Itoa(i)+"]", "unknown type "+strconv.Quote(clip(raw.typ)))
		}
		v := strings.TrimSpace(raw.value)
		if isJunk(v) {
			continue // dropped silently (and without building an error)
		}
		v, err := normalizeChecked(t, v)
		if err != nil {
			return fmt.Errorf("%w: identifiers[%d]: %w", ErrInvalidRecord, i, err)
		}
		for _, seen := range ids {
			if seen.Type == t && seen.Value == v {
				continue next
			}
		}
		ids = append(ids, Identifier{Type: t, Value: v})
	}
	if len(ids) == 0 {
		return fieldErr("identifiers", "none left (a record needs at least one that is not junk)")
	}
	var values [maxRecordIDs]*string
	for i := range ids {
		values[i] = &ids[i].Value
	}
	pack(values[:len(ids)])
	r.Identifiers = ids
	return nil
}

func finishPerson(p *Person) error {
	p.FirstName = cleanText(p.FirstName)
	p.LastName = cleanText(p.LastName)
	p.JobTitle = cleanText(p.JobTitle)
	p.Location.City = cleanText(p.Location.City)
	p.Location.Region = cleanText(p.Location.Region)
	p.Location.Country = cleanText(p.Location.Country)

	if u := strings.TrimSpace(p.LinkedInURL); u != "" && !isTextNull(u) {
		if len(u) > maxRecordFieldLen || !isHTTPURL(u) {
			return fieldErr("person.linkedin_url", "must be an http(s) URL of at most 256 bytes")
		}
		p.LinkedInURL = u
	} else {
		p.LinkedInURL = ""
	}

	if e := strings.TrimSpace(p.BusinessEmail); e != "" && !isTextNull(e) {
		if _, err := NormalizeEmail(e); err != nil {
			return fieldErr("person.business_email", "not an email address")
		}
		p.BusinessEmail = e
	} else {
		p.BusinessEmail = ""
	}
	return nil
}

func finishCompany(c *Company) error {
	c.Name = cleanText(c.Name)
	c.Industry = cleanText(c.Industry)
	c.EmployeeRange = cleanText(c.EmployeeRange)
	c.RevenueRange = cleanText(c.RevenueRange)
	if v := strings.TrimSpace(c.Domain); v != "" && !isTextNull(v) {
		host, ok := normalizeDomain(v)
		if !ok {
			return fieldErr("company.domain", "not a host name")
		}
		c.Domain = host
	} else {
		c.Domain = ""
	}
	return nil
}

// cleanText trims a text field, empties it when it only says there is no
// value ("null", "n/a", …) and cuts it to maxRecordFieldLen bytes on a
// character boundary.
func cleanText(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > maxRecordFieldLen {
		cut := maxRecordFieldLen
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = strings.TrimRightFunc(s[:cut], unicode.IsSpace)
	}
	if isTextNull(s) { // after the cut: "null" and 300 spaces and "x" is "null"
		return ""
	}
	return s
}

// pack copies the strings fields point to into one new allocation and
// points them at their copies: one allocation for a record's identifier
// values and one for its profile, instead of one per string.
func pack(fields []*string) {
	n := 0
	for _, f := range fields {
		n += len(*f)
	}
	var b strings.Builder
	b.Grow(n)
	for _, f := range fields {
		b.WriteString(*f)
	}
	all := b.String()
	for _, f := range fields {
		if *f == "" {
			continue
		}
		n := len(*f)
		*f, all = all[:n], all[n:]
	}
}

// isTextNull reports whether a text field is a placeholder for no value.
// The list is shorter than that of identifiers: "test", "0" or "Nil" can
// be real text.
func isTextNull(s string) bool {
	if len(s) > len("[object object]") {
		return false
	}
	for _, n := range [...]string{"null", "undefined", "none", "n/a", "[object object]"} {
		if strings.EqualFold(s, n) {
			return true
		}
	}
	return false
}

// parseType returns the identifier type a line names, accepting
// surrounding space and any case.
func parseType(s string) (Type, bool) {
	if t := Type(s); t.Valid() {
		return t, true
	}
	t := Type(strings.ToLower(strings.TrimSpace(s)))
	if !t.Valid() {
		return "", false
	}
	switch t { // the constant, not a copy of the line
	case TypeCookie:
		return TypeCookie, true
	case TypeHEMSHA256:
		return TypeHEMSHA256, true
	case TypeHEMSHA1:
		return TypeHEMSHA1, true
	case TypeHEMMD5:
		return TypeHEMMD5, true
	case TypeDeviceID:
		return TypeDeviceID, true
	case TypeMAID:
		return TypeMAID, true
	default:
		return TypeIP, true
	}
}

func validPersonID(s string) bool {
	if len(s) == 0 || len(s) > maxPersonIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// isHTTPURL reports whether u is an absolute http or https URL with a
// host and no white space or control characters.
func isHTTPURL(u string) bool {
	if hasSpaceOrControl(u) {
		return false
	}
	var rest string
	switch {
	case len(u) > len("https://") && strings.EqualFold(u[:len("https://")], "https://"):
		rest = u[len("https://"):]
	case len(u) > len("http://") && strings.EqualFold(u[:len("http://")], "http://"):
		rest = u[len("http://"):]
	default:
		return false
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	host := rest[:end]
	if at := strings.LastIndexByte(host, '@'); at >= 0 {
		host = host[at+1:]
	}
	return host != "" && host[0] != ':'
}

// hasSpaceOrControl reports whether s has a white space or control
// character.
func hasSpaceOrControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return true
		} else if c >= utf8.RuneSelf {
			return strings.ContainsFunc(s[i:], func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) })
		}
	}
	return false
}

// normalizeDomain returns the lower-case host name that v names, given
// as a bare host or as a URL ("https://Acme.com/about" → "acme.com"),
// and whether it is one: dot-separated labels of letters, digits and
// hyphens, a last label that is not all digits (no IP addresses).
func normalizeDomain(v string) (string, bool) {
	v = strings.ToLower(v)
	if i := strings.Index(v, "://"); i >= 0 {
		if s := v[:i]; s != "http" && s != "https" {
			return "", false
		}
		v = v[i+3:]
	}
	if i := strings.IndexAny(v, "/?#"); i >= 0 {
		v = v[:i]
	}
	if i := strings.LastIndexByte(v, ':'); i >= 0 { // a port
		if _, err := strconv.ParseUint(v[i+1:], 10, 16); err != nil {
			return "", false
		}
		v = v[:i]
	}
	v = strings.TrimSuffix(v, ".")
	if len(v) > maxDomainLen || !strings.Contains(v, ".") {
		return "", false
	}
	allDigits := false
	for label := range strings.SplitSeq(v, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", false
		}
		allDigits = true
		for _, r := range label {
			switch {
			case '0' <= r && r <= '9':
			case 'a' <= r && r <= 'z' || r == '-':
				allDigits = false
			case r >= utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r)):
				// An internationalised name in Unicode form.
				if unicode.ToLower(r) != r {
					return "", false // a letter without a lower case form we can keep stable
				}
				allDigits = false
			default:
				return "", false
			}
		}
	}
	return v, !allDigits
}

func fieldErr(field, msg string) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidRecord, field, msg)
}
