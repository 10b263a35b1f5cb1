package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Defaults of ClientConfig and Request.
const (
	// DefaultTLSHandshakeTimeout: a receiver that cannot finish a TLS
	// handshake in this long is overloaded or broken.
	DefaultTLSHandshakeTimeout = 5 * time.Second
	// DefaultMaxIdleConnsPerHost: enough kept-alive connections for an
	// endpoint's default max_in_flight (8) with room to spare.
	DefaultMaxIdleConnsPerHost = 16
	// DefaultResponseLimit: receivers answer deliveries with a few bytes;
	// more than this is not read (64 KiB).
	DefaultResponseLimit int64 = 64 << 10
	// DefaultSnippetSize: what a receipt keeps of a response (1 KiB).
	DefaultSnippetSize = 1 << 10
	// DefaultUserAgent is sent when neither ClientConfig.UserAgent nor the
	// request's headers name one.
	DefaultUserAgent = "Firehook"
	// DefaultRequestTimeout applies when Request.Timeout is zero: the
	// default of an endpoint's timeout_ms.
	DefaultRequestTimeout = 10 * time.Second
)

const (
	// idleConnTimeout closes a kept-alive connection nobody used for this
	// long, so endpoints that went quiet do not hold sockets.
	idleConnTimeout = 90 * time.Second
	// maxResponseHeaderBytes bounds the response headers (the standard
	// library allows 1 MiB); a receiver has no reason to send more.
	maxResponseHeaderBytes = 64 << 10
)

// ClientConfig configures a Client. The zero value is valid: every zero
// field takes its default.
type ClientConfig struct {
	// Dialer says which addresses may be reached (SSRF guard) and bounds
	// a TCP connect.
	Dialer DialerConfig
	// TLSHandshakeTimeout bounds a TLS handshake. Zero:
	// DefaultTLSHandshakeTimeout.
	TLSHandshakeTimeout time.Duration
	// MaxIdleConnsPerHost is how many kept-alive HTTP/1.1 connections a
	// receiver host may hold between requests (HTTP/2 multiplexes one).
	// Zero: DefaultMaxIdleConnsPerHost.
	MaxIdleConnsPerHost int
	// ResponseLimit is how many bytes of a response body are read, in
	// bytes. A body that is longer is not drained: its connection is
	// closed instead. Zero: DefaultResponseLimit.
	ResponseLimit int64
	// SnippetSize is how many bytes of the body Result.Snippet keeps, at
	// most ResponseLimit. Zero: DefaultSnippetSize.
	SnippetSize int
	// UserAgent is the user-agent header ("Firehook/VERSION") unless a
	// request's Headers set one. Empty: DefaultUserAgent.
	UserAgent string
	// TLS is the client's TLS configuration (it is cloned). Nil: the
	// system's roots. Either way TLS 1.2 is the minimum unless it sets
	// MinVersion.
	TLS *tls.Config
}

// DefaultClientConfig returns the configuration of a node that refuses
// private addresses, with every default spelled out.
func DefaultClientConfig() ClientConfig {
	return ClientConfig{
		Dialer:              DialerConfig{ConnectTimeout: DefaultConnectTimeout},
		TLSHandshakeTimeout: DefaultTLSHandshakeTimeout,
		MaxIdleConnsPerHost: DefaultMaxIdleConnsPerHost,
		ResponseLimit:       DefaultResponseLimit,
		SnippetSize:         DefaultSnippetSize,
		UserAgent:           DefaultUserAgent,
	}
}

// Request is one delivery attempt: a POST of Body to URL.
type Request struct {
	// URL is the endpoint's URL (http or https).
	URL string
	// Headers are sent as they are (signature, content-type, the
	// endpoint's extra headers). Nil: none but user-agent.
	Headers http.Header
	// Body is sent as it is.
	Body []byte
	// Timeout bounds the whole attempt: connect, TLS, sending, waiting
	// for the answer and reading its body. Zero: DefaultRequestTimeout.
	Timeout time.Duration
	// Pool names the keep-alive connection pool the request goes through:
	// the endpoint's id, so that every endpoint has a pool of its own
	// (one endpoint cannot take another's idle connections to a shared
	// host, nor make it dial). Empty: the client's shared pool.
	Pool string
	// PoolSize is how many idle connections Pool keeps per host: the
	// endpoint's max_in_flight, so that every request of a busy endpoint
	// finds a kept-alive connection. Zero: MaxIdleConnsPerHost. A new
	// size replaces the pool (its idle connections are closed).
	PoolSize int
}

// Result is what an attempt came to. Classify turns it into an Outcome.
type Result struct {
	// StatusCode is the response's status; 0 when no response arrived
	// (Err says why). Redirects are not followed, so it may be a 3xx.
	StatusCode int
	// Duration is from the start of Do until the body was read (or the
	// attempt failed).
	Duration time.Duration
	// Snippet is the start of the response body for the receipt: at most
	// SnippetSize bytes, valid UTF-8 (a rune cut at the end is dropped,
	// invalid bytes become U+FFFD).
	Snippet string
	// RetryAfter is the delay a 429 or 503 response asked for in its
	// Retry-After header, as delay-seconds or an HTTP date (counted from
	// the response's Date header, or from now without one, so a
	// receiver's clock skew does not matter). 0 when absent, unparsable,
	// in the past or on any other status.
	RetryAfter time.Duration
	// Err is nil when a response was read. With StatusCode 0 it is the
	// transport error: timeout (wraps ErrTimeout), connection refused or
	// reset, blocked address (wraps ErrBlockedAddress), TLS, a malformed
	// URL, or the caller's context ending (wraps its error: the attempt
	// was abandoned, not answered). With a StatusCode it is an error
	// while reading the body after the status arrived; the status still
	// decides the outcome.
	Err error
}

// Client sends delivery attempts. It keeps a connection pool per endpoint
// (Request.Pool), sized by the endpoint's max_in_flight, with keep-alive, HTTP/1.1 and HTTP/2 (over TLS), short connect
// and TLS handshake timeouts, a per-request timeout, redirects not
// followed, responses read up to a limit, and every connection made
// through the SSRF-guarded dialer (NewDialer).
//
// A Client is safe for concurrent use; one serves a whole node.
type Client struct {
	hc        *http.Client // the shared pool's
	tr        *http.Transport
	limit     int64
	snippet   int
	userAgent string

	mu    sync.Mutex       // guards pools
	pools map[string]*pool // Request.Pool → its pool
}

// pool is one endpoint's keep-alive connection pool.
type pool struct {
	hc   *http.Client
	tr   *http.Transport
	size int
}

// NewClient returns a Client configured by cfg (zero fields take their
// defaults). Close it to release its idle connections.
func NewClient(cfg ClientConfig) *Client {
	def := DefaultClientConfig()
	if cfg.TLSHandshakeTimeout <= 0 {
		cfg.TLSHandshakeTimeout = def.TLSHandshakeTimeout
	}
	if cfg.MaxIdleConnsPerHost <= 0 {
		cfg.MaxIdleConnsPerHost = def.MaxIdleConnsPerHost
	}
	if cfg.ResponseLimit <= 0 {
		cfg.ResponseLimit = def.ResponseLimit
	}
	if cfg.SnippetSize <= 0 {
		cfg.SnippetSize = def.SnippetSize
	}
	if int64(cfg.SnippetSize) > cfg.ResponseLimit {
		cfg.SnippetSize = int(cfg.ResponseLimit)
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = def.UserAgent
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLS != nil {
		tlsCfg = cfg.TLS.Clone()
		if tlsCfg.MinVersion == 0 {
			tlsCfg.MinVersion = tls.VersionTLS12
		}
	}
	tr := &http.Transport{
		Proxy:                  nil, // a proxy would be dialled instead of the endpoint, bypassing the guard
		DialContext:            NewDialer(cfg.Dialer).DialContext,
		TLSClientConfig:        tlsCfg,
		TLSHandshakeTimeout:    cfg.TLSHandshakeTimeout,
		ForceAttemptHTTP2:      true, // needed with a custom dialer and TLS config
		MaxIdleConnsPerHost:    cfg.MaxIdleConnsPerHost,
		IdleConnTimeout:        idleConnTimeout,
		DisableCompression:     true, // the limit counts bytes on the wire; no decompression bombs
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
	}
	return &Client{
		hc:        httpClient(tr),
		tr:        tr,
		pools:     map[string]*pool{},
		limit:     cfg.ResponseLimit,
		snippet:   cfg.SnippetSize,
		userAgent: cfg.UserAgent,
	}
}

func httpClient(tr *http.Transport) *http.Client {
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a 3xx is the outcome
		},
	}
}

// client returns the http.Client of req's pool, making (or resizing) it.
func (c *Client) client(req *Request) *http.Client {
	if req.Pool == "" {
		return c.hc
	}
	size := req.PoolSize
	if size <= 0 {
		size = c.tr.MaxIdleConnsPerHost
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pools[req.Pool]
	if p != nil && p.size == size {
		return p.hc
	}
	if p != nil {
		p.tr.CloseIdleConnections() // requests in flight finish on their connections
	}
	tr := c.tr.Clone()
	tr.MaxIdleConnsPerHost, tr.MaxIdleConns = size, size
	p = &pool{hc: httpClient(tr), tr: tr, size: size}
	c.pools[req.Pool] = p
	return p.hc
}

// Release closes the idle connections of pool name and forgets it (an
// endpoint deleted, or its actor stopped). A later request naming it
// makes it again.
func (c *Client) Release(name string) {
	c.mu.Lock()
	p := c.pools[name]
	delete(c.pools, name)
	c.mu.Unlock()
	if p != nil {
		p.tr.CloseIdleConnections()
	}
}

// Do POSTs req and reports what came of it. It never returns before the
// body was read up to the limit or the attempt failed, and it holds no
// resources afterwards. ctx is the caller's (shutdown); req.Timeout bounds
// the attempt on top of it.
func (c *Client) Do(ctx context.Context, req Request) Result {
	start := time.Now()
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = DefaultRequestTimeout
	}
	rctx, cancel := context.WithTimeoutCause(ctx, timeout, ErrTimeout)
	defer cancel()

	hreq, err := http.NewRequestWithContext(rctx, http.MethodPost, req.URL, bytes.NewReader(req.Body))
	if err != nil {
		return Result{Duration: time.Since(start), Err: fmt.Errorf("new request: %w", err)}
	}
	if req.Headers != nil {
		hreq.Header = req.Headers.Clone()
	}
	if hreq.Header.Get("User-Agent") == "" {
		hreq.Header.Set("User-Agent", c.userAgent)
	}

	resp, err := c.client(&req).Do(hreq)
	if err != nil {
		return Result{Duration: time.Since(start), Err: attemptError("post", rctx, err)}
	}
	res := Result{StatusCode: resp.StatusCode}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		res.RetryAfter = parseRetryAfter(resp.Header, time.Now())
	}
	res.Snippet, err = c.readBody(resp.Body, resp.ContentLength)
	// Closing a body that was not read to its end closes the connection
	// (HTTP/1.1) or resets the stream (HTTP/2) rather than draining it.
	resp.Body.Close()
	res.Duration = time.Since(start)
	if err != nil {
		res.Err = attemptError("read body", rctx, err)
	}
	return res
}

// Close closes the idle connections of every pool. Requests in flight
// finish; a Do after Close works but opens new connections. Close is safe
// to call twice.
func (c *Client) Close() {
	c.tr.CloseIdleConnections()
	c.mu.Lock()
	pools := c.pools
	c.pools = map[string]*pool{}
	c.mu.Unlock()
	for _, p := range pools {
		p.tr.CloseIdleConnections()
	}
}

// readBody reads body, of length bytes (-1: unknown), up to the limit and
// returns the snippet of it.
func (c *Client) readBody(body io.Reader, length int64) (string, error) {
	limit := c.limit
	if length >= 0 && length <= limit {
		// The body cannot be longer than length: one more byte lets the reader
		// see its end, so a body of exactly the limit keeps its connection.
		limit++
	}
	lr := io.LimitReader(body, limit)
	buf := make([]byte, c.snippet)
	n, err := io.ReadFull(lr, buf)
	snip := snippet(buf[:n], c.snippet)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return snip, nil
	}
	if err != nil {
		return snip, err
	}
	_, err = io.Copy(io.Discard, lr)
	return snip, err
}

// attemptError describes err, which happened during op of an attempt
// whose context is rctx: without url.Error's repetition of the URL, and
// wrapping ErrTimeout when the attempt's own timeout ended it.
func attemptError(op string, rctx context.Context, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(context.Cause(rctx), ErrTimeout) && !errors.Is(err, ErrTimeout) {
		return fmt.Errorf("%s: %w: %w", op, ErrTimeout, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// snippet returns b as valid UTF-8 of at most size bytes: a rune cut at
// the end of b is dropped and runs of invalid bytes become U+FFFD.
func snippet(b []byte, size int) string {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				b = b[:i]
			}
			break
		}
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	if len(s) > size { // a replacement is longer than the byte it replaced
		i := size
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i]
	}
	return s
}

// parseRetryAfter reads a Retry-After header: delay-seconds, or an
// HTTP date counted from the response's Date (now without one).
func parseRetryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	secs, err := strconv.ParseUint(v, 10, 64)
	switch {
	case err == nil && secs <= math.MaxInt64/uint64(time.Second):
		return time.Duration(secs) * time.Second
	case err == nil || errors.Is(err, strconv.ErrRange): // more than time.Duration holds
		return math.MaxInt64
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	base := now
	if date, err := http.ParseTime(h.Get("Date")); err == nil {
		base = date
	}
	if d := at.Sub(base); d > 0 {
		return d
	}
	return 0
}
