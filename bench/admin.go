package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/internal/adminclient"
)

// endpointKind is how a receiver answers an endpoint's deliveries.
type endpointKind uint8

const (
	kindHealthy   endpointKind = iota // answers 204 at once
	kindBlackHole                     // never answers
	kindFailing                       // answers 500
)

func (k endpointKind) String() string {
	switch k {
	case kindBlackHole:
		return "black hole"
	case kindFailing:
		return "500"
	default:
		return "healthy"
	}
}

// benchTenant is one tenant the benchmark created, with its site.
type benchTenant struct {
	id, siteKey string
	tier        firehook.Tier
	healthy     []int // indexes of its healthy endpoints
}

// benchEndpoint is one endpoint the benchmark created.
type benchEndpoint struct {
	id, secret string
	tenant     int
	kind       endpointKind
}

// world is what the benchmark created on the node: tenants (one site
// each), endpoints, and the people of the imported graph.
type world struct {
	run       string // the run id: part of every name, so runs against one node do not mix
	people    int
	tenants   []benchTenant
	endpoints []benchEndpoint
}

// tiers are given to the tenants in turn: mixed, pro first.
var tiers = []firehook.Tier{firehook.TierPro, firehook.TierEnterprise, firehook.TierFree}

// endpointKinds spreads the bad endpoints evenly over the n endpoints:
// round(n × pct / 100) of them are bad, alternately black holes and
// failing ones (a black hole first), at evenly spaced indexes.
func endpointKinds(n int, pct float64) []endpointKind {
	kinds := make([]endpointKind, n)
	bad := int(float64(n)*pct/100 + 0.5)
	for i := range n {
		// Index i is the k-th bad one when the running count of bad ones
		// steps up at it.
		if k := (i+1)*bad/n - 1; k >= i*bad/n {
			kinds[i] = kindBlackHole
			if k%2 == 1 {
				kinds[i] = kindFailing
			}
		}
	}
	return kinds
}

// setupWorld creates tenants, sites and endpoints through the admin API
// (receiverURL + "/e/INDEX" is each endpoint's URL) and imports the people.
func setupWorld(ctx context.Context, a *adminclient.Client, cfg *Config, run, receiverURL string) (*world, error) {
	w := &world{run: run, people: cfg.People}
	nt := (cfg.Endpoints + cfg.EndpointsPerTenant - 1) / cfg.EndpointsPerTenant
	for i := range nt {
		t := benchTenant{tier: tiers[i%len(tiers)]}
		var tv struct {
			ID string `json:"id"`
		}
		if err := a.Call(ctx, http.MethodPost, "/v1/tenants",
			map[string]any{"name": fmt.Sprintf("bench %s tenant %d", run, i), "tier": t.tier}, http.StatusCreated, &tv); err != nil {
			return nil, fmt.Errorf("create tenant: %w", err)
		}
		t.id = tv.ID
		var sv struct {
			Key string `json:"key"`
		}
		if err := a.Call(ctx, http.MethodPost, "/v1/sites", map[string]any{"tenant_id": t.id,
			"domain": fmt.Sprintf("t%d.%s.bench.example", i, run), "allowed_origins": []string{}, "rate_limit_per_s": 0},
			http.StatusCreated, &sv); err != nil {
			return nil, fmt.Errorf("create site: %w", err)
		}
		t.siteKey = sv.Key
		w.tenants = append(w.tenants, t)
	}

	kinds := endpointKinds(cfg.Endpoints, cfg.BadEndpointsPct)
	w.endpoints = make([]benchEndpoint, cfg.Endpoints)
	for i := range w.endpoints {
		w.endpoints[i] = benchEndpoint{tenant: i / cfg.EndpointsPerTenant, kind: kinds[i]}
	}
	create := func(i int) error {
		e := &w.endpoints[i]
		var ev struct {
			ID     string `json:"id"`
			Secret string `json:"secret"`
		}
		body := map[string]any{
			"tenant_id":   w.tenants[e.tenant].id,
			"url":         receiverURL + "/e/" + strconv.Itoa(i),
			"description": fmt.Sprintf("firehook bench %s: %s", run, e.kind),
		}
		if cfg.MaxInFlight > 0 {
			body["max_in_flight"] = cfg.MaxInFlight
		}
		err := a.Call(ctx, http.MethodPost, "/v1/endpoints", body, http.StatusCreated, &ev)
		if err != nil {
			var ae *adminclient.APIError
			if errors.As(err, &ae) && ae.Status == http.StatusBadRequest && strings.Contains(ae.Message, "private") {
				err = fmt.Errorf("%w (the receivers are on loopback: start the node with --allow-private-endpoints)", err)
			}
			return fmt.Errorf("create endpoint %d: %w", i, err)
		}
		e.id, e.secret = ev.ID, ev.Secret
		return nil
	}
	// The first alone: a node that refuses it (private targets not
	// allowed, say) refuses it once, not a thousand times.
	if err := create(0); err != nil {
		return w, err
	}
	// The rest by a few workers: a thousand endpoints one by one take a while.
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		next     = make(chan int)
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := create(i); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := 1; i < len(w.endpoints); i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return w, firstErr // w lists what was created, for the clean-up
	}
	for i, e := range w.endpoints {
		if e.kind == kindHealthy {
			w.tenants[e.tenant].healthy = append(w.tenants[e.tenant].healthy, i)
		}
	}
	if err := w.importPeople(ctx, a); err != nil {
		return w, err
	}
	return w, nil
}

// Names of the people and their visitors.
func (w *world) personID(p int) string { return "bench-" + w.run + "-" + strconv.Itoa(p) }
func (w *world) email(p int) string {
	return "person" + strconv.Itoa(p) + "." + w.run + "@" + w.companyDomain(p)
}
func (w *world) companyDomain(p int) string {
	return "company" + strconv.Itoa(p%500) + ".bench.example"
}
func (w *world) visitorID(p int) string { return "v-" + w.run + "-" + strconv.Itoa(p) }

// hem is the sha256 hashed email of person p (its email is already
// normalised: lower case, not gmail.com).
func (w *world) hem(p int) string {
	s := sha256.Sum256([]byte(w.email(p)))
	return hex.EncodeToString(s[:])
}

// record is person p as an identity graph record.
func (w *world) record(p int, at time.Time) identity.Record {
	return identity.Record{
		PersonID:    w.personID(p),
		UpdatedAt:   at,
		Identifiers: []identity.Identifier{{Type: identity.TypeHEMSHA256, Value: w.hem(p)}},
		Person: identity.Person{FirstName: "Bench", LastName: "Person " + strconv.Itoa(p), JobTitle: "Engineer",
			LinkedInURL: "https://www.linkedin.com/in/bench-" + strconv.Itoa(p), BusinessEmail: w.email(p),
			Location: identity.Location{City: "Lyon", Country: "FR"}},
		Company: identity.Company{Name: "Company " + strconv.Itoa(p%500), Domain: w.companyDomain(p),
			Industry: "Software", EmployeeRange: "51-200", RevenueRange: "$10M-$50M"},
	}
}

// importPeople streams the people as NDJSON to POST /v1/graph/import.
func (w *world) importPeople(ctx context.Context, a *adminclient.Client) error {
	at := time.Now().UTC().Truncate(time.Second)
	if err := a.ImportGraph(ctx, w.people, func(p int) identity.Record { return w.record(p, at) }); err != nil {
		return fmt.Errorf("import people: %w", err)
	}
	return nil
}

// deleteEndpoints removes the endpoints the benchmark created (a node
// that keeps running must not retry deliveries to receivers that are
// gone). Best effort: the first error is returned.
func (w *world) deleteEndpoints(ctx context.Context, a *adminclient.Client) error {
	var first error
	for _, e := range w.endpoints {
		if e.id == "" {
			continue
		}
		if err := a.Call(ctx, http.MethodDelete, "/v1/endpoints/"+e.id, nil, http.StatusNoContent, nil); err != nil && first == nil {
			first = fmt.Errorf("delete endpoint: %w", err)
		}
	}
	return first
}
