package actors

import "errors"

// Sentinel errors of the actor layer. Compare with errors.Is: the returned
// errors may wrap them with context.
var (
	// ErrClosed is returned by Spawn and Send once Close has begun.
	ErrClosed = errors.New("actors: system closed")
	// ErrInvalidName is returned for an empty kind or id, or a kind that
	// contains "/" (the kind is a segment of the actor's path).
	ErrInvalidName = errors.New("actors: invalid kind or id")
	// ErrIDInUse is returned when an id is live under another kind: ids
	// are unique across kinds so that Actor(id) names one actor.
	ErrIDInUse = errors.New("actors: id live under another kind")
	// ErrStopping is returned when the previous incarnation of an id did
	// not finish stopping within Config.SpawnTimeout.
	ErrStopping = errors.New("actors: previous incarnation still stopping")
)
