// Package visitor holds what the visitor actor knows about one (tenant,
// visitor): its session sequencing. Every stored page view of a visitor
// goes, in log order, to that visitor's actor; the actor applies it to the
// visitor's [State] with [Config.Observe] and persists the state (in
// badger, [State.MarshalBinary]) so that a restarted node continues the
// session rather than starting a new one. The webhook payload's visit
// (session_id, pages_viewed, visit_count) is read from that state. The
// actor (actor.go) runs the match too and hands matched events to the
// person actor (package actors/person).
//
// # Sessions
//
// A session (a visit) is what analytics tools call one: a run of page
// views without a long pause. The rules, and where they come from:
//
//   - Timeout. A page view that comes Timeout (default 30 min) or more
//     after the last one starts a new session; one that comes sooner
//     continues it, however long the session has lasted. 30 min is every
//     tool's default: Google Analytics 4 ("a session ends or times out
//     after 30 minutes of user inactivity", support.google.com/analytics
//     answer 9191807, no limit on a session's length), Universal Analytics
//     ("inactive for 30 minutes or more, any future activity is attributed
//     to a new session", answer 6086069), Plausible ("ends when no action
//     is taken for 30 minutes", plausible.io/docs/metrics-definitions) and
//     Matomo (visit_standard_length = 1800). At exactly Timeout the session
//     is over, as in Universal Analytics and Matomo (same visit only while
//     the last action is less than 1800 s old); 29 min 59 s continues.
//
//   - Campaign. A page view whose campaign — utm_source, utm_medium and
//     utm_campaign together — is non-empty and differs from the session's
//     starts a new session; a page view without them (an internal link, a
//     direct visit) continues the session. utm_term, utm_content and
//     utm_id are ignored: they tell ad variants of one campaign apart and
//     must not cut a visit. This is Universal Analytics' "campaign change"
//     rule and Matomo's create_new_visit_when_campaign_changes (on by
//     default, on source, medium and name). GA4 and Plausible dropped it
//     and keep the first campaign of a visit; Firehook keeps it because a
//     webhook consumer sees each campaign arrival as its own touch, to
//     which the visit's pages_viewed and visit_count should belong.
//     Values are compared exactly as ingest stored them (trimmed, control
//     characters dropped; case kept, as Google Analytics does).
//
//   - Midnight does not end a session. Universal Analytics did (in the
//     property's time zone) and Matomo does by default; GA4 and Plausible
//     do not, and Firehook has no time zone to cut at: a visit that
//     crosses midnight is one visit.
//
//   - Pixel session. When the pixel sends a sid, the pixel knows where its
//     sessions begin: a page view whose sid differs from the session's
//     (including a session that had none) starts a new session. The
//     timeout and campaign rules still apply within one sid. The session
//     id is then derived from the sid instead of generated (see
//     [DeriveSessionID]), so that reprocessing the same page view from the
//     same persisted state — after a crash, say — gives the same id. A
//     page view without a sid is judged by the other rules alone, and a
//     session it starts gets a generated id.
//
//   - Event time. A page view's time is the browser's clock (Event.ClientTS)
//     when it is within [MaxClockSkew] (5 min) of the node's
//     (Event.ReceivedAt), and the node's otherwise: the browser's time is
//     when the page was really viewed (a beacon can be sent late, a
//     request retried), but a clock that is far off would cut or join
//     sessions at random. See [EventTime].
//
//   - Order. Page views are applied in log order. One whose time is before
//     the last one seen (two tabs, a late beacon) counts in the current
//     session and changes nothing else: it never starts a session and
//     never moves LastSeen backwards. So LastSeen only grows, and
//     FirstSeen ≤ SessionStart ≤ LastSeen.
//
// A session's counters: PagesViewed counts the page views of the current
// session (1 on its first), VisitCount the sessions so far (1 after the
// first page view).
package visitor
