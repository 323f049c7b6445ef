package cpu

import "github.com/nextconv/nextconv/kernels"

// ChannelConv computes ECA's 1-D convolution across channels (Wang et al.
// 2020; timm's EcaModule conv, nn.Conv1d(1, 1, K, padding=(K−1)/2,
// bias=False)) for [kernels.ChannelConvShape] s:
//
//	y[n,c] = Σ_{j<K} w[j]·x[n, c+j−P],   P = (K−1)/2, x zero outside 0..C−1
//
// x, y [N, C], w [1, 1, K]; sums in float64. y must not alias x. It returns
// an error wrapping kernels.ErrShape for an invalid s or a missing or
// mis-sized tensor, kernels.ErrDType for a wrong dtype.
func (b *Backend) ChannelConv(y, x, w kernels.Tensor, s kernels.ChannelConvShape) error {
	const op = "cpu channel conv"
	if err := s.Validate(); err != nil {
		return shapeErr(op, s, err)
	}
	if err := b.checkArgs(op, s.Args(y, x, w, kernels.Tensor{}, kernels.Tensor{}, false)...); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		channelConv(host[float64](y), host[float64](x), host[float64](w), s, false)
	} else {
		channelConv(host[float32](y), host[float32](x), host[float32](w), s, false)
	}
	return nil
}

// ChannelConvBackward overwrites dx[n,c] = Σ_j w[j]·dy[n, c−j+P] (nil skips
// it; the convolution with the flipped kernel) and accumulates dw[j] +=
// Σ_{n,c} dy[n,c]·x[n, c+j−P], each sum in float64 in (n, c) order, from dy
// [N, C]. No output may alias an input. Errors as for ChannelConv.
func (b *Backend) ChannelConvBackward(dx, dw, dy, x, w kernels.Tensor, s kernels.ChannelConvShape) error {
	const op = "cpu channel conv backward"
	if err := s.Validate(); err != nil {
		return shapeErr(op, s, err)
	}
	if err := b.checkArgs(op, s.Args(dy, x, w, dx, dw, true)...); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		channelConvBackward(host[float64](dx), host[float64](dw), host[float64](dy), host[float64](x), host[float64](w), s)
	} else {
		channelConvBackward(host[float32](dx), host[float32](dw), host[float32](dy), host[float32](x), host[float32](w), s)
	}
	return nil
}

// channelConv computes y[n,c] = Σ_j w[j]·x[n, c+j−P], or with flip the
// convolution with the reversed kernel, Σ_j w[j]·x[n, c−j+P] (the input
// gradient). The data are N·C pooled values, too few to split over workers.
func channelConv[T Float](y, x, w []T, s kernels.ChannelConvShape, flip bool) {
	C, P := s.C, s.Pad()
	for n := range s.N {
		xn, yn := x[n*C:(n+1)*C], y[n*C:(n+1)*C]
		for c := range C {
			sum := 0.0
			for j, wv := range w {
				i := c + j - P
				if flip {
					i = c - j + P
				}
				if i >= 0 && i < C {
					sum += float64(wv) * float64(xn[i])
				}
			}
			yn[c] = T(sum)
		}
	}
}

func channelConvBackward[T Float](dx, dw, dy, x, w []T, s kernels.ChannelConvShape) {
	C, P := s.C, s.Pad()
	for j := range dw {
		sum := 0.0
		for n := range s.N {
			xn, dyn := x[n*C:(n+1)*C], dy[n*C:(n+1)*C]
			for c := max(0, P-j); c < min(C, C+P-j); c++ {
				sum += float64(dyn[c]) * float64(xn[c+j-P])
			}
		}
		dw[j] += T(sum)
	}
	if dx != nil {
		channelConv(dx, dy, w, s, true)
	}
}
