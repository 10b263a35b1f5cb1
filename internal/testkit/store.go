package testkit

import (
	"log/slog"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/persistence"
)

// Logger writes records at level and above to the test's output.
func Logger(tb testing.TB, level slog.Level) *slog.Logger {
	tb.Helper()
	return slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: level}))
}

// OpenStore opens a durable store in dir with small badger buffers (so
// that it opens quickly) that logs warnings to the test's output. The
// store is closed when the test ends; a Close by the test itself before
// that is harmless.
func OpenStore(tb testing.TB, dir string) *persistence.Store {
	tb.Helper()
	cfg := persistence.DefaultConfig(dir)
	cfg.MemTableSize = 1 << 20
	cfg.BlockCacheSize = 1 << 20
	cfg.Log = Logger(tb, slog.LevelWarn)
	s, err := persistence.Open(cfg)
	if err != nil {
		tb.Fatalf("open store in %s: %v", dir, err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("close store: %v", err)
		}
	})
	return s
}

// CreateTenant stores a pro tenant named name and returns it.
func CreateTenant(tb testing.TB, c *persistence.ConfigStore, name string) firehook.Tenant {
	tb.Helper()
	now := time.Now().UTC()
	t := firehook.Tenant{ID: firehook.NewID(firehook.PrefixTenant), Name: name, Tier: firehook.TierPro,
		CreatedAt: now, UpdatedAt: now}
	if err := c.CreateTenant(t); err != nil {
		tb.Fatalf("create tenant %s: %v", name, err)
	}
	return t
}

// CreateSite stores a site of tenantID with a new key for the domain
// example.com, without allowed origins or rate limit; edit (when not nil)
// may change it before it is stored. It returns the stored site.
func CreateSite(tb testing.TB, c *persistence.ConfigStore, tenantID string, edit func(*firehook.Site)) firehook.Site {
	tb.Helper()
	now := time.Now().UTC()
	s := firehook.Site{
		ID:        firehook.NewID(firehook.PrefixSite),
		TenantID:  tenantID,
		Key:       firehook.RandomToken(firehook.PrefixSiteKey, 24),
		Domain:    "example.com",
		CreatedAt: now,
		UpdatedAt: now,
	}
	if edit != nil {
		edit(&s)
	}
	if err := c.CreateSite(s); err != nil {
		tb.Fatalf("create site: %v", err)
	}
	return s
}

// EachRecord calls fn with the key and value of every version of every
// record in db and returns how many it saw. key and value are valid only
// during the call.
func EachRecord(tb testing.TB, db *badger.DB, fn func(key, value []byte)) int {
	tb.Helper()
	n := 0
	err := db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.AllVersions = true
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
			item := it.Item()
			if err := item.Value(func(v []byte) error {
				fn(item.Key(), v)
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("scan badger: %v", err)
	}
	return n
}

// CreateEndpoint stores an enabled endpoint of tenantID posting to url,
// subscribed to both event types, with a new secret; edit (when not nil)
// may change it before it is stored. It returns the stored endpoint.
func CreateEndpoint(tb testing.TB, c *persistence.ConfigStore, tenantID, url string, edit func(*firehook.Endpoint)) firehook.Endpoint {
	tb.Helper()
	now := time.Now().UTC()
	e := firehook.Endpoint{
		ID:        firehook.NewID(firehook.PrefixEndpoint),
		TenantID:  tenantID,
		URL:       url,
		Events:    []string{firehook.EventIdentified, firehook.EventUpdated},
		State:     firehook.EndpointEnabled,
		Secret:    firehook.NewWebhookSecret(),
		CreatedAt: now,
		UpdatedAt: now,
	}
	if edit != nil {
		edit(&e)
	}
	if err := c.CreateEndpoint(e); err != nil {
		tb.Fatalf("create endpoint: %v", err)
	}
	return e
}
