package identity

import (
	"fmt"
	"strings"
	"testing"
)

func TestIDTable_KeepsEveryIDAcrossChunks(t *testing.T) {
	var tb idTable
	var want []string
	for i := range 30_000 { // ~3 MiB: several chunks
		id := fmt.Sprintf("p_%d_%s", i, strings.Repeat("x", i%120))
		want = append(want, id)
		if ord := tb.add([]byte(id)); ord != uint32(i) {
			t.Fatalf("add #%d returned ordinal %d", i, ord)
		}
	}
	if len(tb.chunks) < 2 {
		t.Fatalf("%d chunks: the test did not cross a chunk boundary", len(tb.chunks))
	}
	for i, id := range want {
		if got := tb.get(uint32(i)); got != id {
			t.Fatalf("get(%d) = %q, want %q", i, got, id)
		}
	}
	if tb.add(nil) != uint32(len(want)) || tb.get(uint32(len(want))) != "" {
		t.Fatal("an empty id does not round-trip")
	}
}
