package dashboard_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/internal/browsertest"
	"github.com/firehook/firehook/internal/testkit"
	"github.com/firehook/firehook/node"
)

const operatorToken = "fho_dashboard_browser_test_token"

// world is a running node with a tenant, a site, endpoints on receivers
// and a few delivered webhooks.
type world struct {
	n         *node.Node
	admin     string // http://host:port of the admin listener
	endpoints []firehook.Endpoint
}

func newWorld(t *testing.T) *world {
	t.Helper()
	cfg := node.Config{
		DataDir:               t.TempDir(),
		Listen:                "127.0.0.1:0",
		AdminListen:           "127.0.0.1:0",
		AdminToken:            operatorToken,
		AllowPrivateEndpoints: true, // the receivers are on 127.0.0.1
		Log:                   slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	cfg.Store.MemTableSize, cfg.Store.BlockCacheSize = 8<<20, 8<<20
	n, err := node.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Shutdown(context.Background()) })
	w := &world{n: n, admin: "http://" + n.AdminAddr()}

	store := n.Store().Config
	tenant := testkit.CreateTenant(t, store, "Acme <b>Corp</b>")
	site := testkit.CreateSite(t, store, tenant.ID, nil)
	for i, desc := range []string{"CRM sync", `<img src=x onerror="window.__xss=1">`} {
		rc := testkit.NewReceiver(t, nil)
		ep := testkit.CreateEndpoint(t, store, tenant.ID, rc.URL+fmt.Sprintf("/hook/%d", i), func(e *firehook.Endpoint) { e.Description = desc })
		n.Pipeline().EndpointChanged(ep.ID)
		w.endpoints = append(w.endpoints, ep)
	}
	for p := range 3 {
		email := fmt.Sprintf("person%d@engines.example", p)
		rec := identity.Record{PersonID: fmt.Sprintf("p_%d", p),
			Identifiers: []identity.Identifier{{Type: identity.TypeHEMSHA256, Value: testkit.HEMs(t, email).SHA256}},
			Person:      identity.Person{FirstName: "First", LastName: fmt.Sprint(p), BusinessEmail: email}}
		if err := n.Graph().Upsert([]identity.Record{rec}); err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf(`{"site":%q,"vid":"v_%d","url":"https://example.com/pricing","email":%q}`, site.Key, p, email)
		r := testkit.Do(t, http.DefaultClient, http.MethodPost, "http://"+n.IngestAddr()+"/v1/collect",
			strings.NewReader(body), "Content-Type", "application/json")
		if r.Status != http.StatusAccepted {
			t.Fatalf("collect: %d %s", r.Status, r.Body)
		}
	}
	for _, ep := range w.endpoints {
		testkit.Eventually(t, 10*time.Second, func() bool {
			ds, _, err := n.Store().Outbox().List(ep.ID, firehook.DeliveryDelivered, "", 10)
			return err == nil && len(ds) == 3
		}, "3 delivered receipts for %s", ep.ID)
	}
	return w
}

// rowsWithDeliveries is a JS expression: how many endpoint rows of the
// table show a delivered count above zero, for the ids given.
func rowsWithDeliveries(eps []firehook.Endpoint) string {
	var ids []string
	for _, ep := range eps {
		ids = append(ids, fmt.Sprintf("%q", ep.ID))
	}
	return `[` + strings.Join(ids, ",") + `].every(function (id) {
		var row = document.querySelector('tr[data-endpoint="' + id + '"]');
		if (!row) return false;
		var n = parseInt(row.querySelector('[data-col="delivered"]').textContent.replace(/,/g, ""), 10);
		return n > 0;
	})`
}

const describeTable = `(document.querySelector("#view") || document.body).innerText.slice(0, 2000)`

func TestBrowser_DashboardLogsInAndShowsLiveEndpoints(t *testing.T) {
	b := browsertest.New(t, 90*time.Second)
	w := newWorld(t)
	tab := b.Tab(t)

	browsertest.Do(t, tab, "log in with the token form",
		chromedp.Navigate(w.admin+"/dashboard"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), operatorToken),
		chromedp.Click(chromedp.ID("login-submit")),
	)
	browsertest.WaitFor(t, tab, 20*time.Second, rowsWithDeliveries(w.endpoints), describeTable)

	if got := browsertest.Eval[string](t, tab, `sessionStorage.getItem("firehook.token")`); got != operatorToken {
		t.Errorf("sessionStorage token %q, want the one typed in", got)
	}
	// Data is text: the tenant's and endpoint's markup-looking names show
	// as typed and run nothing.
	if xss := browsertest.Eval[bool](t, tab, `window.__xss === 1 || !!document.querySelector("#view img, #view b")`); xss {
		t.Error("data was rendered as markup")
	}
	text := browsertest.Eval[string](t, tab, `document.querySelector("#view").textContent`)
	for _, want := range []string{"Acme <b>Corp</b>", `<img src=x onerror="window.__xss=1">`, "CRM sync"} {
		if !strings.Contains(text, want) {
			t.Errorf("the page does not show %q as text", want)
		}
	}
	// It keeps polling: the live indicator says so.
	browsertest.WaitFor(t, tab, 10*time.Second, `document.getElementById("live").classList.contains("ok")`, `document.getElementById("live").textContent`)

	// Drill down: endpoint → receipts → a receipt's attempts.
	ep := w.endpoints[0]
	// Clicks in the page itself: the live tables are redrawn every 2 s, so
	// a node found by one protocol call may be gone by the next.
	browsertest.Eval[bool](t, tab, `document.querySelector('tr[data-endpoint="`+ep.ID+`"]').click(), true`)
	browsertest.WaitFor(t, tab, 10*time.Second, `document.querySelectorAll("tr[data-delivery]").length === 3`, describeTable)
	browsertest.Eval[bool](t, tab, `document.querySelector("tr[data-delivery]").click(), true`)
	browsertest.WaitFor(t, tab, 10*time.Second, `(function () {
		var a = document.querySelector('tr[data-attempt="1"]');
		return !!a && a.textContent.indexOf("200") >= 0;
	})()`, describeTable)

	if errs := b.Errors(); len(errs) > 0 {
		t.Errorf("page errors: %q", errs)
	}
}

func TestBrowser_OneTimeLoginLink(t *testing.T) {
	b := browsertest.New(t, 90*time.Second)
	w := newWorld(t)
	code := w.n.Dashboard().NewLoginCode(operatorToken)

	tab := b.Tab(t)
	browsertest.Do(t, tab, "open the login link", chromedp.Navigate(w.admin+"/dashboard#login="+code))
	browsertest.WaitFor(t, tab, 20*time.Second, rowsWithDeliveries(w.endpoints), describeTable)
	if h := browsertest.Eval[string](t, tab, `location.hash`); strings.Contains(h, code) {
		t.Errorf("the code stays in the address bar: %s", h)
	}

	// The link is spent: a second tab that opens it gets the login form
	// with an explanation.
	again := b.Tab(t)
	browsertest.Do(t, again, "open the spent link", chromedp.Navigate(w.admin+"/dashboard#login="+code))
	browsertest.WaitFor(t, again, 10*time.Second,
		`!document.getElementById("login").hidden && /already used/.test(document.getElementById("login-error").textContent)`,
		`document.body.innerText.slice(0, 500)`)
	if errs := b.Errors(); len(errs) > 0 {
		t.Errorf("page errors: %q", errs)
	}
}

// hidden are the routes that the degraded node of the test below does not
// serve: the observability routes of a node that predates them.
var hidden = regexp.MustCompile(`^/v1/(endpoints/[^/]+/health|pipeline|actors)$`)

// A node without the health, pipeline and actors routes: the page still
// shows each endpoint's figures (computed from its receipts, and says so)
// and "—" where a route is missing, without errors.
func TestBrowser_DegradesWhenRoutesAreMissing(t *testing.T) {
	b := browsertest.New(t, 90*time.Second)
	w := newWorld(t)
	target, err := url.Parse(w.admin)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = &http.Transport{}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if hidden.MatchString(r.URL.Path) {
			rw.Header().Set("Content-Type", "application/json")
			rw.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(rw, `{"error":"no such route","code":"not_found"}`)
			return
		}
		proxy.ServeHTTP(rw, r)
	}))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		proxy.Transport.(*http.Transport).CloseIdleConnections()
	})

	tab := b.Tab(t)
	code := w.n.Dashboard().NewLoginCode(operatorToken)
	browsertest.Do(t, tab, "open the login link", chromedp.Navigate(srv.URL+"/dashboard#login="+code))
	browsertest.WaitFor(t, tab, 20*time.Second, rowsWithDeliveries(w.endpoints), describeTable)
	browsertest.WaitFor(t, tab, 5*time.Second, `/≈/.test(document.querySelector("#view").textContent)`, describeTable)

	browsertest.Do(t, tab, "open the pipeline", chromedp.Navigate(srv.URL+"/dashboard#/pipeline"))
	browsertest.WaitFor(t, tab, 10*time.Second, `/— This node does not serve GET \/v1\/pipeline/.test(document.querySelector("#view").textContent)`, describeTable)
	browsertest.Do(t, tab, "open the actors", chromedp.Navigate(srv.URL+"/dashboard#/actors"))
	browsertest.WaitFor(t, tab, 10*time.Second, `/— This node does not serve GET \/v1\/actors/.test(document.querySelector("#view").textContent)`, describeTable)
	if errs := b.Errors(); len(errs) > 0 {
		t.Errorf("page errors: %q", errs)
	}
}
