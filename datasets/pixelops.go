package datasets

// Pixel-value ops of RandAugment, each matching Pillow 9.x (ImageOps and
// ImageEnhance) on "L" and "RGB" images byte for byte. All work per
// channel; the histogram-based ones (autocontrast, equalize) build one
// table per channel as PIL does for RGB.

// lut3 holds one 256-entry table per channel (1 or 3 used).
type lut3 [3][256]uint8

// applyLUT maps every byte of channel c of src through lut[c] into dst.
func applyLUT(dst *Image, src Image, lut *lut3) {
	dst.resize(src.H, src.W, src.C)
	C := src.C
	s, d := src.Pix[:src.Len()], dst.Pix
	if C == 1 {
		t := &lut[0]
		for i, v := range s {
			d[i] = t[v]
		}
		return
	}
	for i := 0; i < len(s); i += C {
		for c := range C {
			d[i+c] = lut[c][s[i+c]]
		}
	}
}

// sameLUT fills lut with C copies of the table f(0..255) and returns it.
func sameLUT(lut *lut3, C int, f func(v int) uint8) *lut3 {
	for v := range 256 {
		lut[0][v] = f(v)
	}
	for c := 1; c < C; c++ {
		lut[c] = lut[0]
	}
	return lut
}

// histograms counts the values of each channel of src into h[:src.C].
func histograms(h *[3][256]int, src Image) {
	C := src.C
	p := src.Pix[:src.Len()]
	if C == 1 {
		for _, v := range p {
			h[0][v]++
		}
		return
	}
	for i := 0; i+2 < len(p); i += 3 {
		h[0][p[i]]++
		h[1][p[i+1]]++
		h[2][p[i+2]]++
	}
}

// invert is ImageOps.invert: v → 255 − v.
func invert(dst *Image, src Image) {
	var lut lut3
	applyLUT(dst, src, sameLUT(&lut, src.C, func(v int) uint8 { return uint8(255 - v) }))
}

// posterize is ImageOps.posterize(bits): keep the top bits bits of each
// value (bits = 0 gives black). bits ≥ 8 is the identity.
func posterize(dst *Image, src Image, bits int) {
	if bits >= 8 {
		dst.copyFrom(src)
		return
	}
	bits = max(bits, 0)
	mask := uint8(0xff << (8 - bits))
	var lut lut3
	applyLUT(dst, src, sameLUT(&lut, src.C, func(v int) uint8 { return uint8(v) & mask }))
}

// solarize is ImageOps.solarize(threshold): values ≥ threshold are
// inverted (threshold 256 is the identity, 0 inverts everything).
func solarize(dst *Image, src Image, threshold int) {
	var lut lut3
	applyLUT(dst, src, sameLUT(&lut, src.C, func(v int) uint8 {
		if v < threshold {
			return uint8(v)
		}
		return uint8(255 - v)
	}))
}

// solarizeAdd is timm's solarize_add(add, thresh=128): values below 128
// get add added, saturating at 255.
func solarizeAdd(dst *Image, src Image, add int) {
	var lut lut3
	applyLUT(dst, src, sameLUT(&lut, src.C, func(v int) uint8 {
		if v < 128 {
			return uint8(min(255, v+add))
		}
		return uint8(v)
	}))
}

// autocontrast is ImageOps.autocontrast(cutoff=0): per channel, stretch
// [lo, hi] (the smallest and largest values present) to [0, 255] with
// v → int(v·255/(hi−lo) − lo·255/(hi−lo)) clamped; a channel with hi ≤ lo
// is unchanged.
func autocontrast(dst *Image, src Image) {
	var hist [3][256]int
	histograms(&hist, src)
	var lut lut3
	for c, h := range hist[:src.C] {
		lo, hi := 0, 255
		for lo < 256 && h[lo] == 0 {
			lo++
		}
		for hi >= 0 && h[hi] == 0 {
			hi--
		}
		if hi <= lo {
			for v := range 256 {
				lut[c][v] = uint8(v)
			}
			continue
		}
		scale := 255.0 / float64(hi-lo)
		offset := float64(-lo) * scale
		for v := range 256 {
			ix := int(float64(v)*scale + offset)
			lut[c][v] = uint8(min(max(ix, 0), 255))
		}
	}
	applyLUT(dst, src, &lut)
}

// equalize is ImageOps.equalize: per channel, with h the histogram, step =
// (Σh − h[last non-zero]) / 255 (integer division); if fewer than two values
// are present or step is 0 the channel is unchanged, else value v maps to
// (step/2 + Σ_{u<v} h[u]) / step.
func equalize(dst *Image, src Image) {
	var hist [3][256]int
	histograms(&hist, src)
	var lut lut3
	for c, h := range hist[:src.C] {
		nonzero, total, last := 0, 0, 0
		for _, n := range h {
			if n > 0 {
				nonzero++
				total += n
				last = n
			}
		}
		step := 0
		if nonzero > 1 {
			step = (total - last) / 255
		}
		if step == 0 {
			for v := range 256 {
				lut[c][v] = uint8(v)
			}
			continue
		}
		n := step / 2
		for v := range 256 {
			lut[c][v] = uint8(min(n/step, 255))
			n += h[v]
		}
	}
	applyLUT(dst, src, &lut)
}

// blend is Image.blend(degenerate, img, alpha) as ImageEnhance uses it,
// with PIL's single-precision arithmetic (libImaging/Blend.c): out =
// deg + alpha·(img − deg), truncated, clamped to [0, 255] when alpha is
// outside [0, 1]. degenerate(i) gives the degenerate image's byte i.
func blend(dst *Image, src Image, alpha float64, degenerate func(i int) uint8) {
	dst.resize(src.H, src.W, src.C)
	a := float32(alpha)
	for i, v := range src.Pix[:src.Len()] {
		d := degenerate(i)
		dst.Pix[i] = truncByte(float32(d) + float32(a*float32(int(v)-int(d))))
	}
}

// truncByte clamps v to [0, 255] and truncates it toward zero: the
// float-to-byte conversion of the PIL blend, smoothing filter and bicubic
// affine code that those functions reproduce.
func truncByte[F float32 | float64](v F) uint8 {
	switch {
	case v <= 0:
		return 0
	case v >= 255:
		return 255
	}
	return uint8(v)
}

// brightness is ImageEnhance.Brightness(img).enhance(f): blend with black.
func brightness(dst *Image, src Image, f float64) {
	blend(dst, src, f, func(int) uint8 { return 0 })
}

// grayMean is int(mean of the "L" conversion + 0.5), the grey level
// ImageEnhance.Contrast blends towards.
func grayMean(src Image) int {
	var sum int64
	n := src.H * src.W
	if src.C == 1 {
		for _, v := range src.Pix[:n] {
			sum += int64(v)
		}
	} else {
		p := src.Pix
		for i := range n {
			sum += int64(luma(p[3*i], p[3*i+1], p[3*i+2]))
		}
	}
	return int(float64(sum)/float64(n) + 0.5)
}

// contrast is ImageEnhance.Contrast(img).enhance(f): blend with a uniform
// image at the rounded mean luma.
func contrast(dst *Image, src Image, f float64) {
	m := uint8(grayMean(src))
	blend(dst, src, f, func(int) uint8 { return m })
}

// colorEnhance is ImageEnhance.Color(img).enhance(f): blend with the image's luma
// (PIL's RGB→L→RGB). A grayscale image is returned unchanged, as in PIL.
func colorEnhance(dst *Image, src Image, f float64) {
	if src.C == 1 {
		dst.copyFrom(src)
		return
	}
	p := src.Pix
	blend(dst, src, f, func(i int) uint8 {
		px := i - i%3
		return luma(p[px], p[px+1], p[px+2])
	})
}

// smooth is ImageFilter.SMOOTH (3×3 kernel [1 1 1; 1 5 1; 1 1 1]/13) as
// ImagingFilter3x3 computes it for 8-bit images: float32 weights 1/13 and
// 5/13, the three row sums added to 0.5 in the order below, centre row,
// above, truncated and clamped; the one-pixel border is copied unchanged.
func smooth(dst *Image, src Image) {
	H, W, C := src.H, src.W, src.C
	dst.copyFrom(src)
	if H < 3 || W < 3 {
		return
	}
	k1, k5 := float32(1)/float32(13), float32(5)/float32(13)
	p := src.Pix
	at := func(y, x, c int) float32 { return float32(p[(y*W+x)*C+c]) }
	for y := 1; y < H-1; y++ {
		for x := 1; x < W-1; x++ {
			for c := range C {
				ss := float32(0.5)
				ss += at(y+1, x-1, c)*k1 + at(y+1, x, c)*k1 + at(y+1, x+1, c)*k1
				ss += at(y, x-1, c)*k1 + at(y, x, c)*k5 + at(y, x+1, c)*k1
				ss += at(y-1, x-1, c)*k1 + at(y-1, x, c)*k1 + at(y-1, x+1, c)*k1
				dst.Pix[(y*W+x)*C+c] = truncByte(ss)
			}
		}
	}
}

// sharpness is ImageEnhance.Sharpness(img).enhance(f): blend with the
// SMOOTH-filtered image (f > 1 sharpens). tmp holds the filtered image.
func sharpness(dst *Image, src Image, f float64, tmp *Image) {
	smooth(tmp, src)
	d := tmp.Pix
	blend(dst, src, f, func(i int) uint8 { return d[i] })
}
