package chaos

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"time"
)

// Defaults of Config (DefaultConfig).
const (
	DefaultNodes     = 3
	DefaultDuration  = 10 * time.Minute // issue 13's run: 10 minutes, a kill every 30 s
	DefaultKillEvery = 30 * time.Second
	DefaultDowntime  = 3 * time.Second
	DefaultPeople    = 30
	DefaultRate      = 300
	DefaultDrain     = 60 * time.Second
)

// RejoinWithin bounds the wait, after a restart, until every member sees
// every member alive; the next kill waits for it.
const RejoinWithin = 30 * time.Second

// ErrConfig marks a Config that cannot be run.
var ErrConfig = errors.New("invalid chaos configuration")

// Config says what cluster to run, how to load it and how to kill its
// members. Zero fields take the defaults named.
type Config struct {
	// Binary is the firehook executable the members run (`firehook
	// serve`). Required; the command gives its own (os.Executable).
	Binary string
	// Nodes is the number of members, at least 2 (a kill must leave
	// someone). Default 3.
	Nodes int
	// Duration is how long the load runs; the kills fall within it, each
	// one's restart included. 0: (Kills+1) × KillEvery with Kills, else
	// 10 minutes.
	Duration time.Duration
	// Kills is how many kills to make at most. 0: as many as Duration
	// holds.
	Kills int
	// KillEvery is the time from one kill to the next; the first comes
	// KillEvery after the load starts. A kill waits for the previous
	// victim to be back (seen alive by every member). Default 30 s.
	KillEvery time.Duration
	// Downtime is how long a killed member stays down before it is
	// started again on the same data dir, ports and name. Default 3 s.
	Downtime time.Duration
	// People is the number of persons in the identity graph; each is one
	// visitor posting page views in turn. Default 30.
	People int
	// Rate is the page views per second over all persons: each sends one
	// every People/Rate seconds, and never before its previous one was
	// answered (slow answers lower the rate). Default 300.
	Rate float64
	// MaxInFlight is the endpoint's max_in_flight. 0: the node's default.
	MaxInFlight int
	// Drain bounds the wait, after the load, for every accepted page view
	// to be delivered; the missing ones then count as lost. Default 60 s.
	Drain time.Duration
	// Seed draws the victims: the same seed, the same victims. 0: from
	// the clock (the report gives the seed used).
	Seed uint64
	// DataDir is the parent of the members' data dirs (node-1, node-2, …),
	// each with the member's log, node.log. Empty: a temporary directory,
	// removed after a run that found nothing wrong and kept (the report
	// says where) after one that did.
	DataDir string
	// Log receives a line per phase and per kill. Nil: nothing.
	Log io.Writer
}

// DefaultConfig is the configuration of issue 13's run: three members,
// 30 persons, a kill every 30 s for 10 minutes. Binary is left to the
// caller.
func DefaultConfig() Config {
	return Config{Nodes: DefaultNodes, KillEvery: DefaultKillEvery, Downtime: DefaultDowntime,
		People: DefaultPeople, Rate: DefaultRate, Drain: DefaultDrain}
}

func (c *Config) withDefaults() error {
	d := DefaultConfig()
	c.Nodes = cmp.Or(c.Nodes, d.Nodes)
	c.KillEvery = cmp.Or(c.KillEvery, d.KillEvery)
	c.Downtime = cmp.Or(c.Downtime, d.Downtime)
	c.People = cmp.Or(c.People, d.People)
	c.Rate = cmp.Or(c.Rate, d.Rate)
	c.Drain = cmp.Or(c.Drain, d.Drain)
	if c.Duration == 0 {
		c.Duration = DefaultDuration
		if c.Kills > 0 {
			c.Duration = time.Duration(c.Kills+1) * c.KillEvery
		}
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	switch {
	case c.Binary == "":
		return fmt.Errorf("chaos: the firehook binary is required: %w", ErrConfig)
	case c.Nodes < 2 || c.Nodes > 32:
		return fmt.Errorf("chaos: %d nodes: want 2 to 32: %w", c.Nodes, ErrConfig)
	case c.Kills < 0 || c.People < 1 || c.Rate < 0 || c.MaxInFlight < 0:
		return fmt.Errorf("chaos: kills, people, rate and max in flight must be positive: %w", ErrConfig)
	case c.Duration < 0 || c.KillEvery < 0 || c.Downtime < 0 || c.Drain < 0:
		return fmt.Errorf("chaos: durations must be positive: %w", ErrConfig)
	case c.Downtime >= c.KillEvery:
		return fmt.Errorf("chaos: downtime %s must be shorter than the time between kills, %s: %w", c.Downtime, c.KillEvery, ErrConfig)
	}
	return nil
}
