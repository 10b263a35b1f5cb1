package firehook

import "time"

// Event is one accepted pixel page view, normalised and stored in the
// node's event log. Clear-text emails never reach it: only their hashes.
type Event struct {
	ID         string            `json:"id"`  // evt_<ULID>, the webhook-id of every delivery
	Seq        uint64            `json:"seq"` // monotonic per node, assigned by the log
	TenantID   string            `json:"tenant_id"`
	SiteID     string            `json:"site_id"`
	VisitorID  string            `json:"vid"`
	SessionID  string            `json:"sid,omitempty"` // as sent by the pixel
	URL        string            `json:"url"`
	Referrer   string            `json:"ref,omitempty"`
	Title      string            `json:"title,omitempty"`
	UTM        map[string]string `json:"utm,omitempty"` // utm_source → source, …
	ClientTS   time.Time         `json:"ts"`            // the browser's clock
	ReceivedAt time.Time         `json:"received_at"`   // the node's clock
	IP         string            `json:"ip,omitempty"`
	UserAgent  string            `json:"ua,omitempty"`
	HEMs       HEMs              `json:"hems,omitzero"`
	IDs        map[string]string `json:"ids,omitempty"` // device_id, maid, …
}

// HEMs are the hashed emails of a visit, lower-case hex.
type HEMs struct {
	SHA256 string `json:"sha256,omitempty"`
	SHA1   string `json:"sha1,omitempty"`
	MD5    string `json:"md5,omitempty"`
}
