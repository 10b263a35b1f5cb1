package openapi

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// annotations are keywords that describe and never constrain.
var annotations = map[string]bool{
	"description": true, "example": true, "examples": true, "default": true, "title": true,
	"deprecated": true, "readOnly": true, "writeOnly": true, "contentMediaType": true,
	"contentEncoding": true, "$comment": true,
}

// checked are the keywords the checker applies.
var checked = map[string]bool{
	"$ref": true, "type": true, "enum": true, "const": true,
	"properties": true, "required": true, "additionalProperties": true, "propertyNames": true,
	"minProperties": true, "maxProperties": true, "items": true, "minItems": true, "maxItems": true,
	"minimum": true, "maximum": true, "minLength": true, "maxLength": true, "pattern": true, "format": true,
	"allOf": true, "anyOf": true, "oneOf": true,
}

// patterns caches the compiled patterns of every document.
var patterns sync.Map // string -> *regexp.Regexp, or error

// Check checks a JSON body against s and returns every violation, each
// naming the place in the body (a JSON pointer; "(the body)" for all of it)
// and the schema that refused it. None: the body conforms.
func (s Schema) Check(body []byte) []string {
	var v any
	if err := decode(body, &v); err != nil {
		return []string{"the body is not JSON: " + err.Error()}
	}
	return s.doc.check(s.node, s.at, v, "")
}

// evaluated is what the keywords applied to an object account for.
type evaluated struct {
	names    map[string]bool // properties named by a properties keyword that applied
	declared bool            // some applied schema has properties: the object is closed
	open     bool            // some applied schema has additionalProperties: any name goes
}

func (e *evaluated) merge(o evaluated) {
	for k := range o.names {
		if e.names == nil {
			e.names = map[string]bool{}
		}
		e.names[k] = true
	}
	e.declared = e.declared || o.declared
	e.open = e.open || o.open
}

// check applies schema node (at, in the document) to v (at path, in the
// body), and refuses the properties of an object that none of the
// applied schemas accounts for.
func (d *Doc) check(node any, at string, v any, path string) []string {
	errs, ev := d.eval(node, at, v, path)
	if obj, ok := v.(map[string]any); ok && ev.declared && !ev.open {
		for _, k := range sortedKeys(obj) {
			if !ev.names[k] {
				errs = append(errs, fail(path+"/"+escape(k), at, "field is not documented"))
			}
		}
	}
	return errs
}

// eval applies every keyword of node to v.
func (d *Doc) eval(node any, at string, v any, path string) (errs []string, ev evaluated) {
	switch n := node.(type) {
	case bool:
		if !n {
			errs = append(errs, fail(path, at, "the schema is false: no value is allowed"))
		}
		return errs, evaluated{open: true}
	case map[string]any:
		for _, k := range sortedKeys(n) {
			if !annotations[k] && !checked[k] {
				errs = append(errs, fail(path, at, "keyword "+strconv.Quote(k)+" is one the checker cannot apply"))
			}
		}
		d.applicators(n, at, v, path, &errs, &ev)
		errs = append(errs, d.generic(n, at, v, path)...)
		switch v := v.(type) {
		case map[string]any:
			d.object(n, at, v, path, &errs, &ev)
		case []any:
			errs = append(errs, d.array(n, at, v, path)...)
		case string:
			errs = append(errs, str(n, at, v, path)...)
		case json.Number:
			errs = append(errs, number(n, at, v, path)...)
		}
		return errs, ev
	}
	return []string{fail(path, at, fmt.Sprintf("the schema is a %T, not an object", node))}, ev
}

// applicators applies $ref, allOf, anyOf and oneOf.
func (d *Doc) applicators(n map[string]any, at string, v any, path string, errs *[]string, ev *evaluated) {
	if ref, ok := n["$ref"].(string); ok {
		target, found := d.resolve(ref)
		if !found {
			*errs = append(*errs, fail(path, at, "$ref "+ref+" does not resolve"))
		} else {
			e, sub := d.eval(target, ref, v, path)
			*errs = append(*errs, e...)
			ev.merge(sub)
		}
	}
	for i, s := range list(n["allOf"]) {
		e, sub := d.eval(s, at+"/allOf/"+strconv.Itoa(i), v, path)
		*errs = append(*errs, e...)
		ev.merge(sub)
	}
	for _, kw := range []string{"anyOf", "oneOf"} {
		branches := list(n[kw])
		if branches == nil {
			continue
		}
		var matched int
		var why []string
		for i, s := range branches {
			e, sub := d.eval(s, at+"/"+kw+"/"+strconv.Itoa(i), v, path)
			if len(e) == 0 {
				matched++
				ev.merge(sub)
			} else {
				why = append(why, e[0])
			}
		}
		switch {
		case matched == 0:
			*errs = append(*errs, fail(path, at, kw+": matches none of the schemas ("+strings.Join(why, "; ")+")"))
		case kw == "oneOf" && matched > 1:
			*errs = append(*errs, fail(path, at, fmt.Sprintf("oneOf: matches %d schemas, want exactly one", matched)))
		}
	}
}

// generic applies type, enum and const.
func (d *Doc) generic(n map[string]any, at string, v any, path string) []string {
	var errs []string
	if t, ok := n["type"]; ok {
		var types []string
		switch t := t.(type) {
		case string:
			types = []string{t}
		case []any:
			for _, x := range t {
				s, _ := x.(string)
				types = append(types, s)
			}
		}
		if !slices.ContainsFunc(types, func(t string) bool { return hasType(v, t) }) {
			errs = append(errs, fail(path, at, fmt.Sprintf("is %s, want type %s", kind(v), strings.Join(types, " or "))))
		}
	}
	if e, ok := n["enum"].([]any); ok && !slices.ContainsFunc(e, func(x any) bool { return equal(x, v) }) {
		errs = append(errs, fail(path, at, fmt.Sprintf("%s is not one of the enum %s", show(v), show(e))))
	}
	if c, ok := n["const"]; ok && !equal(c, v) {
		errs = append(errs, fail(path, at, fmt.Sprintf("%s is not the const %s", show(v), show(c))))
	}
	return errs
}

// object applies the object keywords.
func (d *Doc) object(n map[string]any, at string, v map[string]any, path string, errs *[]string, ev *evaluated) {
	props, hasProps := n["properties"].(map[string]any)
	if hasProps {
		ev.declared = true
		for _, k := range sortedKeys(props) {
			if x, ok := v[k]; ok {
				*errs = append(*errs, d.check(props[k], at+"/properties/"+escape(k), x, path+"/"+escape(k))...)
				if ev.names == nil {
					ev.names = map[string]bool{}
				}
				ev.names[k] = true
			}
		}
	}
	for _, r := range list(n["required"]) {
		k, _ := r.(string)
		if _, present := v[k]; !present {
			*errs = append(*errs, fail(path, at, "required field "+strconv.Quote(k)+" is missing"))
		}
	}
	if ap, ok := n["additionalProperties"]; ok {
		ev.open = true
		for _, k := range sortedKeys(v) {
			if _, named := props[k]; !named {
				*errs = append(*errs, d.check(ap, at+"/additionalProperties", v[k], path+"/"+escape(k))...)
			}
		}
	}
	if pn, ok := n["propertyNames"]; ok {
		for _, k := range sortedKeys(v) {
			*errs = append(*errs, d.check(pn, at+"/propertyNames", k, path+"/"+escape(k))...)
		}
	}
	if m, ok := intOf(n["minProperties"]); ok && len(v) < m {
		*errs = append(*errs, fail(path, at, fmt.Sprintf("has %d fields, want at least %d", len(v), m)))
	}
	if m, ok := intOf(n["maxProperties"]); ok && len(v) > m {
		*errs = append(*errs, fail(path, at, fmt.Sprintf("has %d fields, want at most %d", len(v), m)))
	}
}

// array applies the array keywords.
func (d *Doc) array(n map[string]any, at string, v []any, path string) []string {
	var errs []string
	if items, ok := n["items"]; ok {
		for i, x := range v {
			errs = append(errs, d.check(items, at+"/items", x, path+"/"+strconv.Itoa(i))...)
		}
	}
	if m, ok := intOf(n["minItems"]); ok && len(v) < m {
		errs = append(errs, fail(path, at, fmt.Sprintf("has %d items, want at least %d", len(v), m)))
	}
	if m, ok := intOf(n["maxItems"]); ok && len(v) > m {
		errs = append(errs, fail(path, at, fmt.Sprintf("has %d items, want at most %d", len(v), m)))
	}
	return errs
}

// str applies the string keywords.
func str(n map[string]any, at string, v, path string) []string {
	var errs []string
	runes := utf8.RuneCountInString(v)
	if m, ok := intOf(n["minLength"]); ok && runes < m {
		errs = append(errs, fail(path, at, fmt.Sprintf("%q is shorter than %d", v, m)))
	}
	if m, ok := intOf(n["maxLength"]); ok && runes > m {
		errs = append(errs, fail(path, at, fmt.Sprintf("has %d characters, want at most %d", runes, m)))
	}
	if p, ok := n["pattern"].(string); ok {
		re, err := compile(p)
		switch {
		case err != nil:
			errs = append(errs, fail(path, at, "pattern "+strconv.Quote(p)+" does not compile: "+err.Error()))
		case !re.MatchString(v):
			errs = append(errs, fail(path, at, fmt.Sprintf("%q does not match %s", v, p)))
		}
	}
	switch f, _ := n["format"].(string); f {
	case "":
	case "date-time":
		if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
			errs = append(errs, fail(path, at, fmt.Sprintf("%q is not an RFC 3339 date-time", v)))
		}
	case "uri":
		if u, err := url.Parse(v); err != nil || !u.IsAbs() {
			errs = append(errs, fail(path, at, fmt.Sprintf("%q is not an absolute URI", v)))
		}
	case "int64": // a number format: says nothing of strings
	default:
		errs = append(errs, fail(path, at, "format "+strconv.Quote(f)+" is one the checker cannot apply"))
	}
	return errs
}

// number applies the number keywords.
func number(n map[string]any, at string, v json.Number, path string) []string {
	var errs []string
	x, err := v.Float64()
	if err != nil {
		return []string{fail(path, at, v.String()+" is not a number")}
	}
	if m, ok := floatOf(n["minimum"]); ok && x < m {
		errs = append(errs, fail(path, at, fmt.Sprintf("%s is below the minimum %v", v, m)))
	}
	if m, ok := floatOf(n["maximum"]); ok && x > m {
		errs = append(errs, fail(path, at, fmt.Sprintf("%s is above the maximum %v", v, m)))
	}
	if f, _ := n["format"].(string); f == "int64" && hasType(v, "integer") { // a fraction: the type says so
		if _, err := strconv.ParseInt(v.String(), 10, 64); err != nil {
			errs = append(errs, fail(path, at, v.String()+" is not an int64"))
		}
	}
	return errs
}

func compile(p string) (*regexp.Regexp, error) {
	if c, ok := patterns.Load(p); ok {
		if err, bad := c.(error); bad {
			return nil, err
		}
		return c.(*regexp.Regexp), nil
	}
	re, err := regexp.Compile(ecmaToRE2(p))
	if err != nil {
		patterns.Store(p, err)
		return nil, err
	}
	patterns.Store(p, re)
	return re, nil
}

// ecmaToRE2 rewrites what JSON Schema's dialect of regular expressions
// (ECMA-262) writes differently from Go's: \uHHHH becomes \x{HHHH}.
func ecmaToRE2(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] != '\\' || i+1 >= len(p) {
			b.WriteByte(p[i])
			continue
		}
		if p[i+1] == 'u' && i+6 <= len(p) && isHex(p[i+2:i+6]) {
			b.WriteString(`\x{` + p[i+2:i+6] + `}`)
			i += 5
			continue
		}
		b.WriteString(p[i : i+2]) // any other escape, kept whole
		i++
	}
	return b.String()
}

func isHex(s string) bool {
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// hasType reports whether v is of JSON Schema type t.
func hasType(v any, t string) bool {
	switch v := v.(type) {
	case nil:
		return t == "null"
	case bool:
		return t == "boolean"
	case string:
		return t == "string"
	case []any:
		return t == "array"
	case map[string]any:
		return t == "object"
	case json.Number:
		if t == "number" {
			return true
		}
		x, err := v.Float64()
		return t == "integer" && err == nil && x == math.Trunc(x) && !math.IsInf(x, 0)
	}
	return false
}

// kind names v's JSON type for a message.
func kind(v any) string {
	for _, t := range []string{"null", "boolean", "string", "array", "object", "integer", "number"} {
		if hasType(v, t) {
			return t
		}
	}
	return fmt.Sprintf("%T", v)
}

// equal reports whether two decoded JSON values are the same value.
func equal(a, b any) bool {
	switch a := a.(type) {
	case json.Number:
		b, ok := b.(json.Number)
		if !ok {
			return false
		}
		x, errA := a.Float64()
		y, errB := b.Float64()
		return errA == nil && errB == nil && x == y
	case []any:
		b, ok := b.([]any)
		return ok && slices.EqualFunc(a, b, equal)
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, x := range a {
			if y, ok := b[k]; !ok || !equal(x, y) {
				return false
			}
		}
		return true
	}
	return a == b
}

func list(v any) []any { l, _ := v.([]any); return l }

func intOf(v any) (int, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	return int(i), err == nil
}

func floatOf(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	x, err := n.Float64()
	return x, err == nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 120 {
		return string(b[:117]) + "..."
	}
	return string(b)
}

func fail(path, at, msg string) string {
	if path == "" {
		path = "(the body)"
	}
	return path + ": " + msg + " [" + at + "]"
}
