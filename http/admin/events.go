package admin

import (
	"net/http"
	"strconv"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/http/api"
)

// Pull API limits: page sizes of GET /v1/events, and how many log entries
// one request reads at most (the log is one sequence for every tenant and
// is scanned filtered by tenant: a tenant with few events among many pages
// through the others' with empty pages, has_more set).
const (
	defaultEventPage = 100
	maxEventPage     = 1000
	maxEventScan     = 100_000
	eventReadChunk   = 1000
)

// eventsPage is the answer of GET /v1/events.
type eventsPage struct {
	Events []firehook.Event `json:"events"`
	// NextCursor is the log sequence the page reached: pass it as cursor
	// for the next page, also when HasMore is false (to poll for new
	// events later).
	NextCursor string `json:"next_cursor"`
	// HasMore is set when the log holds events after NextCursor.
	HasMore bool `json:"has_more"`
}

// eventTenant returns the tenant a pull or export acts on (tenant_id in
// the query; a tenant key's own by default), or answers 404 for a tenant
// that does not exist or is not the caller's.
func (h *Handler) eventTenant(r *http.Request) (string, error) {
	id, err := scopeTenant(principalFrom(r.Context()), r.URL.Query().Get("tenant_id"), true)
	if err != nil {
		return "", err
	}
	if _, ok := h.cfg.Store.Tenant(id); !ok {
		return "", api.Errorf(api.CodeNotFound, "tenant not found")
	}
	return id, nil
}

// queryTime parses an optional RFC 3339 time parameter.
func queryTime(r *http.Request, name string) (time.Time, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, api.Errorf(api.CodeValidation, "%s must be an RFC 3339 time, such as 2025-03-14T15:09:26Z", name)
	}
	return t, nil
}

// eventsQuery is a parsed GET /v1/events.
type eventsQuery struct {
	tenant string
	since  time.Time
	after  uint64
	limit  int
}

func (h *Handler) parseEventsQuery(r *http.Request) (eventsQuery, error) {
	var q eventsQuery
	var err error
	if q.tenant, err = h.eventTenant(r); err != nil {
		return q, err
	}
	if q.since, err = queryTime(r, "since"); err != nil {
		return q, err
	}
	v := r.URL.Query()
	if c := v.Get("cursor"); c != "" {
		if q.after, err = strconv.ParseUint(c, 10, 64); err != nil {
			return q, api.Errorf(api.CodeValidation, "cursor is not one that this route answered")
		}
	}
	q.limit = defaultEventPage
	if l := v.Get("limit"); l != "" {
		if q.limit, err = strconv.Atoi(l); err != nil || q.limit < 1 || q.limit > maxEventPage {
			return q, api.Errorf(api.CodeValidation, "limit must be 1 to %d", maxEventPage)
		}
	}
	return q, nil
}

// listEvents answers a page of a tenant's events in log order, after the
// cursor (a log sequence), received at or after since.
func (h *Handler) listEvents(w http.ResponseWriter, r *http.Request) {
	q, err := h.parseEventsQuery(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	page := eventsPage{Events: []firehook.Event{}}
	last := q.after
	err = h.scanEvents(q.after, maxEventScan, func(ev *firehook.Event) bool {
		last = ev.Seq
		if ev.TenantID == q.tenant && !ev.ReceivedAt.Before(q.since) {
			page.Events = append(page.Events, *ev)
		}
		return len(page.Events) < q.limit
	})
	if err != nil {
		h.fail(w, err)
		return
	}
	page.NextCursor = strconv.FormatUint(last, 10)
	page.HasMore = h.cfg.Events.LastSeq() > last
	api.WriteJSON(w, http.StatusOK, page)
}

// scanEvents calls fn with the log's events after sequence after, in
// order, until fn returns false, budget events were read (0: no bound) or
// the log's end as it was when the scan began.
func (h *Handler) scanEvents(after uint64, budget int, fn func(ev *firehook.Event) bool) error {
	end := h.cfg.Events.LastSeq()
	read := 0
	for from := after + 1; from <= end && (budget <= 0 || read < budget); {
		n := eventReadChunk
		if budget > 0 {
			n = min(n, budget-read)
		}
		evs, err := h.cfg.Events.Read(from, n)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			return nil
		}
		for i := range evs {
			if evs[i].Seq > end {
				return nil
			}
			read++
			if !fn(&evs[i]) {
				return nil
			}
		}
		from = evs[len(evs)-1].Seq + 1
	}
	return nil
}
