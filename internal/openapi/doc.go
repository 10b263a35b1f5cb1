// Package openapi reads Firehook's OpenAPI 3.1 document (docs/openapi.json)
// so that tests can hold real answers against it: it finds the schema
// documented for an operation's response and checks a JSON body against
// that schema.
//
// The checker knows the part of JSON Schema 2020-12 that the document
// uses (type, enum, const, properties, required, additionalProperties,
// propertyNames, min/maxProperties, items, min/maxItems, minimum, maximum,
// min/maxLength, pattern, format date-time, uri and int64, allOf, anyOf,
// oneOf and local $ref); a schema with any other keyword is reported as
// one the checker cannot check, so that the document cannot outgrow it
// unnoticed. It is stricter than JSON Schema in one way: an object whose
// schema names its properties may have no other (as if every such schema
// said unevaluatedProperties: false), so that an answer cannot carry a
// field the document does not describe. An object schema that names no
// properties (a free-form object) accepts any.
//
// It is a test aid: it sits below every stage and imports only the
// standard library.
package openapi
