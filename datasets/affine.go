package datasets

import (
	"math"
	"strconv"
)

// affine warps src into dst (same size) like PIL's Image.transform(size,
// AFFINE, a, resample, fillcolor) (Pillow 9.x, libImaging/Geometry.c,
// ImagingGenericTransform): output pixel (x, y) samples the input at
//
//	u = a[0]·(x+½) + a[1]·(y+½) + a[2],  v = a[3]·(x+½) + a[4]·(y+½) + a[5]
//
// (pixel-centre coordinates). Samples with u ∉ [0, W) or v ∉ [0, H) get the
// fill colour. Bilinear interpolates the 2×2 neighbours of (u−½, v−½),
// clamping indices to the image, and truncates to 8 bits; Bicubic uses
// PIL's 4×4 cubic convolution with a = −1 in that code path, clamped to
// [0, 255] and truncated.
func affine(dst *Image, src Image, a [6]float64, interp Interpolation, fill []uint8) {
	H, W, C := src.H, src.W, src.C
	dst.resize(H, W, C)
	fw, fh := float64(W), float64(H)
	for y := range H {
		for x := range W {
			xo, yo := float64(x)+0.5, float64(y)+0.5
			u := a[0]*xo + a[1]*yo + a[2]
			v := a[3]*xo + a[4]*yo + a[5]
			out := dst.Pix[(y*W+x)*C : (y*W+x)*C+C]
			if u < 0 || u >= fw || v < 0 || v >= fh {
				copy(out, fill)
				continue
			}
			if interp == Bicubic {
				bicubicSample(out, src, u, v)
			} else {
				bilinearSample(out, src, u, v)
			}
		}
	}
}

func clampIndex(i, n int) int {
	if i < 0 {
		return 0
	}
	if i >= n {
		return n - 1
	}
	return i
}

func bilinearSample(out []uint8, src Image, u, v float64) {
	u -= 0.5
	v -= 0.5
	fx, fy := math.Floor(u), math.Floor(v)
	dx, dy := u-fx, v-fy
	x, y := int(fx), int(fy)
	W, C := src.W, src.C
	x0, x1 := clampIndex(x, W)*C, clampIndex(x+1, W)*C
	row0 := src.Pix[clampIndex(y, src.H)*W*C:]
	row1 := row0
	hasRow1 := y+1 >= 0 && y+1 < src.H
	if hasRow1 {
		row1 = src.Pix[(y+1)*W*C:]
	}
	for c := range C {
		a, b := float64(row0[x0+c]), float64(row0[x1+c])
		v1 := a + (b-a)*dx
		v2 := v1
		if hasRow1 {
			a, b = float64(row1[x0+c]), float64(row1[x1+c])
			v2 = a + (b-a)*dx
		}
		out[c] = uint8(v1 + (v2-v1)*dy)
	}
}

// cubicA1 is the cubic convolution PIL's affine BICUBIC uses (a = −1),
// written in its Horner form through the four samples.
func cubicA1(v1, v2, v3, v4, d float64) float64 {
	p1 := v2
	p2 := -v1 + v3
	p3 := 2*(v1-v2) + v3 - v4
	p4 := -v1 + v2 - v3 + v4
	return p1 + d*(p2+d*(p3+d*p4))
}

func bicubicSample(out []uint8, src Image, u, v float64) {
	u -= 0.5
	v -= 0.5
	fx, fy := math.Floor(u), math.Floor(v)
	dx, dy := u-fx, v-fy
	x, y := int(fx)-1, int(fy)-1
	W, H, C := src.W, src.H, src.C
	if x >= 0 && y >= 0 && x+3 < W && y+3 < H {
		// Interior: no clamping; same arithmetic as below.
		stride := W * C
		base := y*stride + x*C
		for c := range C {
			p := src.Pix[base+c : base+c+3*stride+3*C+1]
			v0 := cubicA1(float64(p[0]), float64(p[C]), float64(p[2*C]), float64(p[3*C]), dx)
			p = p[stride:]
			v1 := cubicA1(float64(p[0]), float64(p[C]), float64(p[2*C]), float64(p[3*C]), dx)
			p = p[stride:]
			v2 := cubicA1(float64(p[0]), float64(p[C]), float64(p[2*C]), float64(p[3*C]), dx)
			p = p[stride:]
			v3 := cubicA1(float64(p[0]), float64(p[C]), float64(p[2*C]), float64(p[3*C]), dx)
			out[c] = truncByte(cubicA1(v0, v1, v2, v3, dy))
		}
		return
	}
	var xs [4]int
	for i := range xs {
		xs[i] = clampIndex(x+i, W) * C
	}
	var rows [4][]uint8
	var ok [4]bool
	rows[0], ok[0] = src.Pix[clampIndex(y, H)*W*C:], true
	for i := 1; i < 4; i++ {
		if y+i >= 0 && y+i < H {
			rows[i], ok[i] = src.Pix[(y+i)*W*C:], true
		}
	}
	for c := range C {
		var vs [4]float64
		for i := range 4 {
			if !ok[i] {
				vs[i] = vs[i-1]
				continue
			}
			r := rows[i]
			vs[i] = cubicA1(float64(r[xs[0]+c]), float64(r[xs[1]+c]), float64(r[xs[2]+c]), float64(r[xs[3]+c]), dx)
		}
		out[c] = truncByte(cubicA1(vs[0], vs[1], vs[2], vs[3], dy))
	}
}

// pyRound15 is Python's round(x, 15): x rounded to 15 decimals, correctly
// (through the shortest decimal string, as CPython does).
func pyRound15(x float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'f', 15, 64), 64)
	return v
}

// rotateMatrix returns the inverse affine map of PIL's Image.rotate(deg)
// about the image centre (w/2, h/2), counter-clockwise for positive deg,
// with PIL's rounding of the trigonometric terms to 15 decimals.
func rotateMatrix(deg float64, w, h int) [6]float64 {
	angle := -deg * (math.Pi / 180)
	cx, cy := float64(w)/2, float64(h)/2
	a := [6]float64{pyRound15(math.Cos(angle)), pyRound15(math.Sin(angle)), 0,
		pyRound15(-math.Sin(angle)), pyRound15(math.Cos(angle)), 0}
	a[2] = a[0]*(-cx) + a[1]*(-cy) + a[2]
	a[5] = a[3]*(-cx) + a[4]*(-cy) + a[5]
	a[2] += cx
	a[5] += cy
	return a
}

// rotate is PIL's Image.rotate(deg, resample, fillcolor=fill) without
// expand: angles that are multiples of 90° (180°, or 90°/270° on a square
// image) are exact transposes, others an [affine] warp.
func rotate(dst *Image, src Image, deg float64, interp Interpolation, fill []uint8) {
	deg = math.Mod(deg, 360)
	if deg < 0 {
		deg += 360
	}
	H, W, C := src.H, src.W, src.C
	switch {
	case deg == 0:
		dst.copyFrom(src)
		return
	case deg == 180 || ((deg == 90 || deg == 270) && H == W):
		dst.resize(H, W, C)
		for y := range H {
			for x := range W {
				var sy, sx int
				switch deg {
				case 180:
					sy, sx = H-1-y, W-1-x
				case 90: // counter-clockwise: out(y, x) = in(x, W−1−y)
					sy, sx = x, W-1-y
				default: // 270
					sy, sx = H-1-x, y
				}
				copy(dst.Pix[(y*W+x)*C:(y*W+x)*C+C], src.Pix[(sy*W+sx)*C:(sy*W+sx)*C+C])
			}
		}
		return
	}
	affine(dst, src, rotateMatrix(deg, W, H), interp, fill)
}
