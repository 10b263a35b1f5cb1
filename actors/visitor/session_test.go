package visitor_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/actors/visitor"
)

// t0 is the time of the first page view of every specification.
var t0 = time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)

// Campaigns of the specifications.
var (
	spring      = map[string]string{"source": "google", "medium": "cpc", "campaign": "spring"}
	springTermB = map[string]string{"source": "google", "medium": "cpc", "campaign": "spring", "term": "shoes", "content": "ad-b", "id": "42"}
	summer      = map[string]string{"source": "google", "medium": "cpc", "campaign": "summer"}
	newsletter  = map[string]string{"source": "newsletter", "medium": "email"}
)

// view is one page view of a specification: received by the node at t0 +
// at, with the browser's clock skew off the node's, and the pixel's UTM
// parameters and sid.
type view struct {
	at   time.Duration
	skew time.Duration
	utm  map[string]string
	sid  string
}

func (v view) event() *firehook.Event {
	recv := t0.Add(v.at)
	return &firehook.Event{
		ID: firehook.NewID(firehook.PrefixEvent), TenantID: "ten_1", SiteID: "site_1", VisitorID: "v_1",
		SessionID: v.sid, URL: "https://example.com/", UTM: v.utm,
		ClientTS: recv.Add(v.skew), ReceivedAt: recv,
	}
}

// counter returns a newID that numbers the sessions it names.
func counter() func() string {
	n := 0
	return func() string { n++; return fmt.Sprintf("%sgen%d", visitor.PrefixSession, n) }
}

const minute = time.Minute

// Each rule of the package doc, as a sequence of page views and whether
// each starts a new session; then the session's counters after the last.
func TestConfig_Observe_rules(t *testing.T) {
	for _, tc := range []struct {
		name   string
		views  []view
		starts []bool
		visits int           // VisitCount after the last view
		pages  int           // PagesViewed after the last view
		last   time.Duration // LastSeen − t0 after the last view
	}{
		// Timeout.
		{
			name:   "the first page view starts a session",
			views:  []view{{at: 0}},
			starts: []bool{true}, visits: 1, pages: 1, last: 0,
		},
		{
			name:   "a page view 29m59s after the last continues the session",
			views:  []view{{at: 0}, {at: 29*minute + 59*time.Second}},
			starts: []bool{true, false}, visits: 1, pages: 2, last: 29*minute + 59*time.Second,
		},
		{
			name:   "a page view exactly 30 min after the last starts a new session",
			views:  []view{{at: 0}, {at: 30 * minute}},
			starts: []bool{true, true}, visits: 2, pages: 1, last: 30 * minute,
		},
		{
			name:   "a page view 1 ns short of 30 min continues the session",
			views:  []view{{at: 0}, {at: 30*minute - time.Nanosecond}},
			starts: []bool{true, false}, visits: 1, pages: 2, last: 30*minute - time.Nanosecond,
		},
		{
			name:   "the timeout counts from the last page view, not from the session's start",
			views:  []view{{at: 0}, {at: 20 * minute}, {at: 40 * minute}, {at: 60 * minute}},
			starts: []bool{true, false, false, false}, visits: 1, pages: 4, last: 60 * minute,
		},
		{
			name:   "a session has no maximum length",
			views:  []view{{at: 0}, {at: 29 * minute}, {at: 58 * minute}, {at: 87 * minute}, {at: 116 * minute}, {at: 145 * minute}},
			starts: []bool{true, false, false, false, false, false}, visits: 1, pages: 6, last: 145 * minute,
		},
		{
			name:   "midnight does not end a session",
			views:  []view{{at: 14*time.Hour + 50*minute}, {at: 15*time.Hour + 10*minute}}, // 23:50 → 00:10 UTC
			starts: []bool{true, false}, visits: 1, pages: 2, last: 15*time.Hour + 10*minute,
		},
		{
			name:   "each pause of 30 min or more counts a visit",
			views:  []view{{at: 0}, {at: time.Hour}, {at: time.Hour + minute}, {at: 25 * time.Hour}},
			starts: []bool{true, true, false, true}, visits: 3, pages: 1, last: 25 * time.Hour,
		},

		// Campaign.
		{
			name:   "a new campaign starts a new session",
			views:  []view{{at: 0, utm: spring}, {at: minute, utm: summer}},
			starts: []bool{true, true}, visits: 2, pages: 1, last: minute,
		},
		{
			name:   "a campaign after a page view without one starts a new session",
			views:  []view{{at: 0}, {at: minute, utm: newsletter}},
			starts: []bool{true, true}, visits: 2, pages: 1, last: minute,
		},
		{
			name:   "the same campaign again continues the session",
			views:  []view{{at: 0, utm: spring}, {at: minute, utm: spring}},
			starts: []bool{true, false}, visits: 1, pages: 2, last: minute,
		},
		{
			name:   "a page view without UTM continues the campaign's session",
			views:  []view{{at: 0, utm: spring}, {at: minute}, {at: 2 * minute, utm: map[string]string{}}},
			starts: []bool{true, false, false}, visits: 1, pages: 3, last: 2 * minute,
		},
		{
			name:   "utm_term, utm_content and utm_id do not cut a session",
			views:  []view{{at: 0, utm: spring}, {at: minute, utm: springTermB}},
			starts: []bool{true, false}, visits: 1, pages: 2, last: minute,
		},
		{
			name:   "UTM with only term or content is no campaign",
			views:  []view{{at: 0, utm: spring}, {at: minute, utm: map[string]string{"term": "x", "content": "y"}}},
			starts: []bool{true, false}, visits: 1, pages: 2, last: minute,
		},
		{
			name: "a session started by the timeout without UTM has no campaign",
			views: []view{
				{at: 0, utm: spring},
				{at: 40 * minute},              // timeout: a direct session
				{at: 41 * minute, utm: spring}, // spring again is a new campaign for it
			},
			starts: []bool{true, true, true}, visits: 3, pages: 1, last: 41 * minute,
		},
		{
			name:   "the campaign's session ends at the timeout like any other",
			views:  []view{{at: 0, utm: spring}, {at: 30 * minute, utm: spring}},
			starts: []bool{true, true}, visits: 2, pages: 1, last: 30 * minute,
		},

		// Pixel session.
		{
			name:   "the pixel's sid continues its session and a new sid starts one",
			views:  []view{{at: 0, sid: "a"}, {at: minute, sid: "a"}, {at: 2 * minute, sid: "b"}},
			starts: []bool{true, false, true}, visits: 2, pages: 1, last: 2 * minute,
		},
		{
			name:   "a sid after a session without one starts a new session",
			views:  []view{{at: 0}, {at: minute, sid: "a"}},
			starts: []bool{true, true}, visits: 2, pages: 1, last: minute,
		},
		{
			name:   "a page view without a sid continues the pixel's session",
			views:  []view{{at: 0, sid: "a"}, {at: minute}},
			starts: []bool{true, false}, visits: 1, pages: 2, last: minute,
		},
		{
			name:   "the timeout still applies within one sid",
			views:  []view{{at: 0, sid: "a"}, {at: 30 * minute, sid: "a"}},
			starts: []bool{true, true}, visits: 2, pages: 1, last: 30 * minute,
		},
		{
			name:   "a campaign still cuts within one sid",
			views:  []view{{at: 0, sid: "a", utm: spring}, {at: minute, sid: "a", utm: summer}},
			starts: []bool{true, true}, visits: 2, pages: 1, last: minute,
		},

		// Order.
		{
			name: "a page view earlier than the last counts in the current session and leaves LastSeen",
			views: []view{
				{at: 0},
				{at: 10 * minute},
				{at: 11 * minute, skew: -4 * minute}, // viewed at 7 min, in another tab
			},
			starts: []bool{true, false, false}, visits: 1, pages: 3, last: 10 * minute,
		},
		{
			name: "a page view earlier than the last never starts a session, whatever its campaign or sid",
			views: []view{
				{at: 0, sid: "a", utm: spring},
				{at: 10 * minute, sid: "a", utm: spring},
				{at: 11 * minute, skew: -4 * minute, sid: "b", utm: summer},
			},
			starts: []bool{true, false, false}, visits: 1, pages: 3, last: 10 * minute,
		},
		{
			name: "the timeout counts from the latest page view, not from one that came late",
			views: []view{
				{at: 0},
				{at: 20 * minute},
				{at: 21 * minute, skew: -5 * minute}, // viewed at 16 min
				{at: 46 * minute},                    // 26 min after 20 min
				{at: 76 * minute},                    // 30 min after 46 min
			},
			starts: []bool{true, false, false, false, true}, visits: 2, pages: 1, last: 76 * minute,
		},
		{
			name:   "a page view at the same time as the last is in order",
			views:  []view{{at: 0, sid: "a"}, {at: 0, sid: "b"}},
			starts: []bool{true, true}, visits: 2, pages: 1, last: 0,
		},

		// Event time and clock skew.
		{
			name:   "the browser's time is used when within 5 min of the node's",
			views:  []view{{at: 0}, {at: 34 * minute, skew: -5 * minute}}, // viewed at 29 min, sent late
			starts: []bool{true, false}, visits: 1, pages: 2, last: 29 * minute,
		},
		{
			name:   "a browser clock a little ahead is believed",
			views:  []view{{at: 0}, {at: 26 * minute, skew: 4 * minute}}, // says 30 min
			starts: []bool{true, true}, visits: 2, pages: 1, last: 30 * minute,
		},
		{
			name:   "a browser clock more than 5 min ahead is replaced by the node's",
			views:  []view{{at: 0}, {at: 10 * minute, skew: 2 * time.Hour}},
			starts: []bool{true, false}, visits: 1, pages: 2, last: 10 * minute,
		},
		{
			name:   "a browser clock more than 5 min behind is replaced by the node's",
			views:  []view{{at: 0}, {at: 40 * minute, skew: -24 * time.Hour}},
			starts: []bool{true, true}, visits: 2, pages: 1, last: 40 * minute,
		},
		{
			name: "a browser clock off by a constant keeps the gaps between its page views",
			views: []view{
				{at: 0, skew: 3 * minute},
				{at: 31 * minute, skew: 3 * minute}, // 31 min apart on both clocks
			},
			starts: []bool{true, true}, visits: 2, pages: 1, last: 34 * minute,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := visitor.DefaultConfig()
			var s visitor.State
			newID := counter()
			for i, v := range tc.views {
				if got := c.Observe(&s, v.event(), newID); got != tc.starts[i] {
					t.Fatalf("page view %d (%+v): newSession = %v; want %v", i+1, v, got, tc.starts[i])
				}
			}
			if s.VisitCount != tc.visits || s.PagesViewed != tc.pages {
				t.Errorf("VisitCount, PagesViewed = %d, %d; want %d, %d", s.VisitCount, s.PagesViewed, tc.visits, tc.pages)
			}
			if want := t0.Add(tc.last); !s.LastSeen.Equal(want) {
				t.Errorf("LastSeen = t0 + %v; want t0 + %v", s.LastSeen.Sub(t0), tc.last)
			}
		})
	}
}

// What a new session records, and what a continued one keeps.
func TestConfig_Observe_state(t *testing.T) {
	c := visitor.DefaultConfig()
	var s visitor.State
	newID := counter()

	c.Observe(&s, view{at: 0, utm: spring}.event(), newID)
	want := visitor.State{
		SessionID: "ses_gen1", SessionStart: t0, FirstSeen: t0, LastSeen: t0,
		PagesViewed: 1, VisitCount: 1, Campaign: "google/cpc/spring",
	}
	if s != want {
		t.Fatalf("after the first page view:\n got %+v\nwant %+v", s, want)
	}

	c.Observe(&s, view{at: 5 * minute}.event(), newID)
	want.LastSeen, want.PagesViewed = t0.Add(5*minute), 2
	if s != want {
		t.Fatalf("after a page view in the session:\n got %+v\nwant %+v", s, want)
	}

	c.Observe(&s, view{at: 50 * minute, sid: "px-1"}.event(), newID)
	want = visitor.State{
		SessionID:    visitor.DeriveSessionID("ten_1", "v_1", "px-1", 2),
		SessionStart: t0.Add(50 * minute), FirstSeen: t0, LastSeen: t0.Add(50 * minute),
		PagesViewed: 1, VisitCount: 2, PixelSID: "px-1",
	}
	if s != want {
		t.Fatalf("after a new session:\n got %+v\nwant %+v", s, want)
	}
}

// Times are kept in UTC without a monotonic reading, whatever the event
// carried, so the live state equals its stored copy.
func TestConfig_Observe_normalisesTimes(t *testing.T) {
	recv := time.Now() // has a monotonic reading
	ev := &firehook.Event{VisitorID: "v", ReceivedAt: recv, ClientTS: recv.In(time.FixedZone("X", 3600))}
	var s visitor.State
	visitor.DefaultConfig().Observe(&s, ev, nil)
	if s.LastSeen.Location() != time.UTC || s.LastSeen != recv.Round(0).UTC() {
		t.Fatalf("LastSeen = %#v; want %v in UTC without a monotonic reading", s.LastSeen, recv)
	}
	if !strings.HasPrefix(s.SessionID, visitor.PrefixSession) || len(s.SessionID) != len(visitor.PrefixSession)+26 {
		t.Fatalf("SessionID = %q with a nil newID; want %s + a ULID", s.SessionID, visitor.PrefixSession)
	}
}

func TestConfig_Timeout(t *testing.T) {
	if got := visitor.DefaultConfig().Timeout; got != 30*minute {
		t.Fatalf("DefaultConfig().Timeout = %v; want 30m", got)
	}
	for _, tc := range []struct {
		name    string
		c       visitor.Config
		gap     time.Duration
		newSess bool
	}{
		{"zero means the default: 29 min continues", visitor.Config{}, 29 * minute, false},
		{"zero means the default: 30 min starts", visitor.Config{}, 30 * minute, true},
		{"negative means the default", visitor.Config{Timeout: -time.Second}, 29 * minute, false},
		{"a 10 min timeout: 9 min continues", visitor.Config{Timeout: 10 * minute}, 9 * minute, false},
		{"a 10 min timeout: 10 min starts", visitor.Config{Timeout: 10 * minute}, 10 * minute, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s visitor.State
			tc.c.Observe(&s, view{at: 0}.event(), counter())
			if got := tc.c.Observe(&s, view{at: tc.gap}.event(), counter()); got != tc.newSess {
				t.Fatalf("newSession after %v = %v; want %v", tc.gap, got, tc.newSess)
			}
		})
	}
}

func TestConfig_Observe_sessionID(t *testing.T) {
	c := visitor.DefaultConfig()
	run := func(views ...view) []string {
		var s visitor.State
		newID := counter()
		var ids []string
		for _, v := range views {
			c.Observe(&s, v.event(), newID)
			ids = append(ids, s.SessionID)
		}
		return ids
	}

	t.Run("without a sid the id is newID's", func(t *testing.T) {
		ids := run(view{at: 0}, view{at: minute}, view{at: time.Hour})
		if want := []string{"ses_gen1", "ses_gen1", "ses_gen2"}; fmt.Sprint(ids) != fmt.Sprint(want) {
			t.Fatalf("ids = %v; want %v", ids, want)
		}
	})
	t.Run("with a sid the id is derived, not generated, and the same on a rerun", func(t *testing.T) {
		views := []view{{at: 0, sid: "a"}, {at: minute, sid: "a"}, {at: 2 * minute, sid: "b"}}
		ids := run(views...)
		want := []string{
			visitor.DeriveSessionID("ten_1", "v_1", "a", 1),
			visitor.DeriveSessionID("ten_1", "v_1", "a", 1),
			visitor.DeriveSessionID("ten_1", "v_1", "b", 2),
		}
		if fmt.Sprint(ids) != fmt.Sprint(want) {
			t.Fatalf("ids = %v; want %v", ids, want)
		}
		if again := run(views...); fmt.Sprint(again) != fmt.Sprint(ids) {
			t.Fatalf("rerun ids = %v; want %v", again, ids)
		}
	})
	t.Run("a session cut from the same sid gets an id of its own", func(t *testing.T) {
		ids := run(view{at: 0, sid: "a"}, view{at: time.Hour, sid: "a"}, view{at: time.Hour + minute, sid: "a", utm: spring})
		if ids[0] == ids[1] || ids[1] == ids[2] || ids[0] == ids[2] {
			t.Fatalf("ids = %v; want three different ids", ids)
		}
	})
}

func TestDeriveSessionID(t *testing.T) {
	id := visitor.DeriveSessionID("ten_1", "v_1", "abc", 1)
	if len(id) != len("ses_")+32 || !strings.HasPrefix(id, "ses_") || strings.ToLower(id) != id {
		t.Fatalf("DeriveSessionID = %q; want ses_ + 32 lower-case hex digits", id)
	}
	if again := visitor.DeriveSessionID("ten_1", "v_1", "abc", 1); again != id {
		t.Fatalf("DeriveSessionID is not stable: %q, then %q", id, again)
	}
	seen := map[string]string{id: "ten_1 v_1 abc 1"}
	for _, in := range [][4]any{
		{"ten_2", "v_1", "abc", 1},  // another tenant
		{"ten_1", "v_2", "abc", 1},  // another visitor
		{"ten_1", "v_1", "abd", 1},  // another sid
		{"ten_1", "v_1", "abc", 2},  // another visit
		{"ten_1", "v_1a", "bc", 1},  // the parts are delimited
		{"ten_1v", "_1", "abc", 1},  // the parts are delimited
		{"ten_1", "v_1", "abc1", 0}, // the visit is delimited
	} {
		got := visitor.DeriveSessionID(in[0].(string), in[1].(string), in[2].(string), in[3].(int))
		if prev, dup := seen[got]; dup {
			t.Fatalf("DeriveSessionID%v = DeriveSessionID(%s) = %q", in, prev, got)
		}
		seen[got] = fmt.Sprint(in)
	}
}

func TestEventTime(t *testing.T) {
	for _, tc := range []struct {
		name             string
		client, received time.Time
		want             time.Time
	}{
		{"equal clocks", t0, t0, t0},
		{"the browser's clock within 5 min behind", t0.Add(-4 * minute), t0, t0.Add(-4 * minute)},
		{"the browser's clock within 5 min ahead", t0.Add(4 * minute), t0, t0.Add(4 * minute)},
		{"exactly 5 min behind is still believed", t0.Add(-5 * minute), t0, t0.Add(-5 * minute)},
		{"exactly 5 min ahead is still believed", t0.Add(5 * minute), t0, t0.Add(5 * minute)},
		{"more than 5 min behind: the node's", t0.Add(-5*minute - time.Millisecond), t0, t0},
		{"more than 5 min ahead: the node's", t0.Add(5*minute + time.Millisecond), t0, t0},
		{"no browser time: the node's", time.Time{}, t0, t0},
		{"no node time: the browser's", t0, time.Time{}, t0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := visitor.EventTime(&firehook.Event{ClientTS: tc.client, ReceivedAt: tc.received})
			if !got.Equal(tc.want) {
				t.Fatalf("EventTime = %v; want %v", got, tc.want)
			}
		})
	}
}

func TestCampaignKey(t *testing.T) {
	for _, tc := range []struct {
		utm  map[string]string
		want string
	}{
		{nil, ""},
		{map[string]string{}, ""},
		{map[string]string{"term": "x", "content": "y", "id": "z"}, ""},
		{spring, "google/cpc/spring"},
		{springTermB, "google/cpc/spring"},
		{newsletter, "newsletter/email/"},
		{map[string]string{"campaign": "only"}, "//only"},
		{map[string]string{"source": "a/b", "medium": "c"}, "a%2Fb/c/"},
		{map[string]string{"source": "a", "medium": "b/c"}, "a/b%2Fc/"},
		{map[string]string{"source": "Google"}, "Google//"}, // case is kept
		{map[string]string{"source": "spring sale", "campaign": "été"}, "spring+sale//%C3%A9t%C3%A9"},
	} {
		if got := visitor.CampaignKey(tc.utm); got != tc.want {
			t.Errorf("CampaignKey(%v) = %q; want %q", tc.utm, got, tc.want)
		}
	}
}

// sameState reports whether a and b hold the same values (times compared
// as instants).
func sameState(a, b visitor.State) bool {
	return a.SessionID == b.SessionID && a.Campaign == b.Campaign && a.PixelSID == b.PixelSID &&
		a.PagesViewed == b.PagesViewed && a.VisitCount == b.VisitCount &&
		a.SessionStart.Equal(b.SessionStart) && a.FirstSeen.Equal(b.FirstSeen) && a.LastSeen.Equal(b.LastSeen)
}

// tb is what roundTrip needs of a *testing.T or a *rapid.T (which is no
// testing.TB).
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
}

// roundTrip returns s marshalled and unmarshalled.
func roundTrip(t tb, s visitor.State) visitor.State {
	t.Helper()
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatalf("MarshalBinary: %v", err)
	}
	var got visitor.State
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatalf("UnmarshalBinary(%x): %v", b, err)
	}
	return got
}

func TestState_MarshalBinary_roundTrip(t *testing.T) {
	typical := visitor.State{
		SessionID: "ses_01JTF4Q2ZK8J3V6Y9W0X1C2B3A", SessionStart: t0.Add(123456789), FirstSeen: t0.Add(-72 * time.Hour),
		LastSeen: t0.Add(17*minute + 3*time.Millisecond), PagesViewed: 7, VisitCount: 12,
		Campaign: "google/cpc/spring", PixelSID: "px-1",
	}
	for _, tc := range []struct {
		name string
		s    visitor.State
	}{
		{"zero", visitor.State{}},
		{"typical", typical},
		{"non-UTC times", visitor.State{
			SessionID: "x", FirstSeen: t0.In(time.FixedZone("CEST", 2*3600)),
			SessionStart: t0.In(time.Local), LastSeen: time.Now(),
		}},
		{"times before FirstSeen", visitor.State{FirstSeen: t0, SessionStart: t0.Add(-time.Hour), LastSeen: time.Time{}}},
		{"extreme times", visitor.State{
			FirstSeen: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), SessionStart: time.Time{},
			LastSeen: time.Unix(1<<62, 999999999),
		}},
		{"unicode and large counts", visitor.State{
			SessionID: "ses_é", Campaign: strings.Repeat("c", 1000), PagesViewed: 1 << 40, VisitCount: -1,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := roundTrip(t, tc.s); !sameState(got, tc.s) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, tc.s)
			}
		})
	}

	t.Run("compact", func(t *testing.T) {
		// A derived session id (the longest), a sid, a campaign and
		// times with nanoseconds, a month apart.
		now := time.Date(2026, 5, 1, 9, 0, 0, 987654321, time.UTC)
		big := visitor.State{
			SessionID: visitor.DeriveSessionID("ten_1", "v_1", "px-0123456789", 3), PixelSID: "px-0123456789",
			Campaign: "google/cpc/spring", FirstSeen: now.Add(-31*24*time.Hour - 123), SessionStart: now.Add(-17*minute - 456),
			LastSeen: now, PagesViewed: 12, VisitCount: 3,
		}
		b, _ := big.MarshalBinary()
		if len(b) > 100 {
			t.Fatalf("a full state is %d bytes; want ≤ 100", len(b))
		}
		if b[0] != 1 {
			t.Fatalf("format version = %d; want 1", b[0])
		}
	})
	t.Run("AppendBinary appends", func(t *testing.T) {
		b, _ := typical.AppendBinary([]byte("key"))
		m, _ := typical.MarshalBinary()
		if string(b) != "key"+string(m) {
			t.Fatalf("AppendBinary = %x; want key + %x", b, m)
		}
	})
	t.Run("decoding copies", func(t *testing.T) {
		b, _ := typical.MarshalBinary()
		var got visitor.State
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		for i := range b {
			b[i] = 0xff
		}
		if !sameState(got, typical) {
			t.Fatalf("state changed with its buffer: %+v", got)
		}
	})
}

func TestState_UnmarshalBinary_errors(t *testing.T) {
	good, _ := (&visitor.State{
		SessionID: "ses_1", SessionStart: t0, FirstSeen: t0, LastSeen: t0.Add(minute),
		PagesViewed: 2, VisitCount: 1, Campaign: "a//", PixelSID: "p",
	}).MarshalBinary()
	keep := visitor.State{SessionID: "keep me", VisitCount: 3}

	check := func(t *testing.T, data []byte, want error) {
		t.Helper()
		s := keep
		err := s.UnmarshalBinary(data)
		if !errors.Is(err, want) {
			t.Fatalf("UnmarshalBinary(%x) = %v; want %v", data, err, want)
		}
		if s != keep {
			t.Fatalf("UnmarshalBinary(%x) failed but changed the state to %+v", data, s)
		}
	}
	t.Run("empty", func(t *testing.T) { check(t, nil, visitor.ErrStateCorrupt) })
	t.Run("a newer version", func(t *testing.T) {
		check(t, append([]byte{2}, good[1:]...), visitor.ErrStateVersion)
	})
	t.Run("version 0", func(t *testing.T) { check(t, append([]byte{0}, good[1:]...), visitor.ErrStateVersion) })
	t.Run("every truncation", func(t *testing.T) {
		for n := 1; n < len(good); n++ {
			check(t, good[:n], visitor.ErrStateCorrupt)
		}
	})
	t.Run("a trailing byte", func(t *testing.T) { check(t, append(good[:len(good):len(good)], 0), visitor.ErrStateCorrupt) })
	t.Run("a string longer than the data", func(t *testing.T) { check(t, []byte{1, 100, 'x'}, visitor.ErrStateCorrupt) })
	t.Run("nanoseconds out of range", func(t *testing.T) {
		b := []byte{1, 0, 0, 0, 0, 0} // version, three empty strings, two zero counts
		b = binary.AppendVarint(b, 0) // FirstSeen: 0 s, 1e9 ns
		b = binary.AppendUvarint(b, uint64(time.Second))
		b = append(b, 0, 0, 0, 0)
		check(t, b, visitor.ErrStateCorrupt)
	})
}

// The properties of any sequence of page views, applied to a state that a
// restart may have stored and reloaded at any step.
func TestConfig_Observe_properties(t *testing.T) {
	boundaries := []time.Duration{
		0, time.Millisecond, time.Second, 5 * minute,
		30*minute - time.Second, 30*minute - time.Nanosecond, 30 * minute, 30*minute + time.Nanosecond, 3 * time.Hour,
	}
	skews := []time.Duration{
		0, 0, 0, -5 * minute, 5 * minute, -5*minute - time.Millisecond, 5*minute + time.Millisecond,
		-24 * time.Hour, 24 * time.Hour,
	}
	utms := []map[string]string{nil, nil, spring, springTermB, summer, newsletter, {"term": "x"}}
	sids := []string{"", "", "a", "b"}

	rapid.Check(t, func(t *rapid.T) {
		c := visitor.Config{Timeout: rapid.SampledFrom([]time.Duration{0, 30 * minute, 10 * minute}).Draw(t, "timeout")}
		var s visitor.State
		newID := counter()
		recv := t0
		starts, pages := 0, 0
		ids := map[string]bool{}
		for i := range rapid.IntRange(1, 60).Draw(t, "views") {
			gap := rapid.OneOf(
				rapid.SampledFrom(boundaries),
				rapid.Map(rapid.Int64Range(0, int64(2*time.Hour)), func(n int64) time.Duration { return time.Duration(n) }),
			).Draw(t, "gap")
			skew := rapid.OneOf(
				rapid.SampledFrom(skews),
				rapid.Map(rapid.Int64Range(int64(-6*minute), int64(6*minute)), func(n int64) time.Duration { return time.Duration(n) }),
			).Draw(t, "skew")
			recv = recv.Add(gap)
			ev := &firehook.Event{
				TenantID: "ten_1", VisitorID: "v_1", ReceivedAt: recv, ClientTS: recv.Add(skew),
				UTM: rapid.SampledFrom(utms).Draw(t, "utm"), SessionID: rapid.SampledFrom(sids).Draw(t, "sid"),
			}
			if rapid.Bool().Draw(t, "restart") {
				s = roundTrip(t, s)
			}
			prev := s
			newSession := c.Observe(&s, ev, newID)

			if newSession {
				starts++
				pages = 1
				if ids[s.SessionID] {
					t.Fatalf("view %d: new session reuses id %q", i, s.SessionID)
				}
				ids[s.SessionID] = true
			} else {
				pages++
				if s.SessionID != prev.SessionID || s.Campaign != prev.Campaign || s.PixelSID != prev.PixelSID ||
					!s.SessionStart.Equal(prev.SessionStart) {
					t.Fatalf("view %d: the session changed without a new session:\n%+v\n→ %+v", i, prev, s)
				}
			}
			if i == 0 && !newSession {
				t.Fatalf("the first page view did not start a session")
			}
			if s.VisitCount != starts {
				t.Fatalf("view %d: VisitCount = %d; %d new sessions", i, s.VisitCount, starts)
			}
			if s.PagesViewed < 1 || s.PagesViewed != pages {
				t.Fatalf("view %d: PagesViewed = %d; %d page views since the last new session", i, s.PagesViewed, pages)
			}
			if i > 0 && s.LastSeen.Before(prev.LastSeen) {
				t.Fatalf("view %d: LastSeen went back from %v to %v", i, prev.LastSeen, s.LastSeen)
			}
			if i > 0 && !s.FirstSeen.Equal(prev.FirstSeen) {
				t.Fatalf("view %d: FirstSeen moved from %v to %v", i, prev.FirstSeen, s.FirstSeen)
			}
			if s.SessionStart.Before(s.FirstSeen) || s.LastSeen.Before(s.SessionStart) {
				t.Fatalf("view %d: want FirstSeen ≤ SessionStart ≤ LastSeen: %v, %v, %v", i, s.FirstSeen, s.SessionStart, s.LastSeen)
			}
			if et := visitor.EventTime(ev); !et.Before(prev.LastSeen) && !s.LastSeen.Equal(et) {
				t.Fatalf("view %d: LastSeen = %v; want the event time %v", i, s.LastSeen, et)
			}
			if got := roundTrip(t, s); got != s {
				t.Fatalf("view %d: round trip:\n got %+v\nwant %+v", i, got, s)
			}
		}
	})
}
