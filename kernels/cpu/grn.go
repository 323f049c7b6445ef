package cpu

import (
	"math"

	"github.com/nextconv/nextconv/kernels"
)

// GRN computes Global Response Normalization (ConvNeXt V2, Woo et al. 2023,
// eq. 1–3 as in the official models/utils.py GRN; CONVNEXTV2.md §1.5) over
// x [N, HW, C] (NHWC with the spatial axes flattened):
//
//	g[n,c]  = sqrt(Σ_hw x[n,hw,c]²)           (no eps inside the sqrt)
//	Nx[n,c] = g[n,c] / (mean_c g[n,c] + Eps)
//	y       = gamma·(x·Nx) + beta + x
//
// and writes g to gnorm [N, C] for GRNBackward. gamma and beta are [C]; an
// all-zero sample gives y = beta + x. Sums of squares are accumulated in
// float64. Work is split over samples (one worker per sample); y may alias
// x. It returns an error wrapping kernels.ErrShape for an invalid s or a
// missing or mis-sized tensor, kernels.ErrDType for a wrong dtype.
func (b *Backend) GRN(y, gnorm, x, gamma, beta kernels.Tensor, s kernels.GRNShape) error {
	const op = "cpu grn"
	if err := s.Validate(); err != nil {
		return shapeErr(op, s, err)
	}
	xs, c, nc := kernels.Shape{s.N, s.HW, s.C}, kernels.Shape{s.C}, kernels.Shape{s.N, s.C}
	if err := b.checkArgs(op, kernels.Arg{Name: "x", T: x, Want: xs}, kernels.Arg{Name: "gamma", T: gamma, Want: c},
		kernels.Arg{Name: "beta", T: beta, Want: c}, kernels.Arg{Name: "y", T: y, Want: xs},
		kernels.Arg{Name: "gnorm", T: gnorm, Want: nc}); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		grn(b, host[float64](y), host[float64](gnorm), host[float64](x), host[float64](gamma), host[float64](beta), s)
	} else {
		grn(b, host[float32](y), host[float32](gnorm), host[float32](x), host[float32](gamma), host[float32](beta), s)
	}
	return nil
}

// GRNBackward overwrites dx [N, HW, C] and accumulates dgamma and dbeta [C]
// from dy [N, HW, C], using the forward's x, gnorm [N, C] and gamma [C].
// Where g[n,c] = 0 the gradient through the norm is taken as 0, as PyTorch's
// torch.norm backward does, so all-zero samples give finite gradients. dx
// may alias dy. Errors as for GRN.
//
// Derivation, per sample n (dropping n; sums over h run over HW, over c and
// k over C). With D = m + Eps, m = (1/C)·Σ_c g_c, N_c = g_c/D,
// a_c = 1 + gamma_c·N_c, the forward is y[h,c] = x[h,c]·a_c + beta_c, and
//
//	dbeta_c  += Σ_h dy[h,c]
//	dgamma_c += Σ_h dy[h,c]·x[h,c]·N_c = N_c·S_c,   S_c = Σ_h dy[h,c]·x[h,c]
//
// N_c depends on every g_k: ∂N_c/∂g_k = δ_ck/D − g_c/(C·D²), and
// ∂L/∂N_c = gamma_c·S_c, so
//
//	∂L/∂g_k = gamma_k·S_k/D − (1/(C·D²))·Σ_c gamma_c·S_c·g_c.
//
// With ∂g_k/∂x[h,k] = x[h,k]/g_k (0 where g_k = 0):
//
//	dx[h,c] = dy[h,c]·a_c + x[h,c]·(∂L/∂g_c)/g_c.
func (b *Backend) GRNBackward(dx, dgamma, dbeta, dy, x, gnorm, gamma kernels.Tensor, s kernels.GRNShape) error {
	const op = "cpu grn backward"
	if err := s.Validate(); err != nil {
		return shapeErr(op, s, err)
	}
	xs, c, nc := kernels.Shape{s.N, s.HW, s.C}, kernels.Shape{s.C}, kernels.Shape{s.N, s.C}
	if err := b.checkArgs(op, kernels.Arg{Name: "dy", T: dy, Want: xs}, kernels.Arg{Name: "x", T: x, Want: xs},
		kernels.Arg{Name: "gnorm", T: gnorm, Want: nc}, kernels.Arg{Name: "gamma", T: gamma, Want: c},
		kernels.Arg{Name: "dx", T: dx, Want: xs}, kernels.Arg{Name: "dgamma", T: dgamma, Want: c},
		kernels.Arg{Name: "dbeta", T: dbeta, Want: c}); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		grnBackward(b, host[float64](dx), host[float64](dgamma), host[float64](dbeta), host[float64](dy),
			host[float64](x), host[float64](gnorm), host[float64](gamma), s)
	} else {
		grnBackward(b, host[float32](dx), host[float32](dgamma), host[float32](dbeta), host[float32](dy),
			host[float32](x), host[float32](gnorm), host[float32](gamma), s)
	}
	return nil
}

func grn[T Float](b *Backend, y, gnorm, x, gamma, beta []T, s kernels.GRNShape) {
	HW, C := s.HW, s.C
	gamma, beta = gamma[:C], beta[:C]
	b.parallelFor(s.N, 3*HW*C, func(lo, hi int) {
		buf := getF64(C)
		defer putF64(buf)
		a := *buf
		for n := lo; n < hi; n++ {
			xn, yn := x[n*HW*C:(n+1)*HW*C], y[n*HW*C:(n+1)*HW*C]
			clear(a)
			for h := range HW {
				row := xn[h*C : (h+1)*C]
				for c, v := range row {
					f := float64(v)
					a[c] += f * f
				}
			}
			var m float64
			for c, ss := range a {
				g := math.Sqrt(ss)
				a[c] = g
				m += g
			}
			d := m/float64(C) + s.Eps
			gn := gnorm[n*C : (n+1)*C]
			for c, g := range a {
				gn[c] = T(g)
				a[c] = 1 + float64(gamma[c])*(g/d)
			}
			for h := range HW {
				xr, yr := xn[h*C:(h+1)*C], yn[h*C:(h+1)*C]
				for c, v := range xr {
					yr[c] = T(float64(v)*a[c] + float64(beta[c]))
				}
			}
		}
	})
}

func grnBackward[T Float](b *Backend, dx, dgamma, dbeta, dy, x, gnorm, gamma []T, s kernels.GRNShape) {
	N, HW, C := s.N, s.HW, s.C
	gamma = gamma[:C]
	// Per sample: S_c·N_c and Σ_h dy (summed over samples afterwards, in
	// order), then the coefficients a_c and (∂L/∂g_c)/g_c.
	buf := getF64(N * 4 * C)
	defer putF64(buf)
	scratch := *buf
	b.parallelFor(N, 4*HW*C, func(lo, hi int) {
		for n := lo; n < hi; n++ {
			sc := scratch[n*4*C : (n+1)*4*C]
			sum, db, a, k := sc[:C], sc[C:2*C], sc[2*C:3*C], sc[3*C:]
			xn, dyn, dxn := x[n*HW*C:(n+1)*HW*C], dy[n*HW*C:(n+1)*HW*C], dx[n*HW*C:(n+1)*HW*C]
			for h := range HW {
				xr, dyr := xn[h*C:(h+1)*C], dyn[h*C:(h+1)*C]
				for c, v := range dyr {
					d := float64(v)
					sum[c] += d * float64(xr[c])
					db[c] += d
				}
			}
			g := gnorm[n*C : (n+1)*C]
			var m float64
			for _, v := range g {
				m += float64(v)
			}
			D := m/float64(C) + s.Eps
			var cross float64 // Σ_c gamma_c·S_c·g_c
			for c, v := range g {
				cross += float64(gamma[c]) * sum[c] * float64(v)
			}
			cross /= float64(C) * D * D
			for c, v := range g {
				gc, gm := float64(v), float64(gamma[c])
				a[c] = 1 + gm*(gc/D)
				k[c] = 0
				if gc > 0 {
					k[c] = (gm*sum[c]/D - cross) / gc
				}
				sum[c] *= gc / D // now dgamma's share of sample n
			}
			for h := range HW {
				xr, dyr, dxr := xn[h*C:(h+1)*C], dyn[h*C:(h+1)*C], dxn[h*C:(h+1)*C]
				for c, v := range dyr {
					dxr[c] = T(float64(v)*a[c] + float64(xr[c])*k[c])
				}
			}
		}
	})
	// Sum the samples' shares in sample order into sample 0's slots.
	total := scratch[:2*C]
	for n := 1; n < N; n++ {
		for c, v := range scratch[n*4*C : n*4*C+2*C] {
			total[c] += v
		}
	}
	addTo(dgamma, total[:C])
	addTo(dbeta, total[C:])
}
