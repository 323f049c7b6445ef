package qat

import (
	"fmt"
	"math"

	"github.com/nextconv/nextconv/kernels"
)

// Float32Eps is float32's machine epsilon 2^-23 (torch.finfo(torch.float32).eps),
// the default floor of every scale (PyTorch's observers and
// _LearnableFakeQuantize).
const Float32Eps = float32(1.0 / (1 << 23))

// QScheme is an integer grid and how a range maps onto it
// (docs/QAT.md A1.3, A3.4):
//
//   - Symmetric: zero point fixed (0 on a signed grid), scale =
//     max(|min|, |max|)/((QMax − QMin)/2). TensorRT accepts only this.
//   - Affine: scale = (max − min)/(QMax − QMin), zero point = QMin −
//     round(min/scale), so the range's ends land on the grid's ends.
//
// PerChannel gives every index of axis Axis its own scale and zero point
// (weights: Axis 0, the output channel, of Linear [Out, In], Conv2D
// [COut, CIn, K, K] and DWConv [C, 1, K, K]); otherwise one pair covers the
// tensor. Eps floors the scale (0 means [Float32Eps]).
type QScheme struct {
	QMin, QMax int
	Symmetric  bool
	PerChannel bool
	Axis       int
	Eps        float32
}

// WeightInt8 returns the weight scheme TensorRT expects: int8 symmetric on
// the narrow range −127..127, per output channel (axis 0).
func WeightInt8() QScheme { return QScheme{QMin: -127, QMax: 127, Symmetric: true, PerChannel: true} }

// ActivationInt8 returns int8 symmetric per tensor on −128..127, the
// activation scheme TensorRT expects (zero point 0).
func ActivationInt8() QScheme { return QScheme{QMin: -128, QMax: 127, Symmetric: true} }

// ActivationUInt8 returns uint8 affine per tensor on 0..255 (PyTorch's
// fbgemm/qnnpack activations without reduce_range): zero points are not 0,
// so this does not export to TensorRT.
func ActivationUInt8() QScheme { return QScheme{QMin: 0, QMax: 255} }

// WeightBits returns the weight scheme at b bits: symmetric per output
// channel (axis 0) on the narrow signed range −(2^(b−1)−1)..2^(b−1)−1, so
// WeightBits(8) is [WeightInt8] and WeightBits(4) is −7..7 (the narrow range
// keeps the grid symmetric about 0, as TensorRT requires at 8 bits; LSQ's
// signed grid, Esser et al. 2020 sec. 2, has one more negative level). It
// returns an error for b outside 2..16 (b = 1 leaves only 0).
func WeightBits(b int) (QScheme, error) {
	if b < 2 || b > 16 {
		return QScheme{}, fmt.Errorf("quant scheme: %d weight bits outside 2..16", b)
	}
	m := 1<<(b-1) - 1
	return QScheme{QMin: -m, QMax: m, Symmetric: true, PerChannel: true}, nil
}

// ActivationBits returns the activation scheme at b bits: symmetric per
// tensor on the full signed range −2^(b−1)..2^(b−1)−1 with zero point 0, so
// ActivationBits(8) is [ActivationInt8] and ActivationBits(4) is −8..7. It
// returns an error for b outside 2..16.
func ActivationBits(b int) (QScheme, error) {
	if b < 2 || b > 16 {
		return QScheme{}, fmt.Errorf("quant scheme: %d activation bits outside 2..16", b)
	}
	return QScheme{QMin: -(1 << (b - 1)), QMax: 1<<(b-1) - 1, Symmetric: true}, nil
}

// Bits returns the fewest bits whose integers hold q's grid QMin..QMax
// (two's complement when QMin < 0): 8 for [WeightInt8] and [ActivationUInt8],
// 4 for WeightBits(4). Exporters store narrower integers in that many bits.
func (q QScheme) Bits() int {
	b := 1
	for {
		lo, hi := 0, 1<<b-1
		if q.QMin < 0 {
			lo, hi = -(1 << (b - 1)), 1<<(b-1)-1
		}
		if q.QMin >= lo && q.QMax <= hi {
			return b
		}
		b++
	}
}

// eps returns the scale floor.
func (q QScheme) eps() float32 {
	if q.Eps > 0 {
		return q.Eps
	}
	return Float32Eps
}

// Validate returns an error unless QMin < QMax within ±kernels.MaxQuantLevel,
// Axis ≥ 0 for a per-channel scheme, and Eps is finite and not negative.
func (q QScheme) Validate() error {
	switch {
	case q.QMin >= q.QMax || q.QMin < -kernels.MaxQuantLevel || q.QMax > kernels.MaxQuantLevel:
		return fmt.Errorf("quant scheme: grid %d..%d must have QMin < QMax within ±%d", q.QMin, q.QMax, kernels.MaxQuantLevel)
	case q.PerChannel && q.Axis < 0:
		return fmt.Errorf("quant scheme: per-channel axis %d is negative", q.Axis)
	case !(q.Eps >= 0) || math.IsInf(float64(q.Eps), 0):
		return fmt.Errorf("quant scheme: eps %v must be finite and >= 0", q.Eps)
	}
	return nil
}

// String describes q as, e.g., "int[-127,127] symmetric per-channel(axis 0)".
func (q QScheme) String() string {
	kind, gran := "affine", "per-tensor"
	if q.Symmetric {
		kind = "symmetric"
	}
	if q.PerChannel {
		gran = fmt.Sprintf("per-channel(axis %d)", q.Axis)
	}
	return fmt.Sprintf("int[%d,%d] %s %s", q.QMin, q.QMax, kind, gran)
}

// QParams returns the scale and zero point that map the observed range
// [min, max] onto q's grid. It is the one qparams function: observers,
// learned-step initialisation and export all go through it, so training and
// deployment cannot disagree (the trap of docs/QAT.md A1.3).
//
// Arithmetic is PyTorch's UniformQuantizationObserverBase._calculate_qparams
// in float32: the range is first widened to include 0 (min' = min(min, 0),
// max' = max(max, 0)); then
//
//	symmetric: scale = max(−min', max')/((QMax − QMin)/2), floored at eps;
//	           zero point 0 on a signed grid (QMin < 0), else the grid's
//	           midpoint ⌊(QMin + QMax)/2⌋ (PyTorch's rule for a custom
//	           quint8 range)
//	affine:    scale = (max' − min')/(QMax − QMin), floored at eps;
//	           zero point = clamp(QMin − round(min'/scale), QMin, QMax),
//	           round half to even
//
// An all-zero range gives scale eps. It returns an error wrapping
// kernels.ErrNaN if min or max is NaN or infinite (an unobserved or
// diverged range; PyTorch would assert or silently fall back to scale 1),
// or an error if min > max or q is invalid.
func QParams(min, max float32, q QScheme) (scale float32, zeroPoint int32, err error) {
	if err := q.Validate(); err != nil {
		return 0, 0, err
	}
	if !finite32(min) || !finite32(max) {
		return 0, 0, fmt.Errorf("qparams: range [%v, %v] is not finite: %w", min, max, kernels.ErrNaN)
	}
	if min > max {
		return 0, 0, fmt.Errorf("qparams: range [%v, %v] has min > max", min, max)
	}
	minNeg, maxPos := float32(math.Min(float64(min), 0)), float32(math.Max(float64(max), 0))
	eps := q.eps()
	if q.Symmetric {
		m := maxPos
		if -minNeg > m {
			m = -minNeg
		}
		scale = m / float32(float64(q.QMax-q.QMin)/2)
		scale = float32(math.Max(float64(scale), float64(eps)))
		if q.QMin >= 0 {
			zeroPoint = int32(floorDiv(q.QMin+q.QMax, 2))
		}
		return scale, zeroPoint, nil
	}
	scale = (maxPos - minNeg) / float32(q.QMax-q.QMin)
	scale = float32(math.Max(float64(scale), float64(eps)))
	zp := float64(q.QMin) - math.RoundToEven(float64(minNeg/scale))
	zp = math.Min(math.Max(zp, float64(q.QMin)), float64(q.QMax))
	return scale, int32(zp), nil
}

// ChannelQParams applies [QParams] to every channel's range: min and max
// have one value per channel (one for per-tensor schemes). The error names
// the first channel that fails.
func ChannelQParams(min, max []float32, q QScheme) (scale []float32, zeroPoint []int32, err error) {
	if len(min) != len(max) {
		return nil, nil, fmt.Errorf("qparams: %d minima but %d maxima: %w", len(min), len(max), kernels.ErrShape)
	}
	scale, zeroPoint = make([]float32, len(min)), make([]int32, len(min))
	for c := range min {
		if scale[c], zeroPoint[c], err = QParams(min[c], max[c], q); err != nil {
			return nil, nil, fmt.Errorf("channel %d: %w", c, err)
		}
	}
	return scale, zeroPoint, nil
}

// floorDiv returns ⌊a/b⌋ for b > 0 (Python's //).
func floorDiv(a, b int) int {
	d := a / b
	if a%b != 0 && a < 0 {
		d--
	}
	return d
}

func finite32(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }
