package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/firehook/firehook/cluster/clusterpb"
)

// protoactor's remote.Start sets gRPC's global logger each time, racing
// with a running gRPC server's reads of it: one process runs one
// transport. So these tests talk to a peer in another process (this test
// binary, started with FIREHOOK_TRANSPORT_PEER=1: see TestMain), and the
// process's own transport is shared.

var shared struct {
	once sync.Once
	tr   *Transport
	sys  *actor.ActorSystem
	err  error
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newSystem() *actor.ActorSystem {
	log := quietLog()
	return actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return log }))
}

// sharedTransport is this process's transport.
func sharedTransport(t testing.TB) *Transport {
	t.Helper()
	shared.once.Do(func() {
		shared.sys = newSystem()
		shared.tr, shared.err = StartTransport(TransportConfig{System: shared.sys, Listen: "127.0.0.1:0", Log: quietLog()})
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.tr
}

func closeShared() {
	if shared.tr != nil {
		shared.tr.Close()
		shared.sys.Shutdown()
	}
}

// runPeer is the peer process: a transport whose handlers echo, until its
// stdin closes.
func runPeer() {
	sys := newSystem()
	tr, err := StartTransport(TransportConfig{System: sys, Listen: "127.0.0.1:0", Log: quietLog(), Key: envKey()})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	Handle(tr, func(m *clusterpb.LookupRequest) proto.Message {
		hits := make([]*clusterpb.Hit, 0, len(m.Ids))
		for _, id := range m.Ids {
			hits = append(hits, &clusterpb.Hit{Id: id, Company: true})
		}
		return &clusterpb.LookupReply{Hits: hits}
	})
	Handle(tr, func(m *clusterpb.Query) proto.Message {
		if m.What == "slow" {
			time.Sleep(2 * time.Second)
		}
		return &clusterpb.QueryReply{Json: []byte(`"` + m.What + `"`)}
	})
	fmt.Println("addr", tr.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	tr.Close()
}

// envKey is the cluster key a peer or asker process is given (nil: none).
func envKey() []byte {
	if k := os.Getenv("FIREHOOK_TRANSPORT_KEY"); k != "" {
		return []byte(k)
	}
	return nil
}

// runAsker is the asker process: a transport with the key of its
// environment sends one query to addr and prints "answer X" or
// "error ...".
func runAsker(addr string) {
	sys := newSystem()
	tr, err := StartTransport(TransportConfig{System: sys, Listen: "127.0.0.1:0", Log: quietLog(), Key: envKey()})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	reply, err := tr.Request(context.Background(), addr, &clusterpb.Query{What: "hello"}, 3*time.Second)
	if err != nil {
		fmt.Println("error", err)
	} else {
		fmt.Println("answer", string(reply.(*clusterpb.QueryReply).Json))
	}
	tr.Close()
}

// ask runs an asker process with key (empty: none) against addr and
// returns what it printed.
func ask(t *testing.T, addr, key string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "FIREHOOK_TRANSPORT_ASK="+addr, "FIREHOOK_TRANSPORT_KEY="+key)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("asker: %v (%s)", err, out)
	}
	return strings.TrimSpace(string(out))
}

// With a cluster key the transport is mutual TLS that only holders of
// the key can speak: a member with the key is answered, one with another
// key or none is not.
func TestTransport_ClusterKeyAdmitsOnlyItsHolders(t *testing.T) {
	const key = "correct horse battery staple 1"
	peer := startPeer(t, "FIREHOOK_TRANSPORT_KEY="+key)
	if got := ask(t, peer, key); got != `answer "hello"` {
		t.Fatalf("a member with the key got %q; want the answer", got)
	}
	for _, other := range []string{"", "another cluster key of 32 bytes"} {
		if got := ask(t, peer, other); !strings.HasPrefix(got, "error") {
			t.Errorf("a member with key %q got %q; want an error", other, got)
		}
	}
	if _, err := StartTransport(TransportConfig{System: newSystem(), Listen: "127.0.0.1:0", Key: []byte("short")}); !errors.Is(err, ErrClusterKey) {
		t.Errorf("a 5-byte key: %v; want ErrClusterKey", err)
	}
}

// startPeer starts a peer process (env adds to its environment) and
// returns its transport's address.
func startPeer(t testing.TB, env ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), "FIREHOOK_TRANSPORT_PEER=1"), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "addr ") {
		t.Fatalf("peer said %q (%v)", line, err)
	}
	return strings.TrimSpace(strings.TrimPrefix(line, "addr "))
}

func TestTransport_ListenFailureIsAnErrorNotAPanic(t *testing.T) {
	// First in the file: no other transport runs in this process yet.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sys := newSystem()
	defer sys.Shutdown()
	if _, err := StartTransport(TransportConfig{System: sys, Listen: ln.Addr().String()}); err == nil {
		t.Fatal("a transport bound an address in use")
	}
}

func TestTransport_RequestReachesTheHandlerAndReturnsItsReply(t *testing.T) {
	a, peer := sharedTransport(t), startPeer(t)
	req := &clusterpb.LookupRequest{Ids: []*clusterpb.Identifier{{Type: "cookie", Value: "c1"}, {Type: "ip", Value: "1.2.3.4"}}}
	reply, err := a.Request(context.Background(), peer, req, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	got := reply.(*clusterpb.LookupReply)
	if len(got.Hits) != 2 || got.Hits[1].Id.GetValue() != "1.2.3.4" || !got.Hits[0].Company {
		t.Fatalf("reply %v", got)
	}
}

func TestTransport_ASlowHandlerDoesNotHoldUpOthers(t *testing.T) {
	a, peer := sharedTransport(t), startPeer(t)
	slow := make(chan error, 1)
	go func() {
		_, err := a.Request(context.Background(), peer, &clusterpb.Query{What: "slow"}, 5*time.Second)
		slow <- err
	}()
	time.Sleep(100 * time.Millisecond) // let the slow one reach the peer first
	start := time.Now()
	reply, err := a.Request(context.Background(), peer, &clusterpb.Query{What: "fast"}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("a fast request behind a slow one took %s", d)
	}
	if string(reply.(*clusterpb.QueryReply).Json) != `"fast"` {
		t.Fatalf("reply %v", reply)
	}
	if err := <-slow; err != nil {
		t.Fatal(err)
	}
}

func TestTransport_UnreachableMemberFailsWithinTheTimeout(t *testing.T) {
	a := sharedTransport(t)
	start := time.Now()
	_, err := a.Request(context.Background(), "127.0.0.1:1", &clusterpb.Query{What: "x"}, 500*time.Millisecond)
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %s", d)
	}
}

// BenchmarkTransport_Request is one request to a peer process and its
// answer on loopback: what every cross-node step costs before its own
// work (go test ./cluster -run XXX -bench Transport).
func BenchmarkTransport_Request(b *testing.B) {
	a, peer := sharedTransport(b), startPeer(b)
	req := &clusterpb.LookupRequest{Ids: []*clusterpb.Identifier{{Type: "hem_sha256", Value: strings.Repeat("ab", 32)}}}
	if _, err := a.Request(context.Background(), peer, req, 5*time.Second); err != nil {
		b.Fatal(err) // and the connection is up
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if _, err := a.Request(context.Background(), peer, req, 5*time.Second); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkTransport_RequestParallel is the same with 16 requests in
// flight at once: the throughput of one connection between two nodes.
func BenchmarkTransport_RequestParallel(b *testing.B) {
	a, peer := sharedTransport(b), startPeer(b)
	req := &clusterpb.LookupRequest{Ids: []*clusterpb.Identifier{{Type: "hem_sha256", Value: strings.Repeat("ab", 32)}}}
	if _, err := a.Request(context.Background(), peer, req, 5*time.Second); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(8) // 16 goroutines on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := a.Request(context.Background(), peer, req, 5*time.Second); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
