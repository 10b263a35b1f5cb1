package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// Client calls the admin API as one tenant: every request carries its
// key. Safe for concurrent use.
type Client struct {
	// BaseURL is the admin API's address, e.g. http://127.0.0.1:8081.
	BaseURL string
	// Key is the tenant API key (fhk_…).
	Key string
	// HTTP sends the requests. Nil: http.DefaultClient.
	HTTP *http.Client

	tenantOnce sync.Once
	tenantID   string
	tenantErr  error
}

// APIError is an admin API answer that is not a success: its status and
// the error message it gave.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s (HTTP %d, %s)", e.Message, e.Status, e.Code)
}

// do sends method path (with query q and a JSON body when body is not
// nil) and decodes a JSON answer into out (unless nil).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body, out any) error {
	u := strings.TrimRight(c.BaseURL, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("admin API: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("admin API: %w", err)
	}
	if resp.StatusCode >= 300 {
		var e struct{ Error, Code string }
		_ = json.Unmarshal(data, &e)
		if e.Error == "" {
			e.Error = http.StatusText(resp.StatusCode)
		}
		return &APIError{Status: resp.StatusCode, Code: e.Code, Message: e.Error}
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("admin API: decode %s %s: %w", method, path, err)
	}
	return nil
}

// tenant returns the id of the key's tenant (asked once).
func (c *Client) tenant(ctx context.Context) (string, error) {
	c.tenantOnce.Do(func() {
		var page struct {
			Tenants []struct{ ID string } `json:"tenants"`
		}
		if c.tenantErr = c.do(ctx, http.MethodGet, "/v1/tenants", nil, nil, &page); c.tenantErr != nil {
			return
		}
		if len(page.Tenants) != 1 {
			c.tenantErr = fmt.Errorf("the key sees %d tenants; an MCP session needs a tenant API key", len(page.Tenants))
			return
		}
		c.tenantID = page.Tenants[0].ID
	})
	return c.tenantID, c.tenantErr
}
