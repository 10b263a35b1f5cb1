package identity_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The import starts goroutines (reader, parsers, closer): every test must
// leave none behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
