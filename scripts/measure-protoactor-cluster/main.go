// Command measure-protoactor-cluster measures, for docs/architecture.md,
// protoactor-go's cluster (virtual actors, its in-memory test provider,
// disthash placement) against Firehook's transport, two members in one
// process each: the time to start a member, a request to the other
// member and its answer, and the time to shut down. It is a module of its
// own, so that Firehook does not depend on protoactor's cluster package:
//
//	cd scripts/measure-protoactor-cluster && go run .
package main

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/test"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/remote"

	"context"
	fhcluster "github.com/firehook/firehook/cluster"
	"github.com/firehook/firehook/cluster/clusterpb"
	"google.golang.org/protobuf/proto"
)

func member(agent *test.InMemAgent) (*cluster.Cluster, time.Duration) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return log }))
	props := actor.PropsFromFunc(func(c actor.Context) {
		if q, ok := c.Message().(*clusterpb.Query); ok {
			c.Respond(&clusterpb.QueryReply{Json: []byte(q.What)})
		}
	})
	kind := cluster.NewKind("echo", props)
	cfg := cluster.Configure("bench", test.NewTestProvider(agent), disthash.New(),
		remote.Configure("127.0.0.1", 0), cluster.WithKinds(kind))
	c := cluster.New(sys, cfg)
	start := time.Now()
	c.StartMember()
	return c, time.Since(start)
}

func main() {
	agent := test.NewInMemAgent()
	a, ta := member(agent)
	b, tb := member(agent)
	fmt.Printf("StartMember: %s, %s\n", ta.Round(time.Millisecond), tb.Round(time.Millisecond))
	time.Sleep(2 * time.Second) // topology settles
	// Warm up: activate 200 grains.
	for i := range 200 {
		if _, err := a.Request(fmt.Sprintf("g%d", i), "echo", &clusterpb.Query{What: "x"}); err != nil {
			fmt.Println("warm-up error", err)
		}
	}
	var remoteIDs []string
	for i := range 200 {
		id := fmt.Sprintf("g%d", i)
		if pid := a.Get(id, "echo"); pid != nil && pid.Address != a.ActorSystem.Address() {
			remoteIDs = append(remoteIDs, id)
		}
	}
	var lat []time.Duration
	const n = 5000
	for i := range n {
		start := time.Now()
		if _, err := a.Request(remoteIDs[i%len(remoteIDs)], "echo", &clusterpb.Query{What: "x"}); err != nil {
			fmt.Println("error", err)
			continue
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	fmt.Printf("cluster.Request to a grain on the other member (%d of 200): p50 %s p99 %s over %d\n",
		len(remoteIDs), lat[len(lat)/2], lat[len(lat)*99/100], len(lat))

	// Firehook's transport, the same two-members-in-one-process setup.
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mk := func() *fhcluster.Transport {
		sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return log }))
		t, err := fhcluster.StartTransport(fhcluster.TransportConfig{System: sys, Listen: "127.0.0.1:0", Log: log})
		if err != nil {
			panic(err)
		}
		return t
	}
	ta2, tb2 := mk(), mk()
	fhcluster.Handle(tb2, func(q *clusterpb.Query) proto.Message { return &clusterpb.QueryReply{Json: []byte(q.What)} })
	ctx := context.Background()
	for range 200 {
		_, _ = ta2.Request(ctx, tb2.Addr(), &clusterpb.Query{What: "x"}, time.Second)
	}
	lat = lat[:0]
	for range n {
		start := time.Now()
		if _, err := ta2.Request(ctx, tb2.Addr(), &clusterpb.Query{What: "x"}, time.Second); err != nil {
			fmt.Println("error", err)
			continue
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	fmt.Printf("Firehook transport Request to the other member: p50 %s p99 %s over %d\n", lat[len(lat)/2], lat[len(lat)*99/100], len(lat))
	start := time.Now()
	b.Shutdown(true)
	fmt.Printf("graceful Shutdown: %s\n", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	a.Shutdown(true)
	fmt.Printf("graceful Shutdown (last member): %s\n", time.Since(start).Round(time.Millisecond))
}
