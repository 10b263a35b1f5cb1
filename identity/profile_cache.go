package identity

import (
	"container/list"
	"sync"
)

// profileCache is the bounded cache of hot person records: a
// least-recently-used list in each of 64 shards, so that lookups on
// different persons rarely share a lock. Unlike an admission-policy cache
// it never drops a Set, so a hot profile is cached from its first use.
type profileCache struct {
	shards [64]cacheShard
}

type cacheShard struct {
	mu    sync.Mutex // guards items and order
	max   int
	items map[string]*list.Element
	order *list.List // front: most recently used; values are *cacheItem
}

type cacheItem struct {
	key string
	rec *Record
}

func newProfileCache(size int) *profileCache {
	c := &profileCache{}
	per := max(1, size/len(c.shards))
	for i := range c.shards {
		c.shards[i] = cacheShard{max: per, items: map[string]*list.Element{}, order: list.New()}
	}
	return c
}

func (c *profileCache) shard(key string) *cacheShard {
	// FNV-1a of the key picks the shard.
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h = (h ^ uint32(key[i])) * 16777619
	}
	return &c.shards[h%uint32(len(c.shards))]
}

func (c *profileCache) get(key string) (*Record, bool) {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.items[key]
	if !ok {
		return nil, false
	}
	s.order.MoveToFront(e)
	return e.Value.(*cacheItem).rec, true
}

// setIf caches rec under key when ok(), which is called under the shard
// lock (see Graph.profile for why).
func (c *profileCache) setIf(key string, rec *Record, ok func() bool) {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !ok() {
		return
	}
	if e, found := s.items[key]; found {
		e.Value.(*cacheItem).rec = rec
		s.order.MoveToFront(e)
		return
	}
	s.items[key] = s.order.PushFront(&cacheItem{key: key, rec: rec})
	if s.order.Len() > s.max {
		oldest := s.order.Back()
		s.order.Remove(oldest)
		delete(s.items, oldest.Value.(*cacheItem).key)
	}
}

func (c *profileCache) del(key string) {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.items[key]; ok {
		s.order.Remove(e)
		delete(s.items, key)
	}
}
