package demo_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/firehook/firehook/demo"
	"github.com/firehook/firehook/internal/testkit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Every simulated page view is one the ingest accepts, and each built-in
// receiver gets verified deliveries; Close leaves nothing behind.
func TestDemo_SimulatedTrafficIsAcceptedAndDelivered(t *testing.T) {
	d, err := demo.Start(context.Background(), demo.Config{People: 200, Rate: 40,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = d.Close(context.Background())
		}
	})
	testkit.Eventually(t, 60*time.Second, func() bool {
		for _, rc := range d.Receivers {
			if rc.Stats().OK == 0 {
				return false
			}
		}
		return d.SimStats().Accepted >= 50
	}, "traffic: %s", d.Status())
	if st := d.SimStats(); st.Refused != 0 {
		t.Errorf("%d of %d page views refused", st.Refused, st.Sent)
	}
	for _, rc := range d.Receivers {
		if st := rc.Stats(); st.Rejected != 0 {
			t.Errorf("%s receiver: %d deliveries whose signature did not verify", rc.Name, st.Rejected)
		}
	}
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	closed = true
	if _, err := os.Stat(d.DataDir); !os.IsNotExist(err) {
		t.Errorf("data dir %s still there: %v", d.DataDir, err)
	}
}

// A kept data dir is reused: the second run finds the demo tenant and
// replaces its endpoints.
func TestDemo_KeptDataDirIsReused(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var tenant, site string
	for run := range 2 {
		d, err := demo.Start(context.Background(), demo.Config{People: 50, Rate: 1, DataDir: dir, Log: log})
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if run == 1 && (d.TenantID != tenant || d.SiteKey != site) {
			t.Errorf("run 2: tenant %s site %s; want run 1's %s %s", d.TenantID, d.SiteKey, tenant, site)
		}
		tenant, site = d.TenantID, d.SiteKey
		if n := len(d.Node.Store().Config.Endpoints(d.TenantID)); n != 3 {
			t.Errorf("run %d: %d endpoints, want 3", run+1, n)
		}
		if err := d.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(dir); err != nil {
			t.Fatalf("run %d removed the kept data dir: %v", run+1, err)
		}
	}
}
