package persistence_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/internal/testkit"
	"github.com/firehook/firehook/persistence"
)

// openWithKey opens the store in dir with secret key key ("" none).
func openWithKey(t *testing.T, dir, key string) (*persistence.Store, error) {
	t.Helper()
	cfg := persistence.DefaultConfig(dir)
	cfg.MemTableSize, cfg.BlockCacheSize = 1<<20, 1<<20
	cfg.SecretKey = key
	return persistence.Open(cfg)
}

// onDisk reports whether any of the store's files in dir holds b (badger
// closed: its value log and tables are what a thief of the disk gets).
func onDisk(t *testing.T, dir string, b []byte) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err == nil && bytes.Contains(data, b) {
			found = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// rawRow reads an endpoint's stored row straight from badger.
func rawRow(t *testing.T, st *persistence.Store, id string) []byte {
	t.Helper()
	var v []byte
	err := st.DB().View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte("e/" + id)) // prefixEndpoint
		if err != nil {
			return err
		}
		v, err = item.ValueCopy(nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// With FIREHOOK_SECRET_KEY an endpoint's signing secrets and custom header
// values are stored sealed: not on disk in the clear, in the clear in the
// store's answers, and readable again only with the same key.
func TestSecretKey_SealsEndpointSecretsAtRest(t *testing.T) {
	const key = "a secret key of 32 bytes, really"
	const secret, header = "whsec_c2VjcmV0LXNpZ25pbmcta2V5LWZvci10ZXN0cw", "Bearer customer-credential-9f3e"
	dir := t.TempDir()
	st, err := openWithKey(t, dir, key)
	if err != nil {
		t.Fatal(err)
	}
	tenant := testkit.CreateTenant(t, st.Config, "Acme")
	ep := testkit.CreateEndpoint(t, st.Config, tenant.ID, "https://hooks.acme.test/", func(e *firehook.Endpoint) {
		e.Secret, e.Headers = secret, map[string]string{"Authorization": header}
	})
	if got, _ := st.Config.Endpoint(ep.ID); got.Secret != secret || got.Headers["Authorization"] != header {
		t.Fatalf("the store answers %q, %v; want the secrets in the clear", got.Secret, got.Headers)
	}
	if row := rawRow(t, st, ep.ID); bytes.Contains(row, []byte(secret[6:])) || bytes.Contains(row, []byte("customer-credential")) {
		t.Fatalf("the stored row holds a secret in the clear: %s", row)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{secret[6:], "customer-credential-9f3e"} {
		if onDisk(t, dir, []byte(s)) {
			t.Errorf("%q is on disk in the clear", s)
		}
	}

	for _, wrong := range []string{"", "another key of 32 bytes, really!"} {
		if _, err := openWithKey(t, dir, wrong); !errors.Is(err, persistence.ErrSecretKey) {
			t.Errorf("opened with key %q: %v; want ErrSecretKey", wrong, err)
		}
	}
	if _, err := openWithKey(t, dir, "short"); !errors.Is(err, persistence.ErrSecretKey) {
		t.Errorf("a 5-byte key: %v; want ErrSecretKey", err)
	}
	st, err = openWithKey(t, dir, key)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got, _ := st.Config.Endpoint(ep.ID); got.Secret != secret || got.Headers["Authorization"] != header {
		t.Fatalf("after a restart the store answers %q, %v; want the secrets", got.Secret, got.Headers)
	}
}

// A store kept in the clear is sealed the first time it opens with a key.
func TestSecretKey_SealsWhatWasStoredInTheClear(t *testing.T) {
	const secret = "whsec_Y2xlYXItdGV4dC1zZWNyZXQtYmVmb3JlLXRoZS1rZXk"
	dir := t.TempDir()
	st, err := openWithKey(t, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	tenant := testkit.CreateTenant(t, st.Config, "Acme")
	ep := testkit.CreateEndpoint(t, st.Config, tenant.ID, "https://hooks.acme.test/", func(e *firehook.Endpoint) { e.Secret = secret })
	if row := rawRow(t, st, ep.ID); !bytes.Contains(row, []byte(secret)) {
		t.Fatalf("without a key the row does not hold the secret: %s", row)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = openWithKey(t, dir, "a secret key of 32 bytes, really")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if row := rawRow(t, st, ep.ID); bytes.Contains(row, []byte(secret[6:])) {
		t.Fatalf("after opening with a key the row still holds the secret in the clear: %s", row)
	}
	if got, _ := st.Config.Endpoint(ep.ID); got.Secret != secret {
		t.Fatalf("the store answers %q; want the secret", got.Secret)
	}
}
