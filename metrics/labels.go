package metrics

import (
	"strconv"
	"sync"
)

// otherLabel is the label value shared by the values past a labelCap.
const otherLabel = "other"

// labelCap bounds the distinct values of one label: the first max values
// seen keep their own, every later one becomes otherLabel. Values are
// never forgotten (a series, once exported, stays). Safe for concurrent
// use.
type labelCap struct {
	max int

	mu   sync.RWMutex
	seen map[string]struct{}
}

func newLabelCap(limit int) *labelCap {
	return &labelCap{max: limit, seen: make(map[string]struct{})}
}

// value returns the label value for v.
func (c *labelCap) value(v string) string {
	c.mu.RLock()
	_, ok := c.seen[v]
	c.mu.RUnlock()
	if ok {
		return v
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[v]; ok {
		return v
	}
	if len(c.seen) >= c.max {
		return otherLabel
	}
	c.seen[v] = struct{}{}
	return v
}

// The status classes of the attempts counter: a fixed set.
const (
	class2xx   = "2xx"
	class3xx   = "3xx"
	class4xx   = "4xx"
	class5xx   = "5xx"
	classError = "error" // no response (timeout, refused, TLS, blocked) or a status outside 200–599
)

// statusClass returns the class of an attempt's status code.
func statusClass(code int) string {
	if code < 200 || code > 599 {
		return classError
	}
	return strconv.Itoa(code/100) + "xx"
}
