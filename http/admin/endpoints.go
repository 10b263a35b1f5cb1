package admin

import (
	"net/http"
	"net/netip"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"golang.org/x/net/idna"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/http/api"
	"github.com/firehook/firehook/internal/netguard"
)

// Endpoint limits and defaults.
const (
	maxEndpointURLLen  = 2048
	maxDescriptionLen  = 512
	defaultMaxInFlight = 8
	maxMaxInFlight     = 256
	maxEndpointRate    = 100_000
	defaultTimeoutMS   = 10_000
	minTimeoutMS       = 100
	maxTimeoutMS       = 60_000
	maxHeaders         = 20
	maxHeaderValueLen  = 1024
	maxBatchWindowMS   = 60_000
	minRetryWindowS    = 60
	maxRetryWindowS    = 7 * 24 * 3600
	minAutoDisableS    = 3600
	maxAutoDisableS    = 30 * 24 * 3600
)

// reservedHeaders are set by Firehook on every delivery; an endpoint may
// not override them.
var reservedHeaders = []string{
	"Content-Type", "Content-Length", "Content-Encoding", "Host", "User-Agent", "Connection",
	"Transfer-Encoding", "Te", "Trailer", "Upgrade", "Keep-Alive", "Proxy-Authorization",
	"Webhook-Id", "Webhook-Timestamp", "Webhook-Signature",
}

var knownEvents = []string{firehook.EventIdentified, firehook.EventUpdated}

// endpointView is an endpoint as the API shows it: everything but the
// secrets, which only create, rotate-secret and GET …/secret reveal.
type endpointView struct {
	ID             string                 `json:"id"`
	TenantID       string                 `json:"tenant_id"`
	URL            string                 `json:"url"`
	Events         []string               `json:"events"`
	Description    string                 `json:"description"`
	MaxInFlight    int                    `json:"max_in_flight"`
	RateLimitPerS  int                    `json:"rate_limit_per_s"`
	TimeoutMS      int                    `json:"timeout_ms"`
	Headers        map[string]string      `json:"headers"`
	BatchWindowMS  int                    `json:"batch_window_ms"`
	RetryWindowS   int                    `json:"retry_window_s"`
	AutoDisableS   int                    `json:"auto_disable_after_s"`
	State          firehook.EndpointState `json:"state"`
	DisabledReason string                 `json:"disabled_reason,omitempty"`
	Secret         string                 `json:"secret,omitempty"`
	CreatedAt      time.Time              `json:"created_at"`
	UpdatedAt      time.Time              `json:"updated_at"`
}

func viewEndpoint(e firehook.Endpoint) endpointView {
	return endpointView{ID: e.ID, TenantID: e.TenantID, URL: e.URL, Events: e.Events, Description: e.Description,
		MaxInFlight: e.MaxInFlight, RateLimitPerS: e.RateLimitPerS, TimeoutMS: e.TimeoutMS, Headers: e.Headers,
		BatchWindowMS: e.BatchWindowMS, RetryWindowS: e.RetryWindowS, AutoDisableS: e.AutoDisableAfterS,
		State: e.State, DisabledReason: e.DisabledReason, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt}
}

// endpointFields are the writable fields of an endpoint; pointers tell
// PATCH which were sent.
type endpointFields struct {
	URL           *string            `json:"url"`
	Events        *[]string          `json:"events"`
	Description   *string            `json:"description"`
	MaxInFlight   *int               `json:"max_in_flight"`
	RateLimitPerS *int               `json:"rate_limit_per_s"`
	TimeoutMS     *int               `json:"timeout_ms"`
	Headers       *map[string]string `json:"headers"`
	BatchWindowMS *int               `json:"batch_window_ms"`
	RetryWindowS  *int               `json:"retry_window_s"`
	AutoDisableS  *int               `json:"auto_disable_after_s"`
}

func (f *endpointFields) apply(e *firehook.Endpoint) {
	if f.URL != nil {
		e.URL = *f.URL
	}
	if f.Events != nil {
		e.Events = *f.Events
	}
	if f.Description != nil {
		e.Description = *f.Description
	}
	if f.MaxInFlight != nil {
		e.MaxInFlight = *f.MaxInFlight
	}
	if f.RateLimitPerS != nil {
		e.RateLimitPerS = *f.RateLimitPerS
	}
	if f.TimeoutMS != nil {
		e.TimeoutMS = *f.TimeoutMS
	}
	if f.Headers != nil {
		e.Headers = *f.Headers
	}
	if f.BatchWindowMS != nil {
		e.BatchWindowMS = *f.BatchWindowMS
	}
	if f.RetryWindowS != nil {
		e.RetryWindowS = *f.RetryWindowS
	}
	if f.AutoDisableS != nil {
		e.AutoDisableAfterS = *f.AutoDisableS
	}
}

// withEndpointDefaults gives the fields of e that are zero their
// defaults: those of a new endpoint, and the fields an endpoint stored
// before they existed does not have (a PATCH fills them in before it
// applies what was sent, so that a zero sent is still refused).
func withEndpointDefaults(e *firehook.Endpoint) {
	if len(e.Events) == 0 {
		e.Events = slices.Clone(knownEvents)
	}
	if e.MaxInFlight == 0 {
		e.MaxInFlight = defaultMaxInFlight
	}
	if e.TimeoutMS == 0 {
		e.TimeoutMS = defaultTimeoutMS
	}
	if e.RetryWindowS == 0 {
		e.RetryWindowS = int(firehook.DefaultRetryWindow / time.Second)
	}
	if e.AutoDisableAfterS == 0 {
		e.AutoDisableAfterS = int(firehook.DefaultAutoDisableAfter / time.Second)
	}
}

// checkEndpoint validates and normalises an endpoint in place.
func (h *Handler) checkEndpoint(e *firehook.Endpoint) error {
	if err := h.checkEndpointURL(e); err != nil {
		return err
	}
	if len(e.Events) == 0 {
		return api.Errorf(api.CodeValidation, "events must name at least one of %s", strings.Join(knownEvents, ", "))
	}
	var events []string
	for _, ev := range e.Events {
		if !slices.Contains(knownEvents, ev) {
			return api.Errorf(api.CodeValidation, "unknown event type %q; known: %s", ev, strings.Join(knownEvents, ", "))
		}
		if !slices.Contains(events, ev) {
			events = append(events, ev)
		}
	}
	e.Events = events
	e.Description = strings.TrimSpace(e.Description)
	if utf8.RuneCountInString(e.Description) > maxDescriptionLen {
		return api.Errorf(api.CodeValidation, "description is longer than %d characters", maxDescriptionLen)
	}
	if e.MaxInFlight < 1 || e.MaxInFlight > maxMaxInFlight {
		return api.Errorf(api.CodeValidation, "max_in_flight must be 1 to %d", maxMaxInFlight)
	}
	if e.RateLimitPerS < 0 || e.RateLimitPerS > maxEndpointRate {
		return api.Errorf(api.CodeValidation, "rate_limit_per_s must be 0 (unlimited) to %d", maxEndpointRate)
	}
	if e.TimeoutMS < minTimeoutMS || e.TimeoutMS > maxTimeoutMS {
		return api.Errorf(api.CodeValidation, "timeout_ms must be %d to %d", minTimeoutMS, maxTimeoutMS)
	}
	if e.BatchWindowMS < 0 || e.BatchWindowMS > maxBatchWindowMS {
		return api.Errorf(api.CodeValidation, "batch_window_ms must be 0 (no batching) to %d", maxBatchWindowMS)
	}
	if e.RetryWindowS < minRetryWindowS || e.RetryWindowS > maxRetryWindowS {
		return api.Errorf(api.CodeValidation, "retry_window_s must be %d to %d", minRetryWindowS, maxRetryWindowS)
	}
	if e.AutoDisableAfterS < minAutoDisableS || e.AutoDisableAfterS > maxAutoDisableS {
		return api.Errorf(api.CodeValidation, "auto_disable_after_s must be %d to %d", minAutoDisableS, maxAutoDisableS)
	}
	return checkHeaders(e)
}

// checkEndpointURL allows absolute http(s) URLs without credentials or
// fragment, and refuses literal private targets unless the operator
// allows them (names are checked again when the delivery dials).
func (h *Handler) checkEndpointURL(e *firehook.Endpoint) error {
	e.URL = strings.TrimSpace(e.URL)
	if e.URL == "" {
		return api.Errorf(api.CodeValidation, "url is required")
	}
	if len(e.URL) > maxEndpointURLLen {
		return api.Errorf(api.CodeValidation, "url is longer than %d characters", maxEndpointURLLen)
	}
	u, err := url.Parse(e.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.Opaque != "" {
		return api.Errorf(api.CodeValidation, "url must be an absolute http or https URL")
	}
	if u.User != nil {
		return api.Errorf(api.CodeValidation, "url must not carry credentials; use headers")
	}
	if u.Fragment != "" || strings.Contains(e.URL, "#") { // "#" alone leaves Fragment empty
		return api.Errorf(api.CodeValidation, "url must not have a fragment")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return api.Errorf(api.CodeValidation, "url port must be 1 to 65535")
		}
	}
	host, ok := dialHost(u.Hostname())
	if !ok {
		return api.Errorf(api.CodeValidation, "url host must be a domain name or an IP address")
	}
	if !h.cfg.AllowPrivateEndpoints && netguard.BlockedHost(host) {
		return api.Errorf(api.CodePrivateTarget, "url points to a private or local address; the operator must allow private endpoints")
	}
	return nil
}

// dialHost returns the host that net/http dials for a URL's hostname,
// and whether that is an IP address or a domain name (validHostname, a
// final dot allowed). A name that is not ASCII is dialled in its IDNA
// form, in which "１２７．０．０．１" is 127.0.0.1 and "ＬＯＣＡＬＨＯＳＴ"
// localhost: the check for private targets must see that form.
func dialHost(hostname string) (string, bool) {
	if _, err := netip.ParseAddr(hostname); err == nil {
		return hostname, true
	}
	host := hostname
	if strings.ContainsFunc(host, func(r rune) bool { return r >= utf8.RuneSelf }) {
		var err error
		if host, err = idna.Lookup.ToASCII(host); err != nil {
			return "", false
		}
	}
	return host, validHostname(strings.ToLower(strings.TrimSuffix(host, ".")))
}

func checkHeaders(e *firehook.Endpoint) error {
	if len(e.Headers) > maxHeaders {
		return api.Errorf(api.CodeValidation, "headers has more than %d entries", maxHeaders)
	}
	out := make(map[string]string, len(e.Headers))
	for k, v := range e.Headers {
		if !validHeaderName(k) {
			return api.Errorf(api.CodeValidation, "header name %q is not a valid HTTP header name", k)
		}
		ck := textproto.CanonicalMIMEHeaderKey(k)
		if slices.Contains(reservedHeaders, ck) || strings.HasPrefix(ck, "Firehook-") {
			return api.Errorf(api.CodeValidation, "header %q is set by Firehook and cannot be overridden", ck)
		}
		if len(v) > maxHeaderValueLen || strings.ContainsAny(v, "\r\n\x00") {
			return api.Errorf(api.CodeValidation, "header %q: value must be at most %d characters on one line", ck, maxHeaderValueLen)
		}
		if _, dup := out[ck]; dup {
			return api.Errorf(api.CodeValidation, "header %q given twice", ck)
		}
		out[ck] = v
	}
	e.Headers = out
	return nil
}

// validHeaderName: an RFC 9110 token of at most 64 characters.
func validHeaderName(k string) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

func (h *Handler) createEndpoint(w http.ResponseWriter, r *http.Request) {
	var req struct {
		TenantID string `json:"tenant_id"`
		endpointFields
	}
	if err := h.decode(r, &req); err != nil {
		h.fail(w, err)
		return
	}
	tenantID, err := scopeTenant(principalFrom(r.Context()), req.TenantID, true)
	if err != nil {
		h.fail(w, err)
		return
	}
	now := h.cfg.Now().UTC()
	e := firehook.Endpoint{ID: firehook.NewID(firehook.PrefixEndpoint), TenantID: tenantID,
		State: firehook.EndpointEnabled, Secret: firehook.NewWebhookSecret(), CreatedAt: now, UpdatedAt: now}
	withEndpointDefaults(&e)
	req.endpointFields.apply(&e)
	if err := h.checkEndpoint(&e); err != nil {
		h.fail(w, err)
		return
	}
	if err := h.cfg.Store.CreateEndpoint(e); err != nil {
		h.fail(w, err)
		return
	}
	h.cfg.OnEndpointChange(e.ID)
	v := viewEndpoint(e)
	v.Secret = e.Secret
	api.WriteJSON(w, http.StatusCreated, v)
}

func (h *Handler) listEndpoints(w http.ResponseWriter, r *http.Request) {
	tenantID, err := scopeTenant(principalFrom(r.Context()), r.URL.Query().Get("tenant_id"), false)
	if err != nil {
		h.fail(w, err)
		return
	}
	out := []endpointView{}
	for _, e := range h.cfg.Store.Endpoints(tenantID) {
		out = append(out, viewEndpoint(e))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"endpoints": out})
}

// endpoint returns the endpoint named in the path, if the caller may see it.
func (h *Handler) endpoint(r *http.Request) (firehook.Endpoint, error) {
	e, ok := h.cfg.Store.Endpoint(chi.URLParam(r, "id"))
	if !ok || !principalFrom(r.Context()).sees(e.TenantID) {
		return firehook.Endpoint{}, api.Errorf(api.CodeNotFound, "endpoint not found")
	}
	return e, nil
}

func (h *Handler) getEndpoint(w http.ResponseWriter, r *http.Request) {
	e, err := h.endpoint(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, viewEndpoint(e))
}

// updateEndpoint applies fn to the endpoint of the path (after the scope
// check) and tells OnEndpointChange; it answers an error itself, and
// returns the updated endpoint and true when there was none.
func (h *Handler) updateEndpoint(w http.ResponseWriter, r *http.Request, fn func(*firehook.Endpoint) error) (firehook.Endpoint, bool) {
	e, err := h.endpoint(r)
	if err == nil {
		e, err = h.cfg.Store.UpdateEndpoint(e.ID, func(e *firehook.Endpoint) error {
			if err := fn(e); err != nil {
				return err
			}
			e.UpdatedAt = h.cfg.Now().UTC()
			return nil
		})
	}
	if err != nil {
		h.fail(w, err)
		return e, false
	}
	h.cfg.OnEndpointChange(e.ID)
	return e, true
}

func (h *Handler) patchEndpoint(w http.ResponseWriter, r *http.Request) {
	var req endpointFields
	if err := h.decode(r, &req); err != nil {
		h.fail(w, err)
		return
	}
	if e, ok := h.updateEndpoint(w, r, func(e *firehook.Endpoint) error {
		withEndpointDefaults(e)
		req.apply(e)
		return h.checkEndpoint(e)
	}); ok {
		api.WriteJSON(w, http.StatusOK, viewEndpoint(e))
	}
}

func (h *Handler) deleteEndpoint(w http.ResponseWriter, r *http.Request) {
	e, err := h.endpoint(r)
	if err == nil {
		err = h.cfg.Store.DeleteEndpoint(e.ID)
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	h.cfg.OnEndpointChange(e.ID)
	w.WriteHeader(http.StatusNoContent)
}

// secretView carries signing secrets; only the routes that must reveal
// them use it.
type secretView struct {
	Secret                  string     `json:"secret"`
	PreviousSecret          string     `json:"previous_secret,omitempty"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at,omitempty"`
}

func (h *Handler) getEndpointSecret(w http.ResponseWriter, r *http.Request) {
	e, err := h.endpoint(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	v := secretView{Secret: e.Secret}
	if len(e.Secrets(h.cfg.Now())) > 1 {
		v.PreviousSecret, v.PreviousSecretExpiresAt = e.PreviousSecret, e.PreviousSecretExpiresAt
	}
	api.WriteJSON(w, http.StatusOK, v)
}

// rotateEndpointSecret makes a new secret; the old one keeps signing (as a
// second signature) for SecretOverlap, so receivers can switch without
// dropping deliveries.
func (h *Handler) rotateEndpointSecret(w http.ResponseWriter, r *http.Request) {
	if e, ok := h.updateEndpoint(w, r, func(e *firehook.Endpoint) error {
		until := h.cfg.Now().UTC().Add(h.cfg.SecretOverlap)
		e.PreviousSecret, e.PreviousSecretExpiresAt = e.Secret, &until
		e.Secret = firehook.NewWebhookSecret()
		return nil
	}); ok {
		api.WriteJSON(w, http.StatusOK, secretView{Secret: e.Secret, PreviousSecret: e.PreviousSecret,
			PreviousSecretExpiresAt: e.PreviousSecretExpiresAt})
	}
}

func (h *Handler) disableEndpoint(w http.ResponseWriter, r *http.Request) {
	if e, ok := h.updateEndpoint(w, r, func(e *firehook.Endpoint) error {
		e.State, e.DisabledReason = firehook.EndpointDisabled, "disabled through the API"
		return nil
	}); ok {
		api.WriteJSON(w, http.StatusOK, viewEndpoint(e))
	}
}

func (h *Handler) enableEndpoint(w http.ResponseWriter, r *http.Request) {
	if e, ok := h.updateEndpoint(w, r, func(e *firehook.Endpoint) error {
		e.State, e.DisabledReason = firehook.EndpointEnabled, ""
		return nil
	}); ok {
		api.WriteJSON(w, http.StatusOK, viewEndpoint(e))
	}
}
