// Package docs holds Firehook's documentation. The OpenAPI description of
// the HTTP routes is embedded so that every node serves the document that
// matches its code at /v1/openapi.json.
package docs

import _ "embed"

// OpenAPI is openapi.json: the OpenAPI 3.1 description of every route.
//
//go:embed openapi.json
var OpenAPI []byte

// Webhooks is webhooks.md: how to receive and verify Firehook's webhooks,
// and what their payload holds.
//
//go:embed webhooks.md
var Webhooks []byte
