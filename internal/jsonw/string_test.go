package jsonw

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// AppendString writes what encoding/json writes, with and without HTML
// escaping, for every byte, the UTF-8 boundaries, and random strings.
func TestAppendString_MatchesEncodingJSON(t *testing.T) {
	var inputs []string
	for b := range 256 {
		inputs = append(inputs, string([]byte{byte(b)}), "a"+string([]byte{byte(b)})+"z")
	}
	inputs = append(inputs, "", "héllo", "\u2028\u2029", "<a href=\"x&y\">", "\xed\xa0\x80", "\xf4\x90\x80\x80", "日本語\x00")
	rng := rand.New(rand.NewPCG(7, 7))
	pieces := []string{"a", "\"", "\\", "\n", "\x01", "<", "&", "é", "\u2028", "\xff", "😀", "\xe2\x82"}
	for range 2000 {
		var b []byte
		for range rng.IntN(12) {
			b = append(b, pieces[rng.IntN(len(pieces))]...)
		}
		inputs = append(inputs, string(b))
	}
	for _, html := range []bool{false, true} {
		for _, s := range inputs {
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetEscapeHTML(html)
			if err := enc.Encode(s); err != nil {
				t.Fatal(err)
			}
			got := AppendString(nil, s, html)
			if !bytes.Equal(got, bytes.TrimSuffix(want.Bytes(), []byte("\n"))) {
				t.Fatalf("AppendString(%q, html=%v) = %s; encoding/json writes %s", s, html, got, want.Bytes())
			}
		}
	}
}
