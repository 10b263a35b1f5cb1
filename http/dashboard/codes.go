package dashboard

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/firehook/firehook"
)

// codes is the table of unused login codes: single use, with an expiry,
// bounded in size. Codes are kept by their sha256, so a lookup's timing
// says nothing about a stored code.
type codes struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu      sync.Mutex
	byHash  map[[32]byte]loginCode
	ordered [][32]byte // insertion order, for evicting the oldest when full
}

type loginCode struct {
	token   string
	expires time.Time
}

func newCodes(ttl time.Duration, max int, now func() time.Time) *codes {
	return &codes{ttl: ttl, max: max, now: now, byHash: map[[32]byte]loginCode{}}
}

// mint stores token under a new code and returns the code.
func (c *codes) mint(token string) string {
	code := firehook.RandomToken("", 32)
	h := sha256.Sum256([]byte(code))
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweep()
	for len(c.byHash) >= c.max && len(c.ordered) > 0 {
		delete(c.byHash, c.ordered[0])
		c.ordered = c.ordered[1:]
	}
	c.byHash[h] = loginCode{token: token, expires: c.now().Add(c.ttl)}
	c.ordered = append(c.ordered, h)
	return code
}

// redeem returns the token of code and forgets the code; false when the
// code is unknown, used or expired.
func (c *codes) redeem(code string) (string, bool) {
	h := sha256.Sum256([]byte(code))
	c.mu.Lock()
	defer c.mu.Unlock()
	lc, ok := c.byHash[h]
	if !ok {
		return "", false
	}
	delete(c.byHash, h)
	if !c.now().Before(lc.expires) {
		return "", false
	}
	return lc.token, true
}

// sweep drops the expired and redeemed codes from the front of the order.
// It runs with c.mu held.
func (c *codes) sweep() {
	now := c.now()
	keep := c.ordered[:0]
	for _, h := range c.ordered {
		if lc, ok := c.byHash[h]; ok {
			if now.Before(lc.expires) {
				keep = append(keep, h)
			} else {
				delete(c.byHash, h)
			}
		}
	}
	clear(c.ordered[len(keep):])
	c.ordered = keep
}

// len is the number of codes stored (tests).
func (c *codes) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byHash)
}
