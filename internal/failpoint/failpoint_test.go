package failpoint

import "testing"

func TestArm(t *testing.T) {
	t.Cleanup(func() { Arm("") })
	t.Run("an armed point counts its passes and others do not", func(t *testing.T) {
		Arm("a.point:3")
		Hit("a.point")
		Hit("other")
		Hit("a.point")
		if Hits() != 2 {
			t.Fatalf("Hits = %d; want 2", Hits())
		}
	})
	t.Run("malformed specs disarm", func(t *testing.T) {
		for _, spec := range []string{"", ":3", "x:0", "x:-1", "x:y"} {
			Arm(spec)
			if armed.Load() != nil {
				t.Errorf("Arm(%q) armed a point", spec)
			}
		}
		Arm("x")
		if p := armed.Load(); p == nil || p.n != 1 {
			t.Errorf(`Arm("x") = %+v; want x at its first pass`, p)
		}
	})
}
