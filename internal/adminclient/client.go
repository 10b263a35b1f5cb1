// Package adminclient is the client of a node's admin API that
// Firehook's own tools use to drive a node: `firehook bench` (package
// bench) and `firehook chaos` (package bench/chaos) create their
// tenants, sites and endpoints and import their people through it, with
// the operator token.
package adminclient

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/firehook/firehook/identity"
)

// Client calls one node's admin API. It is safe for concurrent use.
type Client struct {
	Base  string // http://host:port, no trailing slash
	Token string // the operator token; empty: no Authorization header
	HTTP  *http.Client
}

// APIError is an admin API error answer ({"error", "code"}).
type APIError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"error"`
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

// Call sends body (JSON, or an io.Reader sent as it is, as NDJSON) and
// decodes a JSON answer of status want into out (when not nil). Any other
// status is an error wrapping an *APIError.
func (c *Client) Call(ctx context.Context, method, path string, body any, want int, out any) error {
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
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", ctype)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode != want {
		e := &APIError{Status: resp.StatusCode}
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

// ImportGraph streams n records, record(0) … record(n-1), as NDJSON to
// POST /v1/graph/import, and fails unless all n were imported.
func (c *Client) ImportGraph(ctx context.Context, n int, record func(i int) identity.Record) error {
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() { // ends with the records, or when the answer closed pr
		defer close(done)
		bw := bufio.NewWriterSize(pw, 256<<10)
		enc := json.NewEncoder(bw)
		for i := range n {
			if err := enc.Encode(record(i)); err != nil {
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
	err := c.Call(ctx, http.MethodPost, "/v1/graph/import", pr, http.StatusOK, &res)
	pr.CloseWithError(errors.New("import over")) // unblocks the writer if the answer came early
	<-done
	if err != nil {
		return fmt.Errorf("import graph: %w", err)
	}
	if res.Rejected > 0 || res.Imported != n {
		first := ""
		if len(res.Errors) > 0 {
			first = fmt.Sprintf(" (line %d: %s)", res.Errors[0].Line, res.Errors[0].Error)
		}
		return fmt.Errorf("import graph: %d imported, %d rejected of %d%s", res.Imported, res.Rejected, n, first)
	}
	return nil
}
