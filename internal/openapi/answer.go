package openapi

import (
	"fmt"
	"mime"
	"net/http"
	"slices"
)

// CheckAnswer returns what is wrong with an answer of op (status, header
// and body as received) against the document: an undocumented status, a
// body where none is documented, an undocumented media type, an empty
// non-JSON 200, or a JSON body the documented schema rejects. Nil when
// the answer is one the document describes.
func (d *Doc) CheckAnswer(op Operation, status int, header http.Header, body []byte) []string {
	res, err := d.Response(op, status)
	if err != nil {
		return []string{fmt.Sprintf("answered %d, which the document does not describe: %v; body %.300s", status, err, body)}
	}
	if len(res.MediaTypes) == 0 {
		if len(body) != 0 {
			return []string{fmt.Sprintf("%d is documented without a body but has %.300s", status, body)}
		}
		return nil
	}
	mt, _, err := mime.ParseMediaType(header.Get("Content-Type"))
	if err != nil || !slices.Contains(res.MediaTypes, mt) {
		return []string{fmt.Sprintf("%d: Content-Type %q, documented %v", status, header.Get("Content-Type"), res.MediaTypes)}
	}
	if mt != "application/json" {
		if status == http.StatusOK && len(body) == 0 {
			return []string{fmt.Sprintf("an empty %s body", mt)}
		}
		return nil
	}
	schema, err := res.Schema(mt)
	if err != nil {
		return []string{fmt.Sprintf("%d: %v", status, err)}
	}
	var out []string
	for _, problem := range schema.Check(body) {
		out = append(out, fmt.Sprintf("%d answers what the document does not describe: %s; body %.1000s", status, problem, body))
	}
	return out
}
