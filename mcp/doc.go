// Package mcp serves Firehook to AI agents over the Model Context
// Protocol (github.com/modelcontextprotocol/go-sdk): an AI SDR asks for
// endpoint health, failed deliveries, the tenant's recent page views, and
// acts (replay a delivery, pause an endpoint, suppress an address).
//
// Every tool acts through the admin API with the caller's tenant API key
// (Client): the scoping, the validation and the errors are the admin
// API's own, so a tool sees exactly what the key sees and bad input
// changes nothing. Two transports: `firehook mcp --admin URL --key KEY` on
// stdio (Serve over sdk.StdioTransport), and streamable HTTP at /mcp on
// the admin listener (Handler), where each request's bearer key is used.
package mcp
