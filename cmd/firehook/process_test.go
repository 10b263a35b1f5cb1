package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/firehook/firehook/internal/testkit"
)

// binPath is the firehook binary built once for the process tests.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "firehook-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "firehook")
	out, err := exec.Command("go", "build", "-race", "-o", binPath, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		// The in-process commands (receiver, graph import) start
		// goroutines: none may outlive its test.
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// proc is a running `firehook serve` process.
type proc struct {
	cmd    *exec.Cmd
	ingest string // http://host:port
	admin  string
	token  string // the generated operator token, when this start printed one
	exited chan error

	mu     sync.Mutex // guards stderr
	stderr bytes.Buffer
}

var tokenLine = regexp.MustCompile(`Generated operator token .*: (fho_\w+)`)

// startServe starts the binary on dataDir with free ports and waits until
// it logs that it serves.
func startServe(t testing.TB, dataDir string, env ...string) *proc {
	t.Helper()
	return startServeArgs(t, dataDir, nil, env...)
}

// startServeArgs is startServe with extra command-line flags (after the
// data dir, listeners and node name).
func startServeArgs(t testing.TB, dataDir string, args []string, env ...string) *proc {
	t.Helper()
	p := &proc{exited: make(chan error, 1)}
	p.cmd = exec.Command(binPath, append([]string{"serve", "--data", dataDir,
		"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--node", "test"}, args...)...)
	p.cmd.Env = append(os.Environ(), env...)
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	started := make(chan map[string]any, 1)
	tokens := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := tokenLine.FindStringSubmatch(sc.Text()); m != nil {
				tokens <- m[1]
			}
		}
		close(tokens)
	}()
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Bytes()
			p.mu.Lock()
			p.stderr.Write(line)
			p.stderr.WriteByte('\n')
			p.mu.Unlock()
			var rec map[string]any
			if json.Unmarshal(line, &rec) == nil && rec["msg"] == "node started" {
				started <- rec
			}
		}
		p.exited <- p.cmd.Wait()
	}()
	select {
	case rec := <-started:
		p.ingest = "http://" + rec["ingest"].(string)
		p.admin = "http://" + rec["admin"].(string)
	case err := <-p.exited:
		t.Fatalf("firehook serve exited before serving: %v\n%s", err, p.log())
	case <-time.After(30 * time.Second):
		t.Fatalf("firehook serve did not start in 30 s\n%s", p.log())
	}
	select {
	case p.token = <-tokens:
	case <-time.After(100 * time.Millisecond):
		// The token line is printed before "node started"; none means none was generated.
	}
	return p
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// stop sends sig and returns the process's exit error (nil for exit 0).
func (p *proc) stop(t testing.TB, sig syscall.Signal) error {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		return err
	case <-time.After(15 * time.Second):
		t.Fatalf("firehook did not exit within 15 s of %v\n%s", sig, p.log())
		return nil
	}
}

// call makes one HTTP request with a JSON body and decodes a JSON answer.
func call(t testing.TB, method, url, token string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	headers := []string{"Content-Type", "application/json"}
	if token != "" {
		headers = append(headers, "Authorization", "Bearer "+token)
	}
	r := testkit.Do(t, http.DefaultClient, method, url, rd, headers...)
	if out != nil && len(r.Body) > 0 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(r.Body, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, url, r.Body, err)
		}
	}
	return r.Status
}

func stringsReader(s string) io.Reader    { return strings.NewReader(s) }
func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
func errorsAs(err error, target any) bool { return errors.As(err, target) }
