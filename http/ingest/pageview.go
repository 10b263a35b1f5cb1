package ingest

import (
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/http/api"
	"github.com/firehook/firehook/identity"
)

// pageView is the body of POST /v1/collect (and the query of the GIF).
// Unknown fields are ignored so that newer pixels work with older nodes.
type pageView struct {
	Site  string            `json:"site"`
	VID   string            `json:"vid"`
	URL   string            `json:"url"`
	Ref   string            `json:"ref"`
	Title string            `json:"title"`
	TS    int64             `json:"ts"` // unix milliseconds; 0 = now
	SID   string            `json:"sid"`
	HEM   string            `json:"hem"`   // sha256 hex of a normalised email
	Email string            `json:"email"` // hashed on arrival, never stored
	IDs   map[string]string `json:"ids"`
}

// Limits of the fields of a page view.
const (
	maxIDLen     = 128  // vid, sid
	maxURLLen    = 4096 // url, ref
	maxTitleLen  = 512  // runes; longer titles are cut
	maxUALen     = 512  // runes; longer User-Agents are cut
	maxIDs       = 16   // entries of ids
	maxIDKeyLen  = 32
	maxIDValLen  = 256
	maxUTMValLen = 256
	// A ts this far ahead of the node's clock is refused; behind is fine
	// (a beacon may be sent late), back to minTS.
	maxClockSkew = 24 * time.Hour
)

// minTS is 2000-01-01: an earlier ts is a broken clock or a wrong unit.
var minTS = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// utmParams are the campaign parameters pulled from a page URL, stored
// without their utm_ prefix.
var utmParams = []string{"utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "utm_id"}

// normalise validates pv and fills ev with its normalised fields. It
// returns a client error naming the first bad field.
func (pv *pageView) normalise(ev *firehook.Event, now time.Time) *api.Error {
	var err *api.Error
	if ev.VisitorID, err = checkID("vid", pv.VID, true); err != nil {
		return err
	}
	if ev.SessionID, err = checkID("sid", pv.SID, false); err != nil {
		return err
	}
	page, err := checkURL("url", pv.URL, true)
	if err != nil {
		return err
	}
	ev.URL = page.String()
	ev.UTM = utm(page)
	if ref, err := checkURL("ref", pv.Ref, false); err != nil {
		return err
	} else if ref != nil {
		ev.Referrer = ref.String()
	}
	ev.Title = cleanText(pv.Title, maxTitleLen)

	switch {
	case pv.TS == 0:
		ev.ClientTS = now
	default:
		ts := time.UnixMilli(pv.TS)
		if ts.Before(minTS) || ts.After(now.Add(maxClockSkew)) {
			return api.Errorf(api.CodeValidation, "ts must be unix milliseconds between 2000 and now (got %d)", pv.TS)
		}
		ev.ClientTS = ts.UTC()
	}

	if pv.HEM != "" {
		h, ok := identity.NormalizeHex(pv.HEM, 32)
		if !ok {
			return api.Errorf(api.CodeValidation, "hem must be a sha256 hex digest (64 hex characters)")
		}
		ev.HEMs.SHA256 = h
	}
	if pv.Email != "" {
		hems, herr := identity.HashEmail(pv.Email)
		if herr != nil {
			return api.Errorf(api.CodeValidation, "email is not a valid address")
		}
		// The address itself is the stronger statement: its hashes win
		// over a hem sent beside it.
		ev.HEMs = hems
		pv.Email = ""
	}

	if len(pv.IDs) > maxIDs {
		return api.Errorf(api.CodeValidation, "ids has %d entries; at most %d", len(pv.IDs), maxIDs)
	}
	for k, v := range pv.IDs {
		if !validIDKey(k) {
			return api.Errorf(api.CodeValidation, "ids key %q must be 1-%d characters of a-z, 0-9 and _", k, maxIDKeyLen)
		}
		v = strings.TrimSpace(v)
		if v == "" || len(v) > maxIDValLen || hasControl(v) {
			return api.Errorf(api.CodeValidation, "ids.%s must be 1-%d printable characters", k, maxIDValLen)
		}
		if ev.IDs == nil {
			ev.IDs = make(map[string]string, len(pv.IDs))
		}
		ev.IDs[k] = v
	}
	return nil
}

// checkID validates a visitor or session id: 1-128 characters of
// A-Z a-z 0-9 . _ : -.
func checkID(field, v string, required bool) (string, *api.Error) {
	if v == "" {
		if required {
			return "", api.Errorf(api.CodeValidation, "%s is required", field)
		}
		return "", nil
	}
	if len(v) > maxIDLen {
		return "", api.Errorf(api.CodeValidation, "%s is longer than %d characters", field, maxIDLen)
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return "", api.Errorf(api.CodeValidation, "%s may hold only letters, digits and . _ : -", field)
		}
	}
	return v, nil
}

// checkURL parses an absolute http(s) URL and normalises it: scheme and
// host lower-cased, default port and fragment dropped. Credentials in a
// URL are refused rather than stored.
func checkURL(field, v string, required bool) (*url.URL, *api.Error) {
	if v == "" {
		if required {
			return nil, api.Errorf(api.CodeInvalidURL, "%s is required", field)
		}
		return nil, nil
	}
	if len(v) > maxURLLen {
		return nil, api.Errorf(api.CodeInvalidURL, "%s is longer than %d characters", field, maxURLLen)
	}
	u, err := url.Parse(v)
	if err != nil {
		return nil, api.Errorf(api.CodeInvalidURL, "%s is not a URL", field)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, api.Errorf(api.CodeInvalidURL, "%s must be an absolute http or https URL", field)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, api.Errorf(api.CodeInvalidURL, "%s has no host", field)
	}
	if u.User != nil {
		return nil, api.Errorf(api.CodeInvalidURL, "%s must not carry credentials", field)
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	u.Host = host
	u.Fragment, u.RawFragment = "", ""
	redactEmails(u)
	return u, nil
}

// redactEmails replaces query values that are email addresses (a form
// that GETs to a thank-you page puts ?email=… in the URL) so that no
// clear-text address is stored; only the email field is ever hashed.
func redactEmails(u *url.URL) {
	if !strings.Contains(u.RawQuery, "@") && !strings.Contains(u.RawQuery, "%40") {
		return
	}
	q := u.Query()
	changed := false
	for k, vs := range q {
		for i, v := range vs {
			if strings.Contains(v, "@") {
				if _, err := identity.NormalizeEmail(v); err == nil {
					vs[i], changed = "redacted", true
				}
			}
		}
		q[k] = vs
	}
	if changed {
		u.RawQuery = q.Encode()
	}
}

// utm pulls the campaign parameters out of a page URL's query.
func utm(u *url.URL) map[string]string {
	if u.RawQuery == "" || !strings.Contains(u.RawQuery, "utm_") {
		return nil
	}
	q := u.Query()
	var out map[string]string
	for _, p := range utmParams {
		v := cleanText(q.Get(p), maxUTMValLen)
		if v == "" {
			continue
		}
		if out == nil {
			out = make(map[string]string, 4)
		}
		out[strings.TrimPrefix(p, "utm_")] = v
	}
	return out
}

// cleanText makes s valid UTF-8 (a percent-decoded query value may not
// be), drops control characters, cuts it to max runes and trims it. The
// trim comes last, so that cleaning a cleaned text changes nothing: a
// control character or the cut may leave white space at an end.
func cleanText(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if hasControl(s) {
		s = strings.Map(func(r rune) rune {
			if unicode.IsControl(r) {
				return -1
			}
			return r
		}, s)
	}
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max])
	}
	return strings.TrimSpace(s)
}

func hasControl(s string) bool { return strings.ContainsFunc(s, unicode.IsControl) }

func validIDKey(k string) bool {
	if k == "" || len(k) > maxIDKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
