//go:build !linux

package wal

import "os"

// fdatasync is fsync where the system has no fdatasync(2) in
// golang.org/x/sys (macOS: os.File.Sync is F_FULLFSYNC there; Windows:
// FlushFileBuffers). Nodes run on Linux; this keeps development builds
// working elsewhere.
func fdatasync(f *os.File) error { return f.Sync() }
