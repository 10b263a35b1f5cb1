package openapi

import "errors"

// ErrUndocumented is returned for an operation, a status or a media type
// that the document does not describe.
var ErrUndocumented = errors.New("undocumented")
