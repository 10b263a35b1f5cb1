package demo

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/firehook/firehook/identity"
)

// person is what the simulator knows of a person of the synthetic graph:
// the identifiers their browser may carry.
type person struct {
	id       string
	email    string   // the business email in clear, when the graph has its hash
	hem      string   // a sha256 hashed email of theirs ("" when none)
	devices  []string // device ids
	cookies  []string // graph cookies (a data partner's, sent as ids.cookie)
	fullName string
}

// graphRecord is the part of an import line the simulator reads.
type graphRecord struct {
	PersonID    string                `json:"person_id"`
	Identifiers []identity.Identifier `json:"identifiers"`
	Person      struct {
		FirstName     string `json:"first_name"`
		LastName      string `json:"last_name"`
		BusinessEmail string `json:"business_email"`
	} `json:"person"`
}

// readPeople reads the people of an import NDJSON graph (company-only
// records, which have no person, are left out).
func readPeople(graph []byte) ([]person, error) {
	var out []person
	sc := bufio.NewScanner(bytes.NewReader(graph))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		var rec graphRecord
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return nil, fmt.Errorf("graph line %d: %w", line, err)
		}
		if rec.Person.FirstName == "" && rec.Person.LastName == "" {
			continue
		}
		p := person{id: rec.PersonID, fullName: rec.Person.FirstName + " " + rec.Person.LastName}
		hems := map[string]bool{}
		for _, id := range rec.Identifiers {
			switch id.Type {
			case identity.TypeHEMSHA256:
				hems[id.Value] = true
				if p.hem == "" {
					p.hem = id.Value
				}
			case identity.TypeDeviceID:
				p.devices = append(p.devices, id.Value)
			case identity.TypeCookie:
				p.cookies = append(p.cookies, id.Value)
			}
		}
		if e := rec.Person.BusinessEmail; e != "" {
			if h, err := identity.HashEmail(e); err == nil && hems[h.SHA256] {
				p.email = e
			}
		}
		if p.hem == "" && len(p.devices) == 0 && len(p.cookies) == 0 {
			continue // nothing a browser could carry identifies them
		}
		out = append(out, p)
	}
	return out, sc.Err()
}
