package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/firehook/firehook"
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
	type child struct {
		name, ingest, admin, gossip string
		cmd                         *exec.Cmd
	}
	var children []*child
	stopAll := func() {
		for _, c := range children {
			_ = c.cmd.Process.Signal(syscall.SIGTERM)
		}
		for _, c := range children {
			_ = c.cmd.Wait()
		}
	}
	var seed string
	for i := 1; i <= *nodes; i++ {
		ports, err := freePorts(3)
		if err != nil {
			stopAll()
			return fmt.Errorf("cluster up: %w", err)
		}
		c := &child{name: "node-" + strconv.Itoa(i), ingest: ports[0], admin: ports[1], gossip: ports[2]}
		dir := filepath.Join(*data, c.name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			stopAll()
			return fmt.Errorf("cluster up: %w", err)
		}
		cargs := []string{"serve", "--node", c.name, "--data", dir, "--listen", c.ingest, "--admin-listen", c.admin,
			"--gossip-listen", c.gossip, "--log-format", "text"}
		if seed != "" {
			cargs = append(cargs, "--join", seed)
		}
		if *allowPrivate {
			cargs = append(cargs, "--allow-private-endpoints")
		}
		c.cmd = exec.Command(self, cargs...)
		c.cmd.Env = append(os.Environ(), "FIREHOOK_ADMIN_TOKEN="+token)
		logf, err := os.Create(filepath.Join(dir, "node.log"))
		if err != nil {
			stopAll()
			return fmt.Errorf("cluster up: %w", err)
		}
		defer logf.Close()
		c.cmd.Stdout, c.cmd.Stderr = logf, logf
		if err := c.cmd.Start(); err != nil {
			stopAll()
			return fmt.Errorf("cluster up: start %s: %w", c.name, err)
		}
		children = append(children, c)
		if err := waitReady("http://"+c.admin+"/readyz", 30*time.Second); err != nil {
			stopAll()
			return fmt.Errorf("cluster up: %s did not become ready (see %s): %w", c.name, filepath.Join(dir, "node.log"), err)
		}
		if seed == "" {
			seed = c.gossip
		}
	}
	fmt.Fprintf(stdout, "Firehook cluster of %d nodes on 127.0.0.1 (data under %s; each node logs to its node.log)\n", *nodes, *data)
	fmt.Fprintf(stdout, "operator token: %s\n\n", token)
	fmt.Fprintf(stdout, "%-8s %-22s %-22s %-22s\n", "node", "ingest (pixels)", "admin API", "gossip")
	for _, c := range children {
		fmt.Fprintf(stdout, "%-8s %-22s %-22s %-22s\n", c.name, c.ingest, c.admin, c.gossip)
	}
	fmt.Fprintf(stdout, "\ncurl -H 'Authorization: Bearer %s' http://%s/v1/cluster\nCtrl-C stops every node.\n", token, children[0].admin)
	exited := make(chan string, len(children))
	for _, c := range children {
		go func() {
			_ = c.cmd.Wait()
			exited <- c.name
		}()
	}
	running := len(children)
	select {
	case <-ctx.Done():
		fmt.Fprintln(stdout, "stopping the cluster")
	case name := <-exited:
		running--
		fmt.Fprintf(stderr, "%s exited; stopping the cluster\n", name)
	}
	for _, c := range children {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
	}
	deadline := time.After(20 * time.Second)
	for range running {
		select {
		case <-exited:
		case <-deadline:
			for _, c := range children {
				_ = c.cmd.Process.Kill()
			}
			return errors.New("cluster up: nodes did not stop within 20 s; killed")
		}
	}
	return nil
}

// freePorts returns n free loopback addresses.
func freePorts(n int) ([]string, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	out := make([]string, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	return out, nil
}

// waitReady polls url until it answers 200 or d passes.
func waitReady(url string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no 200 from %s within %s (last: %v)", url, d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
