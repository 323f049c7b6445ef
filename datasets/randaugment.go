package datasets

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// AugOp is one RandAugment operation. Names, argument ranges and the
// mapping from magnitude to argument follow timm's
// timm/data/auto_augment.py (LEVEL_TO_ARG, NAME_TO_OP); each op itself
// matches the Pillow 9.x function timm calls. "Increasing" variants grow
// stronger with the magnitude (timm's inc1 option).
type AugOp int

// The RandAugment ops. m is the magnitude clipped to [0, MagnitudeMax],
// "±" means the sign is flipped with probability ½.
const (
	OpAutoContrast         AugOp = iota // ImageOps.autocontrast; no argument
	OpEqualize                          // ImageOps.equalize; no argument
	OpInvert                            // ImageOps.invert; no argument
	OpRotate                            // rotate ±(m/10)·30 degrees about the centre
	OpPosterize                         // keep int((m/10)·4) bits
	OpPosterizeIncreasing               // keep 4 − int((m/10)·4) bits
	OpSolarize                          // invert values ≥ int((m/10)·256)
	OpSolarizeIncreasing                // invert values ≥ 256 − int((m/10)·256)
	OpSolarizeAdd                       // add int((m/10)·110) to values < 128
	OpColor                             // saturation factor (m/10)·1.8 + 0.1
	OpColorIncreasing                   // saturation factor max(0.1, 1 ± (m/10)·0.9)
	OpContrast                          // contrast factor (m/10)·1.8 + 0.1
	OpContrastIncreasing                // contrast factor max(0.1, 1 ± (m/10)·0.9)
	OpBrightness                        // brightness factor (m/10)·1.8 + 0.1
	OpBrightnessIncreasing              // brightness factor max(0.1, 1 ± (m/10)·0.9)
	OpSharpness                         // sharpness factor (m/10)·1.8 + 0.1
	OpSharpnessIncreasing               // sharpness factor max(0.1, 1 ± (m/10)·0.9)
	OpShearX                            // x shear ±(m/10)·0.3 (u = x + f·y)
	OpShearY                            // y shear ±(m/10)·0.3 (v = y + f·x)
	OpTranslateXRel                     // shift by ±(m/10)·TranslatePct of the width
	OpTranslateYRel                     // shift by ±(m/10)·TranslatePct of the height
	numAugOps
)

var augOpNames = [numAugOps]string{
	"AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "PosterizeIncreasing",
	"Solarize", "SolarizeIncreasing", "SolarizeAdd", "Color", "ColorIncreasing",
	"Contrast", "ContrastIncreasing", "Brightness", "BrightnessIncreasing",
	"Sharpness", "SharpnessIncreasing", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel",
}

// String returns timm's name of the op ("ShearX", "SolarizeIncreasing" …).
func (o AugOp) String() string {
	if o >= 0 && o < numAugOps {
		return augOpNames[o]
	}
	return fmt.Sprintf("AugOp(%d)", int(o))
}

// colorOp reports whether o changes the balance between channels, which a
// grayscale image does not have (PIL's Color enhance is the identity on
// "L" images).
func (o AugOp) colorOp() bool { return o == OpColor || o == OpColorIncreasing }

// RandAugmentOps returns timm's RandAugment op list: _RAND_TRANSFORMS (15
// ops), or _RAND_INCREASING_TRANSFORMS when increasing is true (the
// Posterize, Solarize, Color, Contrast, Brightness and Sharpness entries
// replaced by their Increasing variants). For channels == 1 the colour op
// (Color or ColorIncreasing) is left out, giving 14 ops: on a grayscale
// image it is the identity, so keeping it would only waste a draw. Every
// other op acts on grayscale images as PIL applies it to mode "L".
func RandAugmentOps(increasing bool, channels int) []AugOp {
	ops := []AugOp{OpAutoContrast, OpEqualize, OpInvert, OpRotate, OpPosterize, OpSolarize,
		OpSolarizeAdd, OpColor, OpContrast, OpBrightness, OpSharpness, OpShearX, OpShearY,
		OpTranslateXRel, OpTranslateYRel}
	if increasing {
		for i, o := range ops {
			switch o {
			case OpPosterize, OpSolarize, OpColor, OpContrast, OpBrightness, OpSharpness:
				ops[i] = o + 1
			}
		}
	}
	if channels == 1 {
		kept := ops[:0]
		for _, o := range ops {
			if !o.colorOp() {
				kept = append(kept, o)
			}
		}
		ops = kept
	}
	return ops
}

// RandAugment is timm's RandAugment (Cubuk et al., "RandAugment: Practical
// automated data augmentation with a reduced search space", 2019, as
// implemented in timm/data/auto_augment.py): per image, NumOps ops are
// drawn uniformly with replacement from Ops, then each is applied with
// probability Prob at a magnitude drawn per op application.
//
// The per-op magnitude is Magnitude + MagnitudeStd·N(0,1) (timm's mstd;
// MagnitudeStd = +Inf draws uniformly from [0, Magnitude]), clipped to
// [0, MagnitudeMax]. Geometric ops (rotate, shear, translate) resample with
// Interp and fill uncovered pixels with Fill (timm: the dataset mean,
// round(255·mean) per channel).
//
// Random draws per image, in order: NumOps op indices; then per chosen op,
// the Prob test, the magnitude noise (if any), the sign (for signed
// arguments) and the interpolation (if RandomInterpolation).
type RandAugment struct {
	Ops          []AugOp
	NumOps       int
	Magnitude    float64
	MagnitudeStd float64
	MagnitudeMax float64
	Prob         float64
	TranslatePct float64
	Interp       Interpolation
	Fill         []uint8
}

var raSection = regexp.MustCompile(`^([a-z]+)(\d.*)$`)

// NewRandAugment builds RandAugment from a timm config string such as
// "rand-m9-mstd0.5-inc1" (ConvNeXt V2 fine-tuning, docs/CONVNEXTV2.md §3.1) or
// "rand-m9-mstd0.5", for images with the given channel count (1 drops the
// colour op, see [RandAugmentOps]). Sections after "rand": m (magnitude,
// default 10), n (ops per image, default 2), mstd (magnitude std; > 100
// means uniform sampling), mmax (magnitude upper bound, default 10), inc
// (non-zero selects the Increasing ops; note timm treats any value, even
// "inc0", as true). timm's op-weight option w is not supported. Prob is
// 0.5 and TranslatePct 0.45 (timm's defaults); Interp and Fill are taken
// from the arguments (fill nil means timm's default grey 128).
func NewRandAugment(config string, channels int, interp Interpolation, fill []uint8) (*RandAugment, error) {
	parts := strings.Split(config, "-")
	if parts[0] != "rand" {
		return nil, fmt.Errorf("datasets: RandAugment config %q must start with \"rand\"", config)
	}
	ra := &RandAugment{NumOps: 2, Magnitude: 10, MagnitudeMax: 10, Prob: 0.5, TranslatePct: 0.45, Interp: interp}
	inc := false
	for _, p := range parts[1:] {
		m := raSection.FindStringSubmatch(p)
		if m == nil {
			return nil, fmt.Errorf("datasets: RandAugment config %q: bad section %q", config, p)
		}
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			return nil, fmt.Errorf("datasets: RandAugment config %q: section %q: %v", config, p, err)
		}
		switch m[1] {
		case "m":
			ra.Magnitude = v
		case "n":
			ra.NumOps = int(v)
		case "mstd":
			if v > 100 {
				v = math.Inf(1)
			}
			ra.MagnitudeStd = v
		case "mmax":
			ra.MagnitudeMax = v
		case "inc":
			inc = v != 0
		default:
			return nil, fmt.Errorf("datasets: RandAugment config %q: unsupported section %q", config, p)
		}
	}
	if channels != 1 && channels != 3 {
		return nil, fmt.Errorf("datasets: RandAugment: %d channels, want 1 or 3", channels)
	}
	if ra.NumOps < 0 || ra.Magnitude < 0 || ra.MagnitudeStd < 0 {
		return nil, fmt.Errorf("datasets: RandAugment config %q: negative n, m or mstd", config)
	}
	ra.Ops = RandAugmentOps(inc, channels)
	ra.Fill = fill
	if ra.Fill == nil {
		ra.Fill = []uint8{128, 128, 128}[:channels]
	}
	return ra, nil
}

// Apply augments src (see [RandAugment]). It returns an error if Fill's
// length differs from src's channel count.
func (ra *RandAugment) Apply(src Image, r *RNG, buf *Buffers) (Image, error) {
	if len(ra.Fill) != src.C {
		return Image{}, fmt.Errorf("RandAugment fill has %d values for %d channels", len(ra.Fill), src.C)
	}
	if len(ra.Ops) == 0 || ra.NumOps <= 0 {
		return src, nil
	}
	var small [8]AugOp
	chosen := small[:0]
	if ra.NumOps > len(small) {
		chosen = make([]AugOp, 0, ra.NumOps)
	}
	for range ra.NumOps {
		chosen = append(chosen, ra.Ops[r.IntN(len(ra.Ops))])
	}
	img := src
	for _, op := range chosen {
		if ra.Prob < 1 && r.Float64() > ra.Prob {
			continue
		}
		m := ra.Magnitude
		if ra.MagnitudeStd > 0 {
			if math.IsInf(ra.MagnitudeStd, 1) {
				m = r.Uniform(0, m)
			} else {
				m += ra.MagnitudeStd * r.Normal()
			}
		}
		upper := ra.MagnitudeMax
		if upper <= 0 {
			upper = 10
		}
		m = max(0, min(m, upper))
		dst := buf.free(img)
		ra.applyOp(op, m, dst, img, r, buf)
		img = *dst
	}
	return img, nil
}

// signed returns v, negated with probability ½ (timm's _randomly_negate:
// negate when random() > 0.5).
func signed(v float64, r *RNG) float64 {
	if r.Float64() > 0.5 {
		return -v
	}
	return v
}

// ApplyOp applies op at magnitude m (on timm's 0–10 scale, not clipped
// here) to src, writing into dst (which must not share storage with src).
// r supplies the sign of signed arguments and, for RandomInterpolation,
// the filter. It exists so that single ops can be tested and reused.
func (ra *RandAugment) ApplyOp(op AugOp, m float64, dst *Image, src Image, r *RNG) {
	var b Buffers
	ra.applyOp(op, m, dst, src, r, &b)
}

func (ra *RandAugment) applyOp(op AugOp, m float64, dst *Image, src Image, r *RNG, buf *Buffers) {
	level := m / 10
	enhance := func() float64 { return level*1.8 + 0.1 }
	enhanceInc := func() float64 { return max(0.1, 1+signed(level*0.9, r)) }
	switch op {
	case OpAutoContrast:
		autocontrast(dst, src)
	case OpEqualize:
		equalize(dst, src)
	case OpInvert:
		invert(dst, src)
	case OpRotate:
		deg := signed(level*30, r)
		rotate(dst, src, deg, ra.Interp.pick(r), ra.Fill)
	case OpPosterize:
		posterize(dst, src, int(level*4))
	case OpPosterizeIncreasing:
		posterize(dst, src, 4-int(level*4))
	case OpSolarize:
		solarize(dst, src, int(level*256))
	case OpSolarizeIncreasing:
		solarize(dst, src, 256-int(level*256))
	case OpSolarizeAdd:
		solarizeAdd(dst, src, int(level*110))
	case OpColor:
		colorEnhance(dst, src, enhance())
	case OpColorIncreasing:
		colorEnhance(dst, src, enhanceInc())
	case OpContrast:
		contrast(dst, src, enhance())
	case OpContrastIncreasing:
		contrast(dst, src, enhanceInc())
	case OpBrightness:
		brightness(dst, src, enhance())
	case OpBrightnessIncreasing:
		brightness(dst, src, enhanceInc())
	case OpSharpness:
		sharpness(dst, src, enhance(), buf.free(src, buf.slot(dst)))
	case OpSharpnessIncreasing:
		sharpness(dst, src, enhanceInc(), buf.free(src, buf.slot(dst)))
	case OpShearX:
		f := signed(level*0.3, r)
		affine(dst, src, [6]float64{1, f, 0, 0, 1, 0}, ra.Interp.pick(r), ra.Fill)
	case OpShearY:
		f := signed(level*0.3, r)
		affine(dst, src, [6]float64{1, 0, 0, f, 1, 0}, ra.Interp.pick(r), ra.Fill)
	case OpTranslateXRel:
		px := signed(level*ra.TranslatePct, r) * float64(src.W)
		affine(dst, src, [6]float64{1, 0, px, 0, 1, 0}, ra.Interp.pick(r), ra.Fill)
	case OpTranslateYRel:
		px := signed(level*ra.TranslatePct, r) * float64(src.H)
		affine(dst, src, [6]float64{1, 0, 0, 0, 1, px}, ra.Interp.pick(r), ra.Fill)
	default:
		dst.copyFrom(src)
	}
}
