package persistence

import "encoding/binary"

// Key prefixes. Every record kind has its own prefix so that a prefix scan
// reads exactly one kind. Changing a prefix is a data migration.
const (
	prefixMeta     = "m/"  // m/<name> → node metadata (admin token hash, …)
	prefixTenant   = "t/"  // t/<tenant id> → firehook.Tenant JSON
	prefixSite     = "s/"  // s/<site id> → firehook.Site JSON
	prefixEndpoint = "e/"  // e/<endpoint id> → firehook.Endpoint JSON
	prefixEvent    = "ev/" // ev/<seq, 8 bytes big-endian> → firehook.Event JSON: the event log before it had its own files (eventlog_migrate.go)

	// Replication of the configuration (replica.go, table.go). Versions are
	// encodeVersion's: 8 bytes big-endian unix nanoseconds, then the node
	// name. A row without a version (older data dirs) has the zero Version.
	prefixConfigVersion = "cv/" // cv/<t/, s/ or e/><id> → Version of the row (written with it)
	prefixConfigTomb    = "cd/" // cd/<t/, s/ or e/><id> → Version of the record's deletion (tombstone; never pruned)

	// The identity graph (values encoded by package identity).
	prefixPerson          = "gp/"  // gp/<person id> → person record with its identifiers
	prefixLink            = "gl/"  // gl/<tenant>/<visitor id> → person id (a learned link)
	prefixLinkReverse     = "glr/" // glr/<person id>/<tenant>/<visitor id> → empty (erasure finds links)
	prefixLinkExpiry      = "glx/" // glx/<expiry, 8 bytes big-endian unix s>/<tenant>/<visitor id> → person id: links due to expire (graph_linkttl.go)
	prefixSuppression     = "sup/" // sup/<scope>/<kind>/<value> → Version of the entry (empty in older data dirs: the zero Version); scope: "global" or a tenant id
	prefixSuppressionTomb = "sud/" // sud/<scope>/<kind>/<value> → Version of the entry's removal (tombstone; never pruned)

	// Dispatch decisions and the delivery outbox (dispatch.go, outbox.go).
	// Endpoint, tenant and delivery ids hold no "/". Keys marked TTL expire
	// (all of a delivery's at the same second) once the delivery finishes.
	prefixLaneSeq     = "dq/"  // dq/<tenant>/<person> → last sequence, 8 bytes big-endian; present = seen (First Match made)
	prefixDispatched  = "dd/"  // dd/<event id> → dispatchRecord, binary (deliverycodec.go; JSON of older nodes is read): the event's decision and delivery ids
	prefixDelivery    = "dv/"  // dv/<delivery id> → firehook.Delivery without the payload, binary (deliverycodec.go; JSON of older nodes is read); TTL
	prefixPayload     = "dp/"  // dp/<delivery id> → the delivery's signed body; TTL
	prefixDlvEndpoint = "dve/" // dve/<endpoint>/<delivery id> → empty: receipts in creation order; TTL
	prefixDlvStatus   = "dvs/" // dvs/<endpoint>/<status>/<delivery id> → empty: the same by status; TTL
	prefixDlvQueue    = "dvq/" // dvq/<endpoint>/<priority byte><delivery id> → empty: unfinished deliveries only

	// Copies of other members' deliveries, and their takeover
	// (outbox_replica.go). Member names hold no "/".
	prefixReplica   = "dr/" // dr/<member>/<delivery id> → EncodeDelivery: a copy of a member's unfinished delivery; TTL (ReplicaRetention)
	prefixTakenOver = "dt/" // dt/<member>/<event id> → dispatchRecord: a decision of member taken over here; TTL

	// The visitor actors' state (visitors.go).
	prefixVisitor = "vs/" // vs/<tenant>/<visitor id> → last applied event seq (8 bytes big-endian) + visitor.State binary
)

// eventKey is the log key of sequence seq: big-endian so that badger's
// byte order is sequence order.
func eventKey(seq uint64) []byte {
	k := make([]byte, len(prefixEvent)+8)
	copy(k, prefixEvent)
	binary.BigEndian.PutUint64(k[len(prefixEvent):], seq)
	return k
}

// eventSeq is the inverse of eventKey.
func eventSeq(key []byte) uint64 {
	return binary.BigEndian.Uint64(key[len(prefixEvent):])
}
