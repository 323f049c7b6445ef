package cpu

import (
	"github.com/nextconv/nextconv/kernels"
)

// LayerNormGELU computes y = GELU(u), u = LayerNorm(x) = (x − mean)·rstd·w + b,
// in one pass over each row of x [Rows, C], and writes mean and rstd [Rows]
// as LayerNorm does; the pre-activation u is not stored. Statistics are
// accumulated in float64; GELU is evaluated as in [Backend.GELU] for approx.
// y may alias x. Shapes and errors as for LayerNorm, plus an error for an
// unknown approx.
func (b *Backend) LayerNormGELU(y, mean, rstd, x, w, bias kernels.Tensor, s kernels.NormShape, approx kernels.GELUApprox) error {
	const op = "cpu layernorm-gelu"
	if err := checkApprox(op, approx); err != nil {
		return err
	}
	if err := b.checkNorm(op, s, y, mean, rstd, x, w, bias, kernels.Tensor{}, kernels.Tensor{}, kernels.Tensor{}, false); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		layerNormGELU(b, host[float64](y), host[float64](mean), host[float64](rstd), host[float64](x), host[float64](w), host[float64](bias), s, approx)
	} else {
		layerNormGELU(b, host[float32](y), host[float32](mean), host[float32](rstd), host[float32](x), host[float32](w), host[float32](bias), s, approx)
	}
	return nil
}

// LayerNormGELUBackward overwrites dx [Rows, C] and accumulates dw and db
// [C] for y = GELU(u), u = x̂·w + b, x̂ = (x − mean)·rstd. It recomputes u from
// x, mean, rstd [Rows], w and b [C], forms du = dy·GELU'(u) and then applies
// the LayerNorm backward of [Backend.LayerNormBackward] to du:
//
//	dx = rstd·(g − mean_C(g) − x̂·mean_C(g·x̂)), g = du·w;  dw += Σ du·x̂;  db += Σ du.
//
// dx may alias dy. Errors as for LayerNormGELU.
func (b *Backend) LayerNormGELUBackward(dx, dw, db, dy, x, mean, rstd, w, bias kernels.Tensor, s kernels.NormShape, approx kernels.GELUApprox) error {
	const op = "cpu layernorm-gelu backward"
	if err := checkApprox(op, approx); err != nil {
		return err
	}
	if err := b.checkNorm(op, s, kernels.Tensor{}, mean, rstd, x, w, kernels.Tensor{}, dx, dw, db, true); err != nil {
		return err
	}
	if err := b.checkArgs(op, kernels.Arg{Name: "b", T: bias, Want: kernels.Shape{s.C}},
		kernels.Arg{Name: "dy", T: dy, Want: kernels.Shape{s.Rows, s.C}}); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		layerNormGELUBackward(b, host[float64](dx), host[float64](dw), host[float64](db), host[float64](dy),
			host[float64](x), host[float64](mean), host[float64](rstd), host[float64](w), host[float64](bias), s, approx)
	} else {
		layerNormGELUBackward(b, host[float32](dx), host[float32](dw), host[float32](db), host[float32](dy),
			host[float32](x), host[float32](mean), host[float32](rstd), host[float32](w), host[float32](bias), s, approx)
	}
	return nil
}

func layerNormGELU[T Float](b *Backend, y, mean, rstd, x, w, bias []T, s kernels.NormShape, approx kernels.GELUApprox) {
	C := s.C
	w, bias = w[:C], bias[:C]
	fast := isFloat32[T]()
	b.parallelFor(s.Rows, 3*C+geluCostOf(fast)*C, func(lo, hi int) {
		buf := getF64(C)
		defer putF64(buf)
		u := *buf
		for r := lo; r < hi; r++ {
			xr, yr := x[r*C:(r+1)*C], y[r*C:(r+1)*C]
			mu, rs := rowStats(xr, s.Eps)
			mean[r], rstd[r] = T(mu), T(rs)
			for j, v := range xr {
				u[j] = (float64(v)-mu)*rs*float64(w[j]) + float64(bias[j])
			}
			geluSlice(u, u, approx, fast)
			for j, v := range u {
				yr[j] = T(v)
			}
		}
	})
}

func layerNormGELUBackward[T Float](b *Backend, dx, dw, db, dy, x, mean, rstd, w, bias []T, s kernels.NormShape, approx kernels.GELUApprox) {
	C := s.C
	w, bias = w[:C], bias[:C]
	fast := isFloat32[T]()
	sums := getF64(2 * C)
	defer putF64(sums)
	b.rowReduce(s.Rows, 5*C+geluCostOf(fast)*C, 2*C, *sums, func(lo, hi int, acc, tmp []float64) {
		accW, accB := acc[:C], acc[C:2*C]
		u, du := tmp[:C], tmp[C:2*C]
		invC := 1 / float64(C)
		for r := lo; r < hi; r++ {
			xr, dyr, dxr := x[r*C:(r+1)*C], dy[r*C:(r+1)*C], dx[r*C:(r+1)*C]
			mu, rs := float64(mean[r]), float64(rstd[r])
			for j, v := range xr {
				u[j] = (float64(v)-mu)*rs*float64(w[j]) + float64(bias[j])
				du[j] = float64(dyr[j])
			}
			geluGradSlice(du, du, u, approx, fast)
			var sg, sgx float64
			for j, v := range xr {
				xh := (float64(v) - mu) * rs
				d := du[j]
				g := d * float64(w[j])
				sg += g
				sgx += g * xh
				accW[j] += d * xh
				accB[j] += d
			}
			sg *= invC
			sgx *= invC
			for j, v := range xr {
				xh := (float64(v) - mu) * rs
				dxr[j] = T(rs * (du[j]*float64(w[j]) - sg - xh*sgx))
			}
		}
	})
	addTo(dw, (*sums)[:C])
	addTo(db, (*sums)[C:])
}
