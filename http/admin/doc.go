// Package admin is the admin API of a node: tenants, sites and endpoints,
// behind bearer tokens, on the admin listener.
//
// Two kinds of token exist. The operator token (FIREHOOK_ADMIN_TOKEN, or
// generated at first start) can do everything. A tenant API key (fhk_…,
// stored only as a sha256 hash) sees its own tenant and nothing else:
// another tenant's resource answers 404 (its existence is not revealed),
// an operator-only route 403, a missing or unknown token 401. Every error
// is {"error","code"} (see package api), and a request that fails changes
// nothing.
package admin
