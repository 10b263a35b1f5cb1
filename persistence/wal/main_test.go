package wal

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves the writer or the syncer
// running: Close must end both.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
