package cpu

import "github.com/nextconv/nextconv/kernels"

// ChannelGate computes y[n,hw,c] = x[n,hw,c]·gate(g[n,c]) for
// [kernels.GateShape] s: x, y [N, HW, C], g [N, C]; the gate of
// squeeze-and-excitation (Hu et al. 2018) and ECA, timm's x * gate(x_se).
// The gate is evaluated in float64 and rounded to the backend's type once,
// then multiplied in it. y may alias x, not g. It returns an error wrapping
// kernels.ErrShape for an invalid s or a missing or mis-sized tensor,
// kernels.ErrDType for a wrong dtype.
func (b *Backend) ChannelGate(y, x, g kernels.Tensor, s kernels.GateShape) error {
	const op = "cpu channel gate"
	if err := s.Validate(); err != nil {
		return shapeErr(op, s, err)
	}
	if err := b.checkArgs(op, s.Args(y, x, g, kernels.Tensor{}, kernels.Tensor{}, false)...); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		channelGate(b, host[float64](y), host[float64](x), host[float64](g), s)
	} else {
		channelGate(b, host[float32](y), host[float32](x), host[float32](g), s)
	}
	return nil
}

// ChannelGateBackward overwrites dx [N, HW, C] = dy·gate(g) (nil skips it)
// and dg [N, C] = gate'(g[n,c])·Σ_hw dy[n,hw,c]·x[n,hw,c], the sum in
// float64 in hw order, from dy [N, HW, C]. Errors as for ChannelGate.
func (b *Backend) ChannelGateBackward(dx, dg, dy, x, g kernels.Tensor, s kernels.GateShape) error {
	const op = "cpu channel gate backward"
	if err := s.Validate(); err != nil {
		return shapeErr(op, s, err)
	}
	if err := b.checkArgs(op, s.Args(dy, x, g, dx, dg, true)...); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		channelGateBackward(b, host[float64](dx), host[float64](dg), host[float64](dy), host[float64](x), host[float64](g), s)
	} else {
		channelGateBackward(b, host[float32](dx), host[float32](dg), host[float32](dy), host[float32](x), host[float32](g), s)
	}
	return nil
}

// gateRow fills gate[c] with s.Gate(g[c]) rounded to T and, when deriv is
// not nil, deriv[c] with its derivative.
func gateRow[T Float](gate []T, deriv []float64, g []T, k kernels.GateKind) {
	for c, v := range g {
		gv, d := k.Gate(float64(v))
		gate[c] = T(gv)
		if deriv != nil {
			deriv[c] = d
		}
	}
}

func channelGate[T Float](b *Backend, y, x, g []T, s kernels.GateShape) {
	HW, C := s.HW, s.C
	b.parallelFor(s.N, HW*C, func(lo, hi int) {
		gate := make([]T, C)
		for n := lo; n < hi; n++ {
			gateRow(gate, nil, g[n*C:(n+1)*C], s.Gate)
			for h := range HW {
				o := (n*HW + h) * C
				yr, xr := y[o:o+C], x[o:o+C]
				for c, gv := range gate {
					yr[c] = xr[c] * gv
				}
			}
		}
	})
}

func channelGateBackward[T Float](b *Backend, dx, dg, dy, x, g []T, s kernels.GateShape) {
	HW, C := s.HW, s.C
	b.parallelFor(s.N, 2*HW*C, func(lo, hi int) {
		gate, deriv, acc := make([]T, C), make([]float64, C), make([]float64, C)
		for n := lo; n < hi; n++ {
			gateRow(gate, deriv, g[n*C:(n+1)*C], s.Gate)
			clear(acc)
			for h := range HW {
				o := (n*HW + h) * C
				dyr, xr := dy[o:o+C], x[o:o+C]
				for c, v := range dyr {
					acc[c] += float64(v) * float64(xr[c])
				}
				if dx != nil {
					dxr := dx[o : o+C]
					for c, v := range dyr {
						dxr[c] = v * gate[c]
					}
				}
			}
			dgn := dg[n*C : (n+1)*C]
			for c, a := range acc {
				dgn[c] = T(deriv[c] * a)
			}
		}
	})
}
