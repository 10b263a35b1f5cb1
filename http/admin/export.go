package admin

import (
	"encoding/csv"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/http/api"
	"github.com/firehook/firehook/identity"
)

// exportColumns are the columns of GET /v1/export.csv, one row per
// identified visit (docs/api.md).
var exportColumns = []string{
	"event_id", "received_at", "type", "sequence", "person_id",
	"first_name", "last_name", "job_title", "business_email", "linkedin_url",
	"company_name", "company_domain",
	"site_id", "visitor_id", "page_url", "page_title", "referrer",
	"utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content",
}

// maxExportProfiles bounds the profiles one export keeps in memory; past
// it the cache starts again.
const maxExportProfiles = 10_000

// exportCSV streams a tenant's identified visits received in [from, to)
// as CSV: the events of the log that were dispatched to a person (First
// Match or Every Update), with the person's current profile. Rows are
// flushed as each chunk of the log is read; nothing is buffered whole. A
// visit of a person erased since is left out.
func (h *Handler) exportCSV(w http.ResponseWriter, r *http.Request) {
	tenant, err := h.eventTenant(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	from, err := queryTime(r, "from")
	if err != nil {
		h.fail(w, err)
		return
	}
	to, err := queryTime(r, "to")
	if err != nil {
		h.fail(w, err)
		return
	}
	if !to.IsZero() && !from.Before(to) {
		h.fail(w, api.Errorf(api.CodeValidation, "from must be before to"))
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="firehook-visits-`+tenant+`.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	x := &exporter{h: h, cw: csv.NewWriter(w), rc: http.NewResponseController(w),
		profiles: map[string]*identity.Record{}}
	_ = x.cw.Write(exportColumns)

	var chunk []firehook.Event
	var rowsErr error
	err = h.scanEvents(0, 0, func(ev *firehook.Event) bool {
		if ev.TenantID == tenant && !ev.ReceivedAt.Before(from) && (to.IsZero() || ev.ReceivedAt.Before(to)) {
			chunk = append(chunk, *ev)
		}
		if len(chunk) < eventReadChunk {
			return true
		}
		rowsErr = x.rows(chunk)
		chunk = chunk[:0]
		return rowsErr == nil && r.Context().Err() == nil
	})
	if err == nil && rowsErr == nil {
		rowsErr = x.rows(chunk)
	}
	if err == nil {
		err = rowsErr
	}
	if err != nil && r.Context().Err() == nil {
		// The status is sent: the export ends short, and says why in the log.
		h.cfg.Log.Error("export.csv stopped", "tenant", tenant, "err", err)
	}
}

// exporter writes the rows of one export.
type exporter struct {
	h        *Handler
	cw       *csv.Writer
	rc       *http.ResponseController
	profiles map[string]*identity.Record // nil value: erased
}

// rows writes the identified visits among evs and flushes them out.
func (x *exporter) rows(evs []firehook.Event) error {
	if len(evs) == 0 {
		return nil
	}
	ids := make([]string, len(evs))
	for i := range evs {
		ids[i] = evs[i].ID
	}
	decided, err := x.h.cfg.Outbox.Decided(ids)
	if err != nil {
		return err
	}
	for i := range evs {
		ev := &evs[i]
		dec, ok := decided[ev.ID]
		if !ok {
			continue // not identified
		}
		_, personID, _ := strings.Cut(dec.PersonKey, "/")
		rec, err := x.profile(personID)
		if err != nil {
			return err
		}
		if rec == nil {
			continue // erased
		}
		row := []string{ev.ID, ev.ReceivedAt.UTC().Format(time.RFC3339Nano), dec.Type,
			strconv.FormatUint(dec.Sequence, 10), personID,
			rec.Person.FirstName, rec.Person.LastName, rec.Person.JobTitle, rec.Person.BusinessEmail,
			rec.Person.LinkedInURL, rec.Company.Name, rec.Company.Domain,
			ev.SiteID, ev.VisitorID, ev.URL, ev.Title, ev.Referrer,
			ev.UTM["source"], ev.UTM["medium"], ev.UTM["campaign"], ev.UTM["term"], ev.UTM["content"]}
		for j := range row {
			row[j] = defuse(row[j])
		}
		if err := x.cw.Write(row); err != nil {
			return err
		}
	}
	x.cw.Flush()
	if err := x.cw.Error(); err != nil {
		return err
	}
	return x.rc.Flush()
}

// profile returns the current record of personID, nil when it was erased.
func (x *exporter) profile(personID string) (*identity.Record, error) {
	if rec, ok := x.profiles[personID]; ok {
		return rec, nil
	}
	rec, found, err := x.h.cfg.Graph.Profile(personID)
	if err != nil {
		return nil, err
	}
	if !found {
		rec = nil
	}
	if len(x.profiles) >= maxExportProfiles {
		clear(x.profiles)
	}
	x.profiles[personID] = rec
	return rec, nil
}

// defuse keeps a spreadsheet from reading a cell as a formula (CSV
// injection): page titles, URLs and referrers come from anyone who loads
// the pixel. A cell starting with =, +, -, @, a tab or a carriage return
// gets a leading apostrophe.
func defuse(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
