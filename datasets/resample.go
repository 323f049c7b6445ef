package datasets

import (
	"fmt"
	"math"
)

// Interpolation selects the resampling filter of resizes and affine warps.
type Interpolation int

const (
	// Bilinear is PIL's BILINEAR (triangle filter; torchvision's default
	// for Resize and RandomResizedCrop).
	Bilinear Interpolation = iota
	// Bicubic is PIL's BICUBIC (the ConvNeXt recipes' train and eval
	// interpolation).
	Bicubic
	// RandomInterpolation picks Bilinear or Bicubic with equal probability
	// at each use: timm's "random" (RandAugment's default when no
	// interpolation is configured).
	RandomInterpolation
)

// String returns "bilinear", "bicubic" or "random".
func (i Interpolation) String() string {
	switch i {
	case Bilinear:
		return "bilinear"
	case Bicubic:
		return "bicubic"
	case RandomInterpolation:
		return "random"
	}
	return fmt.Sprintf("Interpolation(%d)", int(i))
}

// pick resolves RandomInterpolation with one draw from r.
func (i Interpolation) pick(r *RNG) Interpolation {
	if i == RandomInterpolation {
		return Interpolation(r.IntN(2))
	}
	return i
}

// PIL resampling (Pillow 9.x, libImaging/Resample.c) in the same
// fixed-point arithmetic, so results match PIL's Image.resize byte for
// byte:
//
//   - per output pixel, the filter is centred at in0 + (x+0.5)·scale with
//     scale = inSize/outSize and stretched by max(scale, 1) (antialiasing
//     when shrinking);
//   - weights are normalised to sum 1, then scaled to 22-bit integers with
//     round-half-away-from-zero;
//   - a horizontal pass (rows the vertical pass needs only) writes 8-bit
//     intermediates, then a vertical pass; each output is
//     clamp((Σ w·v + 2²¹) >> 22, 0, 255).
const pilPrecisionBits = 32 - 8 - 2

// pilFilter returns PIL's filter function and support for interp.
func pilFilter(interp Interpolation) (func(float64) float64, float64) {
	if interp == Bicubic {
		// Keys cubic convolution with a = −0.5.
		return func(x float64) float64 {
			const a = -0.5
			x = math.Abs(x)
			if x < 1 {
				return ((a+2)*x-(a+3))*x*x + 1
			}
			if x < 2 {
				return (((x-5)*x+8)*x - 4) * a
			}
			return 0
		}, 2
	}
	return func(x float64) float64 {
		x = math.Abs(x)
		if x < 1 {
			return 1 - x
		}
		return 0
	}, 1
}

// pilCoeffs holds the fixed-point weights of one resampling axis: output
// position i reads inputs bounds[2i] … bounds[2i]+bounds[2i+1]−1 with weights
// k[i*ksize:].
type pilCoeffs struct {
	ksize  int
	bounds []int
	k      []int32
}

func newPILCoeffs(inSize, outSize int, interp Interpolation) pilCoeffs {
	filter, support := pilFilter(interp)
	scale := float64(inSize) / float64(outSize)
	filterscale := max(scale, 1)
	support *= filterscale
	ksize := int(math.Ceil(support))*2 + 1
	c := pilCoeffs{ksize: ksize, bounds: make([]int, 2*outSize), k: make([]int32, outSize*ksize)}
	w := make([]float64, ksize)
	for xx := range outSize {
		center := (float64(xx) + 0.5) * scale
		ss := 1 / filterscale
		xmin := max(int(center-support+0.5), 0)
		xmax := min(int(center+support+0.5), inSize) - xmin
		ww := 0.0
		for x := range xmax {
			w[x] = filter((float64(x+xmin) - center + 0.5) * ss)
			ww += w[x]
		}
		k := c.k[xx*ksize : (xx+1)*ksize]
		for x := range xmax {
			v := w[x]
			if ww != 0 {
				v /= ww
			}
			if v < 0 {
				k[x] = int32(-0.5 + v*(1<<pilPrecisionBits))
			} else {
				k[x] = int32(0.5 + v*(1<<pilPrecisionBits))
			}
		}
		c.bounds[2*xx], c.bounds[2*xx+1] = xmin, xmax
	}
	return c
}

func pilClip8(v int64) uint8 {
	v >>= pilPrecisionBits
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// resizeRect resizes the ch×cw rectangle of src at (top, left) — treated as
// a whole image, as after PIL's crop — to outH×outW into dst, like PIL's
// Image.resize((outW, outH), interp). tmp holds the intermediate rows.
func resizeRect(dst *Image, src Image, top, left, ch, cw, outH, outW int, interp Interpolation, tmp *Image) {
	C := src.C
	dst.resize(outH, outW, C)
	needH := outW != cw
	needV := outH != ch
	if !needH && !needV {
		for y := range ch {
			o := ((top+y)*src.W + left) * C
			copy(dst.Pix[y*cw*C:(y+1)*cw*C], src.Pix[o:o+cw*C])
		}
		return
	}
	// Rows of the source the vertical pass reads.
	var vc pilCoeffs
	y0, y1 := 0, ch
	if needV {
		vc = newPILCoeffs(ch, outH, interp)
		y0 = vc.bounds[0]
		y1 = vc.bounds[2*outH-2] + vc.bounds[2*outH-1]
	}
	// mid is the image the vertical pass reads: rows y0..y1-1 of the
	// horizontally resampled crop (or of the crop itself).
	var mid Image
	midTop, midLeft, midRow := 0, 0, 0
	if needH {
		hc := newPILCoeffs(cw, outW, interp)
		target := dst
		if needV {
			target = tmp
		}
		target.resize(y1-y0, outW, C)
		for y := y0; y < y1; y++ {
			in := src.Pix[((top+y)*src.W+left)*C:]
			out := target.Pix[(y-y0)*outW*C:]
			for xx := range outW {
				xmin, n := hc.bounds[2*xx], hc.bounds[2*xx+1]
				k := hc.k[xx*hc.ksize:]
				for c := range C {
					ss := int64(1) << (pilPrecisionBits - 1)
					for x := range n {
						ss += int64(in[(x+xmin)*C+c]) * int64(k[x])
					}
					out[xx*C+c] = pilClip8(ss)
				}
			}
		}
		if !needV {
			return
		}
		mid, midTop, midLeft, midRow = *tmp, -y0, 0, outW
	} else {
		mid, midTop, midLeft, midRow = src, top, left, src.W
	}
	for yy := range outH {
		ymin, n := vc.bounds[2*yy], vc.bounds[2*yy+1]
		k := vc.k[yy*vc.ksize:]
		out := dst.Pix[yy*outW*C:]
		for xx := range outW {
			for c := range C {
				ss := int64(1) << (pilPrecisionBits - 1)
				for y := range n {
					ss += int64(mid.Pix[((midTop+ymin+y)*midRow+midLeft+xx)*C+c]) * int64(k[y])
				}
				out[xx*C+c] = pilClip8(ss)
			}
		}
	}
}
