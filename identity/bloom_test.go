package identity

import (
	"fmt"
	"testing"
)

func TestPersonFilter_NoFalseNegativesFewFalsePositives(t *testing.T) {
	f := newPersonFilter(100_000)
	for i := range 100_000 {
		f.add(fmt.Sprintf("p_%d", i))
	}
	for i := range 100_000 {
		if !f.mayContain(fmt.Sprintf("p_%d", i)) {
			t.Fatalf("p_%d was added but is reported absent", i)
		}
	}
	fp := 0
	for i := range 100_000 {
		if f.mayContain(fmt.Sprintf("q_%d", i)) {
			fp++
		}
	}
	// 10+ bits an id and 7 probes: about 1 %; allow 2 %.
	if rate := float64(fp) / 100_000; rate > 0.02 {
		t.Fatalf("false positive rate %.4f > 2 %%", rate)
	}
}
