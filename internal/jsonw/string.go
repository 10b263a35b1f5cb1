// Package jsonw holds the pieces of hand-written JSON encoders that
// several packages share: today, writing a string exactly as
// encoding/json does. Encoders on hot paths (webhook payloads, the
// synthetic graph writer) append to a buffer instead of reflecting.
package jsonw

import "unicode/utf8"

// plain and plainHTML mark the ASCII bytes a JSON string holds as they
// are: all but the control characters, '"' and '\\' — and, with HTML
// escaping, '<', '>' and '&'.
var plain, plainHTML = func() (t, h [utf8.RuneSelf]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
		h[c] = t[c] && c != '<' && c != '>' && c != '&'
	}
	return t, h
}()

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string, escaped byte for byte as
// encoding/json escapes it (with SetEscapeHTML(html)): \" \\ \b \f \n \r
// \t, other control characters as \u00XX, U+2028 and U+2029 escaped,
// each byte of invalid UTF-8 as \ufffd, and with html also <, > and &.
// strconv.AppendQuote would not do: its \x and \U escapes are not JSON.
func AppendString(buf []byte, s string, html bool) []byte {
	table := &plain
	if html {
		table = &plainHTML
	}
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if table[c] {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch c {
			case '"', '\\':
				buf = append(buf, '\\', c)
			case '\b':
				buf = append(buf, '\\', 'b')
			case '\f':
				buf = append(buf, '\\', 'f')
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1: // a byte of invalid UTF-8
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
		case r == '\u2028' || r == '\u2029': // valid JSON, but not JavaScript before ES2019
			buf = append(buf, s[start:i]...)
			buf = append(buf, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}
