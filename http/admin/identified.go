package admin

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/http/api"
	"github.com/firehook/firehook/identity"
)

// IdentifiedVisit is one identified page view of GET /v1/identified: the
// page view, the decision made for it and the person as the graph has
// them now. Package mcp answers it to agents as it is.
type IdentifiedVisit struct {
	EventID    string    `json:"event_id"`
	ReceivedAt time.Time `json:"received_at"`
	// Type is visitor.identified (the tenant's First Match of the person)
	// or visitor.updated; Sequence the event's place in the person's.
	Type      string `json:"type" jsonschema:"visitor.identified (the person's first identification for the tenant) or visitor.updated"`
	Sequence  uint64 `json:"sequence"`
	SiteID    string `json:"site_id"`
	VisitorID string `json:"visitor_id"`
	URL       string `json:"url"`
	Title     string `json:"title,omitempty"`
	Referrer  string `json:"referrer,omitempty"`
	Person    struct {
		ID            string `json:"id"`
		FirstName     string `json:"first_name"`
		LastName      string `json:"last_name"`
		JobTitle      string `json:"job_title"`
		BusinessEmail string `json:"business_email"`
		LinkedInURL   string `json:"linkedin_url"`
	} `json:"person"`
	Company struct {
		Name   string `json:"name"`
		Domain string `json:"domain"`
	} `json:"company"`
}

// IdentifiedPage is the answer of GET /v1/identified.
type IdentifiedPage struct {
	Visits     []IdentifiedVisit `json:"visits"`
	NextCursor string            `json:"next_cursor"`
	HasMore    bool              `json:"has_more"`
}

// listIdentified answers GET /v1/identified: a tenant's identified page
// views in log order, after the cursor, received at or after since, with
// optional filters — person_id, company_domain (the person's company),
// page (a substring of the URL) and first_match=true (First Matches
// only). Persons erased since are left out. Like GET /v1/events it reads
// at most maxEventScan log entries a page.
func (h *Handler) listIdentified(w http.ResponseWriter, r *http.Request) {
	q, err := h.parseEventsQuery(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	v := r.URL.Query()
	personID, domain, page := v.Get("person_id"), strings.ToLower(strings.TrimSpace(v.Get("company_domain"))), v.Get("page")
	firstOnly := false
	if f := v.Get("first_match"); f != "" {
		if firstOnly, err = strconv.ParseBool(f); err != nil {
			h.fail(w, api.Errorf(api.CodeValidation, "first_match must be true or false"))
			return
		}
	}
	x := &exporter{h: h, profiles: map[string]*identity.Record{}}
	out := IdentifiedPage{Visits: []IdentifiedVisit{}}
	last, full := q.after, false
	var batch []firehook.Event
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		ids := make([]string, len(batch))
		for i := range batch {
			ids[i] = batch[i].ID
		}
		decided, err := h.cfg.Outbox.Decided(ids)
		if err != nil {
			return err
		}
		for i := range batch {
			ev := &batch[i]
			dec, ok := decided[ev.ID]
			if !ok {
				continue
			}
			_, pid, _ := strings.Cut(dec.PersonKey, "/")
			if (personID != "" && pid != personID) || (firstOnly && dec.Type != firehook.EventIdentified) ||
				(page != "" && !strings.Contains(ev.URL, page)) {
				continue
			}
			rec, err := x.profile(pid)
			if err != nil {
				return err
			}
			if rec == nil || (domain != "" && strings.ToLower(rec.Company.Domain) != domain) {
				continue // erased, or another company
			}
			iv := IdentifiedVisit{EventID: ev.ID, ReceivedAt: ev.ReceivedAt, Type: dec.Type, Sequence: dec.Sequence,
				SiteID: ev.SiteID, VisitorID: ev.VisitorID, URL: ev.URL, Title: ev.Title, Referrer: ev.Referrer}
			iv.Person.ID, iv.Person.FirstName, iv.Person.LastName = pid, rec.Person.FirstName, rec.Person.LastName
			iv.Person.JobTitle, iv.Person.BusinessEmail, iv.Person.LinkedInURL = rec.Person.JobTitle, rec.Person.BusinessEmail, rec.Person.LinkedInURL
			iv.Company.Name, iv.Company.Domain = rec.Company.Name, rec.Company.Domain
			out.Visits = append(out.Visits, iv)
			if len(out.Visits) >= q.limit {
				// The page ends here: the next one starts after this visit,
				// whatever was read beyond it.
				last, full = ev.Seq, true
				break
			}
		}
		batch = batch[:0]
		return nil
	}
	var ferr error
	err = h.scanEvents(q.after, maxEventScan, func(ev *firehook.Event) bool {
		last = ev.Seq
		if ev.TenantID == q.tenant && !ev.ReceivedAt.Before(q.since) {
			batch = append(batch, *ev)
		}
		if len(batch) >= 256 {
			if ferr = flush(); ferr != nil {
				return false
			}
		}
		return !full
	})
	if err == nil {
		err = ferr
	}
	if err == nil {
		err = flush()
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	out.NextCursor = strconv.FormatUint(last, 10)
	out.HasMore = h.cfg.Events.LastSeq() > last
	api.WriteJSON(w, http.StatusOK, out)
}

// IdentifiedPerson is the answer of GET /v1/identified/lookup: a person
// the tenant has identified, as the graph has them now. Their other
// identifiers are not shown: the tenant knows the person by its own
// visits, not by the graph.
type IdentifiedPerson struct {
	PersonID string           `json:"person_id"`
	Person   identity.Person  `json:"person"`
	Company  identity.Company `json:"company"`
}

// lookupIdentified answers GET /v1/identified/lookup?tenant_id=&type=&value=:
// the person an identifier resolves to, when the tenant has identified
// that person (it holds their lane sequence: here, or on another member).
// Otherwise 404, the same whether no person has the identifier or the
// tenant never identified them: the graph is the operator's, a tenant
// sees only the persons its own visits named.
func (h *Handler) lookupIdentified(w http.ResponseWriter, r *http.Request) {
	tenantID, err := h.eventTenant(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	rec, found, err := h.resolve(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	identified := false
	if found && !rec.IsCompanyOnly() {
		key := firehook.PersonKey(tenantID, rec.PersonID)
		if _, identified, err = h.cfg.Outbox.LaneSequence(key); err != nil {
			h.fail(w, err)
			return
		}
		if !identified && h.cfg.Peers != nil {
			var unreachable []string
			identified, unreachable = h.cfg.Peers.Identified(r.Context(), key)
			if !identified && len(unreachable) > 0 {
				h.fail(w, api.Errorf(api.CodeUnavailable, "a cluster member did not answer; try again"))
				return
			}
		}
	}
	if !identified {
		h.fail(w, api.Errorf(api.CodeNotFound, "no person this tenant identified has this identifier"))
		return
	}
	api.WriteJSON(w, http.StatusOK, IdentifiedPerson{PersonID: rec.PersonID, Person: rec.Person, Company: rec.Company})
}
