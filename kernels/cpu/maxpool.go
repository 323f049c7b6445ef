package cpu

import (
	"math"

	"github.com/nextconv/nextconv/kernels"
)

// MaxPool writes the maxima of each K×K window of x [N, H, W, C] (stride
// s.Stride, padding s.Pad that never wins) into y [N, OH, OW, C], PyTorch's
// nn.MaxPool2d: the first maximum in window order wins a tie, a NaN wins
// over numbers. It returns an error wrapping kernels.ErrShape for an invalid
// s or a missing or mis-sized tensor, kernels.ErrDType for a wrong dtype.
func (b *Backend) MaxPool(y, x kernels.Tensor, s kernels.MaxPoolShape) error {
	const op = "cpu maxpool"
	if err := b.checkMaxPool(op, s, kernels.Arg{Name: "x", T: x}, kernels.Arg{Name: "y", T: y}); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		maxPool(b, host[float64](y), host[float64](x), nil, s)
	} else {
		maxPool(b, host[float32](y), host[float32](x), nil, s)
	}
	b.roundBF16(y) // a no-op unless x is float32 and y bf16
	return nil
}

// MaxPoolBackward overwrites dx [N, H, W, C] with dy [N, OH, OW, C] routed
// to each window's first maximum in x, summed in row-major output order
// where windows overlap (the order kernels/gpu's gather follows). A bf16 dx
// holds each float32 sum rounded once. Errors as for MaxPool.
func (b *Backend) MaxPoolBackward(dx, dy, x kernels.Tensor, s kernels.MaxPoolShape) error {
	const op = "cpu maxpool backward"
	if err := b.checkMaxPool(op, s, kernels.Arg{Name: "x", T: x}, kernels.Arg{Name: "dy", T: dy}, kernels.Arg{Name: "dx", T: dx}); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		maxPoolBackward(b, host[float64](dx), host[float64](dy), host[float64](x), s)
	} else {
		maxPoolBackward(b, host[float32](dx), host[float32](dy), host[float32](x), s)
	}
	b.roundBF16(dx)
	return nil
}

// checkMaxPool validates s and gives each argument its shape: x and dx
// the input's, y and dy the output's.
func (b *Backend) checkMaxPool(op string, s kernels.MaxPoolShape, args ...kernels.Arg) error {
	if err := s.Validate(); err != nil {
		return shapeErr(op, s, err)
	}
	oh, ow := s.Out()
	for i := range args {
		args[i].Want = kernels.Shape{s.N, s.H, s.W, s.C}
		if args[i].Name == "y" || args[i].Name == "dy" {
			args[i].Want = kernels.Shape{s.N, oh, ow, s.C}
		}
	}
	return b.checkArgs(op, args...)
}

// maxPool computes y and, when arg is not nil, each output's winning input
// index (n·H·W + h·W + w)·C + c.
func maxPool[T Float](b *Backend, y, x []T, arg []int, s kernels.MaxPoolShape) {
	oh, ow := s.Out()
	C := s.C
	b.parallelFor(s.N*oh, ow*s.K*s.K*C, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			n, i := r/oh, r%oh
			for j := range ow {
				out := ((n*oh+i)*ow + j) * C
				for c := range C {
					best, at := T(math.Inf(-1)), -1
					for di := range s.K {
						h := i*s.Stride - s.Pad + di
						if h < 0 || h >= s.H {
							continue
						}
						for dj := range s.K {
							w := j*s.Stride - s.Pad + dj
							if w < 0 || w >= s.W {
								continue
							}
							k := ((n*s.H+h)*s.W+w)*C + c
							if v := x[k]; at < 0 || v > best || v != v {
								best, at = v, k
							}
						}
					}
					y[out+c] = best
					if arg != nil {
						arg[out+c] = at
					}
				}
			}
		}
	})
}

// maxPoolBackward recomputes the winners and scatters dy onto them; each
// image's rows are handled by one worker, so the sums do not race.
func maxPoolBackward[T Float](b *Backend, dx, dy, x []T, s kernels.MaxPoolShape) {
	oh, ow := s.Out()
	arg := make([]int, len(dy))
	y := make([]T, len(dy))
	maxPool(b, y, x, arg, s)
	clear(dx)
	per := oh * ow * s.C
	b.parallelFor(s.N, per, func(lo, hi int) {
		for o := lo * per; o < hi*per; o++ {
			dx[arg[o]] += dy[o]
		}
	})
}
