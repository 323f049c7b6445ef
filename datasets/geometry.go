package datasets

import (
	"fmt"
	"math"
)

// RandomCrop is torchvision's RandomCrop(size=(H, W), padding=Padding,
// fill=Fill, padding_mode="constant"): the image is padded by Padding
// pixels on every side with Fill (0 when nil), then an H×W window at a
// uniformly drawn offset (top in [0, H_in+2p−H], left in
// [0, W_in+2p−W], inclusive) is cut out. When the padded image is exactly
// H×W no offset is drawn. Fashion-MNIST uses RandomCrop(28, padding=4),
// CIFAR RandomCrop(32, padding=4) (offsets 0…8).
type RandomCrop struct {
	H, W    int
	Padding int
	Fill    []uint8
}

// Apply crops src. It returns an error if the padded image is smaller than
// H×W.
func (o RandomCrop) Apply(src Image, r *RNG, buf *Buffers) (Image, error) {
	ph, pw := src.H+2*o.Padding, src.W+2*o.Padding
	if o.H <= 0 || o.W <= 0 || ph < o.H || pw < o.W {
		return Image{}, fmt.Errorf("RandomCrop %dx%d (padding %d) does not fit a %v image", o.H, o.W, o.Padding, src)
	}
	top, left := 0, 0
	if ph != o.H || pw != o.W {
		top = r.IntRange(0, ph-o.H)
		left = r.IntRange(0, pw-o.W)
	}
	dst := buf.Image(0, o.H, o.W, src.C)
	cropPadded(dst, src, top-o.Padding, left-o.Padding, o.Fill)
	return *dst, nil
}

// cropPadded fills dst (already sized) with the window of src whose
// top-left corner is at (top, left) in src coordinates; pixels outside src
// get fill (zeros when fill is nil).
func cropPadded(dst *Image, src Image, top, left int, fill []uint8) {
	C := src.C
	for y := range dst.H {
		sy := top + y
		row := dst.Pix[y*dst.W*C : (y+1)*dst.W*C]
		if sy < 0 || sy >= src.H {
			fillPixels(row, fill, C)
			continue
		}
		x0 := max(0, -left)          // first dst column inside src
		x1 := min(dst.W, src.W-left) // end of the columns inside src
		fillPixels(row[:x0*C], fill, C)
		if x1 > x0 {
			copy(row[x0*C:x1*C], src.Pix[(sy*src.W+left+x0)*C:(sy*src.W+left+x1)*C])
			fillPixels(row[x1*C:], fill, C)
		} else {
			fillPixels(row, fill, C)
		}
	}
}

func fillPixels(p []uint8, fill []uint8, C int) {
	if len(fill) != C {
		clear(p)
		return
	}
	for i := 0; i < len(p); i += C {
		copy(p[i:i+C], fill)
	}
}

// HorizontalFlip is torchvision's RandomHorizontalFlip(p=P): with
// probability P (one uniform draw u, flip when u < P) the columns are
// mirrored, out(y, x) = in(y, W−1−x).
type HorizontalFlip struct {
	P float64
}

// Apply flips src with probability P.
func (o HorizontalFlip) Apply(src Image, r *RNG, buf *Buffers) (Image, error) {
	if !r.Bernoulli(o.P) {
		return src, nil
	}
	dst := buf.Image(0, src.H, src.W, src.C)
	flipH(dst, src)
	return *dst, nil
}

func flipH(dst *Image, src Image) {
	W, C := src.W, src.C
	for y := range src.H {
		in := src.Pix[y*W*C : (y+1)*W*C]
		out := dst.Pix[y*W*C : (y+1)*W*C]
		for x := range W {
			copy(out[x*C:x*C+C], in[(W-1-x)*C:(W-x)*C])
		}
	}
}

// CenterCrop is torchvision's CenterCrop((H, W)): the window at
// top = round((H_in − H)/2), left = round((W_in − W)/2) (Python's
// round-half-to-even); an image smaller than the crop is first padded with
// zeros, (H − H_in)/2 rows above (integer division) and the rest below,
// likewise for columns.
type CenterCrop struct {
	H, W int
}

// Apply crops src. It returns an error for a non-positive crop size.
func (o CenterCrop) Apply(src Image, _ *RNG, buf *Buffers) (Image, error) {
	if o.H <= 0 || o.W <= 0 {
		return Image{}, fmt.Errorf("CenterCrop %dx%d: size must be positive", o.H, o.W)
	}
	if o.H == src.H && o.W == src.W {
		return src, nil
	}
	top, left := centerOffset(src.H, o.H), centerOffset(src.W, o.W)
	dst := buf.Image(0, o.H, o.W, src.C)
	cropPadded(dst, src, top, left, nil)
	return *dst, nil
}

// centerOffset is torchvision's centre-crop offset along one axis (negative
// when the image must be padded first).
func centerOffset(in, out int) int {
	if in < out {
		// pad (out−in)/2 before, then crop at 0 of the padded image.
		return -((out - in) / 2)
	}
	return int(math.RoundToEven(float64(in-out) / 2))
}

// Resize is torchvision's Resize on a PIL image: with Size > 0 the shorter
// side becomes Size and the longer int(Size·long/short) (aspect kept);
// with H and W set (Size 0) the image becomes exactly H×W. Resampling is
// PIL's Image.resize with Interp, byte-exact (see resample.go).
type Resize struct {
	Size   int
	H, W   int
	Interp Interpolation
}

// Apply resizes src. It returns an error if neither Size nor H and W are
// positive.
func (o Resize) Apply(src Image, r *RNG, buf *Buffers) (Image, error) {
	h, w := o.H, o.W
	if o.Size > 0 {
		h, w = shorterSideSize(src.H, src.W, o.Size)
	}
	if h <= 0 || w <= 0 {
		return Image{}, fmt.Errorf("Resize: no target size (Size %d, H %d, W %d)", o.Size, o.H, o.W)
	}
	if h == src.H && w == src.W {
		return src, nil
	}
	dst := buf.Image(0, h, w, src.C)
	resizeRect(dst, src, 0, 0, src.H, src.W, h, w, o.Interp.pick(r), buf.Image(1, 0, 0, src.C))
	return *dst, nil
}

// RandomResizedCrop is torchvision's RandomResizedCrop((H, W), scale=Scale,
// ratio=Ratio, interpolation=Interp) and timm's
// RandomResizedCropAndInterpolation. Up to 10 attempts draw a target area
// A·U(Scale) and an aspect ratio exp(U(log Ratio)), giving
// w = round(√(area·ratio)), h = round(√(area/ratio)); the first that fits
// (0 < w ≤ W_in, 0 < h ≤ H_in) is placed at top ∈ [0, H_in−h],
// left ∈ [0, W_in−w] (uniform, inclusive). If none fits, the fallback is a
// centre crop of the whole image clamped to the ratio range: width-limited
// when W_in/H_in < Ratio[0] (h = round(W_in/Ratio[0])), height-limited when
// W_in/H_in > Ratio[1] (w = round(H_in·Ratio[1])), else the full image;
// top = (H_in−h)/2, left = (W_in−w)/2 (integer division). The crop is then
// resized to H×W with PIL's resampling.
//
// The zero Scale and Ratio mean the defaults (0.08, 1) and (3/4, 4/3).
type RandomResizedCrop struct {
	H, W   int
	Scale  [2]float64
	Ratio  [2]float64
	Interp Interpolation
}

// Params draws the crop window (top, left, height, width) for an hIn×wIn
// image, exactly as described on [RandomResizedCrop].
func (o RandomResizedCrop) Params(hIn, wIn int, r *RNG) (top, left, h, w int) {
	scale, ratio := o.Scale, o.Ratio
	if scale == [2]float64{} {
		scale = [2]float64{0.08, 1}
	}
	if ratio == [2]float64{} {
		ratio = [2]float64{3.0 / 4, 4.0 / 3}
	}
	area := float64(hIn * wIn)
	logLo, logHi := math.Log(ratio[0]), math.Log(ratio[1])
	for range 10 {
		target := area * r.Uniform(scale[0], scale[1])
		aspect := math.Exp(r.Uniform(logLo, logHi))
		w = int(math.RoundToEven(math.Sqrt(target * aspect)))
		h = int(math.RoundToEven(math.Sqrt(target / aspect)))
		if w > 0 && w <= wIn && h > 0 && h <= hIn {
			top = r.IntRange(0, hIn-h)
			left = r.IntRange(0, wIn-w)
			return top, left, h, w
		}
	}
	inRatio := float64(wIn) / float64(hIn)
	switch {
	case inRatio < min(ratio[0], ratio[1]):
		w = wIn
		h = int(math.RoundToEven(float64(w) / min(ratio[0], ratio[1])))
	case inRatio > max(ratio[0], ratio[1]):
		h = hIn
		w = int(math.RoundToEven(float64(h) * max(ratio[0], ratio[1])))
	default:
		w, h = wIn, hIn
	}
	return (hIn - h) / 2, (wIn - w) / 2, h, w
}

// Apply crops and resizes src. It returns an error for a non-positive
// output size.
func (o RandomResizedCrop) Apply(src Image, r *RNG, buf *Buffers) (Image, error) {
	if o.H <= 0 || o.W <= 0 {
		return Image{}, fmt.Errorf("RandomResizedCrop %dx%d: size must be positive", o.H, o.W)
	}
	top, left, h, w := o.Params(src.H, src.W, r)
	dst := buf.Image(0, o.H, o.W, src.C)
	resizeRect(dst, src, top, left, h, w, o.H, o.W, o.Interp.pick(r), buf.Image(1, 0, 0, src.C))
	return *dst, nil
}
