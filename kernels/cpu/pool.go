package cpu

import (
	"github.com/nextconv/nextconv/kernels"
)

// AvgPool averages x [N, HW, C] over its HW spatial positions into y [N, C]
// (global average pooling, ConvNeXt's x.mean([-2, -1]) before the head,
// docs/CONVNEXTV2.md §1.7). Sums are accumulated in float64. It returns an error
// wrapping kernels.ErrShape for an invalid s or a missing or mis-sized
// tensor, kernels.ErrDType for a wrong dtype.
func (b *Backend) AvgPool(y, x kernels.Tensor, s kernels.PoolShape) error {
	const op = "cpu avgpool"
	if err := s.Validate(); err != nil {
		return shapeErr(op, s, err)
	}
	if err := b.checkArgs(op, kernels.Arg{Name: "x", T: x, Want: kernels.Shape{s.N, s.HW, s.C}},
		kernels.Arg{Name: "y", T: y, Want: kernels.Shape{s.N, s.C}}); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		avgPool(b, host[float64](y), host[float64](x), s)
	} else {
		avgPool(b, host[float32](y), host[float32](x), s)
	}
	b.roundBF16(y)
	return nil
}

// AvgPoolBackward overwrites dx [N, HW, C] with dy[n, c]/HW, the gradient of
// AvgPool. Errors as for AvgPool.
func (b *Backend) AvgPoolBackward(dx, dy kernels.Tensor, s kernels.PoolShape) error {
	const op = "cpu avgpool backward"
	if err := s.Validate(); err != nil {
		return shapeErr(op, s, err)
	}
	if err := b.checkArgs(op, kernels.Arg{Name: "dy", T: dy, Want: kernels.Shape{s.N, s.C}},
		kernels.Arg{Name: "dx", T: dx, Want: kernels.Shape{s.N, s.HW, s.C}}); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		avgPoolBackward(b, host[float64](dx), host[float64](dy), s)
	} else {
		avgPoolBackward(b, host[float32](dx), host[float32](dy), s)
	}
	b.roundBF16(dx)
	return nil
}

func avgPool[T Float](b *Backend, y, x []T, s kernels.PoolShape) {
	HW, C := s.HW, s.C
	b.parallelFor(s.N, HW*C, func(lo, hi int) {
		buf := getF64(C)
		defer putF64(buf)
		acc := *buf
		for n := lo; n < hi; n++ {
			clear(acc)
			xn := x[n*HW*C : (n+1)*HW*C]
			for h := range HW {
				for c, v := range xn[h*C : (h+1)*C] {
					acc[c] += float64(v)
				}
			}
			yn := y[n*C : (n+1)*C]
			for c, v := range acc {
				yn[c] = T(v / float64(HW))
			}
		}
	})
}

func avgPoolBackward[T Float](b *Backend, dx, dy []T, s kernels.PoolShape) {
	HW, C := s.HW, s.C
	b.parallelFor(s.N*HW, C, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			dyn := dy[(r/HW)*C : (r/HW+1)*C]
			dxr := dx[r*C : (r+1)*C]
			for c, v := range dyn {
				dxr[c] = T(float64(v) / float64(HW))
			}
		}
	})
}
