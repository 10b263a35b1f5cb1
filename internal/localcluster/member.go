// Package localcluster runs Firehook nodes as `firehook serve` child
// processes on 127.0.0.1: the cluster of `firehook cluster up`, and the
// members that `firehook chaos` (package bench/chaos) kills with SIGKILL
// and starts again.
//
// A Member keeps its name, data directory and ports across restarts, so
// that a restarted process is the same member to the others: it finds
// its event log and outbox where it left them and gossips from the same
// address. Each start appends the process's stdout and stderr to
// node.log in the member's data directory.
package localcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options are what every member of a local cluster shares.
type Options struct {
	// Binary is the firehook executable (os.Executable() for the running
	// one). Required.
	Binary string
	// Token is every member's operator token (FIREHOOK_ADMIN_TOKEN).
	// Required: members must accept each other's and the caller's calls.
	Token string
	// ClusterKey is every member's FIREHOOK_CLUSTER_KEY (empty: none, and
	// member traffic is in the clear).
	ClusterKey string
	// AllowPrivateEndpoints lets the members' endpoints target loopback
	// (a receiver on 127.0.0.1).
	AllowPrivateEndpoints bool
	// LogFormat is the members' --log-format. Default "text".
	LogFormat string
	// Args are more `firehook serve` flags, after the ones Member sets.
	Args []string
	// ReadyWithin bounds how long Start waits for GET /readyz to answer
	// 200. Default 30 s (a -race build on a busy machine loads slowly).
	ReadyWithin time.Duration
}

// DefaultReadyWithin is Options.ReadyWithin's default.
const DefaultReadyWithin = 30 * time.Second

// ErrNotRunning is returned by Kill and Stop when the member has no
// process.
var ErrNotRunning = errors.New("member not running")

// Member is one node of a local cluster: a `firehook serve` process on
// its own data directory and loopback ports, which can be stopped or
// killed and started again as the same member.
//
// Start, Kill and Stop are for one goroutine (the member's owner);
// Done and Running may be called from any.
type Member struct {
	Name   string
	Dir    string // data directory; the process logs to Dir/node.log
	Ingest string // host:port of the public ingest listener
	Admin  string // host:port of the admin listener
	Gossip string // host:port of gossip (UDP and TCP)

	opts Options

	mu  sync.Mutex // guards cur
	cur *process   // the last process started; nil before Start
}

// process is one start of a member.
type process struct {
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{} // closed once cmd.Wait returned and err is set
	err  error
}

// NewMember makes member name on data directory dir (created when
// missing) with free loopback ports. It starts nothing.
func NewMember(opts Options, name, dir string) (*Member, error) {
	if opts.Binary == "" || opts.Token == "" {
		return nil, errors.New("localcluster: the binary and the operator token are required")
	}
	if opts.LogFormat == "" {
		opts.LogFormat = "text"
	}
	if opts.ReadyWithin <= 0 {
		opts.ReadyWithin = DefaultReadyWithin
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("localcluster: %s: %w", name, err)
	}
	ports, err := FreePorts(3)
	if err != nil {
		return nil, fmt.Errorf("localcluster: %s: %w", name, err)
	}
	return &Member{Name: name, Dir: dir, Ingest: ports[0], Admin: ports[1], Gossip: ports[2], opts: opts}, nil
}

// LogPath is the file each start of the member appends its output to.
func (m *Member) LogPath() string { return filepath.Join(m.Dir, "node.log") }

// IngestURL and AdminURL are the listeners' base URLs.
func (m *Member) IngestURL() string { return "http://" + m.Ingest }

// AdminURL is the admin listener's base URL.
func (m *Member) AdminURL() string { return "http://" + m.Admin }

// Start starts the member's process, joining the cluster through the
// gossip addresses of join (none: it starts a cluster, or rejoins the one
// its data dir knows nothing of), and waits until it is ready (GET
// /readyz answers 200). A process that exits or is not ready within
// Options.ReadyWithin is an error; ctx cancels the wait (the process is
// then killed).
func (m *Member) Start(ctx context.Context, join []string) error {
	m.mu.Lock()
	running := m.cur != nil && !isDone(m.cur.done)
	m.mu.Unlock()
	if running {
		return fmt.Errorf("localcluster: start %s: already running", m.Name)
	}
	args := []string{"serve", "--node", m.Name, "--data", m.Dir, "--listen", m.Ingest, "--admin-listen", m.Admin,
		"--gossip-listen", m.Gossip, "--log-format", m.opts.LogFormat}
	if len(join) > 0 {
		args = append(args, "--join", strings.Join(join, ","))
	}
	if m.opts.AllowPrivateEndpoints {
		args = append(args, "--allow-private-endpoints")
	}
	args = append(args, m.opts.Args...)
	log, err := os.OpenFile(m.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("localcluster: start %s: %w", m.Name, err)
	}
	fmt.Fprintf(log, "---- localcluster: %s starts %s (join %v) ----\n", time.Now().Format(time.RFC3339Nano), m.Name, join)
	p := &process{cmd: exec.Command(m.opts.Binary, args...), log: log, done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), "FIREHOOK_ADMIN_TOKEN="+m.opts.Token, "FIREHOOK_CLUSTER_KEY="+m.opts.ClusterKey)
	p.cmd.Stdout, p.cmd.Stderr = log, log
	if err := p.cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("localcluster: start %s: %w", m.Name, err)
	}
	go func() { // ends when the process exits
		p.err = p.cmd.Wait()
		p.log.Close()
		close(p.done)
	}()
	m.mu.Lock()
	m.cur = p
	m.mu.Unlock()

	wctx, cancel := context.WithTimeout(ctx, m.opts.ReadyWithin)
	defer cancel()
	if err := waitReady(wctx, m.AdminURL()+"/readyz", p.done); err != nil {
		_ = m.Kill()
		return fmt.Errorf("localcluster: %s not ready (its log: %s): %w", m.Name, m.LogPath(), err)
	}
	return nil
}

// Running reports whether the member's last process is still running.
func (m *Member) Running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cur != nil && !isDone(m.cur.done)
}

// Done is closed when the member's current process exits (at once when
// none was started).
func (m *Member) Done() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cur == nil {
		closed := make(chan struct{})
		close(closed)
		return closed
	}
	return m.cur.done
}

// Kill sends SIGKILL to the member's process and waits for it to exit.
func (m *Member) Kill() error {
	p, err := m.running()
	if err != nil {
		return fmt.Errorf("localcluster: kill %s: %w", m.Name, err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("localcluster: kill %s: %w", m.Name, err)
	}
	<-p.done
	return nil
}

// Stop sends SIGTERM (a graceful leave) and waits up to grace for the
// process to exit, then kills it. It returns the process's exit error:
// nil for exit status 0.
func (m *Member) Stop(grace time.Duration) error {
	p, err := m.running()
	if err != nil {
		return fmt.Errorf("localcluster: stop %s: %w", m.Name, err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("localcluster: stop %s: %w", m.Name, err)
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("localcluster: stop %s: no exit within %s of SIGTERM; killed", m.Name, grace)
	}
	if p.err != nil {
		return fmt.Errorf("localcluster: stop %s: %w", m.Name, p.err)
	}
	return nil
}

// StopAll stops the members that run, all at once (Stop with grace each),
// and returns their errors joined.
func StopAll(grace time.Duration, members ...*Member) error {
	errs := make([]error, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		if !m.Running() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.Stop(grace); !errors.Is(err, ErrNotRunning) {
				errs[i] = err
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (m *Member) running() (*process, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cur == nil || isDone(m.cur.done) {
		return nil, ErrNotRunning
	}
	return m.cur, nil
}

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// waitReady polls url every 100 ms until it answers 200; exited closing
// or ctx ending first is an error.
func waitReady(ctx context.Context, url string, exited <-chan struct{}) error {
	client := &http.Client{Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("readyz: %w", err)
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		last = err
		select {
		case <-exited:
			return errors.New("the process exited")
		case <-ctx.Done():
			return fmt.Errorf("no 200 from %s (last: %v): %w", url, last, ctx.Err())
		case <-tick.C:
		}
	}
}

// FreePorts returns n free loopback addresses (127.0.0.1:PORT). They are
// free when it returns; nothing holds them for the caller.
func FreePorts(n int) ([]string, error) {
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
			return nil, fmt.Errorf("free port: %w", err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	return out, nil
}
