package endpoint

// Crash is a message that makes an endpoint actor panic (supervision tests).
type Crash = crash
