package ingest_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/internal/testkit"
)

func TestCollect_HashesEmailAndNeverStoresIt(t *testing.T) {
	for _, c := range []struct {
		name, email, normalised string
		secrets                 []string // strings that must appear nowhere in badger
	}{
		{"gmail drops dots and +suffix", "  Jane.Doe+Newsletter@GMail.com ", "janedoe@gmail.com",
			[]string{"jane.doe+newsletter@gmail.com", "janedoe@gmail.com", "jane.doe", "+newsletter"}},
		{"googlemail is gmail", "j.o.h.n+x@googlemail.com", "john@gmail.com",
			[]string{"j.o.h.n+x@googlemail.com", "john@gmail.com", "j.o.h.n"}},
		{"other domains keep dots and +suffix", "Max.Mustermann+crm@Example.COM", "max.mustermann+crm@example.com",
			[]string{"max.mustermann+crm@example.com", "max.mustermann"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			accepted(t, e.collect(t, pageView(e.site, map[string]any{"email": c.email})))

			ev := e.onlyEvent(t)
			if want := testkit.HEMs(t, c.normalised); ev.HEMs != want {
				t.Errorf("hems = %+v, want the hashes of %q: %+v", ev.HEMs, c.normalised, want)
			}
			e.assertNowhere(t, ev.HEMs.SHA256, append(c.secrets, strings.TrimSpace(c.email))...)
		})
	}
}

func TestCollect_EmailHashesWinOverHEM(t *testing.T) {
	e := newEnv(t)
	other := testkit.HEMs(t, "someone.else@example.com").SHA256
	accepted(t, e.collect(t, pageView(e.site, map[string]any{"email": "ann@example.com", "hem": other})))
	if got, want := e.onlyEvent(t).HEMs, testkit.HEMs(t, "ann@example.com"); got != want {
		t.Errorf("hems = %+v, want the email's %+v", got, want)
	}
}

func TestCollect_LowerCasesHEM(t *testing.T) {
	e := newEnv(t)
	h := testkit.HEMs(t, "ann@example.com").SHA256
	accepted(t, e.collect(t, pageView(e.site, map[string]any{"hem": " " + strings.ToUpper(h) + " "})))
	if got := e.onlyEvent(t).HEMs; got != (firehook.HEMs{SHA256: h}) {
		t.Errorf("hems = %+v, want only sha256 %s", got, h)
	}
}

func TestCollect_BadEmailIsNotStoredNorEchoed(t *testing.T) {
	e := newEnv(t)
	const bad = "secret.person@localhost"
	e.storesNothing(t, func() {
		r := e.collect(t, pageView(e.site, map[string]any{"email": bad}))
		apiError(t, r, 400, "validation_failed")
		if bytes.Contains(r.Body, []byte(bad)) {
			t.Errorf("the error %s echoes the address", r.Body)
		}
	})
	e.assertNowhere(t, e.site.Key, bad)
}

// inBadger returns where s (compared case-insensitively) occurs in the
// keys and values of db, every version of every key.
func inBadger(t testing.TB, db *badger.DB, s string) []string {
	t.Helper()
	needle := bytes.ToLower([]byte(s))
	var found []string
	testkit.EachRecord(t, db, func(key, value []byte) {
		if bytes.Contains(bytes.ToLower(key), needle) {
			found = append(found, fmt.Sprintf("key %q", key))
		}
		if bytes.Contains(bytes.ToLower(value), needle) {
			found = append(found, fmt.Sprintf("value of %q: %s", key, value))
		}
	})
	return found
}

// inFiles returns the files under dir whose raw bytes hold s (compared
// case-insensitively). The memtable's write-ahead log (.mem) holds every
// recent write uncompressed. Value logs (.vlog) are skipped: they are
// preallocated sparse files of gigabytes, and values as small as an
// event stay in the LSM tree (badger's value threshold is far larger).
func inFiles(t testing.TB, dir, s string) []string {
	t.Helper()
	needle := bytes.ToLower([]byte(s))
	var found []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) == ".vlog" {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(bytes.ToLower(b), needle) {
			found = append(found, filepath.Base(path))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("scan %s: %v", dir, err)
	}
	return found
}

// assertNowhere fails when s is in badger or in the data dir's files (the
// event log's segments among them). It first checks that the file scan
// finds present, a value known to be stored, and the badger scan the
// site's id, so that a broken scan cannot pass.
func (e *env) assertNowhere(t testing.TB, present string, secrets ...string) {
	t.Helper()
	if err := e.store.Sync(); err != nil {
		t.Fatalf("sync: %v", err)
	}
	if len(inBadger(t, e.store.DB(), e.site.ID)) == 0 || len(inFiles(t, e.dir, present)) == 0 {
		t.Fatalf("the scans do not find %q or %q, which are stored; they are broken", e.site.ID, present)
	}
	for _, s := range secrets {
		if at := inBadger(t, e.store.DB(), s); len(at) > 0 {
			t.Errorf("%q is stored in badger: %s", s, at)
		}
		if at := inFiles(t, e.dir, s); len(at) > 0 {
			t.Errorf("%q is in the data files %s", s, at)
		}
	}
}
