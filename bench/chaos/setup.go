package chaos

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	"github.com/firehook/firehook/actors/webhook"
	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/internal/adminclient"
	"github.com/firehook/firehook/internal/localcluster"
)

// siteWithin bounds the wait for the site to reach every member.
const siteWithin = 10 * time.Second

// setUp creates the tenant, its site and its endpoint (the receiver) and
// imports the persons, through the first member, then waits until every
// member accepts page views of the site. It returns the site key.
func (r *run) setUp(ctx context.Context) (string, error) {
	admin := r.adminOf(r.members[0])
	var tenant struct {
		ID string `json:"id"`
	}
	if err := admin.Call(ctx, http.MethodPost, "/v1/tenants", map[string]any{"name": "Chaos", "tier": "pro"},
		http.StatusCreated, &tenant); err != nil {
		return "", fmt.Errorf("chaos: set up: %w", err)
	}
	r.tenant = tenant.ID
	var site struct {
		Key string `json:"key"`
	}
	if err := admin.Call(ctx, http.MethodPost, "/v1/sites", map[string]any{"tenant_id": tenant.ID, "domain": "chaos.test",
		"allowed_origins": []string{}, "rate_limit_per_s": 0}, http.StatusCreated, &site); err != nil {
		return "", fmt.Errorf("chaos: set up: %w", err)
	}
	ep := map[string]any{"tenant_id": tenant.ID, "url": r.rc.url + "/hook", "description": "firehook chaos",
		"events": []string{webhook.TypeIdentified, webhook.TypeUpdated}}
	if r.cfg.MaxInFlight > 0 {
		ep["max_in_flight"] = r.cfg.MaxInFlight
	}
	var endpoint struct {
		Secret string `json:"secret"`
	}
	if err := admin.Call(ctx, http.MethodPost, "/v1/endpoints", ep, http.StatusCreated, &endpoint); err != nil {
		return "", fmt.Errorf("chaos: set up: %w", err)
	}
	r.rc.setSecret(endpoint.Secret)

	r.visitors = newVisitors(r.cfg.People)
	if err := admin.ImportGraph(ctx, len(r.visitors), func(i int) identity.Record { return r.visitors[i].record() }); err != nil {
		return "", fmt.Errorf("chaos: set up: %w", err)
	}
	if err := r.waitSite(ctx, site.Key); err != nil {
		return "", err
	}
	return site.Key, nil
}

// record is v's person in the identity graph: found by its hashed email.
func (v *visitor) record() identity.Record {
	hem := sha256.Sum256([]byte(v.email))
	return identity.Record{
		PersonID:    v.person,
		UpdatedAt:   time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Identifiers: []identity.Identifier{{Type: identity.TypeHEMSHA256, Value: hex.EncodeToString(hem[:])}},
		Person:      identity.Person{FirstName: "Chaos", LastName: v.person, JobTitle: "Engineer", BusinessEmail: v.email},
		Company:     identity.Company{Name: "Chaos Co", Domain: "chaos.example"},
	}
}

// waitSite polls until every member accepts an anonymous page view of the
// site (its configuration reached them all); anonymous page views match
// no person and make no webhook.
func (r *run) waitSite(ctx context.Context, siteKey string) error {
	body := []byte(`{"site":"` + siteKey + `","vid":"chaos-warmup","url":"https://chaos.test/warmup"}`)
	deadline := time.Now().Add(siteWithin)
	for _, m := range r.members {
		for {
			status, err := r.post(ctx, m, body)
			if status == http.StatusAccepted {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("chaos: the site did not reach %s within %s (last answer %d, %v)", m.Name, siteWithin, status, err)
			}
			if err := sleepUntil(ctx, time.Now().Add(pollEvery)); err != nil {
				return err
			}
		}
	}
	return nil
}

// post posts body to m's /v1/collect and returns the answer's status.
func (r *run) post(ctx context.Context, m *localcluster.Member, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.IngestURL()+"/v1/collect", bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("warm-up: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("warm-up: %w", err)
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// adminOf is the admin API of member m.
func (r *run) adminOf(m *localcluster.Member) *adminclient.Client {
	return &adminclient.Client{Base: m.AdminURL(), Token: r.token, HTTP: r.hc}
}
