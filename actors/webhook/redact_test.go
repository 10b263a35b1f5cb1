package webhook_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/firehook/firehook/actors/webhook"
)

func TestRedactPerson_KeepsTheEventAndOnlyThePersonsID(t *testing.T) {
	p := &webhook.Payload{ID: "evt_1", Type: webhook.TypeUpdated, CreatedAt: time.Unix(1, 0).UTC(), TenantID: "ten_1", Sequence: 7,
		Data: webhook.Data{
			Person:  &webhook.PersonData{ID: "p_1", FirstName: "Ada", LastName: "Lovelace", BusinessEmail: "ada@example.com", Location: webhook.Location{City: "London"}},
			Company: &webhook.CompanyData{Name: "Analytical", Domain: "example.com"},
			Visit:   webhook.Visit{VisitorID: "v_1", PageURL: "https://example.com/pricing"},
			HEMs:    []webhook.HEM{{Type: "sha256", Value: strings.Repeat("a", 64)}},
		}}
	out, err := webhook.RedactPerson(webhook.AppendJSON(nil, p))
	if err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{"Ada", "Lovelace", "ada@example.com", "London", strings.Repeat("a", 64)} {
		if strings.Contains(string(out), gone) {
			t.Errorf("the redacted payload still holds %q: %s", gone, out)
		}
	}
	var got webhook.Payload
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != "evt_1" || got.Sequence != 7 || got.Data.Person == nil || got.Data.Person.ID != "p_1" ||
		got.Data.Company.Name != "Analytical" || got.Data.Visit.PageURL != "https://example.com/pricing" {
		t.Errorf("the redacted payload lost the event: %s", out)
	}
	if again, err := webhook.RedactPerson(out); err != nil || string(again) != string(out) {
		t.Errorf("redacting twice changed it: %s → %s (%v)", out, again, err)
	}
	if _, err := webhook.RedactPerson([]byte("{")); err == nil {
		t.Error("a broken payload redacted without an error")
	}
}
