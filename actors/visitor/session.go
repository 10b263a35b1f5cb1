package visitor

import (
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/internal/binread"
)

// PrefixSession starts every session id: "ses_" + a ULID when generated
// (the newID of [Config.Observe] should return that), "ses_" + 32
// lower-case hex digits when derived from the pixel's sid.
const PrefixSession = "ses_"

// DefaultTimeout is the pause after which a page view starts a new
// session: 30 min, as GA4, Universal Analytics, Plausible and Matomo.
const DefaultTimeout = 30 * time.Minute

// MaxClockSkew is how far the browser's clock (Event.ClientTS) may be from
// the node's (Event.ReceivedAt) and still be believed: beyond it, the
// node's time is the page view's time. 5 min covers a beacon sent late, a
// request retried and the drift of an unsynchronised clock, and is small
// beside the 30 min timeout, so a wrong guess moves a session boundary by
// little.
const MaxClockSkew = 5 * time.Minute

// Config holds the session rules' settings. A Config is a value; its
// methods do not modify it and are safe for concurrent use.
type Config struct {
	// Timeout is the pause since the last page view after which a page
	// view starts a new session: a gap ≥ Timeout starts one. Default
	// 30 min (DefaultTimeout). Zero or negative: the default.
	Timeout time.Duration
}

// DefaultConfig returns the settings analytics tools use: a 30 min timeout.
func DefaultConfig() Config {
	return Config{Timeout: DefaultTimeout}
}

func (c Config) timeout() time.Duration {
	if c.Timeout <= 0 {
		return DefaultTimeout
	}
	return c.Timeout
}

// State is what is kept of one (tenant, visitor), persisted after every
// page view. The zero State is a visitor not seen yet.
//
// Times are in UTC without a monotonic clock reading (as they come back
// from UnmarshalBinary), so a live State and its stored copy are equal.
type State struct {
	// SessionID identifies the current session: PrefixSession + a ULID,
	// or derived from the pixel's sid (DeriveSessionID). Empty before the
	// first page view.
	SessionID string
	// SessionStart is the time of the page view that started the session.
	SessionStart time.Time
	// FirstSeen is the time of the visitor's first page view.
	FirstSeen time.Time
	// LastSeen is the latest page view time seen; it never goes back.
	LastSeen time.Time
	// PagesViewed counts the page views of the current session, 1 on its
	// first; page views that arrive out of order included.
	PagesViewed int
	// VisitCount counts the visitor's sessions so far, the current one
	// included: 1 after the first page view.
	VisitCount int
	// Campaign is the campaign key (CampaignKey) of the page view that
	// started the session: empty when it had none.
	Campaign string
	// PixelSID is the pixel's sid of the page view that started the
	// session: empty when it had none.
	PixelSID string
}

// Observe applies one page view of the visitor to s, in log order, and
// reports whether it started a new session. The rules are the package's
// (see the package doc); in short, with t = EventTime(ev):
//
//   - t before s.LastSeen (out of order): counted in the current session
//     (PagesViewed+1), nothing else changes.
//   - Otherwise a new session starts on the visitor's first page view,
//     when t − LastSeen ≥ Timeout, when CampaignKey(ev.UTM) is non-empty
//     and differs from s.Campaign, or when ev.SessionID is non-empty and
//     differs from s.PixelSID. It gets VisitCount+1, PagesViewed = 1,
//     SessionStart = t, the page view's campaign key and sid, and a
//     SessionID derived from the sid (DeriveSessionID with the new
//     VisitCount) or, without a sid, newID().
//   - Else the session continues: PagesViewed+1.
//   - In both cases LastSeen becomes t; FirstSeen is set by the first
//     page view only.
//
// newID returns a new unique session id; nil means PrefixSession + a new
// ULID (firehook.NewID). ev must not be nil. Observe is not safe for
// concurrent use on the same State: one visitor's actor owns it.
func (c Config) Observe(s *State, ev *firehook.Event, newID func() string) (newSession bool) {
	t := EventTime(ev).Round(0).UTC()
	first := s.VisitCount == 0
	if !first && t.Before(s.LastSeen) {
		s.PagesViewed++
		return false
	}
	campaign := CampaignKey(ev.UTM)
	sid := ev.SessionID
	newSession = first ||
		t.Sub(s.LastSeen) >= c.timeout() ||
		campaign != "" && campaign != s.Campaign ||
		sid != "" && sid != s.PixelSID
	s.LastSeen = t
	if !newSession {
		s.PagesViewed++
		return false
	}
	if first {
		s.FirstSeen = t
	}
	s.VisitCount++
	s.PagesViewed = 1
	s.SessionStart = t
	s.Campaign = campaign
	s.PixelSID = sid
	switch {
	case sid != "":
		s.SessionID = DeriveSessionID(ev.TenantID, ev.VisitorID, sid, s.VisitCount)
	case newID != nil:
		s.SessionID = newID()
	default:
		s.SessionID = firehook.NewID(PrefixSession)
	}
	return true
}

// EventTime returns the time of a page view for the session rules: the
// browser's clock (ev.ClientTS) when it is within MaxClockSkew of the
// node's (ev.ReceivedAt), either way, and ev.ReceivedAt otherwise. When
// one of the two is zero, the other. (Ingest sets ClientTS to the node's
// time when the pixel sent no ts.)
func EventTime(ev *firehook.Event) time.Time {
	switch {
	case ev.ClientTS.IsZero():
		return ev.ReceivedAt
	case ev.ReceivedAt.IsZero():
		return ev.ClientTS
	}
	if d := ev.ClientTS.Sub(ev.ReceivedAt); d > MaxClockSkew || d < -MaxClockSkew {
		return ev.ReceivedAt
	}
	return ev.ClientTS
}

// CampaignKey returns the campaign of a page view's UTM parameters (keys
// without the utm_ prefix, as in firehook.Event): source, medium and
// campaign, each query-escaped, joined by "/" — "google/cpc/spring" —
// and empty when all three are. Other parameters (term, content, id) do
// not take part.
func CampaignKey(utm map[string]string) string {
	source, medium, campaign := utm["source"], utm["medium"], utm["campaign"]
	if source == "" && medium == "" && campaign == "" {
		return ""
	}
	return url.QueryEscape(source) + "/" + url.QueryEscape(medium) + "/" + url.QueryEscape(campaign)
}

// DeriveSessionID returns the session id of the visit-th session (1-based
// VisitCount) of a visitor when that session was started by a page view
// carrying the pixel's sid: PrefixSession + the first 16 bytes of
// SHA-256(tenantID NUL visitorID NUL sid NUL uvarint(visit)) in lower-case
// hex. It is a pure function: reprocessing a page view from the same
// persisted state gives the same id. The tenant and visitor scope a value
// the browser chose, so two visitors sending the same sid never share a
// session; the visit number keeps every session of the visitor apart,
// including one that the timeout or a campaign cut from the same sid.
func DeriveSessionID(tenantID, visitorID, sid string, visit int) string {
	h := sha256.New()
	var buf [binary.MaxVarintLen64]byte
	for _, part := range []string{tenantID, visitorID, sid} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	h.Write(binary.AppendUvarint(buf[:0], uint64(visit)))
	var sum [sha256.Size]byte
	return PrefixSession + hex.EncodeToString(h.Sum(sum[:0])[:16])
}

// Errors of UnmarshalBinary. (The package's only sentinels; an errors.go
// comes with the actor.)
var (
	// ErrStateVersion: the stored state has a format version this node
	// does not know (written by a newer node).
	ErrStateVersion = errors.New("visitor state: unknown format version")
	// ErrStateCorrupt: the stored state is truncated or malformed.
	ErrStateCorrupt = errors.New("visitor state: corrupt")
)

// stateVersion is the format version MarshalBinary writes.
const stateVersion = 1

var (
	_ encoding.BinaryMarshaler   = (*State)(nil)
	_ encoding.BinaryAppender    = (*State)(nil)
	_ encoding.BinaryUnmarshaler = (*State)(nil)
)

// MarshalBinary encodes s for the store. Format version 1:
//
//	version   byte (1)
//	SessionID, Campaign, PixelSID    each uvarint length + bytes
//	PagesViewed, VisitCount          each varint
//	FirstSeen                        varint unix seconds, uvarint nanoseconds
//	SessionStart                     varint seconds after FirstSeen's, uvarint nanoseconds
//	LastSeen                         varint seconds after SessionStart's, uvarint nanoseconds
//
// The seconds of the later times are deltas (small: one or two bytes for
// a session of minutes); they wrap in int64 arithmetic, so any time round
// trips. A state with nanosecond times is 70-85 bytes, 31-37 of them the
// session id (JSON would be about 300). Time zones are not kept: times
// come back in UTC.
func (s *State) MarshalBinary() ([]byte, error) {
	return s.AppendBinary(make([]byte, 0, 64+len(s.SessionID)+len(s.Campaign)+len(s.PixelSID)))
}

// AppendBinary appends MarshalBinary's encoding of s to b.
func (s *State) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, stateVersion)
	for _, str := range []string{s.SessionID, s.Campaign, s.PixelSID} {
		b = binary.AppendUvarint(b, uint64(len(str)))
		b = append(b, str...)
	}
	b = binary.AppendVarint(b, int64(s.PagesViewed))
	b = binary.AppendVarint(b, int64(s.VisitCount))
	var prev int64
	for _, t := range []time.Time{s.FirstSeen, s.SessionStart, s.LastSeen} {
		sec := t.Unix()
		b = binary.AppendVarint(b, sec-prev)
		b = binary.AppendUvarint(b, uint64(t.Nanosecond()))
		prev = sec
	}
	return b, nil
}

// UnmarshalBinary decodes what MarshalBinary encoded into s, replacing
// all of it. It copies what it keeps, so data may be reused afterwards (a
// badger value is only valid inside its transaction). It returns an error
// wrapping ErrStateVersion or ErrStateCorrupt, and leaves s unchanged
// then.
func (s *State) UnmarshalBinary(data []byte) error {
	if len(data) == 0 {
		return fmt.Errorf("unmarshal visitor state: empty: %w", ErrStateCorrupt)
	}
	if data[0] != stateVersion {
		return fmt.Errorf("unmarshal visitor state: version %d: %w", data[0], ErrStateVersion)
	}
	d := decoder{binread.New(data[1:], ErrStateCorrupt)}
	var v State
	v.SessionID = d.String()
	v.Campaign = d.String()
	v.PixelSID = d.String()
	v.PagesViewed = d.int()
	v.VisitCount = d.int()
	var prev int64
	for _, t := range []*time.Time{&v.FirstSeen, &v.SessionStart, &v.LastSeen} {
		prev += d.Varint()
		*t = d.time(prev)
	}
	if err := d.Finish(); err != nil {
		return fmt.Errorf("unmarshal visitor state: %w", err)
	}
	*s = v
	return nil
}

// decoder reads MarshalBinary's fields (see binread.Reader).
type decoder struct{ binread.Reader }

func (d *decoder) int() int {
	v := d.Varint()
	if int64(int(v)) != v {
		d.Fail("count %d out of range", v)
		return 0
	}
	return int(v)
}

func (d *decoder) time(sec int64) time.Time {
	nsec := d.Uvarint()
	if d.Err != nil {
		return time.Time{}
	}
	if nsec >= uint64(time.Second) {
		d.Fail("nanoseconds %d out of range", nsec)
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}
