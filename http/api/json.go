package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"unicode/utf8"
)

// WriteJSON writes v as the JSON body of a response with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"internal error","code":"internal"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// errorBody is the one error shape of every Firehook API.
type errorBody struct {
	Error string `json:"error"`
	Code  Code   `json:"code"`
}

// WriteError answers err as {"error","code"}. A client *Error is sent as
// is; anything else is logged on log (when not nil) and answered as a
// bare internal error, so no internals leak.
func WriteError(w http.ResponseWriter, log *slog.Logger, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = FromStore(err)
		if e.Code == CodeInternal && log != nil {
			log.Error("request failed", "err", err)
		}
	}
	WriteJSON(w, e.Code.Status(), errorBody{Error: e.Message, Code: e.Code})
}

// DecodeJSON reads one JSON value from r into v: at most limit bytes,
// valid UTF-8, no unknown fields, nothing after the value. Errors are
// client errors that say what is wrong.
func DecodeJSON(r io.Reader, limit int64, v any) error {
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return Errorf(CodeInvalidJSON, "cannot read body: %v", err)
	}
	if int64(len(body)) > limit {
		return Errorf(CodeTooLarge, "body is larger than %d bytes", limit)
	}
	return DecodeBytes(body, v, true)
}

// DecodeBytes decodes body into v with the checks of DecodeJSON; strict
// also refuses unknown fields.
func DecodeBytes(body []byte, v any, strict bool) error {
	if !utf8.Valid(body) {
		return Errorf(CodeInvalidUTF8, "body is not valid UTF-8")
	}
	if !strict {
		// Unmarshal also refuses data after the value, and is the
		// cheaper path (the ingest hot path takes it).
		if len(bytes.TrimSpace(body)) == 0 {
			return Errorf(CodeInvalidJSON, "body is empty")
		}
		if err := json.Unmarshal(body, v); err != nil {
			return jsonError(err)
		}
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return Errorf(CodeInvalidJSON, "unexpected data after the JSON value")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Errorf(CodeInvalidJSON, "unexpected data after the JSON value")
	}
	return nil
}

// jsonError turns a decoder error into a message a client can act on.
func jsonError(err error) *Error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		if te.Field != "" {
			return Errorf(CodeInvalidJSON, "field %q must be %s, not %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
		}
		return Errorf(CodeInvalidJSON, "body must be a JSON object, not %s", te.Value)
	case errors.As(err, &se):
		return Errorf(CodeInvalidJSON, "malformed JSON at byte %d: %v", se.Offset, err)
	case errors.Is(err, io.EOF):
		return Errorf(CodeInvalidJSON, "body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return Errorf(CodeInvalidJSON, "body ends in the middle of a JSON value")
	default:
		// Unknown fields and the like: the decoder's message names the field.
		return Errorf(CodeInvalidJSON, "%v", err)
	}
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
		return "a number"
	case "bool":
		return "a boolean"
	case "map", "struct":
		return "an object"
	case "slice", "array":
		return "an array"
	default:
		return k
	}
}
