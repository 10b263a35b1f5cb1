package endpoint

import (
	"sync/atomic"

	"github.com/firehook/firehook"
)

// Endpoint states as health shows them.
const (
	StateHealthy     = "healthy"
	StateDegraded    = "degraded"     // recent requests failed; the breaker is still closed
	StateCircuitOpen = "circuit_open" // probing one request at a time
	StateDisabled    = "disabled"
)

// Stats are an endpoint actor's live figures, safe to read from any
// goroutine. One Stats outlives the actor's incarnations.
type Stats struct {
	InFlight atomic.Int64 // requests in flight
	Pending  atomic.Int64 // unfinished deliveries in memory, not yet tried or waiting their turn
	Retrying atomic.Int64 // unfinished deliveries with a failed attempt
	state    atomic.Value // string
}

// State returns the endpoint's health state.
func (s *Stats) State() string {
	if v, ok := s.state.Load().(string); ok {
		return v
	}
	return StateHealthy
}

func (s *Stats) setState(exists bool, ep *firehook.Endpoint, b *breaker) {
	st := StateHealthy
	switch {
	case !exists || ep.State != firehook.EndpointEnabled:
		st = StateDisabled
	case b.open:
		st = StateCircuitOpen
	case b.consecutive > 0:
		st = StateDegraded
	}
	s.state.Store(st)
}
