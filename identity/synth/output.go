package synth

import (
	"io"
	"strconv"
	"time"

	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/internal/jsonw"
)

// blockWriter collects lines and writes them in blocks.
type blockWriter struct {
	w   io.Writer
	buf []byte
}

const blockSize = 256 << 10

func (b *blockWriter) flushIfFull() error {
	if len(b.buf) < blockSize {
		return nil
	}
	return b.flush()
}

func (b *blockWriter) flush() error {
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.w.Write(b.buf)
	b.buf = b.buf[:0]
	return err
}

// JSON output, written by hand: the bytes are those encoding/json writes
// for the identity.Record (the tests check), at a fraction of the cost.

func appendPerson(b []byte, p *person) []byte {
	b = append(b, `{"person_id":"p_`...)
	b = strconv.AppendInt(b, int64(p.n), 10)
	b = append(b, `","updated_at":"`...)
	b = time.Unix(p.updatedAt, 0).UTC().AppendFormat(b, time.RFC3339)
	b = append(b, `","identifiers":[`...)
	for i, id := range p.ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendIdentifier(b, id)
	}
	b = append(b, `],"person":`...)
	b = appendObject(b, []field{{"first_name", p.first}, {"last_name", p.last}, {"job_title", p.title},
		{"linkedin_url", p.linkedin}, {"business_email", p.bizEmail}})
	if p.city != "" || p.region != "" || p.country != "" {
		b = b[:len(b)-1] // reopen the person object
		if b[len(b)-1] != '{' {
			b = append(b, ',')
		}
		b = append(b, `"location":`...)
		b = appendObject(b, []field{{"city", p.city}, {"region", p.region}, {"country", p.country}})
		b = append(b, '}')
	}
	if p.company != nil {
		b = append(b, `,"company":`...)
		b = appendCompany(b, p.company)
	}
	return append(b, "}\n"...)
}

func (g *generator) appendCompanyRecord(b []byte, j int) []byte {
	c := g.companyOnlyCompany(j)
	b = append(b, `{"person_id":"c_`...)
	b = strconv.AppendInt(b, int64(j), 10)
	b = append(b, `","updated_at":"`...)
	b = time.Unix(epoch-int64(j%(365*24*3600)), 0).UTC().AppendFormat(b, time.RFC3339)
	b = append(b, `","identifiers":[`...)
	for i, ip := range g.officeIPs(j) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendIdentifier(b, identity.Identifier{Type: identity.TypeIP, Value: ip})
	}
	b = append(b, `],"company":`...)
	b = appendCompany(b, c)
	return append(b, "}\n"...)
}

func appendCompany(b []byte, c *identity.Company) []byte {
	return appendObject(b, []field{{"name", c.Name}, {"domain", c.Domain}, {"industry", c.Industry},
		{"employee_range", c.EmployeeRange}, {"revenue_range", c.RevenueRange}})
}

// field is a member of a JSON object of strings.
type field struct{ key, value string }

// appendObject appends an object of the fields with a value (omitempty).
func appendObject(b []byte, fields []field) []byte {
	b = append(b, '{')
	first := true
	for _, f := range fields {
		if f.value == "" {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, f.key...)
		b = append(b, `":`...)
		b = appendString(b, f.value)
	}
	return append(b, '}')
}

func appendIdentifier(b []byte, id identity.Identifier) []byte {
	b = append(b, `{"type":"`...)
	b = append(b, id.Type...)
	b = append(b, `","value":`...)
	b = appendString(b, id.Value)
	return append(b, '}')
}

// appendString appends s as a JSON string escaped as encoding/json does
// (HTML characters and U+2028/U+2029 too).
func appendString(b []byte, s string) []byte { return jsonw.AppendString(b, s, true) }
