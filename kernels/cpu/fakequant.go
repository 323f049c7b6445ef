package cpu

import (
	"fmt"
	"math"

	"github.com/nextconv/nextconv/kernels"
)

// Fake quantization (kernels.QuantOps): PyTorch's fake_quantize_per_channel
// arithmetic in the backend's precision, the LSQ gradients and the per-channel
// min/max of the observers. See kernels/backend.go for the contracts and
// docs/QAT.md A1.4/A1.5 for the formulas.

// quantChunk is the most elements of one channel's run that one work item
// of a reduction covers; longer runs (per-tensor quantization of a whole
// activation) are split so that the work spreads over the cores. The split
// depends only on the shape, so reductions are deterministic.
const quantChunk = 4096

// FakeQuant computes y = fake_quant(x) per channel (see kernels.QuantOps).
// It returns an error wrapping kernels.ErrShape for an invalid s or a
// mis-shaped tensor, kernels.ErrNaN for a scale that is not positive and
// finite (after the MinScale floor) or a zero point that is not finite.
func (b *Backend) FakeQuant(y, x, scale, zeroPoint kernels.Tensor, s kernels.QuantShape) error {
	const op = "cpu fakequant"
	if err := b.checkQuant(op, s, kernels.Arg{Name: "x", T: x, Want: s.XShape()}, kernels.Arg{Name: "y", T: y, Want: s.XShape()},
		kernels.Arg{Name: "scale", T: scale, Want: s.CShape()}, kernels.Arg{Name: "zeroPoint", T: zeroPoint, Want: s.CShape()}); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		return fakeQuant[float64](b, op, y, x, scale, zeroPoint, s)
	}
	if err := fakeQuant[float32](b, op, y, x, scale, zeroPoint, s); err != nil {
		return err
	}
	b.roundBF16(y)
	return nil
}

// FakeQuantBackward overwrites dx = dy·mask and accumulates the LSQ
// gradients into dscale and dzeroPoint (see kernels.QuantOps). dx, dscale
// and dzeroPoint are optional. Errors as for FakeQuant, plus
// kernels.ErrShape for a gradFactor that is not finite.
func (b *Backend) FakeQuantBackward(dx, dscale, dzeroPoint, dy, x, scale, zeroPoint kernels.Tensor, s kernels.QuantShape, gradFactor float64) error {
	const op = "cpu fakequant backward"
	if err := b.checkQuant(op, s, kernels.Arg{Name: "x", T: x, Want: s.XShape()}, kernels.Arg{Name: "dy", T: dy, Want: s.XShape()},
		kernels.Arg{Name: "dx", T: dx, Want: s.XShape(), Optional: true},
		kernels.Arg{Name: "scale", T: scale, Want: s.CShape()}, kernels.Arg{Name: "zeroPoint", T: zeroPoint, Want: s.CShape()},
		kernels.Arg{Name: "dscale", T: dscale, Want: s.CShape(), Optional: true},
		kernels.Arg{Name: "dzeroPoint", T: dzeroPoint, Want: s.CShape(), Optional: true}); err != nil {
		return err
	}
	if math.IsNaN(gradFactor) || math.IsInf(gradFactor, 0) {
		return fmt.Errorf("%s: gradient factor %v is not finite: %w", op, gradFactor, kernels.ErrShape)
	}
	if b.dt == kernels.Float64 {
		return fakeQuantBackward[float64](b, op, dx, dscale, dzeroPoint, dy, x, scale, zeroPoint, s, gradFactor)
	}
	if err := fakeQuantBackward[float32](b, op, dx, dscale, dzeroPoint, dy, x, scale, zeroPoint, s, gradFactor); err != nil {
		return err
	}
	b.roundBF16(dx)
	return nil
}

// MinMax overwrites min and max [Channels] with each channel's smallest and
// largest element of x; a channel holding a NaN gets NaN in both. It returns
// an error wrapping kernels.ErrShape for an invalid s or mis-shaped tensor.
func (b *Backend) MinMax(min, max, x kernels.Tensor, s kernels.QuantShape) error {
	const op = "cpu minmax"
	if err := b.checkQuant(op, s, kernels.Arg{Name: "x", T: x, Want: s.XShape()},
		kernels.Arg{Name: "min", T: min, Want: s.CShape()}, kernels.Arg{Name: "max", T: max, Want: s.CShape()}); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		minMax[float64](b, min, max, x, s)
	} else {
		minMax[float32](b, min, max, x, s)
	}
	return nil
}

// checkQuant validates s and the tensors.
func (b *Backend) checkQuant(op string, s kernels.QuantShape, args ...kernels.Arg) error {
	if err := s.Validate(); err != nil {
		return shapeErr(op, s, err)
	}
	return b.checkArgs(op, args...)
}

// qparams is one channel's scale after the MinScale floor, its reciprocal
// and its rounded, clamped zero point, in the backend's precision.
type qparams[T Float] struct{ s, inv, z T }

// channelParams reads scale and zero point per channel, applies the MinScale
// floor and PyTorch's zero-point rounding (nearbyint, clamp to the grid) and
// checks that every scale is positive and finite.
func channelParams[T Float](op string, scale, zeroPoint kernels.Tensor, s kernels.QuantShape) ([]qparams[T], error) {
	sc, zp := host[T](scale), host[T](zeroPoint)
	out := make([]qparams[T], s.Channels)
	qmin, qmax := float64(s.QMin), float64(s.QMax)
	for c := range out {
		v := sc[c]
		if v < T(s.MinScale) { // false for NaN: a NaN scale stays NaN and is refused below
			v = T(s.MinScale)
		}
		if !(v > 0) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("%s: scale[%d] = %v must be positive and finite: %w", op, c, sc[c], kernels.ErrNaN)
		}
		z := float64(zp[c])
		if math.IsNaN(z) || math.IsInf(z, 0) {
			return nil, fmt.Errorf("%s: zeroPoint[%d] = %v is not finite: %w", op, c, zp[c], kernels.ErrNaN)
		}
		z = math.Min(math.Max(math.RoundToEven(z), qmin), qmax)
		out[c] = qparams[T]{s: v, inv: 1 / v, z: T(z)}
	}
	return out, nil
}

// quantize returns the unclamped integer q = nearbyint(x·inv) + z (as a
// float, exact for the grids QuantShape allows) and the fake-quantized
// value (clamp(q) − z)·s; a NaN x gives NaN for both. The conversions to T
// keep each operation rounded to T, as PyTorch's float32 kernel rounds it
// (no fused multiply-add).
func quantize[T Float](x T, p qparams[T], qmin, qmax T) (q, y T) {
	q = T(math.RoundToEven(float64(T(x*p.inv)))) + p.z
	qc := q
	if qc < qmin {
		qc = qmin
	} else if qc > qmax {
		qc = qmax
	}
	return q, T((qc - p.z) * p.s)
}

// quantRuns calls fn(r, lo, hi) over the work items of s: item r covers the
// elements [lo, hi) of one channel run (o, c), split in pieces of at most
// quantChunk. Items are numbered in memory order; there are
// Outer·Channels·ceil(Inner/quantChunk) of them.
func quantRuns(s kernels.QuantShape) (items, pieces int) {
	pieces = (s.Inner + quantChunk - 1) / quantChunk
	return s.Outer * s.Channels * pieces, pieces
}

// runOf returns the channel and element range of work item r.
func runOf(s kernels.QuantShape, pieces, r int) (c, lo, hi int) {
	oc, k := r/pieces, r%pieces
	c = oc % s.Channels
	per := (s.Inner + pieces - 1) / pieces
	lo = oc*s.Inner + k*per
	hi = min(lo+per, (oc+1)*s.Inner)
	return c, lo, hi
}

func fakeQuant[T Float](b *Backend, op string, y, x, scale, zeroPoint kernels.Tensor, s kernels.QuantShape) error {
	ps, err := channelParams[T](op, scale, zeroPoint, s)
	if err != nil {
		return err
	}
	xs, ys := host[T](x), host[T](y)
	qmin, qmax := T(s.QMin), T(s.QMax)
	items, pieces := quantRuns(s)
	b.parallelFor(items, min(s.Inner, quantChunk), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			c, a, e := runOf(s, pieces, r)
			p := ps[c]
			for i := a; i < e; i++ {
				_, ys[i] = quantize(xs[i], p, qmin, qmax)
			}
		}
	})
	return nil
}

func fakeQuantBackward[T Float](b *Backend, op string, dx, dscale, dzeroPoint, dy, x, scale, zeroPoint kernels.Tensor, s kernels.QuantShape, g float64) error {
	ps, err := channelParams[T](op, scale, zeroPoint, s)
	if err != nil {
		return err
	}
	xs, dys, dxs := host[T](x), host[T](dy), host[T](dx)
	qmin, qmax := T(s.QMin), T(s.QMax)
	items, pieces := quantRuns(s)
	lsq := !dscale.Nil() || !dzeroPoint.Nil()
	if !lsq {
		if dxs == nil {
			return nil
		}
		b.parallelFor(items, min(s.Inner, quantChunk), func(lo, hi int) {
			for r := lo; r < hi; r++ {
				c, a, e := runOf(s, pieces, r)
				p := ps[c]
				for i := a; i < e; i++ {
					q, _ := quantize(xs[i], p, qmin, qmax)
					dxs[i] = maskGrad(dys[i], q, qmin, qmax)
				}
			}
		})
		return nil
	}
	C := s.Channels
	sums := make([]float64, 2*C) // Σ dscale terms, then Σ dzeroPoint terms, per channel
	b.rowReduce(items, min(s.Inner, quantChunk), 0, sums, func(lo, hi int, acc, _ []float64) {
		for r := lo; r < hi; r++ {
			c, a, e := runOf(s, pieces, r)
			p := ps[c]
			small, big := float64(qmin-p.z), float64(qmax-p.z)
			var ds, dz float64
			for i := a; i < e; i++ {
				q, yv := quantize(xs[i], p, qmin, qmax)
				d := float64(dys[i])
				switch {
				case q != q: // a NaN x poisons its channel's gradients, loudly
					ds += float64(q)
					dz += float64(q)
				case q < qmin:
					ds += d * small
					dz -= d * float64(p.s)
				case q > qmax:
					ds += d * big
					dz -= d * float64(p.s)
				default:
					ds += d * float64(T((yv-xs[i])*p.inv))
				}
				if dxs != nil {
					dxs[i] = maskGrad(dys[i], q, qmin, qmax)
				}
			}
			acc[c] += ds
			acc[C+c] += dz
		}
	})
	if d := host[T](dscale); d != nil {
		for c := range d {
			d[c] += T(g * sums[c])
		}
	}
	if d := host[T](dzeroPoint); d != nil {
		for c := range d {
			d[c] += T(g * sums[C+c])
		}
	}
	return nil
}

// maskGrad returns dy where QMin ≤ q ≤ QMax, else 0.
func maskGrad[T Float](dy, q, qmin, qmax T) T {
	if q >= qmin && q <= qmax {
		return dy
	}
	return 0
}

func minMax[T Float](b *Backend, mnT, mxT, x kernels.Tensor, s kernels.QuantShape) {
	xs := host[T](x)
	C := s.Channels
	items, pieces := quantRuns(s)
	// Per block of items: the running min and max of each channel and
	// whether it saw a NaN. Min and max do not depend on the order of
	// combination, so any blocking is deterministic.
	nb := b.workers
	if nb > items {
		nb = items
	}
	per := (items + nb - 1) / nb
	nb = (items + per - 1) / per
	lo := make([]T, nb*C)
	hi := make([]T, nb*C)
	nan := make([]bool, nb*C)
	inf := T(math.Inf(1))
	for i := range lo {
		lo[i], hi[i] = inf, -inf
	}
	b.parallelFor(nb, per*min(s.Inner, quantChunk), func(blo, bhi int) {
		for k := blo; k < bhi; k++ {
			l, h, n := lo[k*C:(k+1)*C], hi[k*C:(k+1)*C], nan[k*C:(k+1)*C]
			for r := k * per; r < min((k+1)*per, items); r++ {
				c, a, e := runOf(s, pieces, r)
				mn, mx := l[c], h[c]
				for _, v := range xs[a:e] {
					if v < mn {
						mn = v
					}
					if v > mx {
						mx = v
					}
					if v != v {
						n[c] = true
					}
				}
				l[c], h[c] = mn, mx
			}
		}
	})
	mins, maxs := host[T](mnT), host[T](mxT)
	for c := range C {
		mn, mx, isNaN := inf, -inf, false
		for k := range nb {
			mn = minF(mn, lo[k*C+c])
			mx = maxF(mx, hi[k*C+c])
			isNaN = isNaN || nan[k*C+c]
		}
		if isNaN {
			mn, mx = T(math.NaN()), T(math.NaN())
		}
		mins[c], maxs[c] = mn, mx
	}
}

func minF[T Float](a, b T) T {
	if b < a {
		return b
	}
	return a
}

func maxF[T Float](a, b T) T {
	if b > a {
		return b
	}
	return a
}
