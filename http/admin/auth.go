package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/http/api"
)

// principal is who a request acts as.
type principal struct {
	operator bool
	tenantID string // set for a tenant API key
}

// sees reports whether p may see resources of tenantID.
func (p principal) sees(tenantID string) bool { return p.operator || p.tenantID == tenantID }

type ctxKey struct{}

func principalFrom(ctx context.Context) principal {
	p, _ := ctx.Value(ctxKey{}).(principal)
	return p
}

// HashToken is the hex sha256 under which tokens and API keys are stored.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// authenticate resolves the bearer token to a principal or answers 401.
func (h *Handler) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer := peerOf(r)
		if h.authFailures != nil {
			if empty, wait := h.authFailures.Empty(peer, h.cfg.Now()); empty {
				w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
				api.WriteError(w, nil, api.Errorf(api.CodeRateLimited, "too many failed authentications from this address; retry later"))
				return
			}
		}
		p, ok := h.principalOf(r.Header.Get("Authorization"))
		if !ok {
			if h.authFailures != nil {
				h.authFailures.Allow(peer, h.cfg.Now())
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="firehook"`)
			api.WriteError(w, nil, api.Errorf(api.CodeUnauthorized, "missing or invalid bearer token"))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, p)))
	})
}

// peerOf is the address of r's TCP peer (without the port).
func peerOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (h *Handler) principalOf(header string) (principal, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	// RFC 6750: "Bearer" 1*SP token. Trim once, so that the prefix test
	// below sees the same token that is hashed.
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return principal{}, false
	}
	sum := HashToken(token)
	if strings.HasPrefix(token, firehook.PrefixAPIKey) {
		// The index is keyed by the hash, so a lookup reveals nothing of
		// the stored key; compare in constant time all the same.
		t, found := h.cfg.Store.TenantByAPIKeyHash(sum)
		if found && subtle.ConstantTimeCompare([]byte(t.APIKeyHash), []byte(sum)) == 1 {
			return principal{tenantID: t.ID}, true
		}
		return principal{}, false
	}
	if h.cfg.OperatorTokenHash != "" && subtle.ConstantTimeCompare([]byte(h.cfg.OperatorTokenHash), []byte(sum)) == 1 {
		return principal{operator: true}, true
	}
	return principal{}, false
}

// tenantOnly answers 403 to the operator: the route acts as one tenant.
func tenantOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if principalFrom(r.Context()).operator {
			api.WriteError(w, nil, api.Errorf(api.CodeForbidden, "this route needs a tenant API key"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// operatorOnly answers 403 to anyone but the operator.
func operatorOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !principalFrom(r.Context()).operator {
			api.WriteError(w, nil, api.Errorf(api.CodeForbidden, "this route needs the operator token"))
			return
		}
		next.ServeHTTP(w, r)
	})
}
