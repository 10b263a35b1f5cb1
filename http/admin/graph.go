package admin

import (
	"errors"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/http/api"
	"github.com/firehook/firehook/identity"
)

// The identity graph is the operator's: importing, looking up and erasing
// persons are operator-only routes. Suppression lists are per tenant (and
// one global list, the operator's).

// importGraph streams an NDJSON body into the graph. The body may be
// gigabytes: it is never buffered, and the read deadline that protects the
// other routes is lifted for it.
func (h *Handler) importGraph(w http.ResponseWriter, r *http.Request) {
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	var opts identity.ImportOptions
	if c := h.cfg.GraphCluster; c != nil {
		opts.Upsert = c.Upsert // each record to its shards' owners
	}
	res, err := h.cfg.Graph.Import(r.Context(), r.Body, opts)
	if err != nil {
		if r.Context().Err() != nil {
			return // the client went away
		}
		if errors.Is(err, identity.ErrImportRead) {
			api.WriteError(w, nil, api.Errorf(api.CodeInvalidJSON, "import stopped after %d records: %v", res.Imported, err))
			return
		}
		if errors.Is(err, firehook.ErrUnavailable) {
			h.cfg.Log.Warn("graph import stopped: a cluster member did not answer", "err", err, "imported", res.Imported)
			api.WriteError(w, nil, api.Errorf(api.CodeUnavailable,
				"import stopped after %d records: a cluster member did not answer; import the file again (records are upserts)", res.Imported))
			return
		}
		h.cfg.Log.Error("graph import failed", "err", err, "imported", res.Imported, "rejected", res.Rejected)
		api.WriteError(w, nil, api.Errorf(api.CodeInternal, "import stopped after %d records: storage error", res.Imported))
		return
	}
	h.cfg.Log.Info("graph import", "imported", res.Imported, "rejected", res.Rejected)
	api.WriteJSON(w, http.StatusOK, res)
}

// lookupView is a person as GET /v1/graph/lookup shows it.
type lookupView struct {
	PersonID    string                `json:"person_id"`
	CompanyOnly bool                  `json:"company_only"`
	Person      identity.Person       `json:"person"`
	Company     identity.Company      `json:"company"`
	Identifiers []identity.Identifier `json:"identifiers"`
	UpdatedAt   *time.Time            `json:"updated_at,omitempty"`
}

func viewRecord(rec *identity.Record) lookupView {
	v := lookupView{PersonID: rec.PersonID, CompanyOnly: rec.IsCompanyOnly(), Person: rec.Person,
		Company: rec.Company, Identifiers: rec.Identifiers}
	if !rec.UpdatedAt.IsZero() {
		t := rec.UpdatedAt
		v.UpdatedAt = &t
	}
	return v
}

// resolve looks up the identifier of the request's type and value
// parameters: in the cluster's graph, or this node's.
func (h *Handler) resolve(r *http.Request) (*identity.Record, bool, error) {
	q := r.URL.Query()
	id, err := identity.NewIdentifier(identity.Type(q.Get("type")), q.Get("value"))
	if err != nil {
		return nil, false, api.Errorf(api.CodeValidation, "%v", err)
	}
	if c := h.cfg.GraphCluster; c != nil {
		return c.Lookup(id)
	}
	return h.cfg.Graph.Lookup(id)
}

func (h *Handler) lookupGraph(w http.ResponseWriter, r *http.Request) {
	rec, ok, err := h.resolve(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	if !ok {
		h.fail(w, api.Errorf(api.CodeNotFound, "no person has this identifier"))
		return
	}
	api.WriteJSON(w, http.StatusOK, viewRecord(rec))
}

func (h *Handler) erasePerson(w http.ResponseWriter, r *http.Request) {
	var ok bool
	var err error
	if c := h.cfg.GraphCluster; c != nil {
		ok, err = c.Erase(chi.URLParam(r, "id"))
	} else {
		ok, err = h.cfg.Graph.Erase(chi.URLParam(r, "id"), h.cfg.Suppressions)
		if err == nil && ok {
			err = h.cfg.OnErased(chi.URLParam(r, "id"))
		}
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	if !ok {
		h.fail(w, api.Errorf(api.CodeNotFound, "person not found"))
		return
	}
	h.cfg.Log.Info("person erased", "person_id", chi.URLParam(r, "id"))
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) graphStats(w http.ResponseWriter, _ *http.Request) {
	api.WriteJSON(w, http.StatusOK, h.cfg.Graph.Stats())
}

// suppressionBody is the body of POST and DELETE on suppression lists.
type suppressionBody struct {
	Kind   identity.Kind `json:"kind"`
	Values []string      `json:"values"`
}

const maxSuppressionValues = 10_000

// suppressionScope is the list a route acts on: the tenant of the path
// (which the caller must see), or the global list.
func (h *Handler) suppressionScope(r *http.Request) (string, error) {
	id := chi.URLParam(r, "id")
	if id == "" {
		return identity.GlobalScope, nil
	}
	t, err := h.tenant(r)
	return t.ID, err
}

// maxSuppressionBody fits maxSuppressionValues email addresses.
const maxSuppressionBody = 4 << 20

func (h *Handler) decodeSuppressions(r *http.Request) (suppressionBody, error) {
	var b suppressionBody
	if err := api.DecodeJSON(r.Body, maxSuppressionBody, &b); err != nil {
		return b, err
	}
	if len(b.Values) == 0 || len(b.Values) > maxSuppressionValues {
		return b, api.Errorf(api.CodeValidation, "values must hold 1 to %d entries", maxSuppressionValues)
	}
	return b, nil
}

func suppressionError(err error) error {
	if errors.Is(err, identity.ErrInvalidSuppression) {
		return api.Errorf(api.CodeValidation, "%v", err)
	}
	return err
}

// suppressionRequest reads the scope and body of a write to a
// suppression list; on a bad request it has answered and ok is false.
func (h *Handler) suppressionRequest(w http.ResponseWriter, r *http.Request) (scope string, b suppressionBody, ok bool) {
	scope, err := h.suppressionScope(r)
	if err == nil {
		b, err = h.decodeSuppressions(r)
	}
	if err != nil {
		h.fail(w, err)
		return "", b, false
	}
	return scope, b, true
}

func (h *Handler) addSuppressions(w http.ResponseWriter, r *http.Request) {
	scope, b, ok := h.suppressionRequest(w, r)
	if !ok {
		return
	}
	added, err := h.cfg.Suppressions.Add(scope, b.Kind, b.Values)
	if err != nil {
		h.fail(w, suppressionError(err))
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"added": added})
}

func (h *Handler) listSuppressions(w http.ResponseWriter, r *http.Request) {
	scope, err := h.suppressionScope(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"suppressions": h.cfg.Suppressions.List(scope)})
}

func (h *Handler) removeSuppressions(w http.ResponseWriter, r *http.Request) {
	scope, b, ok := h.suppressionRequest(w, r)
	if !ok {
		return
	}
	if err := h.cfg.Suppressions.Remove(scope, b.Kind, b.Values); err != nil {
		h.fail(w, suppressionError(err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
