package synth_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The match-quality test runs an import, which starts goroutines.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
