package node

import (
	"fmt"
	"testing"
)

func TestRecentIDs_RemembersTheLastNAndForgetsTheOldest(t *testing.T) {
	r := newRecentIDs(3)
	r.add("a", "b", "c")
	r.add("b") // again: no room taken
	for _, id := range []string{"a", "b", "c"} {
		if !r.has(id) {
			t.Fatalf("%s forgotten with room to spare", id)
		}
	}
	r.add("d")
	if r.has("a") || !r.has("b") || !r.has("d") {
		t.Fatalf("after a fourth id: a=%v b=%v d=%v; want the oldest (a) forgotten", r.has("a"), r.has("b"), r.has("d"))
	}
	for i := range 100 {
		r.add(fmt.Sprint(i))
	}
	if len(r.ids) != 3 {
		t.Fatalf("%d ids kept, want 3", len(r.ids))
	}
	r.remove("99")
	if r.has("99") || !r.has("98") {
		t.Fatal("remove forgot the wrong id")
	}
}
