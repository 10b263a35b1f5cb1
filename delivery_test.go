package firehook

import (
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
)

func TestDeliveryIDFor(t *testing.T) {
	at := time.Date(2026, 12, 6, 10, 0, 0, 123_456_789, time.UTC)
	id := DeliveryIDFor("evt_A", "ep_1", at)
	t.Run("the same event and endpoint give the same id", func(t *testing.T) {
		if again := DeliveryIDFor("evt_A", "ep_1", at); again != id {
			t.Fatalf("%s then %s", id, again)
		}
	})
	t.Run("another event or endpoint gives another id", func(t *testing.T) {
		for _, other := range []string{DeliveryIDFor("evt_B", "ep_1", at), DeliveryIDFor("evt_A", "ep_2", at), DeliveryIDFor("evt_Aep_1", "", at)} {
			if other == id {
				t.Fatalf("collision: %s", other)
			}
		}
	})
	t.Run("it is a delivery ULID of the event's millisecond", func(t *testing.T) {
		u, err := ulid.ParseStrict(strings.TrimPrefix(id, PrefixDelivery))
		if err != nil || !strings.HasPrefix(id, PrefixDelivery) {
			t.Fatalf("%s: %v", id, err)
		}
		if got := ulid.Time(u.Time()); !got.Equal(at.Truncate(time.Millisecond)) {
			t.Fatalf("time %v; want %v", got, at.Truncate(time.Millisecond))
		}
	})
}
