package cpu

import (
	"fmt"

	"github.com/nextconv/nextconv/kernels"
)

// elementCost is parallelFor's cost for one element of a streaming op
// (elements touched: two or three loads and a store).
const elementCost = 3

// Add computes y = a + b elementwise; y, a and b have the same number of
// elements (any shapes) and y may alias a or b. It returns an error wrapping
// kernels.ErrShape for a missing or mis-sized tensor, kernels.ErrDType for
// a wrong dtype.
func (b *Backend) Add(y, a, c kernels.Tensor) error {
	const op = "cpu add"
	if err := b.checkArgs(op, kernels.Arg{Name: "a", T: a, Want: a.Shape}, kernels.Arg{Name: "b", T: c, Want: a.Shape},
		kernels.Arg{Name: "y", T: y, Want: a.Shape}); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		add(b, host[float64](y), host[float64](a), host[float64](c))
	} else {
		add(b, host[float32](y), host[float32](a), host[float32](c))
	}
	b.roundBF16(y)
	return nil
}

// Scale computes y = alpha·x elementwise (in float64, rounded once); y may
// alias x. Errors as for Add.
func (b *Backend) Scale(y, x kernels.Tensor, alpha float64) error {
	const op = "cpu scale"
	if err := b.checkArgs(op, kernels.Arg{Name: "x", T: x, Want: x.Shape}, kernels.Arg{Name: "y", T: y, Want: x.Shape}); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		scale(b, host[float64](y), host[float64](x), alpha)
	} else {
		scale(b, host[float32](y), host[float32](x), alpha)
	}
	b.roundBF16(y)
	return nil
}

// ScaleSamples computes y[n, ...] = scale[n]·x[n, ...]: scale has N
// elements and x and y the same number of elements, a multiple of N (each
// sample has x.Len()/N). Drop path (timm DropPath, scale 0 or 1/keep_prob)
// uses it forward and backward. y may alias x. It returns an error wrapping
// kernels.ErrShape if x.Len() is not a multiple of scale.Len() or a tensor
// is missing or mis-sized, kernels.ErrDType for a wrong dtype.
func (b *Backend) ScaleSamples(y, x, scale kernels.Tensor) error {
	const op = "cpu scale-samples"
	if err := b.checkArgs(op, kernels.Arg{Name: "scale", T: scale, Want: scale.Shape}, kernels.Arg{Name: "x", T: x, Want: x.Shape},
		kernels.Arg{Name: "y", T: y, Want: x.Shape}); err != nil {
		return err
	}
	n := scale.Len()
	if n == 0 || x.Len()%n != 0 {
		return fmt.Errorf("%s: x %v does not split into %d samples (scale %v): %w", op, x.Shape, n, scale.Shape, kernels.ErrShape)
	}
	if b.dt == kernels.Float64 {
		scaleSamples(b, host[float64](y), host[float64](x), host[float64](scale))
	} else {
		scaleSamples(b, host[float32](y), host[float32](x), host[float32](scale))
	}
	b.roundBF16(y)
	return nil
}

// ChannelScale computes y[r, c] = gamma[c]·x[r, c] for gamma [C] and x, y
// of Rows·C elements (ConvNeXt V1's layer scale on NHWC); y may alias x. It
// returns an error wrapping kernels.ErrShape if x.Len() is not a multiple
// of gamma.Len() or a tensor is missing or mis-sized, kernels.ErrDType for a
// wrong dtype.
func (b *Backend) ChannelScale(y, x, gamma kernels.Tensor) error {
	const op = "cpu channel-scale"
	if err := b.checkChannel(op, x, gamma, kernels.Arg{Name: "y", T: y, Want: x.Shape}); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		channelScale(b, host[float64](y), host[float64](x), host[float64](gamma))
	} else {
		channelScale(b, host[float32](y), host[float32](x), host[float32](gamma))
	}
	b.roundBF16(y)
	return nil
}

// ChannelScaleBackward overwrites dx = gamma·dy and accumulates
// dgamma[c] += Σ_r dy[r, c]·x[r, c] (summed in float64 over fixed row
// blocks) for gamma, dgamma [C] and dx, dy, x of Rows·C elements. dx may
// alias dy or x. Errors as for ChannelScale.
func (b *Backend) ChannelScaleBackward(dx, dgamma, dy, x, gamma kernels.Tensor) error {
	const op = "cpu channel-scale backward"
	if err := b.checkChannel(op, x, gamma, kernels.Arg{Name: "dy", T: dy, Want: x.Shape},
		kernels.Arg{Name: "dx", T: dx, Want: x.Shape}, kernels.Arg{Name: "dgamma", T: dgamma, Want: gamma.Shape}); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		channelScaleBackward(b, host[float64](dx), host[float64](dgamma), host[float64](dy), host[float64](x), host[float64](gamma))
	} else {
		channelScaleBackward(b, host[float32](dx), host[float32](dgamma), host[float32](dy), host[float32](x), host[float32](gamma))
	}
	b.roundBF16(dx)
	return nil
}

// checkChannel checks x and gamma, that x.Len() is a multiple of gamma.Len(),
// and the further arguments.
func (b *Backend) checkChannel(op string, x, gamma kernels.Tensor, more ...kernels.Arg) error {
	if err := b.checkArgs(op, kernels.Arg{Name: "gamma", T: gamma, Want: gamma.Shape}, kernels.Arg{Name: "x", T: x, Want: x.Shape}); err != nil {
		return err
	}
	if gamma.Len() == 0 || x.Len()%gamma.Len() != 0 {
		return fmt.Errorf("%s: x %v is not rows of gamma's %d channels (gamma %v): %w", op, x.Shape, gamma.Len(), gamma.Shape, kernels.ErrShape)
	}
	return b.checkArgs(op, more...)
}

// SumSquares returns Σ x² over every element of x, accumulated in float64
// over fixed blocks (the result does not depend on the number of cores);
// gradient-norm clipping uses it. It returns an error wrapping
// kernels.ErrShape or kernels.ErrDType for a missing or foreign tensor.
func (b *Backend) SumSquares(x kernels.Tensor) (float64, error) {
	const op = "cpu sum-squares"
	if err := b.checkArgs(op, kernels.Arg{Name: "x", T: x, Want: x.Shape}); err != nil {
		return 0, err
	}
	var out [1]float64
	if b.dt == kernels.Float64 {
		sumSquares(b, host[float64](x), out[:])
	} else {
		sumSquares(b, host[float32](x), out[:])
	}
	return out[0], nil
}

// EMA updates avg = decay·avg + (1 − decay)·x elementwise (timm's ModelEma,
// ema_v·decay + (1 − decay)·model_v), computed in float64 and rounded once.
// avg and x have the same number of elements; decay must lie in [0, 1]. It
// returns an error wrapping kernels.ErrShape or kernels.ErrDType for a bad
// tensor, and an error for a decay outside [0, 1] (kernels.ErrNaN if NaN).
func (b *Backend) EMA(avg, x kernels.Tensor, decay float64) error {
	const op = "cpu ema"
	if err := kernels.CheckEMADecay(op, decay); err != nil {
		return err
	}
	if err := b.checkArgs(op, kernels.Arg{Name: "avg", T: avg, Want: avg.Shape}, kernels.Arg{Name: "x", T: x, Want: avg.Shape}); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		ema(b, host[float64](avg), host[float64](x), decay)
	} else {
		ema(b, host[float32](avg), host[float32](x), decay)
	}
	return nil
}

func add[T Float](b *Backend, y, a, c []T) {
	b.parallelFor(len(a), elementCost, func(lo, hi int) {
		ys, as, cs := y[lo:hi], a[lo:hi], c[lo:hi]
		for i, v := range as {
			ys[i] = v + cs[i]
		}
	})
}

func scale[T Float](b *Backend, y, x []T, alpha float64) {
	b.parallelFor(len(x), elementCost, func(lo, hi int) {
		ys, xs := y[lo:hi], x[lo:hi]
		for i, v := range xs {
			ys[i] = T(alpha * float64(v))
		}
	})
}

func scaleSamples[T Float](b *Backend, y, x, s []T) {
	per := len(x) / len(s)
	b.parallelFor(len(s), elementCost*per, func(lo, hi int) {
		for n := lo; n < hi; n++ {
			k := s[n]
			ys, xs := y[n*per:(n+1)*per], x[n*per:(n+1)*per]
			for i, v := range xs {
				ys[i] = k * v
			}
		}
	})
}

func channelScale[T Float](b *Backend, y, x, gamma []T) {
	C := len(gamma)
	b.parallelFor(len(x)/C, elementCost*C, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			ys, xs := y[r*C:(r+1)*C], x[r*C:(r+1)*C]
			for c, v := range xs {
				ys[c] = gamma[c] * v
			}
		}
	})
}

func channelScaleBackward[T Float](b *Backend, dx, dgamma, dy, x, gamma []T) {
	C := len(gamma)
	sums := getF64(C)
	defer putF64(sums)
	b.rowReduce(len(x)/C, 4*C, 0, *sums, func(lo, hi int, acc, _ []float64) {
		acc = acc[:C]
		for r := lo; r < hi; r++ {
			dxs, dys, xs := dx[r*C:(r+1)*C], dy[r*C:(r+1)*C], x[r*C:(r+1)*C]
			for c, d := range dys {
				acc[c] += float64(d) * float64(xs[c])
				dxs[c] = gamma[c] * d
			}
		}
	})
	addTo(dgamma, *sums)
}

// sumSquaresBlock is the number of elements one SumSquares row holds (the
// rows only fix the reduction blocks).
const sumSquaresBlock = 256

func sumSquares[T Float](b *Backend, x []T, out []float64) {
	rows := (len(x) + sumSquaresBlock - 1) / sumSquaresBlock
	b.rowReduce(rows, sumSquaresBlock, 0, out, func(lo, hi int, acc, _ []float64) {
		v := x[lo*sumSquaresBlock : min(hi*sumSquaresBlock, len(x))]
		var s0, s1, s2, s3 float64
		i := 0
		for ; i+4 <= len(v); i += 4 {
			a0, a1, a2, a3 := float64(v[i]), float64(v[i+1]), float64(v[i+2]), float64(v[i+3])
			s0 += a0 * a0
			s1 += a1 * a1
			s2 += a2 * a2
			s3 += a3 * a3
		}
		for ; i < len(v); i++ {
			a := float64(v[i])
			s0 += a * a
		}
		acc[0] += (s0 + s1) + (s2 + s3)
	})
}

func ema[T Float](b *Backend, avg, x []T, decay float64) {
	keep := 1 - decay
	b.parallelFor(len(x), elementCost, func(lo, hi int) {
		as, xs := avg[lo:hi], x[lo:hi]
		for i, v := range xs {
			as[i] = T(decay*float64(as[i]) + keep*float64(v))
		}
	})
}
