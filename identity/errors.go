package identity

import "errors"

// The errors of this package. Functions wrap them with the reason, so
// compare with errors.Is. ErrInvalidEmail is declared beside the email
// normalisation in email.go.
var (
	// ErrJunk is returned for an identifier value that is a placeholder
	// rather than an identifier ("null", "undefined", "0", an all-zero
	// id, a run of one character, …). Such values never become graph
	// keys; an import drops them silently.
	ErrJunk = errors.New("junk identifier value")

	// ErrInvalidIdentifier is returned for an identifier whose type is
	// unknown or whose value is not valid for its type.
	ErrInvalidIdentifier = errors.New("invalid identifier")

	// ErrInvalidRecord is returned for a line of the graph import format
	// that cannot be imported. The message names the field.
	ErrInvalidRecord = errors.New("invalid record")

	// ErrTransferClosed is returned by Transfer.Apply and Transfer.Finish
	// after the transfer was finished or closed.
	ErrTransferClosed = errors.New("shard transfer closed")

	// ErrCorruptBatch is returned for a ShardBatch whose binary form
	// cannot be decoded.
	ErrCorruptBatch = errors.New("corrupt shard batch")

	// errMalformedJSON marks, besides ErrInvalidRecord, a line that is
	// not well-formed JSON (as opposed to JSON with unusable content).
	errMalformedJSON = errors.New("malformed JSON")
)
