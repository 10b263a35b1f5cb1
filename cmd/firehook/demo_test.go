package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/firehook/firehook/internal/testkit"
)

// demoBanner is what the demo printed, read off its output.
type demoBanner struct {
	login, token, admin, ingest, snippet, data string
}

var bannerLines = map[string]*regexp.Regexp{
	"login":   regexp.MustCompile(`^\s*Dashboard\s+(http://\S+/dashboard#login=\S+)$`),
	"token":   regexp.MustCompile(`^\s*Admin token\s+(fho_\S+)$`),
	"admin":   regexp.MustCompile(`^\s*Admin API\s+(http://\S+)$`),
	"ingest":  regexp.MustCompile(`^\s*Ingest\s+(http://\S+)/v1/collect$`),
	"snippet": regexp.MustCompile(`^\s*Pixel\s+(<script .*</script>)$`),
	"data":    regexp.MustCompile(`^\s*Data\s+(\S+)`),
}

// lines collects the lines of a command's output and reads the banner
// off them.
type lines struct {
	mu     sync.Mutex
	all    []string
	banner demoBanner
	found  map[string]bool
	ready  chan struct{} // closed once the banner is complete
	status chan struct{} // closed at the first status line
}

func newLines() *lines {
	return &lines{found: map[string]bool{}, ready: make(chan struct{}), status: make(chan struct{})}
}

// read consumes r until EOF.
func (l *lines) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		l.mu.Lock()
		l.all = append(l.all, line)
		for name, re := range bannerLines {
			if m := re.FindStringSubmatch(line); m != nil && !l.found[name] {
				l.found[name] = true
				v := m[1]
				switch name {
				case "login":
					l.banner.login = v
				case "token":
					l.banner.token = v
				case "admin":
					l.banner.admin = v
				case "ingest":
					l.banner.ingest = v
				case "snippet":
					l.banner.snippet = v
				case "data":
					l.banner.data = v
				}
				if len(l.found) == len(bannerLines) {
					close(l.ready)
				}
			}
		}
		if strings.Contains(line, "webhooks received:") {
			select {
			case <-l.status:
			default:
				close(l.status)
			}
		}
		l.mu.Unlock()
	}
}

func (l *lines) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.all, "\n")
}

func (l *lines) get() demoBanner {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.banner
}

// waitBanner waits for the complete banner (or the command's end).
func (l *lines) waitBanner(t *testing.T, done <-chan error) demoBanner {
	t.Helper()
	select {
	case <-l.ready:
		return l.get()
	case err := <-done:
		t.Fatalf("the demo ended before printing its banner: %v\n%s", err, l.text())
	case <-time.After(60 * time.Second):
		t.Fatalf("no complete banner within 60 s:\n%s", l.text())
	}
	return demoBanner{}
}

// get fetches url with token (none when "") and decodes a JSON answer.
func getJSON[T any](t *testing.T, c *http.Client, url, token string) T {
	t.Helper()
	var hdr []string
	if token != "" {
		hdr = []string{"Authorization", "Bearer " + token}
	}
	return testkit.AssertJSON[T](t, testkit.Do(t, c, http.MethodGet, url, nil, hdr...), http.StatusOK)
}

type receipt struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Attempts []struct {
		StatusCode int `json:"status_code"`
	} `json:"attempts"`
}

func TestDemo_ServesTheDashboardAndDeliversToItsReceivers(t *testing.T) {
	defer func(d time.Duration) { demoStatusEvery = d }(demoStatusEvery)
	demoStatusEvery = 500 * time.Millisecond

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	pr, pw := io.Pipe()
	out := newLines()
	readDone := make(chan struct{})
	go func() { defer close(readDone); out.read(pr) }()
	var stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"demo", "--rate", "25", "--people", "300"}, pw, &stderr)
		pw.Close()
	}()
	b := out.waitBanner(t, done)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	defer c.CloseIdleConnections()

	// The page, public; the one-time link's code, exchanged once for the
	// printed token.
	dash, code, _ := strings.Cut(b.login, "#login=")
	page := testkit.Do(t, c, http.MethodGet, dash, nil)
	if page.Status != http.StatusOK || !strings.HasPrefix(page.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET %s: %d %s", dash, page.Status, page.Header.Get("Content-Type"))
	}
	login := func() testkit.Response {
		return testkit.Do(t, c, http.MethodPost, b.admin+"/dashboard/login", strings.NewReader(`{"code":"`+code+`"}`),
			"Content-Type", "application/json")
	}
	if got := testkit.AssertJSON[map[string]string](t, login(), http.StatusOK); got["token"] != b.token {
		t.Fatalf("the login link gave %v, want the printed token", got)
	}
	testkit.AssertError(t, login(), http.StatusUnauthorized, "unauthorized")

	// The API with the printed token: the demo tenant and its three endpoints.
	tenants := getJSON[struct {
		Tenants []struct{ ID, Name, Tier string } `json:"tenants"`
	}](t, c, b.admin+"/v1/tenants", b.token)
	if len(tenants.Tenants) != 1 || tenants.Tenants[0].Name != "Acme (demo)" || tenants.Tenants[0].Tier != "pro" {
		t.Fatalf("tenants %+v, want the pro demo tenant", tenants.Tenants)
	}
	eps := getJSON[struct {
		Endpoints []struct{ ID, URL, Description string } `json:"endpoints"`
	}](t, c, b.admin+"/v1/endpoints", b.token).Endpoints
	if len(eps) != 3 {
		t.Fatalf("%d endpoints, want 3", len(eps))
	}

	// Deliveries arrive at every built-in receiver; the flaky one answers
	// some with 500.
	var flaky500 bool
	for _, ep := range eps {
		testkit.Eventually(t, 60*time.Second, func() bool {
			list := getJSON[struct {
				Deliveries []receipt `json:"deliveries"`
			}](t, c, b.admin+"/v1/endpoints/"+ep.ID+"/deliveries?limit=200", b.token).Deliveries
			delivered := 0
			for _, d := range list {
				if d.Status == "delivered" {
					delivered++
				}
				for _, a := range d.Attempts {
					flaky500 = flaky500 || (strings.Contains(ep.URL, "flaky") && a.StatusCode == 500)
				}
			}
			return delivered > 0
		}, "no delivery delivered to %s (%s)", ep.Description, ep.URL)
	}
	testkit.Eventually(t, 60*time.Second, func() bool {
		if flaky500 {
			return true
		}
		for _, ep := range eps {
			if !strings.Contains(ep.URL, "flaky") {
				continue
			}
			list := getJSON[struct {
				Deliveries []receipt `json:"deliveries"`
			}](t, c, b.admin+"/v1/endpoints/"+ep.ID+"/deliveries?limit=500", b.token).Deliveries
			for _, d := range list {
				for _, a := range d.Attempts {
					flaky500 = flaky500 || a.StatusCode == 500
				}
			}
		}
		return flaky500
	}, "the flaky receiver never answered 500")

	// The pixel of the printed snippet is served.
	if !strings.Contains(b.snippet, `src="`+b.ingest+`/p.js"`) || !strings.Contains(b.snippet, `data-site="sk_`) {
		t.Errorf("snippet %s", b.snippet)
	}
	if r := testkit.Do(t, c, http.MethodGet, b.ingest+"/p.js", nil); r.Status != http.StatusOK {
		t.Errorf("GET p.js: %d", r.Status)
	}
	select {
	case <-out.status:
	case <-time.After(10 * time.Second):
		t.Errorf("no status line printed:\n%s", out.text())
	}

	// Ctrl-C: a clean stop, the temporary data dir gone.
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo: %v\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the demo did not stop within 20 s of its context's end")
	}
	<-readDone
	if _, err := os.Stat(b.data); !os.IsNotExist(err) {
		t.Errorf("the temporary data dir %s is still there (%v)", b.data, err)
	}
	if !strings.Contains(stderr.String(), "stopped.") {
		t.Errorf("stderr does not say it stopped:\n%s", stderr.String())
	}
}

// The binary: SIGINT stops the demo with exit status 0.
func TestDemo_BinaryStopsOnSIGINT(t *testing.T) {
	cmd := exec.Command(binPath, "demo", "--rate", "10", "--people", "200")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := newLines()
	exited := make(chan error, 1)
	go func() {
		out.read(stdout)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	b := out.waitBanner(t, exited)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	if r := testkit.Do(t, c, http.MethodGet, b.admin+"/dashboard", nil); r.Status != http.StatusOK {
		t.Fatalf("GET /dashboard: %d", r.Status)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no exit within 20 s of SIGINT\n%s", stderr.String())
	}
	if _, err := os.Stat(b.data); !os.IsNotExist(err) {
		t.Errorf("the temporary data dir %s is still there (%v)", b.data, err)
	}
}

func TestDemo_UsageErrors(t *testing.T) {
	for _, args := range [][]string{{"--rate", "0.01"}, {"--people", "3"}, {"--bogus"}, {"extra"}} {
		var stderr syncBuffer
		err := Run(context.Background(), append([]string{"demo"}, args...), io.Discard, &stderr)
		if err == nil {
			t.Errorf("demo %v: no error", args)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
