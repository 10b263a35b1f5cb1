package identity

// EncodeRecord returns the binary form of r that the graph stores: the
// form records travel in between the nodes of a cluster.
func EncodeRecord(r *Record) ([]byte, error) { return appendRecord(nil, r) }

// DecodeRecord decodes what EncodeRecord returned.
func DecodeRecord(b []byte) (Record, error) { return decodeRecord(b) }
