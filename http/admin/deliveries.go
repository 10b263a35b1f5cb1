package admin

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/http/api"
)

// Page sizes of GET /v1/endpoints/{id}/deliveries.
const (
	defaultDeliveryPage = 50
	maxDeliveryPage     = 500
)

// receipt is a delivery as every answer of the API shows it (API.md):
// the stored record, with next_attempt_at null once no attempt is due
// (the record leaves it out) and attempts [] before the first one (the
// record has null).
type receipt struct {
	firehook.Delivery
	Attempts      []firehook.Attempt `json:"attempts"`
	NextAttemptAt *time.Time         `json:"next_attempt_at"`
}

func receiptOf(d firehook.Delivery) receipt {
	r := receipt{Delivery: d, Attempts: d.Attempts}
	if r.Attempts == nil {
		r.Attempts = []firehook.Attempt{}
	}
	if !d.NextAttemptAt.IsZero() {
		r.NextAttemptAt = &d.NextAttemptAt
	}
	return r
}

func receiptsOf(ds []firehook.Delivery) []receipt {
	out := make([]receipt, len(ds))
	for i, d := range ds {
		out[i] = receiptOf(d)
	}
	return out
}

// deliveryView is a receipt as GET /v1/deliveries/{id} answers it: the
// receipt and, for debugging, the webhook body it sends (when that is
// JSON, as the pipeline builds it).
type deliveryView struct {
	receipt
	Payload json.RawMessage `json:"payload,omitempty"`
	// Node names the cluster member that holds the delivery, when it is
	// not the member answering (replay it there).
	Node string `json:"node,omitempty"`
}

// listDeliveries answers an endpoint's receipts, newest first, a page at
// a time.
func (h *Handler) listDeliveries(w http.ResponseWriter, r *http.Request) {
	e, err := h.endpoint(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	q := r.URL.Query()
	status, err := deliveryStatus(q.Get("status"))
	if err != nil {
		h.fail(w, err)
		return
	}
	limit, err := pageLimit(q.Get("limit"))
	if err != nil {
		h.fail(w, err)
		return
	}
	if h.clustered(r) {
		h.listClusterDeliveries(w, r, e, status, limit)
		return
	}
	items, next, err := h.cfg.Outbox.List(e.ID, status, q.Get("cursor"), limit)
	if errors.Is(err, firehook.ErrInvalid) { // the status is valid: the cursor is not
		err = api.Errorf(api.CodeValidation, "cursor is not one that this route answered")
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"deliveries": receiptsOf(items), "next_cursor": next})
}

// deliveryStatus parses a status filter; "" is every status.
func deliveryStatus(s string) (firehook.DeliveryStatus, error) {
	status := firehook.DeliveryStatus(s)
	if status != "" && !status.Valid() {
		return "", api.Errorf(api.CodeValidation, "status must be one of pending, delivered, retrying, failed")
	}
	return status, nil
}

// pageLimit parses the limit of a page; "" is the default.
func pageLimit(s string) (int, error) {
	if s == "" {
		return defaultDeliveryPage, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxDeliveryPage {
		return 0, api.Errorf(api.CodeValidation, "limit must be 1 to %d", maxDeliveryPage)
	}
	return n, nil
}

// delivery returns the delivery named in the path, with its payload, if
// the caller may see it: this member's, or another's (member names it).
func (h *Handler) delivery(r *http.Request) (d firehook.Delivery, member string, err error) {
	d, found, err := h.cfg.Outbox.Get(chi.URLParam(r, "id"))
	if err != nil {
		return firehook.Delivery{}, "", err
	}
	if !found && h.clustered(r) {
		if d, member, found, err = h.cfg.Peers.Delivery(r.Context(), chi.URLParam(r, "id")); err != nil {
			return firehook.Delivery{}, "", err
		}
	}
	if !found || !principalFrom(r.Context()).sees(d.TenantID) {
		return firehook.Delivery{}, "", api.Errorf(api.CodeNotFound, "delivery not found")
	}
	return d, member, nil
}

func (h *Handler) getDelivery(w http.ResponseWriter, r *http.Request) {
	d, member, err := h.delivery(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	v := deliveryView{receipt: receiptOf(d), Node: member}
	if json.Valid(d.Payload) {
		v.Payload = d.Payload
	}
	api.WriteJSON(w, http.StatusOK, v)
}

// replayDelivery delivers one delivery again (same event id) and answers
// its receipt as replayed.
func (h *Handler) replayDelivery(w http.ResponseWriter, r *http.Request) {
	d, member, err := h.delivery(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	if member != "" {
		h.fail(w, api.Errorf(api.CodeConflict, "this delivery is held by cluster member %s: replay it on that member's admin API (GET /v1/cluster lists its address)", member))
		return
	}
	if _, ok := h.cfg.Store.Endpoint(d.EndpointID); !ok {
		h.fail(w, api.Errorf(api.CodeConflict, "the endpoint of this delivery has been deleted"))
		return
	}
	if d, err = h.cfg.Outbox.Replay(d.ID, h.cfg.Now().UTC()); err != nil {
		h.fail(w, err) // ErrNotFound: the receipt expired meanwhile
		return
	}
	h.cfg.OnReplay(d.EndpointID)
	api.WriteJSON(w, http.StatusAccepted, receiptOf(d))
}

// replayEndpoint delivers again every delivery of an endpoint created
// since a time, of one status or all.
func (h *Handler) replayEndpoint(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Since  string `json:"since"`
		Status string `json:"status"`
	}
	if err := h.decode(r, &req); err != nil {
		h.fail(w, err)
		return
	}
	now := h.cfg.Now().UTC()
	since, err := time.Parse(time.RFC3339, req.Since)
	switch {
	case req.Since == "":
		err = api.Errorf(api.CodeValidation, "since is required")
	case err != nil:
		err = api.Errorf(api.CodeValidation, "since must be an RFC 3339 time, such as 2025-03-14T15:09:26Z")
	case since.After(now):
		err = api.Errorf(api.CodeValidation, "since is in the future")
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	status, err := deliveryStatus(req.Status)
	if err != nil {
		h.fail(w, err)
		return
	}
	e, err := h.endpoint(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	n, err := h.cfg.Outbox.ReplaySince(e.ID, since, now, status)
	if n > 0 {
		h.cfg.OnReplay(e.ID) // also after a failure: those replayed are durable
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	api.WriteJSON(w, http.StatusAccepted, map[string]int{"replayed": n})
}
