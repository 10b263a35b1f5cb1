package mcp

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// NewServer returns the MCP server whose tools act through c.
func NewServer(c *Client, version string) *sdk.Server {
	s := sdk.NewServer(&sdk.Implementation{Name: "firehook", Title: "Firehook", Version: version}, &sdk.ServerOptions{
		Instructions: "Firehook identifies the visitors of a tenant's sites and posts each identified visit to the tenant's webhook endpoints. " +
			"These tools see one tenant (the API key's): its endpoints and their deliveries, its sites and page views, its suppression list.",
	})
	addTools(s, c)
	addResources(s)
	return s
}

// Serve runs the server on stdin and stdout until ctx ends or the client
// goes away (`firehook mcp`).
func Serve(ctx context.Context, c *Client, version string) error {
	return NewServer(c, version).Run(ctx, &sdk.StdioTransport{})
}

// Handler serves MCP over streamable HTTP (stateless: every request
// stands alone) for the admin listener's /mcp. Each request acts with its
// own bearer key, through admin, the admin API's handler, called in
// process. admin is called for each request, so that the node can build
// the admin handler after this one.
func Handler(admin func() http.Handler, version string) http.Handler {
	return sdk.NewStreamableHTTPHandler(func(r *http.Request) *sdk.Server {
		_, key, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		c := &Client{BaseURL: "http://admin.internal", Key: strings.TrimSpace(key),
			HTTP: &http.Client{Transport: inProcess{admin()}}}
		return NewServer(c, version)
	}, &sdk.StreamableHTTPOptions{Stateless: true, JSONResponse: true})
}

// inProcess is an http.RoundTripper that serves each request with h in
// this process, without a network.
type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	// The request's context is the /mcp request's, which holds chi's
	// routing state: a router that finds it routes as a sub-router of
	// that request (its method and path). The admin API routes this one
	// afresh.
	req = req.WithContext(context.WithValue(req.Context(), chi.RouteCtxKey, nil))
	t.h.ServeHTTP(rec, req)
	return &http.Response{StatusCode: rec.status, Status: http.StatusText(rec.status), Header: rec.header,
		Body: io.NopCloser(&rec.body), Request: req, ProtoMajor: 1, ProtoMinor: 1}, nil
}

// recorder is the http.ResponseWriter of an in-process request.
type recorder struct {
	header http.Header
	body   bytes.Buffer
	status int
	wrote  bool
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if !r.wrote {
		r.status, r.wrote = status, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}

// Flush lets streaming handlers flush (a no-op: the answer is read whole).
func (r *recorder) Flush() {}
