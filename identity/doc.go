// Package identity is the match stage of the pipeline: identifiers and
// their normalisation, the identity graph, resolution of a visit to a
// person, and suppression.
//
// Ingest uses the normalisation in this package on arrival (an email is
// hashed here and its clear text dropped), so that a value is normalised
// the same way wherever it enters.
package identity
