package trainer

import (
	"math"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
)

// TestMixupApply checks timm's mixup_target and batch mixing on a fixed λ:
// targets λ·y_i + (1−λ)·y_{n−1−i} with smoothing ε, images mixed with the
// reversed batch.
func TestMixupApply(t *testing.T) {
	const n, h, w, c, k = 3, 2, 2, 1, 4
	x := make([]float32, n*h*w*c)
	for i := range x {
		x[i] = float32(i / (h * w * c)) // image i is filled with i
	}
	labels := []int{0, 1, 3}
	mix := Mix{Lam: 0.7}
	tgt, err := mix.Apply(x, n, h, w, c, labels, k, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	off, on := 0.1/4, 0.9+0.1/4
	want := []float64{
		// sample 0 (label 0) mixed with sample 2 (label 3)
		0.7*on + 0.3*off, off, off, 0.7*off + 0.3*on,
		// sample 1 mixed with itself
		off, on, off, off,
		// sample 2 (label 3) with sample 0 (label 0)
		0.7*off + 0.3*on, off, off, 0.7*on + 0.3*off,
	}
	testutil.AllClose(t, "targets", tgt, want, 1e-6, 1e-7)
	wantX := []float64{0.7*0 + 0.3*2, 1, 0.7*2 + 0.3*0}
	for i := range n {
		for j := range h * w * c {
			if got := x[i*h*w*c+j]; math.Abs(float64(got)-wantX[i]) > 1e-6 {
				t.Fatalf("image %d pixel %d = %v, want %v", i, j, got, wantX[i])
			}
		}
	}
}

// TestCutmix checks rand_bbox's geometry and the area-corrected λ for a fixed
// centre, and that boxes are swapped between paired samples.
func TestCutmix(t *testing.T) {
	// h = w = 10, λ = 0.64: sides int(10·0.6) = 6, centre (2, 7) → rows
	// [−1→0, 5), columns [4, 10): area 5·6 = 30, λ' = 1 − 30/100 = 0.7.
	box := cutmixBox(10, 10, 0.64, 2, 7)
	if box != [4]int{0, 5, 4, 10} {
		t.Fatalf("box %v, want [0 5 4 10]", box)
	}
	const n, h, w, c, k = 2, 10, 10, 2, 3
	x := make([]float32, n*h*w*c)
	for i := range x {
		x[i] = float32(i / (h * w * c))
	}
	mix := Mix{Cutmix: true, Box: box, Lam: 0.7}
	tgt, err := mix.Apply(x, n, h, w, c, []int{0, 2}, k, 0)
	if err != nil {
		t.Fatal(err)
	}
	testutil.AllClose(t, "targets", tgt, []float64{0.7, 0, 0.3, 0.3, 0, 0.7}, 1e-6, 1e-7)
	for r := range h {
		for col := range w {
			in := r >= 0 && r < 5 && col >= 4
			for s := range n {
				want := float32(s)
				if in {
					want = float32(1 - s)
				}
				if got := x[((s*h+r)*w+col)*c]; got != want {
					t.Fatalf("sample %d pixel (%d,%d) = %v, want %v", s, r, col, got, want)
				}
			}
		}
	}
}

// TestMixupDraw checks the draw's statistics: with both alphas on, about
// SwitchProb of the batches use CutMix, λ is Beta(α, α) distributed (mean
// 1/2), and a cutmix λ equals the box's uncovered fraction. It also checks
// that the generator's state reproduces draws (for resume).
func TestMixupDraw(t *testing.T) {
	m, err := NewMixup(MixupConfig{MixupAlpha: 0.8, CutmixAlpha: 1, Prob: 1, SwitchProb: 0.5}, 7)
	if err != nil {
		t.Fatal(err)
	}
	cut, sum := 0, 0.0
	const trials = 4000
	for range trials {
		d := m.Draw(28, 28)
		if d.Cutmix {
			cut++
			area := (d.Box[1] - d.Box[0]) * (d.Box[3] - d.Box[2])
			if math.Abs(d.Lam-(1-float64(area)/784)) > 1e-12 {
				t.Fatalf("cutmix λ %v does not match box %v", d.Lam, d.Box)
			}
		} else {
			sum += d.Lam
		}
	}
	if f := float64(cut) / trials; math.Abs(f-0.5) > 0.04 {
		t.Errorf("cutmix fraction %.3f, want 0.5", f)
	}
	if mean := sum / float64(trials-cut); math.Abs(mean-0.5) > 0.03 {
		t.Errorf("mixup λ mean %.3f, want 0.5", mean)
	}
	state, _ := m.RNG.MarshalBinary()
	a := m.Draw(28, 28)
	m2, _ := NewMixup(m.Config, 99)
	if err := m2.RNG.UnmarshalBinary(state); err != nil {
		t.Fatal(err)
	}
	if b := m2.Draw(28, 28); a != b {
		t.Errorf("restored generator drew %+v, want %+v", b, a)
	}
	off, _ := NewMixup(MixupConfig{Prob: 1}, 1)
	if d := off.Draw(28, 28); d.Lam != 1 || d.Cutmix {
		t.Errorf("disabled mixup drew %+v", d)
	}
}

// TestMixupBadLabel checks that a label outside [0, k) is an error naming it
// whichever sample of a pair carries it (the partner's label used to index
// out of range).
func TestMixupBadLabel(t *testing.T) {
	for _, labels := range [][]int{{0, 1, 4}, {4, 1, 0}, {0, -1, 2}} {
		x := make([]float32, 3)
		_, err := Mix{Lam: 0.7}.Apply(x, 3, 1, 1, 1, labels, 4, 0)
		if err == nil || !strings.Contains(err.Error(), "outside [0, 4)") {
			t.Errorf("labels %v: %v", labels, err)
		}
	}
}
