package cpu

import (
	"math"

	"github.com/nextconv/nextconv/kernels"
)

// GRN computes Global Response Normalization (ConvNeXt V2, Woo et al. 2023,
// eq. 1–3 as in the official models/utils.py GRN; docs/CONVNEXTV2.md §1.5) over
// x [N, HW, C] (NHWC with the spatial axes flattened):
//
//	g[n,c]  = sqrt(Σ_hw x[n,hw,c]²)           (no eps inside the sqrt)
//	Nx[n,c] = g[n,c] / (mean_c g[n,c] + Eps)
//	y       = gamma·(x·Nx) + beta + x
//
// and writes g to gnorm [N, C] for GRNBackward. gamma and beta are [C]; an
// all-zero sample gives y = beta + x. Sums of squares, the norms and their
// channel mean are computed in float64 (the float32 backend runs them, and
// the output pass, through AVX2 kernels where the CPU has them, with the
// same rounding as the Go loops). Work is split over samples, or over
// blocks of channels when there are too few samples to occupy every
// worker; the results do not depend on the number of workers. y may alias
// x. It returns an error wrapping kernels.ErrShape for an invalid s or a
// missing or mis-sized tensor, kernels.ErrDType for a wrong dtype.
func (b *Backend) GRN(y, gnorm, x, gamma, beta kernels.Tensor, s kernels.GRNShape) error {
	const op = "cpu grn"
	if err := s.Validate(); err != nil {
		return shapeErr(op, s, err)
	}
	if err := b.checkArgs(op, s.ForwardArgs(y, gnorm, x, gamma, beta)...); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		grn(b, host[float64](y), host[float64](gnorm), host[float64](x), host[float64](gamma), host[float64](beta), s)
	} else {
		grn(b, host[float32](y), host[float32](gnorm), host[float32](x), host[float32](gamma), host[float32](beta), s)
	}
	b.roundBF16(y)
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
//
// The samples' shares of dgamma and dbeta are added in sample order, so
// the gradients are bit-identical for any number of workers.
func (b *Backend) GRNBackward(dx, dgamma, dbeta, dy, x, gnorm, gamma kernels.Tensor, s kernels.GRNShape) error {
	const op = "cpu grn backward"
	if err := s.Validate(); err != nil {
		return shapeErr(op, s, err)
	}
	if err := b.checkArgs(op, s.BackwardArgs(dx, dgamma, dbeta, dy, x, gnorm, gamma)...); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		grnBackward(b, host[float64](dx), host[float64](dgamma), host[float64](dbeta), host[float64](dy),
			host[float64](x), host[float64](gnorm), host[float64](gamma), s)
	} else {
		grnBackward(b, host[float32](dx), host[float32](dgamma), host[float32](dbeta), host[float32](dy),
			host[float32](x), host[float32](gnorm), host[float32](gamma), s)
	}
	b.roundBF16(dx)
	return nil
}

// grnPlan is how GRN and GRNBackward share a call's work between the
// workers: tasks (n, channel block) with blocks of width channels, nb blocks
// per sample. With enough samples every task is a whole sample (nb = 1) and
// a worker runs a sample's passes back to back while it is in cache;
// otherwise (split) the sums, the per-sample coefficients and the output
// pass run as three phases, so that one or a few samples still use every
// core. Both routes compute every value with the same operations in the
// same order, so they give bit-identical results.
type grnPlan struct {
	width, nb int
	split     bool
}

// grnPlanFor returns the plan for s on b's workers.
func (b *Backend) grnPlanFor(s kernels.GRNShape) grnPlan {
	w := b.workers
	if w <= 1 || s.N%w == 0 || s.N >= 4*w || s.N*s.HW*s.C < 2*minGrain {
		return grnPlan{width: s.C, nb: 1}
	}
	// About four tasks per worker, in blocks of 16 channels (the assembly
	// kernels' widest step).
	parts := (4*w + s.N - 1) / s.N
	width := ((s.C+parts-1)/parts + 15) &^ 15
	if width >= s.C {
		width = s.C
	}
	return grnPlan{width: width, nb: (s.C + width - 1) / width, split: true}
}

// run calls fn(n, c0, c1) for every task. Fused, it calls it once per
// sample with the whole channel range; split, once per channel block. cost
// is the work per task element, as for parallelFor.
func (p grnPlan) run(b *Backend, s kernels.GRNShape, cost int, fn func(n, c0, c1 int)) {
	b.parallelFor(s.N*p.nb, cost*s.HW*p.width, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			n, c0 := t/p.nb, (t%p.nb)*p.width
			fn(n, c0, min(c0+p.width, s.C))
		}
	})
}

func grn[T Float](b *Backend, y, gnorm, x, gamma, beta []T, s kernels.GRNShape) {
	N, HW, C := s.N, s.HW, s.C
	gamma, beta = gamma[:C], beta[:C]
	// Per sample, C sums of squares that become the coefficients
	// a_c = 1 + gamma_c·N_c in place; then beta in float64.
	buf := getF64Dirty((N + 1) * C)
	defer putF64(buf)
	scratch := *buf
	bb := scratch[N*C:]
	for c, v := range beta {
		bb[c] = float64(v)
	}
	sumSq := func(n, c0, c1 int) {
		grnSumSq(scratch[n*C+c0:n*C+c1], x[n*HW*C+c0:(n+1)*HW*C], C, HW)
	}
	coef := func(n int) {
		grnCoef(scratch[n*C:(n+1)*C], gnorm[n*C:(n+1)*C], gamma, s.Eps)
	}
	apply := func(n, c0, c1 int) {
		off := n*HW*C + c0
		grnScaleShift(y[off:(n+1)*HW*C], x[off:(n+1)*HW*C], C, scratch[n*C+c0:n*C+c1], bb[c0:c1], HW)
	}
	p := b.grnPlanFor(s)
	if !p.split {
		p.run(b, s, 3, func(n, _, _ int) {
			sumSq(n, 0, C)
			coef(n)
			apply(n, 0, C)
		})
		return
	}
	p.run(b, s, 1, sumSq)
	for n := range N {
		coef(n)
	}
	p.run(b, s, 2, apply)
}

// grnCoef turns one sample's sums of squares a[c] = Σ_h x² into the norms
// g, written to gn, and then into the forward's coefficients
// a[c] = 1 + gamma_c·g_c/D, D = mean_c g + eps. The channel sum runs in four
// interleaved partial sums (channel c into sum c mod 4), like sum64.
func grnCoef[T Float](a []float64, gn, gamma []T, eps float64) {
	if !grnCoefAsm(a, gn, gamma, eps) {
		grnCoefGo(a, gn, gamma, eps)
	}
}

// grnCoefGo is grnCoef in Go.
func grnCoefGo[T Float](a []float64, gn, gamma []T, eps float64) {
	C := len(a)
	gn, gamma = gn[:C], gamma[:C]
	var m0, m1, m2, m3 float64
	c := 0
	for ; c+4 <= C; c += 4 {
		v := a[c : c+4 : c+4]
		g0, g1, g2, g3 := math.Sqrt(v[0]), math.Sqrt(v[1]), math.Sqrt(v[2]), math.Sqrt(v[3])
		v[0], v[1], v[2], v[3] = g0, g1, g2, g3
		m0 += g0
		m1 += g1
		m2 += g2
		m3 += g3
	}
	for ; c < C; c++ {
		g := math.Sqrt(a[c])
		a[c] = g
		m0 += g
	}
	d := ((m0+m1)+(m2+m3))/float64(C) + eps
	for c, g := range a {
		gn[c] = T(g)
		a[c] = 1 + float64(float64(gamma[c])*(g/d))
	}
}

// grnSumSq writes ss[j] = Σ_r x[r·stride+j]² for j < len(ss) and
// r < rows, summed in float64 one row after another.
func grnSumSq[T Float](ss []float64, x []T, stride, rows int) {
	if !grnSumSqAsm(ss, x, stride, rows) {
		grnSumSqGo(ss, x, stride, rows)
	}
}

// grnSumSqGo is grnSumSq in Go.
func grnSumSqGo[T Float](ss []float64, x []T, stride, rows int) {
	clear(ss)
	for r := range rows {
		row := x[r*stride : r*stride+len(ss)]
		for j, v := range row {
			f := float64(v)
			ss[j] += f * f
		}
	}
}

// grnScaleShift writes y[r·stride+j] = x[r·stride+j]·a[j] + bb[j] for
// j < len(a) and r < rows, computed in float64. y may alias x.
//
// The Go loops here and in grnGradApply round every product (the explicit
// float64 conversions forbid fusing it into a multiply-add, which the
// compiler does for arm64 or GOAMD64=v3), so every architecture and the
// assembly kernels give bit-identical results.
func grnScaleShift[T Float](y, x []T, stride int, a, bb []float64, rows int) {
	if !grnScaleShiftAsm(y, x, stride, a, bb, rows) {
		grnScaleShiftGo(y, x, stride, a, bb, rows)
	}
}

// grnScaleShiftGo is grnScaleShift in Go.
func grnScaleShiftGo[T Float](y, x []T, stride int, a, bb []float64, rows int) {
	bb = bb[:len(a)]
	for r := range rows {
		xr, yr := x[r*stride:r*stride+len(a)], y[r*stride:r*stride+len(a)]
		for j, v := range xr {
			yr[j] = T(float64(float64(v)*a[j]) + bb[j])
		}
	}
}

func grnBackward[T Float](b *Backend, dx, dgamma, dbeta, dy, x, gnorm, gamma []T, s kernels.GRNShape) {
	N, HW, C := s.N, s.HW, s.C
	gamma = gamma[:C]
	// Per sample, 4C values: S_c = Σ_h dy·x (then dgamma's share S_c·N_c),
	// Σ_h dy (dbeta's share), and the coefficients a_c and (∂L/∂g_c)/g_c.
	// The shares are summed over samples afterwards, in sample order, so
	// dgamma and dbeta do not depend on the number of workers.
	buf := getF64Dirty(N * 4 * C)
	defer putF64(buf)
	scratch := *buf
	dot := func(n, c0, c1 int) {
		sc, off := scratch[n*4*C:], n*HW*C+c0
		grnDot(sc[c0:c1], sc[C+c0:C+c1], dy[off:(n+1)*HW*C], x[off:(n+1)*HW*C], C, HW)
	}
	coef := func(n int) {
		sc := scratch[n*4*C : (n+1)*4*C]
		grnGradCoef(sc[:C], sc[2*C:3*C], sc[3*C:], gnorm[n*C:(n+1)*C], gamma, s.Eps)
	}
	apply := func(n, c0, c1 int) {
		sc, off := scratch[n*4*C:], n*HW*C+c0
		end := (n + 1) * HW * C
		grnGradApply(dx[off:end], dy[off:end], x[off:end], C, sc[2*C+c0:2*C+c1], sc[3*C+c0:3*C+c1], HW)
	}
	p := b.grnPlanFor(s)
	if !p.split {
		p.run(b, s, 4, func(n, _, _ int) {
			dot(n, 0, C)
			coef(n)
			apply(n, 0, C)
		})
	} else {
		p.run(b, s, 2, dot)
		for n := range N {
			coef(n)
		}
		p.run(b, s, 3, apply)
	}
	// Sum the samples' shares in sample order into sample 0's slots, the
	// channels split over the workers.
	total := scratch[:2*C]
	b.parallelFor(2*C, N, func(lo, hi int) {
		for n := 1; n < N; n++ {
			for j, v := range scratch[n*4*C+lo : n*4*C+hi] {
				total[lo+j] += v
			}
		}
	})
	addTo(dgamma, total[:C])
	addTo(dbeta, total[C:])
}

// grnGradCoef computes one sample's backward coefficients from S_c =
// Σ_h dy·x (in sum), the norms g and gamma (see GRNBackward): a_c =
// 1 + gamma_c·g_c/D and k_c = (∂L/∂g_c)/g_c (0 where g_c = 0), and
// replaces sum with dgamma's share S_c·g_c/D. The channel sums run in four
// interleaved partial sums, like sum64.
func grnGradCoef[T Float](sum, a, k []float64, g, gamma []T, eps float64) {
	if !grnGradCoefAsm(sum, a, k, g, gamma, eps) {
		grnGradCoefGo(sum, a, k, g, gamma, eps)
	}
}

// grnGradCoefGo is grnGradCoef in Go.
func grnGradCoefGo[T Float](sum, a, k []float64, g, gamma []T, eps float64) {
	C := len(sum)
	a, k, g, gamma = a[:C], k[:C], g[:C], gamma[:C]
	D := sum64(g)/float64(C) + eps
	var x0, x1, x2, x3 float64 // Σ_c gamma_c·S_c·g_c
	c := 0
	for ; c+4 <= C; c += 4 {
		x0 += float64(float64(gamma[c]) * sum[c] * float64(g[c]))
		x1 += float64(float64(gamma[c+1]) * sum[c+1] * float64(g[c+1]))
		x2 += float64(float64(gamma[c+2]) * sum[c+2] * float64(g[c+2]))
		x3 += float64(float64(gamma[c+3]) * sum[c+3] * float64(g[c+3]))
	}
	for ; c < C; c++ {
		x0 += float64(float64(gamma[c]) * sum[c] * float64(g[c]))
	}
	cross := ((x0 + x1) + (x2 + x3)) / (float64(C) * D * D)
	for c, v := range g {
		gc, gm := float64(v), float64(gamma[c])
		gd := gc / D
		a[c] = 1 + float64(gm*gd)
		k[c] = 0
		if gc > 0 {
			k[c] = (gm*sum[c]/D - cross) / gc
		}
		sum[c] *= gd
	}
}

// grnDot writes sum[j] = Σ_r dy·x and sumDy[j] = Σ_r dy over the rows
// r < rows of dy[r·stride+j] and x[r·stride+j], j < len(sum), summed in
// float64 one row after another.
func grnDot[T Float](sum, sumDy []float64, dy, x []T, stride, rows int) {
	if !grnDotAsm(sum, sumDy, dy, x, stride, rows) {
		grnDotGo(sum, sumDy, dy, x, stride, rows)
	}
}

// grnDotGo is grnDot in Go.
func grnDotGo[T Float](sum, sumDy []float64, dy, x []T, stride, rows int) {
	sumDy = sumDy[:len(sum)]
	clear(sum)
	clear(sumDy)
	for r := range rows {
		xr, dyr := x[r*stride:r*stride+len(sum)], dy[r*stride:r*stride+len(sum)]
		for j, v := range dyr {
			d := float64(v)
			sum[j] += d * float64(xr[j])
			sumDy[j] += d
		}
	}
}

// grnGradApply writes dx[r·stride+j] = dy·a[j] + x·k[j] for j < len(a) and
// r < rows, computed in float64. dx may alias dy or x.
func grnGradApply[T Float](dx, dy, x []T, stride int, a, k []float64, rows int) {
	if !grnGradApplyAsm(dx, dy, x, stride, a, k, rows) {
		grnGradApplyGo(dx, dy, x, stride, a, k, rows)
	}
}

// grnGradApplyGo is grnGradApply in Go.
func grnGradApplyGo[T Float](dx, dy, x []T, stride int, a, k []float64, rows int) {
	k = k[:len(a)]
	for r := range rows {
		xr, dyr, dxr := x[r*stride:r*stride+len(a)], dy[r*stride:r*stride+len(a)], dx[r*stride:r*stride+len(a)]
		for j, v := range dyr {
			dxr[j] = T(float64(float64(v)*a[j]) + float64(float64(xr[j])*k[j]))
		}
	}
}
