package firehook

import "errors"

// Sentinel errors shared by the stores and the HTTP layers. Compare with
// errors.Is; implementations wrap them with context.
var (
	// ErrNotFound: the record does not exist (or is not visible to the caller).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the write collides with an existing record.
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the input failed validation; the wrapped message says why.
	ErrInvalid = errors.New("invalid")
	// ErrClosed: the component has been closed and accepts no more work.
	ErrClosed = errors.New("closed")
	// ErrUnavailable: a part the work needs (another member of the
	// cluster) did not answer; trying again later may succeed.
	ErrUnavailable = errors.New("unavailable")
	// ErrStorage: the node could not write to its disk (full, read-only,
	// failing): nothing was stored; trying again later may succeed.
	ErrStorage = errors.New("storage unavailable")
)
