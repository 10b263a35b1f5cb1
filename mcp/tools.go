package mcp

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/firehook/firehook/http/admin"
	"github.com/firehook/firehook/metrics"
)

// The tools' inputs and outputs. Their JSON schemas are inferred from
// these types (jsonschema tags give the descriptions); testdata/tools.json
// holds what an agent sees, so that a change is deliberate.

type endpointArg struct {
	EndpointID string `json:"endpoint_id" jsonschema:"the endpoint's id (ep_…), as list_endpoints gives it"`
}

type endpointSummary struct {
	ID          string   `json:"id"`
	URL         string   `json:"url"`
	State       string   `json:"state"`
	Description string   `json:"description,omitempty"`
	Events      []string `json:"events"`
}

type endpointList struct {
	Endpoints  []endpointSummary `json:"endpoints"`
	NextCursor string            `json:"next_cursor,omitempty" jsonschema:"pass as cursor for the next page; absent on the last"`
}

type listArgs struct {
	Cursor string `json:"cursor,omitempty" jsonschema:"next_cursor of the previous page; empty for the first"`
	Limit  int    `json:"limit,omitempty" jsonschema:"items per page, 1 to 100 (default 20)"`
}

type pageArgs struct {
	EndpointID string `json:"endpoint_id" jsonschema:"the endpoint's id (ep_…)"`
	Cursor     string `json:"cursor,omitempty" jsonschema:"next_cursor of the previous page; empty for the first"`
	Limit      int    `json:"limit,omitempty" jsonschema:"deliveries per page, 1 to 100 (default 20)"`
}

type attempt struct {
	N          int    `json:"n"`
	At         string `json:"at"`
	StatusCode int    `json:"status_code"`
	DurationMS int64  `json:"duration_ms"`
	Error      string `json:"error,omitempty"`
	Response   string `json:"response_snippet,omitempty"`
}

type delivery struct {
	ID            string    `json:"id"`
	EventID       string    `json:"event_id"`
	EndpointID    string    `json:"endpoint_id"`
	Status        string    `json:"status"`
	Type          string    `json:"type,omitempty"`
	Sequence      uint64    `json:"sequence,omitempty"`
	Attempts      []attempt `json:"attempts"`
	NextAttemptAt *string   `json:"next_attempt_at"`
}

type deliveryPage struct {
	Deliveries []delivery `json:"deliveries"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

type deliveryArg struct {
	DeliveryID string `json:"delivery_id" jsonschema:"the delivery's id (dlv_…)"`
}

type suppressionArgs struct {
	Kind   string   `json:"kind" jsonschema:"what the values are: email, hem (a sha256 of a normalised email), email_domain or company_domain"`
	Values []string `json:"values" jsonschema:"1 to 10,000 values; emails are stored only as their sha256"`
}

type suppressionAdded struct {
	Added int `json:"added" jsonschema:"entries stored"`
}

type done struct {
	Done bool `json:"done"`
}

type siteSummary struct {
	ID             string   `json:"id"`
	Domain         string   `json:"domain"`
	Key            string   `json:"key"`
	AllowedOrigins []string `json:"allowed_origins,omitempty"`
}

type siteList struct {
	Sites      []siteSummary `json:"sites"`
	NextCursor string        `json:"next_cursor,omitempty" jsonschema:"pass as cursor for the next page; absent on the last"`
}

type siteArg struct {
	SiteID string `json:"site_id" jsonschema:"the site's id, as list_sites gives it"`
}

type lookupArgs struct {
	Type  string `json:"type" jsonschema:"the identifier's type: hem_sha256, hem_sha1, hem_md5, device_id, maid or cookie"`
	Value string `json:"value" jsonschema:"the identifier, as the type writes it (a hashed email in lower-case hex)"`
}

type eventsArgs struct {
	Since  string `json:"since,omitempty" jsonschema:"RFC 3339 time: only page views received at or after it"`
	Cursor string `json:"cursor,omitempty" jsonschema:"next_cursor of the previous page; empty for the first"`
	Limit  int    `json:"limit,omitempty" jsonschema:"page views per page, 1 to 100 (default 20)"`
}

type pageView struct {
	ID         string `json:"id"`
	ReceivedAt string `json:"received_at"`
	SiteID     string `json:"site_id"`
	VisitorID  string `json:"visitor_id"`
	URL        string `json:"url"`
	Title      string `json:"title,omitempty"`
	Referrer   string `json:"referrer,omitempty"`
}

type eventsPage struct {
	Events     []pageView `json:"events"`
	NextCursor string     `json:"next_cursor"`
	HasMore    bool       `json:"has_more"`
}

type identifiedArgs struct {
	Since          string `json:"since,omitempty" jsonschema:"RFC 3339 time: only visits received at or after it"`
	CompanyDomain  string `json:"company_domain,omitempty" jsonschema:"only persons of this company, by its domain (acme.com)"`
	PagePattern    string `json:"page_pattern,omitempty" jsonschema:"only page views whose URL contains this text (/pricing)"`
	FirstMatchOnly bool   `json:"first_match_only,omitempty" jsonschema:"only a person's first identification for this tenant (visitor.identified)"`
	Cursor         string `json:"cursor,omitempty" jsonschema:"next_cursor of the previous page; empty for the first"`
	Limit          int    `json:"limit,omitempty" jsonschema:"visits per page, 1 to 100 (default 20)"`
}

type companyArgs struct {
	CompanyDomain string `json:"company_domain" jsonschema:"the company's domain (acme.com)"`
	Since         string `json:"since,omitempty" jsonschema:"RFC 3339 time: only visits received at or after it"`
	Cursor        string `json:"cursor,omitempty" jsonschema:"next_cursor of the previous page; empty for the first"`
	Limit         int    `json:"limit,omitempty" jsonschema:"visits per page, 1 to 100 (default 20)"`
}

type personArgs struct {
	PersonID string `json:"person_id" jsonschema:"the person's id, as an identified visit gives it"`
	Cursor   string `json:"cursor,omitempty" jsonschema:"next_cursor of the previous page; empty for the first"`
	Limit    int    `json:"limit,omitempty" jsonschema:"visits per page, 1 to 100 (default 20)"`
}

// addTools registers every tool on s, acting through c.
func addTools(s *sdk.Server, c *Client) {
	sdk.AddTool(s, &sdk.Tool{Name: "list_endpoints",
		Description: "The tenant's webhook endpoints: id, URL, state (enabled, disabled, paused) and the events each receives."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in listArgs) (*sdk.CallToolResult, endpointList, error) {
			t, err := c.tenant(ctx)
			if err != nil {
				return nil, endpointList{}, err
			}
			var all endpointList
			if err := c.do(ctx, http.MethodGet, "/v1/endpoints", url.Values{"tenant_id": {t}}, nil, &all); err != nil {
				return nil, endpointList{}, err
			}
			var out endpointList
			out.Endpoints, out.NextCursor, err = page(all.Endpoints, in)
			return nil, out, err
		})
	sdk.AddTool(s, &sdk.Tool{Name: "endpoint_health",
		Description: "One endpoint's health: state (healthy, degraded, circuit_open, disabled), delivered, failed, pending and retrying counts, success rate, latency percentiles, last success and failure."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in endpointArg) (*sdk.CallToolResult, map[string]any, error) {
			var out map[string]any
			err := c.do(ctx, http.MethodGet, "/v1/endpoints/"+url.PathEscape(in.EndpointID)+"/health", nil, nil, &out)
			return nil, out, err
		})
	sdk.AddTool(s, &sdk.Tool{Name: "failed_deliveries",
		Description: "An endpoint's deliveries that failed for good (every retry used), newest first, each with its attempts (status code, error, response start). Paginated: pass next_cursor back as cursor."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in pageArgs) (*sdk.CallToolResult, deliveryPage, error) {
			q := url.Values{"status": {"failed"}, "limit": {strconv.Itoa(pageLimit(in.Limit))}}
			if in.Cursor != "" {
				q.Set("cursor", in.Cursor)
			}
			var out deliveryPage
			err := c.do(ctx, http.MethodGet, "/v1/endpoints/"+url.PathEscape(in.EndpointID)+"/deliveries", q, nil, &out)
			if out.Deliveries == nil {
				out.Deliveries = []delivery{}
			}
			return nil, out, err
		})
	sdk.AddTool(s, &sdk.Tool{Name: "delivery",
		Description: "One delivery (webhook) and every attempt made: status code, duration, error, the start of the response, and the next attempt's time while it is retried."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in deliveryArg) (*sdk.CallToolResult, delivery, error) {
			var out delivery
			err := c.do(ctx, http.MethodGet, "/v1/deliveries/"+url.PathEscape(in.DeliveryID), nil, nil, &out)
			return nil, out, err
		})
	sdk.AddTool(s, &sdk.Tool{Name: "replay_delivery",
		Description: "Deliver one webhook again, with the same event id (the receiver can tell it is the same event)."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in deliveryArg) (*sdk.CallToolResult, delivery, error) {
			var out delivery
			err := c.do(ctx, http.MethodPost, "/v1/deliveries/"+url.PathEscape(in.DeliveryID)+"/replay", nil, nil, &out)
			return nil, out, err
		})
	for _, a := range []struct{ name, path, what string }{
		{"pause_endpoint", "disable", "Stop sending webhooks to an endpoint; they wait in its queue until it is resumed."},
		{"resume_endpoint", "enable", "Send webhooks to a paused endpoint again, the waiting ones first, in order."},
	} {
		sdk.AddTool(s, &sdk.Tool{Name: a.name, Description: a.what},
			func(ctx context.Context, _ *sdk.CallToolRequest, in endpointArg) (*sdk.CallToolResult, endpointSummary, error) {
				var out endpointSummary
				err := c.do(ctx, http.MethodPost, "/v1/endpoints/"+url.PathEscape(in.EndpointID)+"/"+a.path, nil, nil, &out)
				return nil, out, err
			})
	}
	suppressions := func(ctx context.Context, method string, in suppressionArgs, out any) error {
		t, err := c.tenant(ctx)
		if err != nil {
			return err
		}
		return c.do(ctx, method, "/v1/tenants/"+url.PathEscape(t)+"/suppressions", nil, in, out)
	}
	sdk.AddTool(s, &sdk.Tool{Name: "add_suppression",
		Description: "Never identify these people or companies for this tenant again: emails, hashed emails, email domains or company domains. Answers how many entries were stored (normalised; emails as their sha256)."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in suppressionArgs) (*sdk.CallToolResult, suppressionAdded, error) {
			var raw struct {
				Added []json.RawMessage `json:"added"`
			}
			err := suppressions(ctx, http.MethodPost, in, &raw)
			return nil, suppressionAdded{Added: len(raw.Added)}, err
		})
	sdk.AddTool(s, &sdk.Tool{Name: "remove_suppression",
		Description: "Remove entries from the tenant's suppression list (values not on it are ignored)."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in suppressionArgs) (*sdk.CallToolResult, done, error) {
			err := suppressions(ctx, http.MethodDelete, in, nil)
			return nil, done{Done: err == nil}, err
		})
	sdk.AddTool(s, &sdk.Tool{Name: "list_sites",
		Description: "The tenant's sites: domain and the site key of the pixel snippet."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in listArgs) (*sdk.CallToolResult, siteList, error) {
			t, err := c.tenant(ctx)
			if err != nil {
				return nil, siteList{}, err
			}
			var all siteList
			if err := c.do(ctx, http.MethodGet, "/v1/sites", url.Values{"tenant_id": {t}}, nil, &all); err != nil {
				return nil, siteList{}, err
			}
			var out siteList
			out.Sites, out.NextCursor, err = page(all.Sites, in)
			return nil, out, err
		})
	identified := func(ctx context.Context, q url.Values, since, cursor string, limit int) (admin.IdentifiedPage, error) {
		t, err := c.tenant(ctx)
		if err != nil {
			return admin.IdentifiedPage{}, err
		}
		q.Set("tenant_id", t)
		q.Set("limit", strconv.Itoa(pageLimit(limit)))
		if since != "" { // checked by the admin API, as every argument
			q.Set("since", since)
		}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var out admin.IdentifiedPage
		err = c.do(ctx, http.MethodGet, "/v1/identified", q, nil, &out)
		if out.Visits == nil {
			out.Visits = []admin.IdentifiedVisit{}
		}
		return out, err
	}
	sdk.AddTool(s, &sdk.Tool{Name: "recent_identified_visitors",
		Description: "Page views that identified a person, oldest first from since (or the cursor): who (name, title, business email, LinkedIn, company), which page, and whether it was the person's first identification for this tenant. Filters: company domain, a URL substring, first identifications only. Paginated: pass next_cursor back as cursor, also to poll for new ones."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in identifiedArgs) (*sdk.CallToolResult, admin.IdentifiedPage, error) {
			q := url.Values{}
			if in.CompanyDomain != "" {
				q.Set("company_domain", in.CompanyDomain)
			}
			if in.PagePattern != "" {
				q.Set("page", in.PagePattern)
			}
			if in.FirstMatchOnly {
				q.Set("first_match", "true")
			}
			out, err := identified(ctx, q, in.Since, in.Cursor, in.Limit)
			return nil, out, err
		})
	sdk.AddTool(s, &sdk.Tool{Name: "company_visitors",
		Description: "The identified visits of one company's people (by the company's domain), oldest first: who came and which pages they read. Paginated like recent_identified_visitors."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in companyArgs) (*sdk.CallToolResult, admin.IdentifiedPage, error) {
			if in.CompanyDomain == "" {
				return nil, admin.IdentifiedPage{}, &APIError{Status: http.StatusBadRequest, Code: "validation_failed", Message: "company_domain is required"}
			}
			out, err := identified(ctx, url.Values{"company_domain": {in.CompanyDomain}}, in.Since, in.Cursor, in.Limit)
			return nil, out, err
		})
	sdk.AddTool(s, &sdk.Tool{Name: "person_visits",
		Description: "One identified person's visit history for this tenant, oldest first, with their profile on each visit. Paginated like recent_identified_visitors."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in personArgs) (*sdk.CallToolResult, admin.IdentifiedPage, error) {
			if in.PersonID == "" {
				return nil, admin.IdentifiedPage{}, &APIError{Status: http.StatusBadRequest, Code: "validation_failed", Message: "person_id is required"}
			}
			out, err := identified(ctx, url.Values{"person_id": {in.PersonID}}, "", in.Cursor, in.Limit)
			return nil, out, err
		})
	sdk.AddTool(s, &sdk.Tool{Name: "pixel_status",
		Description: "Is a site's pixel installed and working? Page views accepted and refused since the node started, the latest of each, and why the latest was refused (origin_not_allowed: the page's origin is not among the site's allowed origins). In a cluster, the member asked."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in siteArg) (*sdk.CallToolResult, metrics.PixelStatus, error) {
			var out metrics.PixelStatus
			err := c.do(ctx, http.MethodGet, "/v1/sites/"+url.PathEscape(in.SiteID)+"/pixel", nil, nil, &out)
			return nil, out, err
		})
	sdk.AddTool(s, &sdk.Tool{Name: "lookup_identifier",
		Description: "Who is behind an identifier (a hashed email, a device id, a cookie)? Answers the person's profile and company, but only for a person this tenant has identified from its own visits; otherwise not found."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in lookupArgs) (*sdk.CallToolResult, admin.IdentifiedPerson, error) {
			t, err := c.tenant(ctx)
			if err != nil {
				return nil, admin.IdentifiedPerson{}, err
			}
			var out admin.IdentifiedPerson
			err = c.do(ctx, http.MethodGet, "/v1/identified/lookup", url.Values{"tenant_id": {t}, "type": {in.Type}, "value": {in.Value}}, nil, &out)
			return nil, out, err
		})
	sdk.AddTool(s, &sdk.Tool{Name: "recent_page_views",
		Description: "The tenant's page views as received by the pixel (oldest first from since, or from the cursor): site, visitor id, URL, title, referrer. Paginated: pass next_cursor back as cursor, also to poll for new ones."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in eventsArgs) (*sdk.CallToolResult, eventsPage, error) {
			t, err := c.tenant(ctx)
			if err != nil {
				return nil, eventsPage{}, err
			}
			q := url.Values{"tenant_id": {t}, "limit": {strconv.Itoa(pageLimit(in.Limit))}}
			if in.Since != "" {
				q.Set("since", in.Since)
			}
			if in.Cursor != "" {
				q.Set("cursor", in.Cursor)
			}
			var raw struct {
				Events []struct {
					ID         string    `json:"id"`
					ReceivedAt time.Time `json:"received_at"`
					SiteID     string    `json:"site_id"`
					VisitorID  string    `json:"vid"`
					URL        string    `json:"url"`
					Title      string    `json:"title"`
					Referrer   string    `json:"ref"`
				} `json:"events"`
				NextCursor string `json:"next_cursor"`
				HasMore    bool   `json:"has_more"`
			}
			if err := c.do(ctx, http.MethodGet, "/v1/events", q, nil, &raw); err != nil {
				return nil, eventsPage{}, err
			}
			out := eventsPage{Events: make([]pageView, 0, len(raw.Events)), NextCursor: raw.NextCursor, HasMore: raw.HasMore}
			for _, e := range raw.Events {
				out.Events = append(out.Events, pageView{ID: e.ID, ReceivedAt: e.ReceivedAt.UTC().Format(time.RFC3339), SiteID: e.SiteID,
					VisitorID: e.VisitorID, URL: e.URL, Title: e.Title, Referrer: e.Referrer})
			}
			return nil, out, nil
		})
}

// page cuts one page out of a whole list the admin API answers (in a
// stable order): the cursor is the offset of the page's first item.
func page[T any](all []T, in listArgs) ([]T, string, error) {
	from := 0
	if in.Cursor != "" {
		n, err := strconv.Atoi(in.Cursor)
		if err != nil || n < 0 {
			return nil, "", &APIError{Status: http.StatusBadRequest, Code: "validation_failed", Message: "cursor is not one this tool answered"}
		}
		from = min(n, len(all))
	}
	to := min(from+pageLimit(in.Limit), len(all))
	next := ""
	if to < len(all) {
		next = strconv.Itoa(to)
	}
	return append(make([]T, 0, to-from), all[from:to]...), next, nil
}

// pageLimit is a tool's page size: 1 to 100, 20 when not given.
func pageLimit(n int) int {
	switch {
	case n <= 0:
		return 20
	case n > 100:
		return 100
	}
	return n
}
