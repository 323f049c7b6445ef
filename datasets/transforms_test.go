package datasets

import (
	"bytes"
	"math"
	"testing"
)

// seqImage is an h×w×c image whose bytes are 1, 2, 3, … (never 0, so a
// zero fill is recognisable).
func seqImage(h, w, c int) Image {
	m := NewImage(h, w, c)
	for i := range m.Pix {
		m.Pix[i] = uint8(1 + i%250)
	}
	return m
}

// padded returns the value of src padded by p at (y, x), channel c.
func padded(src Image, p, y, x, c int) uint8 {
	y, x = y-p, x-p
	if y < 0 || x < 0 || y >= src.H || x >= src.W {
		return 0
	}
	return src.Pix[(y*src.W+x)*src.C+c]
}

func TestRandomCropOffsets(t *testing.T) {
	src := seqImage(5, 4, 3)
	op := RandomCrop{H: 5, W: 4, Padding: 2}
	seen := map[[2]int]int{}
	var buf Buffers
	for i := range 2000 {
		r := SampleRNG(1, 0, i)
		out, err := op.Apply(src, r, &buf)
		if err != nil {
			t.Fatal(err)
		}
		// The offsets are the first two draws of the sample's stream.
		q := SampleRNG(1, 0, i)
		top, left := q.IntRange(0, 4), q.IntRange(0, 4)
		seen[[2]int{top, left}]++
		for y := range 5 {
			for x := range 4 {
				for c := range 3 {
					if got, want := out.Pix[(y*4+x)*3+c], padded(src, 2, top+y, left+x, c); got != want {
						t.Fatalf("sample %d offset (%d,%d): out(%d,%d,%d) = %d, want %d", i, top, left, y, x, c, got, want)
					}
				}
			}
		}
	}
	if len(seen) != 25 {
		t.Errorf("saw %d of the 25 offsets", len(seen))
	}
	for off, n := range seen {
		if n < 40 || n > 120 { // expected 80 each
			t.Errorf("offset %v drawn %d times of 2000, want about 80", off, n)
		}
	}
	// No padding and equal size: identity, no draw.
	r := SampleRNG(1, 0, 0)
	out, _ := RandomCrop{H: 5, W: 4}.Apply(src, r, &buf)
	if !bytes.Equal(out.Pix, src.Pix) || r.Uint64() != SampleRNG(1, 0, 0).Uint64() {
		t.Error("full-size crop without padding is not the identity or consumed randomness")
	}
	if _, err := (RandomCrop{H: 10, W: 4, Padding: 2}).Apply(src, r, &buf); err == nil {
		t.Error("crop larger than padded image: no error")
	}
}

func TestHorizontalFlip(t *testing.T) {
	src := seqImage(3, 4, 3)
	var buf Buffers
	out, _ := HorizontalFlip{P: 1}.Apply(src, SampleRNG(0, 0, 0), &buf)
	for y := range 3 {
		for x := range 4 {
			for c := range 3 {
				if out.Pix[(y*4+x)*3+c] != src.Pix[(y*4+3-x)*3+c] {
					t.Fatalf("flip (%d,%d,%d) wrong", y, x, c)
				}
			}
		}
	}
	out, _ = HorizontalFlip{P: 0}.Apply(src, SampleRNG(0, 0, 0), &buf)
	if !bytes.Equal(out.Pix, src.Pix) {
		t.Error("P=0 flipped")
	}
	flips := 0
	for i := range 4000 {
		out, _ := HorizontalFlip{P: 0.5}.Apply(src, SampleRNG(9, 1, i), &buf)
		if !bytes.Equal(out.Pix, src.Pix) {
			flips++
		}
	}
	if flips < 1850 || flips > 2150 {
		t.Errorf("P=0.5 flipped %d of 4000", flips)
	}
}

func TestCenterCrop(t *testing.T) {
	src := seqImage(10, 9, 1)
	var buf Buffers
	out, _ := CenterCrop{H: 4, W: 4}.Apply(src, nil, &buf)
	// top = round(6/2) = 3, left = round(5/2) = 2 (half to even).
	if out.Pix[0] != src.Pix[3*9+2] || out.Pix[15] != src.Pix[6*9+5] {
		t.Errorf("crop origin: got %d, want %d", out.Pix[0], src.Pix[3*9+2])
	}
	out, _ = CenterCrop{H: 4, W: 5}.Apply(seqImage(2, 2, 1), nil, &buf)
	// Padding: 1 row above, 1 below; 1 column left, 2 right.
	want := []uint8{0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 3, 4, 0, 0, 0, 0, 0, 0, 0}
	if !bytes.Equal(out.Pix, want) {
		t.Errorf("padded centre crop %v, want %v", out.Pix, want)
	}
}

func TestRandomResizedCropParams(t *testing.T) {
	o := RandomResizedCrop{H: 8, W: 8}
	for i := range 500 {
		top, left, h, w := o.Params(28, 28, SampleRNG(3, 0, i))
		area := float64(h*w) / (28 * 28)
		ratio := float64(w) / float64(h)
		if top < 0 || left < 0 || top+h > 28 || left+w > 28 || h <= 0 || w <= 0 {
			t.Fatalf("window (%d,%d,%d,%d) outside 28x28", top, left, h, w)
		}
		// Rounding w and h moves area and ratio a little off their ranges.
		if area < 0.05 || area > 1 || ratio < 0.6 || ratio > 1.7 {
			t.Errorf("window %dx%d: area %.3f ratio %.3f", h, w, area, ratio)
		}
	}
	// Impossible scale: all 10 attempts fail, centre crop fallback.
	bad := RandomResizedCrop{Scale: [2]float64{2, 3}}
	for _, c := range []struct{ hIn, wIn, top, left, h, w int }{
		{28, 28, 0, 0, 28, 28},  // ratio 1 inside (3/4, 4/3): whole image
		{10, 40, 0, 13, 10, 13}, // too wide: h = 10, w = round(10·4/3) = 13
		{40, 10, 13, 0, 13, 10}, // too tall: w = 10, h = round(10/(3/4)) = 13
	} {
		top, left, h, w := bad.Params(c.hIn, c.wIn, SampleRNG(0, 0, 0))
		if top != c.top || left != c.left || h != c.h || w != c.w {
			t.Errorf("fallback on %dx%d: (%d,%d,%d,%d), want (%d,%d,%d,%d)", c.hIn, c.wIn, top, left, h, w, c.top, c.left, c.h, c.w)
		}
	}
	var buf Buffers
	out, err := o.Apply(seqImage(28, 20, 3), SampleRNG(3, 0, 1), &buf)
	if err != nil || out.H != 8 || out.W != 8 || out.C != 3 {
		t.Errorf("output %v, %v", out, err)
	}
}

func TestNormalize(t *testing.T) {
	n, err := NewNormalize(FashionMNISTMean, FashionMNISTStd)
	if err != nil {
		t.Fatal(err)
	}
	img := Image{H: 1, W: 4, C: 1, Pix: []uint8{0, 73, 128, 255}}
	dst := make([]float32, 4)
	if err := n.Apply(dst, img); err != nil {
		t.Fatal(err)
	}
	// (v/255 − 0.2860)/0.3530: 0 → −0.810198, 255 → 2.022663.
	want := []float64{-0.8101983, 0.0007776, 0.6117869, 2.0226629}
	for i, v := range img.Pix {
		exact := (float64(v)/255 - 0.2860) / 0.3530
		if math.Abs(float64(dst[i])-exact) > 2e-7 || math.Abs(float64(dst[i])-want[i]) > 1e-6 {
			t.Errorf("normalize(%d) = %.7f, want %.7f", v, dst[i], exact)
		}
		// torchvision order of float32 operations: div, sub, div.
		if f := (float32(v)/255 - float32(0.2860)) / float32(0.3530); dst[i] != f {
			t.Errorf("normalize(%d) = %v, torch float32 order gives %v", v, dst[i], f)
		}
	}
	rgb, _ := NewNormalize(ImageNetMean, ImageNetStd)
	d3 := make([]float32, 3)
	rgb.Apply(d3, Image{H: 1, W: 1, C: 3, Pix: []uint8{255, 0, 124}})
	for c, want := range []float64{(1 - 0.485) / 0.229, -0.456 / 0.224, (124.0/255 - 0.406) / 0.225} {
		if math.Abs(float64(d3[c])-want) > 1e-6 {
			t.Errorf("RGB channel %d = %v, want %v", c, d3[c], want)
		}
	}
	if err := rgb.Apply(d3, img); err == nil {
		t.Error("3-channel normalize of a 1-channel image: no error")
	}
	if _, err := NewNormalize([]float64{0.5}, []float64{0}); err == nil {
		t.Error("std 0: no error")
	}
}

// erasedBox returns the bounding box of values of x (h×w×c) that differ
// from base, and how many differ.
func erasedBox(x []float32, h, w, c int, base float32) (top, left, bh, bw, n int) {
	minY, minX, maxY, maxX := h, w, -1, -1
	for i, v := range x {
		if v != base {
			n++
			p := i / c
			y, xx := p/w, p%w
			minY, minX, maxY, maxX = min(minY, y), min(minX, xx), max(maxY, y), max(maxX, xx)
		}
	}
	if n == 0 {
		return 0, 0, 0, 0, 0
	}
	return minY, minX, maxY - minY + 1, maxX - minX + 1, n
}

func TestRandomErasing(t *testing.T) {
	const h, w, c = 28, 28, 3
	x := make([]float32, h*w*c)
	op := RandomErasing{P: 1, Mode: ErasePixel}
	var sum, sq float64
	var count, boxes int
	areaMin, areaMax := 1.0, 0.0
	for i := range 3000 {
		for k := range x {
			x[k] = 7
		}
		op.ApplyTensor(x, h, w, c, SampleRNG(5, 0, i))
		_, _, bh, bw, n := erasedBox(x, h, w, c, 7)
		if n == 0 {
			continue // all 10 attempts failed (rare)
		}
		boxes++
		if n != bh*bw*c {
			t.Fatalf("sample %d: %d erased values do not fill their %dx%d box", i, n, bh, bw)
		}
		a := float64(bh*bw) / (h * w)
		areaMin, areaMax = min(areaMin, a), max(areaMax, a)
		for _, v := range x {
			if v != 7 {
				sum += float64(v)
				sq += float64(v) * float64(v)
				count++
			}
		}
	}
	mean := sum / float64(count)
	std := math.Sqrt(sq/float64(count) - mean*mean)
	t.Logf("pixel mode: %d boxes of 3000, area %.3f..%.3f of the image, noise mean %.4f std %.4f over %d values",
		boxes, areaMin, areaMax, mean, std, count)
	if boxes < 2900 || areaMin < 0.015 || areaMax > 0.36 || math.Abs(mean) > 0.01 || math.Abs(std-1) > 0.01 {
		t.Errorf("boxes %d area [%.3f, %.3f] noise mean %.4f std %.4f", boxes, areaMin, areaMax, mean, std)
	}

	// Probability 0.25: about a quarter of the images are touched.
	touched := 0
	for i := range 4000 {
		for k := range x {
			x[k] = 7
		}
		RandomErasing{P: 0.25}.ApplyTensor(x, h, w, c, SampleRNG(6, 0, i))
		if _, _, _, _, n := erasedBox(x, h, w, c, 7); n > 0 {
			touched++
		}
	}
	if touched < 900 || touched > 1100 {
		t.Errorf("P=0.25 erased %d of 4000 images", touched)
	}

	// Const mode writes zeros; rand mode one value per channel.
	for k := range x {
		x[k] = 7
	}
	RandomErasing{P: 1, Mode: EraseConst}.ApplyTensor(x, h, w, c, SampleRNG(1, 0, 0))
	_, _, _, _, n := erasedBox(x, h, w, c, 7)
	zeros := 0
	for _, v := range x {
		if v == 0 {
			zeros++
		}
	}
	if n == 0 || zeros != n {
		t.Errorf("const mode: %d changed, %d zeros", n, zeros)
	}
	for k := range x {
		x[k] = 7
	}
	RandomErasing{P: 1, Mode: EraseRand}.ApplyTensor(x, h, w, c, SampleRNG(1, 0, 0))
	vals := map[float32]bool{}
	for _, v := range x {
		if v != 7 {
			vals[v] = true
		}
	}
	if len(vals) != 3 {
		t.Errorf("rand mode: %d distinct fill values, want 3 (one per channel)", len(vals))
	}
}
