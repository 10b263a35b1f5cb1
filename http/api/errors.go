package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/firehook/firehook"
)

// Code is a stable, machine-readable error code. Clients switch on codes,
// never on messages, so a code is never renamed.
type Code string

// The error catalogue. Each code has one HTTP status (see Status).
const (
	CodeInvalidJSON      Code = "invalid_json"           // 400: body is not the JSON we expect
	CodeInvalidUTF8      Code = "invalid_utf8"           // 400: body is not UTF-8
	CodeValidation       Code = "validation_failed"      // 400: a field has a bad value
	CodeMissingSite      Code = "missing_site"           // 400: ingest without a site key
	CodeInvalidURL       Code = "invalid_url"            // 400: a URL field is not an http(s) URL
	CodeUnauthorized     Code = "unauthorized"           // 401: no or unknown token
	CodeForbidden        Code = "forbidden"              // 403: the token may not do this
	CodeOriginNotAllowed Code = "origin_not_allowed"     // 403: CORS origin not allowed for the site
	CodeNotFound         Code = "not_found"              // 404: no such resource (or not yours)
	CodeUnknownSite      Code = "unknown_site"           // 404: ingest for a site key we do not know
	CodeMethodNotAllowed Code = "method_not_allowed"     // 405
	CodeConflict         Code = "conflict"               // 409: collides with an existing resource
	CodeTooLarge         Code = "payload_too_large"      // 413: body over the limit
	CodeUnsupportedMedia Code = "unsupported_media_type" // 415: content type we do not read
	CodePrivateTarget    Code = "private_target"         // 422: webhook URL on a private network
	CodeRateLimited      Code = "rate_limited"           // 429: over a rate limit
	CodeInternal         Code = "internal"               // 500: our fault; details are logged, not sent
	CodeUnavailable      Code = "unavailable"            // 503: shutting down or overloaded
)

var statusOf = map[Code]int{
	CodeInvalidJSON:      http.StatusBadRequest,
	CodeInvalidUTF8:      http.StatusBadRequest,
	CodeValidation:       http.StatusBadRequest,
	CodeMissingSite:      http.StatusBadRequest,
	CodeInvalidURL:       http.StatusBadRequest,
	CodeUnauthorized:     http.StatusUnauthorized,
	CodeForbidden:        http.StatusForbidden,
	CodeOriginNotAllowed: http.StatusForbidden,
	CodeNotFound:         http.StatusNotFound,
	CodeUnknownSite:      http.StatusNotFound,
	CodeMethodNotAllowed: http.StatusMethodNotAllowed,
	CodeConflict:         http.StatusConflict,
	CodeTooLarge:         http.StatusRequestEntityTooLarge,
	CodeUnsupportedMedia: http.StatusUnsupportedMediaType,
	CodePrivateTarget:    http.StatusUnprocessableEntity,
	CodeRateLimited:      http.StatusTooManyRequests,
	CodeInternal:         http.StatusInternalServerError,
	CodeUnavailable:      http.StatusServiceUnavailable,
}

// Status is the HTTP status of code (500 for a code not in the catalogue).
func (c Code) Status() int {
	if s, ok := statusOf[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Error is an error meant for the client: its message is safe to show.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Errorf builds a client error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FromStore maps the stores' sentinel errors to client errors; anything
// else becomes an internal error whose details stay in the log.
func FromStore(err error) *Error {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, firehook.ErrNotFound):
		return Errorf(CodeNotFound, "not found")
	case errors.Is(err, firehook.ErrConflict):
		return Errorf(CodeConflict, "conflicts with an existing resource")
	case errors.Is(err, firehook.ErrInvalid):
		return Errorf(CodeValidation, "%s", err.Error())
	case errors.Is(err, firehook.ErrClosed):
		return Errorf(CodeUnavailable, "the node is shutting down")
	case errors.Is(err, firehook.ErrStorage):
		return Errorf(CodeUnavailable, "the node cannot store it now (its disk is full or failing); nothing was stored, try again")
	case errors.Is(err, firehook.ErrUnavailable):
		return Errorf(CodeUnavailable, "a cluster member did not answer; try again")
	default:
		return Errorf(CodeInternal, "internal error")
	}
}
