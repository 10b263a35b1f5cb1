// Package fuzzcheck runs every fuzz target of the module for a few
// seconds from inside the test suite. CI runs the README's test command
// (`go test -race … ./...`) and nothing else; so the test of this package
// finds each `func FuzzXxx(*testing.F)` in the module's _test.go files
// (a new target joins by being written) and runs `go test -fuzz` on it as
// a subprocess, one target after another. docs/fuzzing.md lists the
// targets, the property each checks, and their long runs.
//
// FIREHOOK_FUZZTIME sets each target's -fuzztime (default 2s; 0 or off
// skips them all); -short skips them too.
package fuzzcheck
