package datasets

import (
	"bytes"
	"math"
	"slices"
	"testing"
)

// gradImage is an h×w×c image with a gradient plus a pattern: values span
// 30..220 (so AutoContrast changes it) and neighbours differ (so Sharpness
// does).
func gradImage(h, w, c int) Image {
	m := NewImage(h, w, c)
	for y := range h {
		for x := range w {
			for k := range c {
				m.Pix[(y*w+x)*c+k] = uint8(30 + (y*190/max(1, h-1)+x*7+k*40+(x*y)%13)%191)
			}
		}
	}
	return m
}

func TestRandAugmentOps(t *testing.T) {
	names := func(ops []AugOp) []string {
		var s []string
		for _, o := range ops {
			s = append(s, o.String())
		}
		return s
	}
	// timm _RAND_TRANSFORMS and _RAND_INCREASING_TRANSFORMS, in order.
	want := []string{"AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize", "SolarizeAdd",
		"Color", "Contrast", "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel"}
	if got := names(RandAugmentOps(false, 3)); !slices.Equal(got, want) {
		t.Errorf("RGB ops %v", got)
	}
	wantInc := []string{"AutoContrast", "Equalize", "Invert", "Rotate", "PosterizeIncreasing", "SolarizeIncreasing",
		"SolarizeAdd", "ColorIncreasing", "ContrastIncreasing", "BrightnessIncreasing", "SharpnessIncreasing",
		"ShearX", "ShearY", "TranslateXRel", "TranslateYRel"}
	if got := names(RandAugmentOps(true, 3)); !slices.Equal(got, wantInc) {
		t.Errorf("RGB increasing ops %v", got)
	}
	gray := names(RandAugmentOps(true, 1))
	if len(gray) != 14 || slices.Contains(gray, "ColorIncreasing") {
		t.Errorf("grayscale ops %v: want the 14 non-colour ops", gray)
	}
}

func TestNewRandAugment(t *testing.T) {
	ra, err := NewRandAugment("rand-m9-mstd0.5-inc1", 1, Bicubic, []uint8{73})
	if err != nil {
		t.Fatal(err)
	}
	if ra.NumOps != 2 || ra.Magnitude != 9 || ra.MagnitudeStd != 0.5 || ra.MagnitudeMax != 10 || ra.Prob != 0.5 ||
		ra.TranslatePct != 0.45 || len(ra.Ops) != 14 || ra.Ops[4] != OpPosterizeIncreasing {
		t.Errorf("parsed %+v", ra)
	}
	ra, _ = NewRandAugment("rand-m7-n3-mstd101-mmax12", 3, Bilinear, nil)
	if ra.NumOps != 3 || ra.Magnitude != 7 || !math.IsInf(ra.MagnitudeStd, 1) || ra.MagnitudeMax != 12 ||
		len(ra.Ops) != 15 || ra.Ops[4] != OpPosterize || !bytes.Equal(ra.Fill, []uint8{128, 128, 128}) {
		t.Errorf("parsed %+v", ra)
	}
	for _, bad := range []string{"auto-m9", "rand-w0", "rand-m", "rand-x3", "rand-mstd-1"} {
		if _, err := NewRandAugment(bad, 3, Bilinear, nil); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestRandAugmentMagnitudeZero applies every op at magnitude 0: the ops
// whose argument then means "no change" must return the input bytes, the
// others must not.
func TestRandAugmentMagnitudeZero(t *testing.T) {
	identity := map[AugOp]bool{
		OpRotate: true, OpShearX: true, OpShearY: true, OpTranslateXRel: true, OpTranslateYRel: true,
		OpSolarizeIncreasing: true, OpSolarizeAdd: true, OpColorIncreasing: true, OpContrastIncreasing: true,
		OpBrightnessIncreasing: true, OpSharpnessIncreasing: true,
	}
	for _, c := range []int{1, 3} {
		src := gradImage(24, 26, c) // ≥ 510 pixels, or Equalize (step = n/255 = 0) changes nothing
		for _, interp := range []Interpolation{Bilinear, Bicubic} {
			ra := &RandAugment{Interp: interp, Fill: make([]uint8, c), TranslatePct: 0.45}
			for op := AugOp(0); op < numAugOps; op++ {
				for seed := range 4 { // both signs of ±0
					var dst Image
					ra.ApplyOp(op, 0, &dst, src, SampleRNG(uint64(seed), 0, 0))
					same := bytes.Equal(dst.Pix, src.Pix)
					want := identity[op] || (c == 1 && op == OpColor)
					if same != want {
						t.Errorf("%d channels, %v: %v at magnitude 0: identity %v, want %v", c, interp, op, same, want)
					}
				}
			}
		}
	}
}

// TestRandAugmentRotateMagnitude: with no magnitude noise, Rotate at
// magnitude 9 turns by exactly ±27°.
func TestRandAugmentRotateMagnitude(t *testing.T) {
	src := gradImage(12, 12, 3)
	ra := &RandAugment{Ops: []AugOp{OpRotate}, NumOps: 1, Magnitude: 9, MagnitudeMax: 10, Prob: 1,
		Interp: Bicubic, Fill: []uint8{124, 116, 104}}
	var plus, minus Image
	rotate(&plus, src, 27, Bicubic, ra.Fill)
	rotate(&minus, src, -27, Bicubic, ra.Fill)
	seen := [2]int{}
	for i := range 50 {
		var buf Buffers
		out, err := ra.Apply(src, SampleRNG(2, 0, i), &buf)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case bytes.Equal(out.Pix, plus.Pix):
			seen[0]++
		case bytes.Equal(out.Pix, minus.Pix):
			seen[1]++
		default:
			t.Fatalf("sample %d: output is neither a +27° nor a −27° rotation", i)
		}
	}
	if seen[0] == 0 || seen[1] == 0 {
		t.Errorf("signs seen %v", seen)
	}
}

// TestRandAugmentMagnitudeNoise reads the magnitude back through
// SolarizeAdd (a black pixel becomes int(m/10·110)): m ~ N(9, 0.5²)
// clipped to 10.
func TestRandAugmentMagnitudeNoise(t *testing.T) {
	ra, err := NewRandAugment("rand-m9-mstd0.5", 1, Bilinear, nil)
	if err != nil {
		t.Fatal(err)
	}
	ra.Ops, ra.NumOps, ra.Prob = []AugOp{OpSolarizeAdd}, 1, 1
	src := NewImage(1, 1, 1)
	var sum, sq float64
	maxAdd, n := 0, 20000
	for i := range n {
		var buf Buffers
		out, _ := ra.Apply(src, SampleRNG(4, 0, i), &buf)
		add := int(out.Pix[0])
		maxAdd = max(maxAdd, add)
		sum += float64(add)
		sq += float64(add * add)
	}
	mean := sum / float64(n)
	std := math.Sqrt(sq/float64(n) - mean*mean)
	// int(11·m) with m ~ N(9, 0.25) clipped at 10: mean ≈ 98.5, std ≈ 5.4.
	t.Logf("SolarizeAdd amount: mean %.2f std %.2f max %d", mean, std, maxAdd)
	if maxAdd != 110 || mean < 97.8 || mean > 99.2 || std < 5.0 || std > 5.8 {
		t.Errorf("amount mean %.2f std %.2f max %d; want ≈98.5, ≈5.4, 110", mean, std, maxAdd)
	}
}

func TestRandAugmentDeterminism(t *testing.T) {
	ra, err := NewRandAugment("rand-m9-mstd0.5-inc1", 1, Bicubic, []uint8{73})
	if err != nil {
		t.Fatal(err)
	}
	src := gradImage(28, 28, 1)
	differ, changed := 0, 0
	for i := range 300 {
		var b1, b2, b3 Buffers
		o1, _ := ra.Apply(src, SampleRNG(11, 2, i), &b1)
		o2, _ := ra.Apply(src, SampleRNG(11, 2, i), &b2)
		if !bytes.Equal(o1.Pix, o2.Pix) {
			t.Fatalf("sample %d: same (seed, epoch, index), different output", i)
		}
		o3, _ := ra.Apply(src, SampleRNG(11, 3, i), &b3)
		if !bytes.Equal(o1.Pix, o3.Pix) {
			differ++
		}
		if !bytes.Equal(o1.Pix, src.Pix) {
			changed++
		}
	}
	// Each of the 2 ops runs with p = 0.5: 3/4 of images change.
	t.Logf("changed %d/300, epoch 2 vs 3 differ %d/300", changed, differ)
	if changed < 195 || changed > 255 || differ < 200 {
		t.Errorf("changed %d, differ %d of 300", changed, differ)
	}
	// The input is never modified.
	if !bytes.Equal(src.Pix, gradImage(28, 28, 1).Pix) {
		t.Error("RandAugment modified its input")
	}
}
