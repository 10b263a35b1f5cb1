package api_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/http/api"
)

func TestDecodeJSON_RefusesWhatIsNotOneObjectOfTheRightShape(t *testing.T) {
	type body struct {
		Name string `json:"name"`
		N    int    `json:"n"`
	}
	cases := []struct {
		name, in string
		code     api.Code
	}{
		{"empty", "", api.CodeInvalidJSON},
		{"malformed", `{"name":`, api.CodeInvalidJSON},
		{"wrong type", `{"n":"x"}`, api.CodeInvalidJSON},
		{"array", `[1]`, api.CodeInvalidJSON},
		{"unknown field", `{"nmae":"x"}`, api.CodeInvalidJSON},
		{"trailing value", `{"name":"x"} {}`, api.CodeInvalidJSON},
		{"trailing garbage", `{"name":"x"}x`, api.CodeInvalidJSON},
		{"invalid UTF-8", "{\"name\":\"\xff\"}", api.CodeInvalidUTF8},
		{"over the limit", `{"name":"` + strings.Repeat("a", 100) + `"}`, api.CodeTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b body
			err := api.DecodeJSON(strings.NewReader(c.in), 64, &b)
			var e *api.Error
			if !errors.As(err, &e) || e.Code != c.code {
				t.Fatalf("DecodeJSON(%q) = %v; want code %s", c.in, err, c.code)
			}
		})
	}
	var b body
	if err := api.DecodeJSON(strings.NewReader(` {"name":"ok","n":2} `), 64, &b); err != nil || b.Name != "ok" || b.N != 2 {
		t.Fatalf("a good body: %+v, %v", b, err)
	}
}

func TestDecodeBytes_LenientModeIgnoresUnknownFields(t *testing.T) {
	var v struct{ A int }
	if err := api.DecodeBytes([]byte(`{"A":1,"future":true}`), &v, false); err != nil || v.A != 1 {
		t.Fatalf("lenient decode: %+v, %v", v, err)
	}
	if err := api.DecodeBytes([]byte(`{"A":1} x`), &v, false); err == nil {
		t.Fatal("lenient decode accepted trailing data")
	}
}

func TestWriteError_ShapeAndStatus(t *testing.T) {
	cases := []struct {
		err    error
		status int
		code   api.Code
	}{
		{api.Errorf(api.CodeUnknownSite, "unknown site"), 404, api.CodeUnknownSite},
		{fmt.Errorf("get: %w", firehook.ErrNotFound), 404, api.CodeNotFound},
		{fmt.Errorf("put: %w", firehook.ErrConflict), 409, api.CodeConflict},
		{fmt.Errorf("append: %w", firehook.ErrClosed), 503, api.CodeUnavailable},
		{fmt.Errorf("lookup: %w", firehook.ErrUnavailable), 503, api.CodeUnavailable},
		{errors.New("disk on fire at /var/lib/secret"), 500, api.CodeInternal},
	}
	for _, c := range cases {
		rec := httptest.NewRecorder()
		api.WriteError(rec, nil, c.err)
		if rec.Code != c.status || rec.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("%v: status %d, content type %q", c.err, rec.Code, rec.Header().Get("Content-Type"))
		}
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || len(body) != 2 || body["code"] != string(c.code) {
			t.Fatalf("%v: body %s", c.err, rec.Body)
		}
		if strings.Contains(rec.Body.String(), "/var/lib") {
			t.Fatalf("an internal error leaked its details: %s", rec.Body)
		}
	}
}

func TestCatalogue_EveryCodeHasAClientStatus(t *testing.T) {
	for _, c := range []api.Code{api.CodeInvalidJSON, api.CodeValidation, api.CodeUnauthorized, api.CodeForbidden,
		api.CodeNotFound, api.CodeTooLarge, api.CodeRateLimited, api.CodePrivateTarget} {
		if s := c.Status(); s < 400 || s >= 500 {
			t.Errorf("%s has status %d; want a 4xx", c, s)
		}
	}
	if api.Code("no_such_code").Status() != http.StatusInternalServerError {
		t.Error("an unknown code is not a 500")
	}
}
