package mcp

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/jsonschema-go/jsonschema"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/firehook/firehook/actors/webhook"
	"github.com/firehook/firehook/docs"
)

// The resources: what an agent reads to understand the API and the
// webhooks it may also receive. They are the node's own documents, so
// they match its version.
var resources = []struct {
	uri, name, title, mime string
	body                   func() ([]byte, error)
}{
	{"firehook://docs/openapi.json", "openapi", "The admin and ingest API (OpenAPI 3.1)", "application/json",
		func() ([]byte, error) { return docs.OpenAPI, nil }},
	{"firehook://docs/webhook-payload.schema.json", "webhook-payload-schema", "The JSON Schema of a webhook's body", "application/schema+json",
		payloadSchema},
	{"firehook://docs/webhooks.md", "webhooks", "Receiving and verifying Firehook's webhooks", "text/markdown",
		func() ([]byte, error) { return docs.Webhooks, nil }},
}

// payloadSchema is the JSON Schema of webhook.Payload, the body of every
// webhook, inferred from the type the node encodes.
func payloadSchema() ([]byte, error) {
	s, err := jsonschema.For[webhook.Payload](nil)
	if err != nil {
		return nil, fmt.Errorf("payload schema: %w", err)
	}
	return json.MarshalIndent(s, "", "  ")
}

// addResources registers the resources on s.
func addResources(s *sdk.Server) {
	for _, r := range resources {
		s.AddResource(&sdk.Resource{URI: r.uri, Name: r.name, Title: r.title, MIMEType: r.mime},
			func(context.Context, *sdk.ReadResourceRequest) (*sdk.ReadResourceResult, error) {
				b, err := r.body()
				if err != nil {
					return nil, err
				}
				return &sdk.ReadResourceResult{Contents: []*sdk.ResourceContents{{URI: r.uri, MIMEType: r.mime, Text: string(b)}}}, nil
			})
	}
}
