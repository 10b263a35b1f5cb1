// Package testkit holds the helpers that several of Firehook's test
// packages share: a real store in a temporary directory and real records
// in it, real HTTP requests through a real client, the checks of the
// answers all Firehook APIs share, a settable clock, and the expected
// hashes of an e-mail address.
//
// Everything here drives real parts; there are no mocks. Only _test.go
// files import this package. The persistence package's internal tests
// cannot (testkit imports persistence) and keep their own helpers.
//
// Every helper takes the test's testing.TB, marks itself with tb.Helper
// and fails the test itself on error, so callers need no error handling;
// the ones that may call tb.Fatalf must run on the test's goroutine.
// Clock is the exception: its Now is handed to the code under test.
package testkit
