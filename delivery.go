package firehook

import (
	"crypto/sha256"
	"time"

	"github.com/oklog/ulid/v2"
)

// PrefixDelivery starts every delivery id.
const PrefixDelivery = "dlv_"

// NewDeliveryID returns dlv_ + a new ULID whose time is at (to the
// millisecond). Delivery ids sort by that time, which is how the outbox
// orders receipts: give it the delivery's CreatedAt, so that the id and
// CreatedAt tell the same moment.
func NewDeliveryID(at time.Time) string {
	return PrefixDelivery + ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String()
}

// DeliveryIDFor returns the id of event eventID's delivery to endpoint
// endpointID: dlv_ + a ULID whose time is the event's receipt (to the
// millisecond) and whose random part is a hash of both ids. Deciding an
// event again — a replay of the event log after a crash that lost the
// decision — names its deliveries the same, so a delivery is never sent
// twice under two ids.
func DeliveryIDFor(eventID, endpointID string, receivedAt time.Time) string {
	sum := sha256.Sum256([]byte(eventID + "\x00" + endpointID))
	var id ulid.ULID
	_ = id.SetTime(ulid.Timestamp(receivedAt)) // fails only after the year 10889
	_ = id.SetEntropy(sum[:10])                // exactly 10 bytes
	return PrefixDelivery + id.String()
}

// PersonKey is the key of a (tenant, person): the lane a person's
// deliveries wait in at an endpoint (one in flight at a time, in sequence
// order), and the partition key of the person's dispatch state. Tenant ids
// hold no "/", so the key is unambiguous whatever the person id holds.
func PersonKey(tenantID, personID string) string { return tenantID + "/" + personID }

// Delivery priorities: First Match goes before Every Update wherever a
// queue forms. Lower is sooner.
const (
	PriorityFirstMatch  = 0 // visitor.identified
	PriorityEveryUpdate = 1 // visitor.updated
)

// EventPriority returns the priority of a delivery of an event of type typ.
func EventPriority(typ string) int {
	if typ == EventIdentified {
		return PriorityFirstMatch
	}
	return PriorityEveryUpdate
}

// DeliveryStatus of a delivery: pending (waiting for its turn or its next
// attempt), delivered, retrying (an attempt failed, another is
// scheduled), failed (terminal).
type DeliveryStatus string

// The delivery statuses.
const (
	DeliveryPending   DeliveryStatus = "pending"
	DeliveryDelivered DeliveryStatus = "delivered"
	DeliveryRetrying  DeliveryStatus = "retrying"
	DeliveryFailed    DeliveryStatus = "failed"
)

// Valid reports whether s is one of the known statuses.
func (s DeliveryStatus) Valid() bool {
	return s == DeliveryPending || s == DeliveryDelivered || s == DeliveryRetrying || s == DeliveryFailed
}

// Finished reports whether s is final (delivered or failed): the delivery
// has become a receipt, kept for the retention period and then dropped.
func (s DeliveryStatus) Finished() bool { return s == DeliveryDelivered || s == DeliveryFailed }

// Delivery is one event for one endpoint: the outbox record an endpoint
// actor works from, and (as JSON) the receipt of API.md.
type Delivery struct {
	ID         string `json:"id"`       // dlv_<ULID>, see NewDeliveryID
	EventID    string `json:"event_id"` // the webhook-id of every attempt
	EndpointID string `json:"endpoint_id"`
	TenantID   string `json:"tenant_id"`
	PersonKey  string `json:"person_key"` // the (tenant, person) FIFO lane, see PersonKey
	Type       string `json:"type"`       // EventIdentified or EventUpdated
	Sequence   uint64 `json:"sequence"`   // the event's place in the person's sequence, 1, 2, …
	// Priority is PriorityFirstMatch (0) or PriorityEveryUpdate (1); lower
	// goes first.
	Priority      int            `json:"priority"`
	Status        DeliveryStatus `json:"status"`
	Attempts      []Attempt      `json:"attempts"`
	NextAttemptAt time.Time      `json:"next_attempt_at,omitzero"` // zero once finished
	CreatedAt     time.Time      `json:"created_at"`
	UpdatedAt     time.Time      `json:"updated_at"`
	// ReplayedAt is when the delivery was last replayed; the retry window
	// counts from the first attempt after it. Zero when it never was.
	ReplayedAt time.Time `json:"replayed_at,omitzero"`
	// EventReceivedAt is when the node received the event (its
	// ReceivedAt): the start of the pixel→POST latency that the tiers'
	// budgets bound. Zero for deliveries made before it was recorded.
	EventReceivedAt time.Time `json:"event_received_at,omitzero"`
	// Payload is the signed body, built once per event. It is not part of
	// the receipt; the outbox stores it beside the record.
	Payload []byte `json:"-"`
}

// Attempt is one try of a delivery, as the receipt shows it.
type Attempt struct {
	N               int       `json:"n"` // 1-based, the firehook-attempt header
	At              time.Time `json:"at"`
	StatusCode      int       `json:"status_code"` // 0 when no response arrived
	DurationMS      int64     `json:"duration_ms"`
	Error           string    `json:"error"`            // transport error, "" when a response arrived
	ResponseSnippet string    `json:"response_snippet"` // the response body's start (up to 1 KiB)
}
