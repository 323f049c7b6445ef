package datasets

import "math"

// ErasingMode selects what RandomErasing writes into the erased box.
type ErasingMode int

const (
	// ErasePixel fills every value of the box with its own N(0, 1) draw
	// (timm mode "pixel", the ConvNeXt recipes' --remode pixel).
	ErasePixel ErasingMode = iota
	// EraseRand fills each channel of the box with one N(0, 1) draw
	// (timm mode "rand").
	EraseRand
	// EraseConst fills the box with 0, the normalised mean (timm mode
	// "const").
	EraseConst
)

// RandomErasing is timm's RandomErasing (timm/data/random_erasing.py; Zhong
// et al., "Random Erasing Data Augmentation", arXiv:1708.04896), applied to
// one normalised image. With probability P (skipped when a uniform draw
// exceeds P) it erases count boxes, count = 1 when MaxCount ≤ 1, else
// uniform in [1, MaxCount]. For each box, up to 10 attempts draw
// area = U(MinArea, MaxArea)·H·W/count and aspect = exp(U(log MinAspect,
// log MaxAspect)), giving h = round(√(area·aspect)), w = round(√(area/aspect));
// the first with h < H and w < W is placed at top ∈ [0, H−h],
// left ∈ [0, W−w] (uniform, inclusive) and filled per Mode.
//
// Zero MinArea, MaxArea, MinAspect, MaxAspect mean timm's defaults 0.02,
// 1/3, 0.3 and 1/MinAspect.
type RandomErasing struct {
	P                    float64
	MinArea, MaxArea     float64
	MinAspect, MaxAspect float64
	Mode                 ErasingMode
	MaxCount             int
}

// ApplyTensor erases boxes of the h×w×c image x in place.
func (o RandomErasing) ApplyTensor(x []float32, h, w, c int, r *RNG) {
	if r.Float64() > o.P {
		return
	}
	minArea, maxArea := o.MinArea, o.MaxArea
	if minArea == 0 && maxArea == 0 {
		minArea, maxArea = 0.02, 1.0/3
	}
	minAspect, maxAspect := o.MinAspect, o.MaxAspect
	if minAspect == 0 {
		minAspect = 0.3
	}
	if maxAspect == 0 {
		maxAspect = 1 / minAspect
	}
	logLo, logHi := math.Log(minAspect), math.Log(maxAspect)
	count := 1
	if o.MaxCount > 1 {
		count = r.IntRange(1, o.MaxCount)
	}
	area := float64(h * w)
	for range count {
		for range 10 {
			target := r.Uniform(minArea, maxArea) * area / float64(count)
			aspect := math.Exp(r.Uniform(logLo, logHi))
			eh := int(math.RoundToEven(math.Sqrt(target * aspect)))
			ew := int(math.RoundToEven(math.Sqrt(target / aspect)))
			if ew < w && eh < h {
				top := r.IntRange(0, h-eh)
				left := r.IntRange(0, w-ew)
				o.fill(x, w, c, top, left, eh, ew, r)
				break
			}
		}
	}
}

func (o RandomErasing) fill(x []float32, w, c, top, left, eh, ew int, r *RNG) {
	var perChannel [3]float32
	if o.Mode == EraseRand {
		for k := range c {
			perChannel[k] = float32(r.Normal())
		}
	}
	for y := top; y < top+eh; y++ {
		row := x[(y*w+left)*c : (y*w+left+ew)*c]
		switch o.Mode {
		case ErasePixel:
			for i := range row {
				row[i] = float32(r.Normal())
			}
		case EraseRand:
			for i := range row {
				row[i] = perChannel[i%c]
			}
		default:
			clear(row)
		}
	}
}
