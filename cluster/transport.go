package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"

	"github.com/firehook/firehook"
)

// routerName is the name of every node's router actor: a peer reaches a
// node at PID(actor address, routerName).
const routerName = "firehook"

// TransportConfig configures StartTransport.
type TransportConfig struct {
	// System is the node's actor system. Required.
	System *actor.ActorSystem
	// Listen is the address of the actor transport (gRPC). Port 0 picks a
	// free port; Addr tells which. Required.
	Listen string
	// Advertise is the address peers should dial, when it differs from
	// the bound one (a wildcard host). Default: the bound address.
	Advertise string
	// Workers bounds the requests handled at once; more wait in the
	// router's mailbox. Default 128.
	Workers int
	// Key is the cluster key (see clusterkey.go): the transport runs over
	// mutual TLS whose certificates only holders of the key can make. Nil:
	// plain gRPC, any peer accepted. At least MinClusterKeyLen bytes.
	Key []byte
	// Observe, when set, is told of every request this node made: the
	// message's name (its protobuf name, e.g. "Handoff"), how long the
	// answer took, and the error if none came (metrics).
	Observe func(message string, took time.Duration, err error)
	// Log receives handler failures. Default slog.Default().
	Log *slog.Logger
}

// Transport carries clusterpb messages between nodes over protoactor's
// remote transport. Each node runs one router actor; a request is handled
// on a worker goroutine, so that a slow handler (an fsync, a person
// actor's decision) never holds up the messages behind it. Safe for
// concurrent use.
type Transport struct {
	cfg    TransportConfig
	sys    *actor.ActorSystem
	remote *remote.Remote
	router *actor.PID
	sem    chan struct{}

	// mu guards handlers.
	mu       sync.RWMutex
	handlers map[reflect.Type]func(proto.Message) proto.Message

	wg      sync.WaitGroup // handlers in flight
	closing chan struct{}
	once    sync.Once
}

// StartTransport starts the remote transport and the router actor.
func StartTransport(cfg TransportConfig) (t *Transport, err error) {
	if cfg.System == nil || cfg.Listen == "" {
		return nil, fmt.Errorf("cluster: transport needs System and Listen: %w", ErrConfig)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 128
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	host, port, err := splitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("cluster: actor listen %q: %w", cfg.Listen, err)
	}
	var opts []remote.ConfigOption
	if cfg.Advertise != "" {
		opts = append(opts, remote.WithAdvertisedHost(cfg.Advertise))
	}
	if cfg.Key != nil {
		server, client, err := transportTLS(cfg.Key)
		if err != nil {
			return nil, err
		}
		opts = append(opts, remote.WithServerOptions(grpc.Creds(credentials.NewTLS(server))),
			remote.WithDialOptions(grpc.WithTransportCredentials(credentials.NewTLS(client))))
	}
	t = &Transport{cfg: cfg, sys: cfg.System, sem: make(chan struct{}, cfg.Workers),
		handlers: map[reflect.Type]func(proto.Message) proto.Message{}, closing: make(chan struct{})}
	t.remote = remote.NewRemote(cfg.System, remote.Configure(host, port, opts...))
	// remote.Start panics when it cannot listen; nothing has started then.
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, fmt.Errorf("cluster: start actor transport on %s: %v", cfg.Listen, r)
		}
	}()
	t.remote.Start()
	props := actor.PropsFromFunc(t.receive)
	if t.router, err = cfg.System.Root.SpawnNamed(props, routerName); err != nil {
		t.remote.Shutdown(false)
		return nil, fmt.Errorf("cluster: start router actor: %w", err)
	}
	return t, nil
}

// Addr is the address peers reach this node's actors at.
func (t *Transport) Addr() string { return t.sys.ProcessRegistry.Address }

// Handle registers fn for requests of fn's message type. fn runs on a
// worker goroutine; what it returns (nil: nothing) is the reply. Register
// every handler before the node joins the cluster.
func Handle[T proto.Message](t *Transport, fn func(T) proto.Message) {
	var zero T
	t.mu.Lock()
	defer t.mu.Unlock()
	t.handlers[reflect.TypeOf(zero)] = func(m proto.Message) proto.Message { return fn(m.(T)) }
}

// receive is the router actor: it hands each request to a worker.
func (t *Transport) receive(c actor.Context) {
	msg, ok := c.Message().(proto.Message)
	if !ok {
		return // system messages
	}
	t.mu.RLock()
	fn := t.handlers[reflect.TypeOf(msg)]
	t.mu.RUnlock()
	if fn == nil {
		t.cfg.Log.Warn("cluster: message without a handler", "type", fmt.Sprintf("%T", msg))
		return
	}
	sender := c.Sender()
	select {
	case t.sem <- struct{}{}:
	case <-t.closing:
		return
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		defer func() { <-t.sem }()
		reply := fn(msg)
		if reply != nil && sender != nil {
			t.sys.Root.Send(sender, reply)
		}
	}()
}

// ErrUnreachable is returned when a member did not answer in time. It
// is a firehook.ErrUnavailable: the HTTP layers answer 503.
var ErrUnreachable = fmt.Errorf("member unreachable: %w", firehook.ErrUnavailable)

// Request sends msg to the node whose actor address is addr and waits for
// its reply, at most timeout, and no longer than ctx: cancelling ctx ends
// the wait (the request may still arrive).
func (t *Transport) Request(ctx context.Context, addr string, msg proto.Message, timeout time.Duration) (proto.Message, error) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) < timeout {
		timeout = time.Until(d)
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("cluster: request to %s: %w", addr, context.DeadlineExceeded)
	}
	start := time.Now()
	f := t.sys.Root.RequestFuture(actor.NewPID(addr, routerName), msg, timeout)
	var res any
	var err error
	if ctx.Done() == nil {
		res, err = f.Result()
	} else {
		// The future cannot be cancelled: a goroutine waits for it (at
		// most timeout) while the caller goes on at ctx's end.
		type result struct {
			v   any
			err error
		}
		got := make(chan result, 1)
		go func() {
			v, err := f.Result()
			got <- result{v, err}
		}()
		select {
		case r := <-got:
			res, err = r.v, r.err
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if t.cfg.Observe != nil {
		t.cfg.Observe(string(msg.ProtoReflect().Descriptor().Name()), time.Since(start), err)
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: request %T to %s: %w: %w", msg, addr, ErrUnreachable, err)
	}
	reply, ok := res.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("cluster: request %T to %s: reply %T is not a message", msg, addr, res)
	}
	return reply, nil
}

// Send sends msg to the node at addr without waiting for anything.
func (t *Transport) Send(addr string, msg proto.Message) {
	t.sys.Root.Send(actor.NewPID(addr, routerName), msg)
}

// Close stops the router and the transport, after the handlers in flight.
// Safe to call twice.
func (t *Transport) Close() {
	t.once.Do(func() {
		close(t.closing)
		_ = t.sys.Root.StopFuture(t.router).Wait()
		t.wg.Wait()
		t.remote.Shutdown(false)
	})
}
