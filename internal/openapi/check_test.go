package openapi_test

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/firehook/firehook/docs"
	"github.com/firehook/firehook/internal/openapi"
)

// testDoc documents one operation whose answer uses every keyword the
// checker applies.
const testDoc = `{
  "openapi": "3.1.0",
  "paths": {
    "/things/{id}": {
      "get": {
        "responses": {
          "200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ThingWithSecret"}}}},
          "204": {"description": "nothing"},
          "4XX": {"$ref": "#/components/responses/Error"}
        }
      }
    }
  },
  "components": {
    "responses": {
      "Error": {"description": "error", "content": {"application/json": {"schema": {
        "type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}}}}
    },
    "schemas": {
      "Thing": {
        "type": "object",
        "required": ["id", "count", "at", "kind", "tags"],
        "properties": {
          "id": {"type": "string", "pattern": "^th_[0-9]{3}$"},
          "count": {"type": "integer", "minimum": 0, "maximum": 10, "format": "int64"},
          "ratio": {"type": ["number", "null"]},
          "at": {"type": "string", "format": "date-time"},
          "next": {"type": ["string", "null"], "format": "date-time"},
          "url": {"type": "string", "format": "uri", "maxLength": 30},
          "name": {"type": "string", "minLength": 1, "pattern": "^[^\\r\\n\\u0000]*$"},
          "kind": {"enum": ["a", "b"]},
          "version": {"const": 1},
          "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2},
          "headers": {"type": "object", "additionalProperties": {"type": "string"},
            "propertyNames": {"pattern": "^[A-Z]"}, "maxProperties": 2},
          "extra": {"type": "object", "description": "free-form"},
          "ts": {"type": "integer", "anyOf": [{"const": 0}, {"minimum": 100}]},
          "stats": {"oneOf": [{"$ref": "#/components/schemas/Stats"}, {"type": "null"}]}
        }
      },
      "Stats": {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}},
      "ThingWithSecret": {
        "allOf": [{"$ref": "#/components/schemas/Thing"}, {"type": "object", "properties": {"secret": {"type": "string"}}}]
      }
    }
  }
}`

// good conforms to ThingWithSecret; each case below breaks one rule.
const good = `{"id": "th_001", "count": 3, "ratio": null, "at": "2025-03-14T15:09:26.5Z", "next": null,
  "url": "https://example.com/x", "name": "n", "kind": "a", "version": 1, "tags": ["x"],
  "headers": {"X-A": "1"}, "extra": {"anything": [1, 2]}, "ts": 0, "stats": {"n": 2}, "secret": "s"}`

func thingSchema(t *testing.T) (*openapi.Doc, openapi.Schema) {
	t.Helper()
	d, err := openapi.Parse([]byte(testDoc))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	r, err := d.Response(openapi.Operation{Method: http.MethodGet, Path: "/things/{id}"}, http.StatusOK)
	if err != nil {
		t.Fatalf("response: %v", err)
	}
	s, err := r.Schema("application/json")
	if err != nil {
		t.Fatalf("schema: %v", err)
	}
	return d, s
}

func TestSchema_Check_acceptsAConformingBody(t *testing.T) {
	_, s := thingSchema(t)
	if errs := s.Check([]byte(good)); len(errs) != 0 {
		t.Fatalf("errors for a conforming body:\n%s", strings.Join(errs, "\n"))
	}
	// Optional fields may be absent; nullable ones may be values.
	if errs := s.Check([]byte(`{"id":"th_002","count":10,"at":"2025-03-14T15:09:26Z","kind":"b","tags":["a","b"],
		"next":"2025-03-14T15:09:27Z","ratio":0.5,"ts":150,"stats":null}`)); len(errs) != 0 {
		t.Fatalf("errors for a minimal body:\n%s", strings.Join(errs, "\n"))
	}
}

func TestSchema_Check_refusesEachBrokenRule(t *testing.T) {
	_, s := thingSchema(t)
	for _, tc := range []struct {
		name, replace, with string
		want                string // in the one error expected
	}{
		{"missing required field", `"id": "th_001", `, ``, `required field "id" is missing`},
		{"undocumented top-level field", `"secret": "s"`, `"secret": "s", "leak": true`, `/leak: field is not documented`},
		{"undocumented nested field", `"stats": {"n": 2}`, `"stats": {"n": 2, "m": 1}`, `/stats/m: field is not documented`},
		{"string where integer", `"count": 3`, `"count": "3"`, `is string, want type integer`},
		{"fraction where integer", `"count": 3`, `"count": 3.5`, `want type integer`},
		{"null where not nullable", `"count": 3`, `"count": null`, `is null, want type integer`},
		{"below minimum", `"count": 3`, `"count": -1`, `below the minimum`},
		{"above maximum", `"count": 3`, `"count": 11`, `above the maximum`},
		{"pattern", `"th_001"`, `"th_1"`, `does not match`},
		{"date-time", `"at": "2025-03-14T15:09:26.5Z"`, `"at": "yesterday"`, `not an RFC 3339 date-time`},
		{"nullable date-time", `"next": null`, `"next": "soon"`, `not an RFC 3339 date-time`},
		{"uri", `"https://example.com/x"`, `"/relative"`, `not an absolute URI`},
		{"maxLength", `"https://example.com/x"`, `"https://example.com/a-very-long-path"`, `want at most 30`},
		{"minLength", `"name": "n"`, `"name": ""`, `shorter than 1`},
		{"ECMA-262 escape in a pattern", `"name": "n"`, `"name": "a\u0000b"`, `does not match`},
		{"enum", `"kind": "a"`, `"kind": "c"`, `not one of the enum`},
		{"const", `"version": 1`, `"version": 2`, `not the const`},
		{"item type", `"tags": ["x"]`, `"tags": [1]`, `/tags/0: is integer, want type string`},
		{"minItems", `"tags": ["x"]`, `"tags": []`, `want at least 1`},
		{"maxItems", `"tags": ["x"]`, `"tags": ["a","b","c"]`, `want at most 2`},
		{"additionalProperties schema", `"X-A": "1"`, `"X-A": 1`, `/headers/X-A: is integer`},
		{"propertyNames", `"X-A": "1"`, `"x-a": "1"`, `does not match ^[A-Z]`},
		{"maxProperties", `"X-A": "1"`, `"X-A": "1", "X-B": "2", "X-C": "3"`, `want at most 2`},
		{"anyOf", `"ts": 0`, `"ts": 50`, `anyOf: matches none`},
		{"oneOf", `"stats": {"n": 2}`, `"stats": {"n": "two"}`, `oneOf: matches none`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(good, tc.replace) {
				t.Fatalf("the case's text %q is not in the good body", tc.replace)
			}
			errs := s.Check([]byte(strings.Replace(good, tc.replace, tc.with, 1)))
			if len(errs) != 1 || !strings.Contains(errs[0], tc.want) {
				t.Fatalf("errors = %q, want one containing %q", errs, tc.want)
			}
		})
	}
}

func TestSchema_Check_refusesWhatIsNotJSON(t *testing.T) {
	_, s := thingSchema(t)
	for _, body := range []string{``, `{`, good + `{}`} {
		if errs := s.Check([]byte(body)); len(errs) != 1 || !strings.Contains(errs[0], "not JSON") {
			t.Errorf("Check(%.20q) = %q, want one error: not JSON", body, errs)
		}
	}
}

func TestSchema_Check_reportsKeywordsItCannotApply(t *testing.T) {
	d, err := openapi.Parse([]byte(`{"paths": {}, "components": {"schemas": {"X": {"type": "object", "patternProperties": {"^a": {}}}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := d.SchemaAt("#/components/schemas/X")
	if err != nil {
		t.Fatal(err)
	}
	if errs := s.Check([]byte(`{}`)); len(errs) != 1 || !strings.Contains(errs[0], `"patternProperties" is one the checker cannot apply`) {
		t.Errorf("Check = %q, want the unknown keyword reported", errs)
	}
	if lint := d.Lint(); len(lint) != 1 || !strings.Contains(lint[0], "patternProperties") {
		t.Errorf("Lint = %q, want the unknown keyword reported", lint)
	}
}

func TestDoc_Response_findsTheDocumentedAnswer(t *testing.T) {
	d, _ := thingSchema(t)
	op := openapi.Operation{Method: http.MethodGet, Path: "/things/{id}"}
	if r, err := d.Response(op, http.StatusNoContent); err != nil || len(r.MediaTypes) != 0 {
		t.Errorf("204 = %+v, %v; want a response without a body", r, err)
	}
	r, err := d.Response(op, http.StatusNotFound) // under 4XX, through a $ref
	if err != nil || !slices.Equal(r.MediaTypes, []string{"application/json"}) {
		t.Fatalf("404 = %+v, %v; want the 4XX response", r, err)
	}
	s, err := r.Schema("application/json")
	if err != nil {
		t.Fatal(err)
	}
	if errs := s.Check([]byte(`{"error":"no"}`)); len(errs) != 0 {
		t.Errorf("error body: %q", errs)
	}
	if _, err := d.Response(op, http.StatusInternalServerError); !errors.Is(err, openapi.ErrUndocumented) {
		t.Errorf("500 = %v, want ErrUndocumented", err)
	}
	if _, err := r.Schema("text/plain"); !errors.Is(err, openapi.ErrUndocumented) {
		t.Errorf("text/plain = %v, want ErrUndocumented", err)
	}
	if _, err := d.Response(openapi.Operation{Method: http.MethodPost, Path: "/things/{id}"}, 200); !errors.Is(err, openapi.ErrUndocumented) {
		t.Errorf("POST = %v, want ErrUndocumented", err)
	}
	if ops := d.Operations(); !slices.Equal(ops, []openapi.Operation{op}) {
		t.Errorf("Operations = %v", ops)
	}
}

// Firehook's own document uses only what the checker applies, so that
// checking answers against it checks every rule it states.
func TestDoc_Lint_firehooksDocumentIsCheckable(t *testing.T) {
	d, err := openapi.Parse(docs.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	for _, problem := range d.Lint() {
		t.Error(problem)
	}
	if len(d.Operations()) < 40 {
		t.Errorf("only %d operations found: the walk is broken", len(d.Operations()))
	}
}
