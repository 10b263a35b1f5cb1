package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/internal/localcluster"
)

// runCluster is `firehook cluster up`: a local cluster of N nodes on
// 127.0.0.1, each a `firehook serve` child process with its own data dir
// and ports, all sharing one operator token. It prints where each node
// listens and runs until Ctrl-C, then stops every node gracefully.
func runCluster(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "up" {
		fmt.Fprintln(stderr, "usage: firehook cluster up [--nodes N] [--data DIR] [--allow-private-endpoints]")
		return errUsage
	}
	fs := flag.NewFlagSet("firehook cluster up", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nodes := fs.Int("nodes", 3, "how many nodes")
	data := fs.String("data", "./firehook-cluster", "parent of the nodes' data dirs (node-1, node-2, ...)")
	allowPrivate := fs.Bool("allow-private-endpoints", true, "let endpoints target loopback (local receivers)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if *nodes < 1 || *nodes > 32 {
		return fmt.Errorf("--nodes %d: 1 to 32: %w", *nodes, errUsage)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("cluster up: %w", err)
	}
	token := os.Getenv("FIREHOOK_ADMIN_TOKEN")
	if token == "" {
		token = firehook.RandomToken("fho_", 40)
	}
	// The members' traffic is encrypted with a key of this run (or the
	// one in the environment).
	key := os.Getenv("FIREHOOK_CLUSTER_KEY")
	if key == "" {
		key = firehook.RandomToken("fhc_", 40)
	}
	opts := localcluster.Options{Binary: self, Token: token, ClusterKey: key, AllowPrivateEndpoints: *allowPrivate}
	var members []*localcluster.Member
	stopAll := func() error { return localcluster.StopAll(20*time.Second, members...) }
	var join []string
	for i := 1; i <= *nodes; i++ {
		name := "node-" + strconv.Itoa(i)
		m, err := localcluster.NewMember(opts, name, filepath.Join(*data, name))
		if err == nil {
			err = m.Start(ctx, join)
		}
		if err != nil {
			return errors.Join(fmt.Errorf("cluster up: %w", err), stopAll())
		}
		members = append(members, m)
		if join == nil {
			join = []string{m.Gossip}
		}
	}
	fmt.Fprintf(stdout, "Firehook cluster of %d nodes on 127.0.0.1 (data under %s; each node logs to its node.log)\n", *nodes, *data)
	fmt.Fprintf(stdout, "operator token: %s\n\n", token)
	fmt.Fprintf(stdout, "%-8s %-22s %-22s %-22s\n", "node", "ingest (pixels)", "admin API", "gossip")
	for _, m := range members {
		fmt.Fprintf(stdout, "%-8s %-22s %-22s %-22s\n", m.Name, m.Ingest, m.Admin, m.Gossip)
	}
	fmt.Fprintf(stdout, "\ncurl -H 'Authorization: Bearer %s' %s/v1/cluster\nCtrl-C stops every node.\n", token, members[0].AdminURL())
	exited := make(chan string, len(members))
	var watchers sync.WaitGroup
	for _, m := range members {
		watchers.Add(1)
		go func() { // ends when the node exits: at the latest in stopAll
			defer watchers.Done()
			<-m.Done()
			exited <- m.Name
		}()
	}
	select {
	case <-ctx.Done():
		fmt.Fprintln(stdout, "stopping the cluster")
	case name := <-exited:
		fmt.Fprintf(stderr, "%s exited; stopping the cluster\n", name)
	}
	err = stopAll()
	watchers.Wait()
	if err != nil {
		return fmt.Errorf("cluster up: %w", err)
	}
	return nil
}
