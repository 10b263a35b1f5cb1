package admin

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/http/api"
	"github.com/firehook/firehook/metrics"
	"github.com/firehook/firehook/persistence"
)

// The receipts and health routes of a cluster member answer for the whole
// cluster (Config.Peers): they ask every other live member and merge. A
// request with ?local=1 gets this member's part alone.

// clustered reports whether r is to be answered for the whole cluster.
func (h *Handler) clustered(r *http.Request) bool {
	return h.cfg.Peers != nil && r.URL.Query().Get("local") != "1"
}

// clusterCursorPrefix marks a cursor of a merged page: the members'
// cursors, as JSON, base64url.
const clusterCursorPrefix = "c."

func decodeClusterCursor(c string) (map[string]string, bool) {
	if c == "" {
		return map[string]string{}, true
	}
	raw, ok := strings.CutPrefix(c, clusterCursorPrefix)
	if !ok {
		return nil, false
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		return nil, false
	}
	var m map[string]string
	if json.Unmarshal(b, &m) != nil || m == nil {
		return nil, false
	}
	return m, true
}

func encodeClusterCursor(m map[string]string) string {
	b, _ := json.Marshal(m) // a map of strings always encodes
	return clusterCursorPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// listClusterDeliveries answers an endpoint's receipts over the cluster:
// each member's next page, merged newest first (delivery ids are ULIDs:
// their order is their creation's), cut to limit; the cursor holds each
// member's position after what this page showed of it.
func (h *Handler) listClusterDeliveries(w http.ResponseWriter, r *http.Request, e firehook.Endpoint, status firehook.DeliveryStatus, limit int) {
	cursors, ok := decodeClusterCursor(r.URL.Query().Get("cursor"))
	if !ok {
		h.fail(w, api.Errorf(api.CodeValidation, "cursor is not one that this route answered"))
		return
	}
	self := h.cfg.NodeName
	pages, unreachable := h.cfg.Peers.Deliveries(r.Context(), e.ID, status, cursors, limit)
	if c := cursors[self]; c != PageDone {
		items, next, err := h.cfg.Outbox.List(e.ID, status, c, limit)
		if err != nil {
			h.fail(w, api.Errorf(api.CodeValidation, "cursor is not one that this route answered"))
			return
		}
		pages[self] = DeliveryPage{Items: items, Next: next}
	}
	type item struct {
		member string
		d      firehook.Delivery
	}
	var all []item
	for m, p := range pages {
		for _, d := range p.Items {
			all = append(all, item{m, d})
		}
	}
	slices.SortFunc(all, func(a, b item) int { return strings.Compare(b.d.ID, a.d.ID) })
	shown := all[:min(limit, len(all))]
	taken := map[string]int{}
	last := map[string]string{}
	out := make([]firehook.Delivery, 0, len(shown))
	for _, it := range shown {
		out = append(out, it.d)
		taken[it.member]++
		last[it.member] = it.d.ID
	}
	next := map[string]string{}
	more := false
	for m, c := range cursors {
		next[m] = c // members not asked (unreachable, done) keep their place
	}
	for m, p := range pages {
		switch {
		case taken[m] < len(p.Items):
			next[m], more = persistence.ListCursorAfter(last[m]), true
		case p.Next != "":
			next[m], more = p.Next, true
		default:
			next[m] = PageDone
		}
	}
	nextCursor := "" // the end of what the members that answered hold
	if more {
		nextCursor = encodeClusterCursor(next)
	}
	body := map[string]any{"deliveries": receiptsOf(out), "next_cursor": nextCursor}
	if len(unreachable) > 0 {
		body["unreachable_members"] = unreachable
	}
	api.WriteJSON(w, http.StatusOK, body)
}

// clusterHealth answers an endpoint's health over the cluster.
func (h *Handler) clusterHealth(w http.ResponseWriter, r *http.Request, e firehook.Endpoint) {
	hs, unreachable := h.cfg.Peers.Health(r.Context(), e.ID)
	merged := metrics.MergeHealth(append([]metrics.Health{h.cfg.Metrics.Health(e)}, hs...))
	if len(unreachable) == 0 {
		api.WriteJSON(w, http.StatusOK, merged)
		return
	}
	api.WriteJSON(w, http.StatusOK, struct {
		metrics.Health
		Unreachable []string `json:"unreachable_members"`
	}{merged, unreachable})
}
