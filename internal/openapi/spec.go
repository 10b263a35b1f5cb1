package openapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// methods are the keys of a path item that name operations.
var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// Doc is a parsed OpenAPI document. It is read-only once parsed and safe
// for concurrent use.
type Doc struct {
	root map[string]any
}

// Operation is one documented (method, path) pair; Path is the template
// as documented, such as /v1/endpoints/{id}.
type Operation struct {
	Method string // upper case
	Path   string
}

// Parse parses an OpenAPI document.
func Parse(b []byte) (*Doc, error) {
	d := &Doc{}
	if err := decode(b, &d.root); err != nil {
		return nil, fmt.Errorf("parse openapi document: %w", err)
	}
	if _, ok := d.root["paths"].(map[string]any); !ok {
		return nil, errors.New("parse openapi document: no paths object")
	}
	return d, nil
}

// Operations returns every documented operation, sorted by path then
// method.
func (d *Doc) Operations() []Operation {
	var out []Operation
	for path, item := range d.root["paths"].(map[string]any) {
		item, _ := item.(map[string]any)
		for _, m := range methods {
			if _, ok := item[m]; ok {
				out = append(out, Operation{Method: strings.ToUpper(m), Path: path})
			}
		}
	}
	slices.SortFunc(out, func(a, b Operation) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Method, b.Method)
	})
	return out
}

// Response is one documented response of an operation.
type Response struct {
	// MediaTypes are the documented media types of its body; none for an
	// answer without a body.
	MediaTypes []string
	doc        *Doc
	content    map[string]any
	at         string
}

// Response returns the response that op documents for status: the one
// under the exact code, else under its class (2XX), else default.
func (d *Doc) Response(op Operation, status int) (Response, error) {
	item, _ := d.root["paths"].(map[string]any)[op.Path].(map[string]any)
	o, ok := item[strings.ToLower(op.Method)].(map[string]any)
	if !ok {
		return Response{}, fmt.Errorf("%s %s: %w", op.Method, op.Path, ErrUndocumented)
	}
	responses, _ := o["responses"].(map[string]any)
	code := strconv.Itoa(status)
	for _, key := range []string{code, code[:1] + "XX", "default"} {
		r, ok := responses[key].(map[string]any)
		if !ok {
			continue
		}
		at := "#/paths/" + escape(op.Path) + "/" + strings.ToLower(op.Method) + "/responses/" + key
		if r, at, ok = d.deref(r, at); !ok {
			return Response{}, fmt.Errorf("%s: unresolvable $ref", at)
		}
		content, _ := r["content"].(map[string]any)
		out := Response{doc: d, content: content, at: at}
		for mt := range content {
			out.MediaTypes = append(out.MediaTypes, mt)
		}
		slices.Sort(out.MediaTypes)
		return out, nil
	}
	return Response{}, fmt.Errorf("%s %s answering %d: %w", op.Method, op.Path, status, ErrUndocumented)
}

// Schema is a schema of the document, as a place in it.
type Schema struct {
	doc  *Doc
	node any
	at   string // JSON pointer of node, for messages
}

// Schema returns the schema of the response's body in media type mt (a
// Content-Type without its parameters).
func (r Response) Schema(mt string) (Schema, error) {
	c, ok := r.content[mt].(map[string]any)
	if !ok {
		return Schema{}, fmt.Errorf("%s: media type %q (documented: %v): %w", r.at, mt, r.MediaTypes, ErrUndocumented)
	}
	s, ok := c["schema"]
	if !ok {
		return Schema{}, fmt.Errorf("%s: media type %q has no schema: %w", r.at, mt, ErrUndocumented)
	}
	return Schema{doc: r.doc, node: s, at: r.at + "/content/" + escape(mt) + "/schema"}, nil
}

// SchemaAt returns the schema at a local reference such as
// #/components/schemas/Delivery.
func (d *Doc) SchemaAt(ref string) (Schema, error) {
	v, ok := d.resolve(ref)
	if !ok {
		return Schema{}, fmt.Errorf("%s: no such schema", ref)
	}
	return Schema{doc: d, node: v, at: ref}, nil
}

// deref follows m's $ref, if it has one, to the object it names.
func (d *Doc) deref(m map[string]any, at string) (map[string]any, string, bool) {
	for range 16 { // a chain of references, not a cycle
		ref, ok := m["$ref"].(string)
		if !ok {
			return m, at, true
		}
		v, ok := d.resolve(ref)
		if m, ok = v.(map[string]any); !ok {
			return nil, at, false
		}
		at = ref
	}
	return nil, at, false
}

// resolve follows a local JSON pointer (#/a/b).
func (d *Doc) resolve(ref string) (any, bool) {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, false
	}
	var cur any = d.root
	for tok := range strings.SplitSeq(rest, "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[tok]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// escape makes s one token of a JSON pointer.
func escape(s string) string { return strings.NewReplacer("~", "~0", "/", "~1").Replace(s) }

// decode parses JSON keeping numbers as json.Number, so that integers and
// fractions can be told apart.
func decode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// Lint returns what keeps the checker from checking the document's
// schemas faithfully: keywords it cannot apply, patterns that do not
// compile, references that do not resolve. None: every schema is one
// Check applies in full.
func (d *Doc) Lint() []string {
	var out []string
	var schema func(node any, at string)
	schema = func(node any, at string) {
		n, ok := node.(map[string]any)
		if !ok {
			if _, isBool := node.(bool); !isBool {
				out = append(out, at+": a schema must be an object or a boolean")
			}
			return
		}
		for _, k := range sortedKeys(n) {
			if !annotations[k] && !checked[k] {
				out = append(out, at+": keyword "+strconv.Quote(k)+" is one the checker cannot apply")
			}
		}
		if ref, ok := n["$ref"].(string); ok {
			if _, found := d.resolve(ref); !found {
				out = append(out, at+": $ref "+ref+" does not resolve")
			}
		}
		if p, ok := n["pattern"].(string); ok {
			if _, err := compile(p); err != nil {
				out = append(out, at+": pattern does not compile: "+err.Error())
			}
		}
		if props, ok := n["properties"].(map[string]any); ok {
			for _, k := range sortedKeys(props) {
				schema(props[k], at+"/properties/"+escape(k))
			}
		}
		for _, k := range []string{"items", "additionalProperties", "propertyNames"} {
			if sub, ok := n[k]; ok {
				schema(sub, at+"/"+k)
			}
		}
		for _, k := range []string{"allOf", "anyOf", "oneOf"} {
			for i, sub := range list(n[k]) {
				schema(sub, at+"/"+k+"/"+strconv.Itoa(i))
			}
		}
	}
	// Every "schema" of the document (parameters, bodies, responses,
	// headers) and every component schema.
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch v := v.(type) {
		case map[string]any:
			for _, k := range sortedKeys(v) {
				if k == "schema" {
					schema(v[k], at+"/schema")
				} else {
					walk(v[k], at+"/"+escape(k))
				}
			}
		case []any:
			for i, x := range v {
				walk(x, at+"/"+strconv.Itoa(i))
			}
		}
	}
	rest := map[string]any{}
	for k, v := range d.root {
		rest[k] = v
	}
	if c, ok := rest["components"].(map[string]any); ok {
		schemas, _ := c["schemas"].(map[string]any)
		for _, k := range sortedKeys(schemas) {
			schema(schemas[k], "#/components/schemas/"+escape(k))
		}
		others := map[string]any{}
		for k, v := range c {
			if k != "schemas" {
				others[k] = v
			}
		}
		rest["components"] = others
	}
	walk(rest, "#")
	return out
}
