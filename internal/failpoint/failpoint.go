// Package failpoint lets the crash tests stop the real binary at a chosen
// step of the pipeline: with FIREHOOK_FAILPOINT=name:n in its environment,
// the process SIGKILLs itself the n-th time the code passes the point
// called name (Hit). Without it — always in production — Hit costs one
// atomic load.
//
// The points (see docs/architecture.md, "What a crash loses"):
//
//	visitor.before-dispatch   an event is in the log, matched, not decided
//	person.after-dispatch     its decision is committed, not checkpointed, not handed to the endpoint actors
//	pipeline.after-checkpoint a checkpoint is on disk; deliveries it covers may not be sent yet
package failpoint

import (
	"os"
	"strconv"
	"strings"
	"sync/atomic"
)

// Env is the environment variable that arms a point: "name:n".
const Env = "FIREHOOK_FAILPOINT"

type point struct {
	name string
	n    int64
	hits atomic.Int64
}

var armed atomic.Pointer[point]

func init() { Arm(os.Getenv(Env)) }

// Arm arms the point spec names ("name:n", n ≥ 1; "name" means 1), or
// disarms every point for an empty or malformed spec.
func Arm(spec string) {
	name, count, _ := strings.Cut(spec, ":")
	n, err := strconv.ParseInt(count, 10, 64)
	if count == "" {
		n, err = 1, nil
	}
	if name == "" || err != nil || n < 1 {
		armed.Store(nil)
		return
	}
	armed.Store(&point{name: name, n: n})
}

// Hit passes the point called name: the armed point's n-th pass kills
// the process with SIGKILL, as an operator's kill -9 or the OOM killer
// would, at exactly this step.
func Hit(name string) {
	p := armed.Load()
	if p == nil || p.name != name || p.hits.Add(1) != p.n {
		return
	}
	if self, err := os.FindProcess(os.Getpid()); err == nil {
		_ = self.Kill() // SIGKILL on Unix
	}
	select {} // the signal is on its way; go no further
}

// Hits reports how often the armed point was passed (tests of this package).
func Hits() int64 {
	if p := armed.Load(); p != nil {
		return p.hits.Load()
	}
	return 0
}
