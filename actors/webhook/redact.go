package webhook

import (
	"encoding/json"
	"fmt"
)

// RedactPerson returns body, a payload as AppendJSON wrote it, without
// the person's data: data.person keeps only its id (the customer needs it
// to erase their own copies), every other person field empty, and
// data.hems empty. The event's id, type, sequence, company, visit and
// match stay, so the endpoint still gets every event in order. A body
// without a person is returned as it is.
func RedactPerson(body []byte) ([]byte, error) {
	var p Payload
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("webhook: redact: %w", err)
	}
	if p.Data.Person == nil {
		return body, nil
	}
	p.Data.Person = &PersonData{ID: p.Data.Person.ID}
	p.Data.HEMs = nil
	return AppendJSON(nil, &p), nil
}
