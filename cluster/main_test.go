package cluster

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv("FIREHOOK_TRANSPORT_PEER") == "1" {
		runPeer()
		return
	}
	if addr := os.Getenv("FIREHOOK_TRANSPORT_ASK"); addr != "" {
		runAsker(addr)
		return
	}
	code := m.Run()
	closeShared()
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreCurrent(),
			// gRPC's and protoactor's process-wide background goroutines.
			goleak.IgnoreTopFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
			goleak.IgnoreAnyFunction("github.com/asynkron/protoactor-go/actor.(*ActorSystem).Shutdown"),
		); err != nil {
			println(err.Error())
			code = 1
		}
	}
	os.Exit(code)
}
