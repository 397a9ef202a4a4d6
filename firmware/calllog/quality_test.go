package calllog

import "testing"

func TestMOSFallsWithLossAndJitter(t *testing.T) {
	clean := MOS(0, 1)
	if clean < 4.3 || clean > 4.41 {
		t.Fatalf("clean G.711 call: MOS %.2f, want about 4.4", clean)
	}
	lossy := MOS(5, 1)
	if lossy >= clean || lossy > 3.9 || lossy < 3 {
		t.Fatalf("5 %% loss: MOS %.2f (clean %.2f), want 3 to 3.9", lossy, clean)
	}
	if j := MOS(0, 100); j >= clean || j < 3.5 {
		t.Fatalf("100 ms jitter: MOS %.2f", j)
	}
	if MOS(60, 200) > 1.6 {
		t.Fatalf("a broken call scores %.2f", MOS(60, 200))
	}
}
