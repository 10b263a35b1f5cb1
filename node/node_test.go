package node_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/internal/testkit"
	"github.com/firehook/firehook/node"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startNode starts a node on free loopback ports over a fresh data dir.
func startNode(tb testing.TB, mod func(*node.Config)) *node.Node {
	tb.Helper()
	cfg := node.Config{
		DataDir:     tb.TempDir(),
		Listen:      "127.0.0.1:0",
		AdminListen: "127.0.0.1:0",
		AdminToken:  "op",
		Log:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	cfg.Store.MemTableSize, cfg.Store.BlockCacheSize = 8<<20, 8<<20
	if mod != nil {
		mod(&cfg)
	}
	n, err := node.Start(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = n.Shutdown(context.Background()) })
	return n
}

// addSite creates a tenant and a site straight in the store; it returns the site key.
func addSite(tb testing.TB, n *node.Node, ratePerS int) string {
	tb.Helper()
	t := testkit.CreateTenant(tb, n.Store().Config, "t")
	return testkit.CreateSite(tb, n.Store().Config, t.ID, func(s *firehook.Site) { s.RateLimitPerS = ratePerS }).Key
}

func TestNode_ServesBothListenersAndStopsCleanly(t *testing.T) {
	n := startNode(t, nil)
	for _, url := range []string{"http://" + n.AdminAddr() + "/readyz", "http://" + n.IngestAddr() + "/healthz"} {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", url, resp.StatusCode)
		}
	}
	key := addSite(t, n, 0)
	resp, err := http.Post("http://"+n.IngestAddr()+"/v1/collect", "text/plain",
		strings.NewReader(`{"site":"`+key+`","vid":"v1","url":"https://example.com/"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("collect: %d", resp.StatusCode)
	}
	http.DefaultClient.CloseIdleConnections()

	if err := n.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := n.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if _, err := http.Get("http://" + n.AdminAddr() + "/readyz"); err == nil {
		t.Fatal("admin listener still answers after Shutdown")
	}
	if got := n.Store().Events.LastSeq(); got != 1 {
		t.Fatalf("LastSeq after shutdown = %d; want 1", got)
	}
}

func TestNode_GeneratesTheOperatorTokenOnce(t *testing.T) {
	dir := t.TempDir()
	var out strings.Builder
	start := func() *node.Node {
		n, err := node.Start(node.Config{DataDir: dir, Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0",
			Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Stdout: &out})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	n := start()
	_ = n.Shutdown(context.Background())
	first := out.String()
	if !strings.Contains(first, "fho_") {
		t.Fatalf("first start printed no token: %q", first)
	}
	n = start()
	_ = n.Shutdown(context.Background())
	if out.String() != first {
		t.Fatalf("second start printed again: %q", out.String()[len(first):])
	}
}
