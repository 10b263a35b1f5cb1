package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/firehook/firehook/internal/testkit"
)

// Secrets never reach the log, the metrics, an error answer or (with
// FIREHOOK_SECRET_KEY) the disk in the clear. A node runs
// at debug level through everything that handles a secret: tenants
// created and their API keys rotated, endpoints with a custom
// Authorization header created and their signing secrets rotated,
// deliveries that fail and are retried, wrong tokens close to the real
// ones, a graceful stop. Then its whole log, its /metrics and every file
// of its data directory are searched for every secret it was given or
// made.
func TestServe_SecretsNeverInLogsMetricsOrErrors(t *testing.T) {
	const operator = "op-token-secret-4f1c9a7e2b"
	const customerAuth = "Bearer customer-endpoint-credential-77d2"
	dir := t.TempDir()
	p := startServeArgs(t, dir, []string{"--log-level", "debug", "--allow-private-endpoints"},
		"FIREHOOK_ADMIN_TOKEN="+operator, "FIREHOOK_SECRET_KEY=the node's secret key, 32 bytes")

	var mu sync.Mutex
	tried := map[string]bool{} // by webhook-id
	rc := testkit.NewReceiver(t, func(w http.ResponseWriter, r *testkit.Received) {
		mu.Lock()
		first := !tried[r.Header.Get("webhook-id")]
		tried[r.Header.Get("webhook-id")] = true
		mu.Unlock()
		if first { // every delivery fails once, then succeeds
			http.Error(w, "try again", http.StatusInternalServerError)
		}
	})

	var secrets []string
	var tenant struct {
		ID     string
		APIKey string `json:"api_key"`
	}
	if s := call(t, "POST", p.admin+"/v1/tenants", operator, map[string]any{"name": "Acme", "tier": "pro"}, &tenant); s != http.StatusCreated {
		t.Fatalf("create tenant: %d", s)
	}
	secrets = append(secrets, tenant.APIKey)
	var site struct{ Key string }
	if s := call(t, "POST", p.admin+"/v1/sites", tenant.APIKey, map[string]any{"tenant_id": tenant.ID, "domain": "acme.test"}, &site); s != http.StatusCreated {
		t.Fatalf("create site: %d", s)
	}
	var ep struct{ ID, Secret string }
	if s := call(t, "POST", p.admin+"/v1/endpoints", tenant.APIKey, map[string]any{
		"tenant_id": tenant.ID, "url": rc.URL + "/hook", "headers": map[string]string{"Authorization": customerAuth},
	}, &ep); s != http.StatusCreated {
		t.Fatalf("create endpoint: %d", s)
	}
	secrets = append(secrets, ep.Secret)
	var rotated struct{ Secret string }
	if s := call(t, "POST", p.admin+"/v1/endpoints/"+ep.ID+"/rotate-secret", tenant.APIKey, nil, &rotated); s != http.StatusOK {
		t.Fatalf("rotate the endpoint secret: %d", s)
	}
	secrets = append(secrets, rotated.Secret)

	people := crashPeople(t, p, operator, 3)
	for i, v := range people {
		s := call(t, "POST", p.ingest+"/v1/collect", "", map[string]any{
			"site": site.Key, "vid": v.vid, "url": fmt.Sprintf("https://acme.test/p/%d", i), "email": v.email}, nil)
		if s != http.StatusAccepted {
			t.Fatalf("page view %d: %d", i, s)
		}
	}
	got := rc.WaitFor(t, 2*len(people), 30*time.Second)
	if h := got[0].Header.Get("Authorization"); h != customerAuth {
		t.Fatalf("the endpoint got Authorization %q; want its custom header", h)
	}

	// Wrong tokens close to the real ones: their 401 must not echo them.
	for _, wrong := range []string{tenant.APIKey + "x", operator + "x", tenant.APIKey[:len(tenant.APIKey)-2]} {
		r := testkit.Do(t, http.DefaultClient, http.MethodGet, p.admin+"/v1/tenants", nil, "Authorization", "Bearer "+wrong)
		if r.Status != http.StatusUnauthorized {
			t.Fatalf("a wrong token: status %d", r.Status)
		}
		if strings.Contains(string(r.Body), wrong) {
			t.Errorf("the 401 answer echoes the token: %s", r.Body)
		}
	}
	var newKey struct {
		APIKey string `json:"api_key"`
	}
	if s := call(t, "POST", p.admin+"/v1/tenants/"+tenant.ID+"/rotate-key", operator, nil, &newKey); s != http.StatusOK {
		t.Fatalf("rotate the API key: %d", s)
	}
	secrets = append(secrets, newKey.APIKey)

	resp, err := http.Get(p.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}

	log := p.log()
	// A check that the log of this run was captured, start to stop.
	for _, msg := range []string{`"msg":"node started"`, `"msg":"graph import"`, `"msg":"node stopped"`} {
		if !strings.Contains(log, msg) {
			t.Fatalf("the captured log (%d bytes) has no %s: not the log of this run?", len(log), msg)
		}
	}
	secrets = append(secrets, operator, "customer-endpoint-credential-77d2")
	for _, s := range secrets {
		if s == "" {
			t.Fatal("a secret was not returned by the API")
		}
		// The secret itself and its distinctive part (without a prefix
		// such as whsec_, which is not secret).
		body := s[strings.IndexByte(s, '_')+1:]
		if where := onDiskIn(t, dir, body); where != "" {
			t.Errorf("a secret is on disk in the clear, in %s (FIREHOOK_SECRET_KEY set; API keys are stored hashed)", where)
		}
		for _, where := range []struct{ name, text string }{{"log", log}, {"metrics", string(metrics)}} {
			if strings.Contains(where.text, body) {
				i := strings.Index(where.text, body)
				t.Errorf("the %s holds a secret (…%s…)", where.name, where.text[max(0, i-120):min(len(where.text), i+40)])
			}
		}
	}
}

// onDiskIn returns the file under dir that holds s, or "".
func onDiskIn(t *testing.T, dir, s string) string {
	t.Helper()
	found := ""
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || found != "" {
			return err
		}
		data, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(data), s) {
			found = p
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}
