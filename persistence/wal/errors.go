package wal

import "errors"

var (
	// ErrClosed is returned by Append after Close.
	ErrClosed = errors.New("wal: closed")
	// ErrTooLarge is returned by Append for a record over Config.MaxRecord.
	ErrTooLarge = errors.New("wal: record too large")
)
