package identity

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// rawIdentifier is an identifier as the line has it.
type rawIdentifier struct{ typ, value string }

// recordDecoder reads a record from one line. It decodes the JSON by hand:
// encoding/json's reflection would cost more than all the validation, and
// an import reads hundreds of thousands of lines a second. Decoded
// strings share memory with s until finish copies what it keeps.
type recordDecoder struct {
	s string
	i int // read position in s

	updatedAt string
	ids       [maxRecordIDs]rawIdentifier
	nIDs      int
	scratch   []byte // for unescaping strings
}

func (d *recordDecoder) decode(r *Record) error {
	d.skipSpace()
	if d.peek() != '{' {
		// Distinguish JSON that is no object from no JSON at all.
		if err := d.skipValue(0); err != nil {
			return err
		}
		if d.skipSpace(); d.i < len(d.s) {
			return d.syntaxErr("data after the value")
		}
		return fmt.Errorf("%w: a line must be a JSON object", ErrInvalidRecord)
	}
	key, more, err := d.firstMember()
	for more {
		switch key {
		case "person_id":
			err = d.stringInto(&r.PersonID, "person_id")
		case "updated_at":
			err = d.stringInto(&d.updatedAt, "updated_at")
		case "identifiers":
			err = d.identifiers()
		case "person":
			err = d.person(&r.Person)
		case "company":
			err = d.company(&r.Company)
		default:
			err = d.skipValue(1)
		}
		if err != nil {
			return err
		}
		key, more, err = d.nextMember()
	}
	if err != nil {
		return err
	}
	if d.skipSpace(); d.i < len(d.s) {
		return d.syntaxErr("data after the object")
	}
	return nil
}

func (d *recordDecoder) identifiers() error {
	d.nIDs = 0 // a repeated member replaces the earlier one
	if d.null() {
		return nil
	}
	if d.peek() != '[' {
		return fieldErr("identifiers", "want an array")
	}
	more, err := d.firstElement()
	for n := 0; more; n++ {
		if n >= maxRecordIDs {
			return fieldErr("identifiers", "more than "+strconv.Itoa(maxRecordIDs))
		}
		if err := d.identifier(n); err != nil {
			return err
		}
		more, err = d.nextElement()
	}
	return err
}

// identifier reads identifiers[n] into d.ids[n].
func (d *recordDecoder) identifier(n int) error {
	if d.peek() != '{' {
		return fieldErr("identifiers["+strconv.Itoa(n)+"]", "want an object")
	}
	id := &d.ids[n]
	*id = rawIdentifier{}
	d.nIDs = n + 1
	key, more, err := d.firstMember()
	for more {
		switch key {
		case "type":
			err = d.identifierString(&id.typ, n, key)
		case "value":
			err = d.identifierString(&id.value, n, key)
		default:
			err = d.skipValue(2)
		}
		if err != nil {
			return err
		}
		key, more, err = d.nextMember()
	}
	return err
}

// identifierString is stringInto for a member of identifiers[n], whose
// field name it only builds for an error.
func (d *recordDecoder) identifierString(dst *string, n int, member string) error {
	if d.null() {
		*dst = ""
		return nil
	}
	if d.peek() != '"' {
		return fieldErr("identifiers["+strconv.Itoa(n)+"]."+member, "want a string")
	}
	s, err := d.str()
	*dst = s
	return err
}

func (d *recordDecoder) person(p *Person) error {
	if d.null() {
		return nil
	}
	if d.peek() != '{' {
		return fieldErr("person", "want an object")
	}
	key, more, err := d.firstMember()
	for more {
		switch key {
		case "first_name":
			err = d.stringInto(&p.FirstName, "person.first_name")
		case "last_name":
			err = d.stringInto(&p.LastName, "person.last_name")
		case "job_title":
			err = d.stringInto(&p.JobTitle, "person.job_title")
		case "linkedin_url":
			err = d.stringInto(&p.LinkedInURL, "person.linkedin_url")
		case "business_email":
			err = d.stringInto(&p.BusinessEmail, "person.business_email")
		case "location":
			err = d.location(&p.Location)
		default:
			err = d.skipValue(2)
		}
		if err != nil {
			return err
		}
		key, more, err = d.nextMember()
	}
	return err
}

func (d *recordDecoder) location(l *Location) error {
	return d.stringObject("person.location", 3, func(key string) (*string, string) {
		switch key {
		case "city":
			return &l.City, "person.location.city"
		case "region":
			return &l.Region, "person.location.region"
		case "country":
			return &l.Country, "person.location.country"
		}
		return nil, ""
	})
}

func (d *recordDecoder) company(c *Company) error {
	return d.stringObject("company", 2, func(key string) (*string, string) {
		switch key {
		case "name":
			return &c.Name, "company.name"
		case "domain":
			return &c.Domain, "company.domain"
		case "industry":
			return &c.Industry, "company.industry"
		case "employee_range":
			return &c.EmployeeRange, "company.employee_range"
		case "revenue_range":
			return &c.RevenueRange, "company.revenue_range"
		}
		return nil, ""
	})
}

// stringObject decodes an object (or null) whose members are strings:
// field names it in errors, depth is its nesting for skipValue, and
// member maps a key to its destination and full field name (nil: the
// member is skipped).
func (d *recordDecoder) stringObject(field string, depth int, member func(key string) (*string, string)) error {
	if d.null() {
		return nil
	}
	if d.peek() != '{' {
		return fieldErr(field, "want an object")
	}
	key, more, err := d.firstMember()
	for more {
		if dst, name := member(key); dst != nil {
			err = d.stringInto(dst, name)
		} else {
			err = d.skipValue(depth)
		}
		if err != nil {
			return err
		}
		key, more, err = d.nextMember()
	}
	return err
}

// The JSON reader. Each method starts at the first byte of what it reads
// (white space already skipped) and leaves d.i after it.

func (d *recordDecoder) syntaxErr(msg string) error {
	return fmt.Errorf("%w: %w at byte %d: %s", ErrInvalidRecord, errMalformedJSON, d.i, msg)
}

func (d *recordDecoder) peek() byte {
	if d.i < len(d.s) {
		return d.s[d.i]
	}
	return 0
}

func (d *recordDecoder) skipSpace() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// null consumes a null literal if one is next.
func (d *recordDecoder) null() bool {
	if strings.HasPrefix(d.s[d.i:], "null") {
		d.i += len("null")
		return true
	}
	return false
}

// stringInto reads a string (null reads as "") into dst.
func (d *recordDecoder) stringInto(dst *string, field string) error {
	if d.null() {
		*dst = ""
		return nil
	}
	if d.peek() != '"' {
		return fieldErr(field, "want a string")
	}
	s, err := d.str()
	if err != nil {
		return err
	}
	*dst = s
	return nil
}

// Objects and arrays are read in loops:
//
//	key, more, err := d.firstMember()
//	for more {
//		if err := <read the value at d.i>; err != nil {
//			return err
//		}
//		key, more, err = d.nextMember()
//	}
//	return err
//
// firstMember starts at '{'; nextMember after a value. Both return the
// next member's name with d.i at its value, or more == false after the
// closing '}'. firstElement and nextElement do the same for arrays.

func (d *recordDecoder) firstMember() (key string, more bool, err error) {
	d.i++ // '{'
	d.skipSpace()
	if d.peek() == '}' {
		d.i++
		return "", false, nil
	}
	return d.member()
}

func (d *recordDecoder) nextMember() (key string, more bool, err error) {
	d.skipSpace()
	switch d.peek() {
	case ',':
		d.i++
		d.skipSpace()
		return d.member()
	case '}':
		d.i++
		return "", false, nil
	}
	return "", false, d.syntaxErr("want ',' or '}'")
}

// member reads a member name and the colon after it.
func (d *recordDecoder) member() (key string, more bool, err error) {
	if d.peek() != '"' {
		return "", false, d.syntaxErr("want a member name")
	}
	if key, err = d.str(); err != nil {
		return "", false, err
	}
	d.skipSpace()
	if d.peek() != ':' {
		return "", false, d.syntaxErr("want ':'")
	}
	d.i++
	d.skipSpace()
	return key, true, nil
}

func (d *recordDecoder) firstElement() (more bool, err error) {
	d.i++ // '['
	d.skipSpace()
	if d.peek() == ']' {
		d.i++
		return false, nil
	}
	return true, nil
}

func (d *recordDecoder) nextElement() (more bool, err error) {
	d.skipSpace()
	switch d.peek() {
	case ',':
		d.i++
		d.skipSpace()
		return true, nil
	case ']':
		d.i++
		return false, nil
	}
	return false, d.syntaxErr("want ',' or ']'")
}

// skipValue reads any value, depth levels deep in the record.
func (d *recordDecoder) skipValue(depth int) error {
	switch c := d.peek(); c {
	case '{', '[':
		if depth >= maxRecordDepth {
			return fmt.Errorf("%w: nested more than %d levels", ErrInvalidRecord, maxRecordDepth)
		}
		var more bool
		var err error
		if c == '[' {
			more, err = d.firstElement()
			for more {
				err = d.skipValue(depth + 1)
				if err != nil {
					return err
				}
				more, err = d.nextElement()
			}
			return err
		}
		_, more, err = d.firstMember()
		for more {
			err = d.skipValue(depth + 1)
			if err != nil {
				return err
			}
			_, more, err = d.nextMember()
		}
		return err
	case '"':
		_, err := d.str()
		return err
	case 't':
		return d.literal("true")
	case 'f':
		return d.literal("false")
	case 'n':
		return d.literal("null")
	default:
		if c == '-' || '0' <= c && c <= '9' {
			return d.number()
		}
		if d.i >= len(d.s) {
			return d.syntaxErr("unexpected end")
		}
		return d.syntaxErr("want a value")
	}
}

func (d *recordDecoder) literal(lit string) error {
	if !strings.HasPrefix(d.s[d.i:], lit) {
		return d.syntaxErr("want a value")
	}
	d.i += len(lit)
	return nil
}

// number reads a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *recordDecoder) number() error {
	if d.peek() == '-' {
		d.i++
	}
	switch c := d.peek(); {
	case c == '0':
		d.i++
	case '1' <= c && c <= '9':
		d.digits()
	default:
		return d.syntaxErr("want a digit")
	}
	if d.peek() == '.' {
		d.i++
		if !d.digits() {
			return d.syntaxErr("want a digit")
		}
	}
	if c := d.peek(); c == 'e' || c == 'E' {
		d.i++
		if c := d.peek(); c == '+' || c == '-' {
			d.i++
		}
		if !d.digits() {
			return d.syntaxErr("want a digit")
		}
	}
	return nil
}

// digits reads one or more digits and reports whether there was one.
func (d *recordDecoder) digits() bool {
	start := d.i
	for d.i < len(d.s) && '0' <= d.s[d.i] && d.s[d.i] <= '9' {
		d.i++
	}
	return d.i > start
}

// str reads a string. Without escapes, the result is a substring of d.s.
func (d *recordDecoder) str() (string, error) {
	start := d.i + 1 // after '"'
	for i := start; i < len(d.s); i++ {
		switch c := d.s[i]; {
		case c == '"':
			d.i = i + 1
			return d.s[start:i], nil
		case c == '\\':
			d.i = i
			return d.strEscaped(start)
		case c < 0x20:
			d.i = i
			return "", d.syntaxErr("control character in a string")
		}
	}
	d.i = len(d.s)
	return "", d.syntaxErr("unterminated string")
}

// strEscaped reads the rest of a string from d.i, the first backslash,
// where start is the first byte of the string's content. Like
// encoding/json, it reads an escaped lone surrogate as U+FFFD.
func (d *recordDecoder) strEscaped(start int) (string, error) {
	b := append(d.scratch[:0], d.s[start:d.i]...)
	for d.i < len(d.s) {
		c := d.s[d.i]
		switch {
		case c == '"':
			d.i++
			d.scratch = b
			return string(b), nil
		case c < 0x20:
			return "", d.syntaxErr("control character in a string")
		case c != '\\':
			b = append(b, c)
			d.i++
			continue
		}
		if d.i+1 >= len(d.s) {
			break
		}
		d.i++ // at the escape letter
		switch e := d.s[d.i]; e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := hex4(d.s[d.i+1:])
			if !ok {
				return "", d.syntaxErr(`want 4 hex digits after \u`)
			}
			d.i += 4
			if utf16.IsSurrogate(r) {
				r2, ok := rune(0), false
				if strings.HasPrefix(d.s[d.i+1:], `\u`) {
					r2, ok = hex4(d.s[d.i+3:])
				}
				if pair := utf16.DecodeRune(r, r2); ok && pair != unicode.ReplacementChar {
					r = pair
					d.i += 6
				} else {
					r = unicode.ReplacementChar
				}
			}
			b = utf8.AppendRune(b, r)
		default:
			return "", d.syntaxErr("unknown escape")
		}
		d.i++
	}
	d.i = len(d.s)
	return "", d.syntaxErr("unterminated string")
}

// hex4 decodes the 4 hex digits s starts with.
func hex4(s string) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for i := 0; i < 4; i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
