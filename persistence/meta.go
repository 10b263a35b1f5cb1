package persistence

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/firehook/firehook"
)

// Meta keys.
const metaAdminTokenHash = prefixMeta + "admin_token_sha256"

// AdminTokenHash returns the stored hash of the generated operator token,
// or ErrNotFound when none was generated yet.
func (s *Store) AdminTokenHash() (string, error) {
	var h string
	err := s.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get([]byte(metaAdminTokenHash))
		if err != nil {
			return err
		}
		v, err := it.ValueCopy(nil)
		h = string(v)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return "", fmt.Errorf("admin token: %w", firehook.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	return h, nil
}

// SetAdminTokenHash stores the hash of the generated operator token.
func (s *Store) SetAdminTokenHash(h string) error {
	err := s.db.Update(func(txn *badger.Txn) error { return txn.Set([]byte(metaAdminTokenHash), []byte(h)) })
	if err == nil {
		err = s.db.Sync()
	}
	if err != nil {
		return fmt.Errorf("store admin token: %w", err)
	}
	return nil
}
