package endpoint_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves a goroutine behind: every
// harness closes its actor system, waits for the request goroutines
// (Config.Attempts) and closes its webhook client, receivers and store.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
