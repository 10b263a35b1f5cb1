package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/identity"
)

// adminClient calls a node's admin API with the operator token.
type adminClient struct {
	base  string // http://host:port, no trailing slash
	token string
	hc    *http.Client
}

// apiError is an admin API error answer.
type apiError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"error"`
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

// call sends body (JSON, or an io.Reader sent as it is) and decodes a
// JSON answer of status want into out (when not nil).
func (a *adminClient) call(ctx context.Context, method, path string, body any, want int, out any) error {
	var rd io.Reader
	ctype := "application/json"
	switch b := body.(type) {
	case nil:
	case io.Reader:
		rd, ctype = b, "application/x-ndjson"
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", ctype)
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode != want {
		e := &apiError{Status: resp.StatusCode}
		if json.Unmarshal(raw, e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(raw))
		}
		return fmt.Errorf("%s %s: %w", method, path, e)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: decode %q: %w", method, path, raw, err)
		}
	}
	return nil
}

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
func setupWorld(ctx context.Context, a *adminClient, cfg *Config, run, receiverURL string) (*world, error) {
	w := &world{run: run, people: cfg.People}
	nt := (cfg.Endpoints + cfg.EndpointsPerTenant - 1) / cfg.EndpointsPerTenant
	for i := range nt {
		t := benchTenant{tier: tiers[i%len(tiers)]}
		var tv struct {
			ID string `json:"id"`
		}
		if err := a.call(ctx, http.MethodPost, "/v1/tenants",
			map[string]any{"name": fmt.Sprintf("bench %s tenant %d", run, i), "tier": t.tier}, http.StatusCreated, &tv); err != nil {
			return nil, fmt.Errorf("create tenant: %w", err)
		}
		t.id = tv.ID
		var sv struct {
			Key string `json:"key"`
		}
		if err := a.call(ctx, http.MethodPost, "/v1/sites", map[string]any{"tenant_id": t.id,
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
		err := a.call(ctx, http.MethodPost, "/v1/endpoints", body, http.StatusCreated, &ev)
		if err != nil {
			var ae *apiError
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
func (w *world) importPeople(ctx context.Context, a *adminClient) error {
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		bw := bufio.NewWriterSize(pw, 256<<10)
		enc := json.NewEncoder(bw)
		at := time.Now().UTC().Truncate(time.Second)
		for p := range w.people {
			if err := enc.Encode(w.record(p, at)); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(bw.Flush())
	}()
	var res struct {
		Imported int `json:"imported"`
		Rejected int `json:"rejected"`
		Errors   []struct {
			Line  int    `json:"line"`
			Error string `json:"error"`
		} `json:"errors"`
	}
	err := a.call(ctx, http.MethodPost, "/v1/graph/import", pr, http.StatusOK, &res)
	pr.CloseWithError(errors.New("import over")) // unblocks the writer if the answer came early
	<-done
	if err != nil {
		return fmt.Errorf("import people: %w", err)
	}
	if res.Rejected > 0 || res.Imported != w.people {
		first := ""
		if len(res.Errors) > 0 {
			first = fmt.Sprintf(" (line %d: %s)", res.Errors[0].Line, res.Errors[0].Error)
		}
		return fmt.Errorf("import people: %d imported, %d rejected of %d%s", res.Imported, res.Rejected, w.people, first)
	}
	return nil
}

// deleteEndpoints removes the endpoints the benchmark created (a node
// that keeps running must not retry deliveries to receivers that are
// gone). Best effort: the first error is returned.
func (w *world) deleteEndpoints(ctx context.Context, a *adminClient) error {
	var first error
	for _, e := range w.endpoints {
		if e.id == "" {
			continue
		}
		if err := a.call(ctx, http.MethodDelete, "/v1/endpoints/"+e.id, nil, http.StatusNoContent, nil); err != nil && first == nil {
			first = fmt.Errorf("delete endpoint: %w", err)
		}
	}
	return first
}
