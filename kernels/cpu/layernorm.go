package cpu

import (
	"math"

	"github.com/nextconv/nextconv/kernels"
)

// LayerNorm normalizes each row of x [Rows, C] over its C values,
// y = (x − mean)·rstd·w + b with rstd = 1/sqrt(var + Eps) and the biased
// variance var = mean((x − mean)²) (PyTorch F.layer_norm; ConvNeXt's
// channels_first LayerNorm on NHWC, docs/CONVNEXTV2.md §1.6). It writes the
// per-row mean and rstd [Rows] for LayerNormBackward. Statistics are
// accumulated in float64 (two passes over the row) in the float32 and float64
// CPU backends alike; the float32 backend runs its rows through AVX2
// kernels where the CPU has them, with the same rounding as the Go loops.
// y may alias x. Shapes: x, y [Rows, C]; w, b [C]; mean, rstd [Rows]. It returns
// an error wrapping kernels.ErrShape for an invalid s or a missing or
// mis-sized tensor, kernels.ErrDType for a tensor of the wrong dtype.
func (b *Backend) LayerNorm(y, mean, rstd, x, w, bias kernels.Tensor, s kernels.NormShape) error {
	const op = "cpu layernorm"
	if err := b.checkNorm(op, s, y, mean, rstd, x, w, bias, kernels.Tensor{}, kernels.Tensor{}, kernels.Tensor{}, false); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		layerNorm(b, host[float64](y), host[float64](mean), host[float64](rstd), host[float64](x), host[float64](w), host[float64](bias), s)
	} else {
		layerNorm(b, host[float32](y), host[float32](mean), host[float32](rstd), host[float32](x), host[float32](w), host[float32](bias), s)
	}
	b.roundBF16(y)
	return nil
}

// LayerNormBackward overwrites dx [Rows, C] and accumulates dw and db [C]
// from dy [Rows, C], using the forward's x, mean and rstd [Rows] and the
// weight w [C]. With x̂ = (x − mean)·rstd and g = dy·w (per row):
//
//	dx = rstd·(g − mean_C(g) − x̂·mean_C(g·x̂)),  dw += Σ_rows dy·x̂,  db += Σ_rows dy
//
// (the standard LayerNorm gradient, e.g. PyTorch's layer_norm_backward).
// Row sums and the dw, db reductions are accumulated in float64 over fixed
// row blocks, so results do not depend on the number of cores. dx may alias
// dy. Errors as for LayerNorm.
func (b *Backend) LayerNormBackward(dx, dw, db, dy, x, mean, rstd, w kernels.Tensor, s kernels.NormShape) error {
	const op = "cpu layernorm backward"
	if err := b.checkNorm(op, s, kernels.Tensor{}, mean, rstd, x, w, kernels.Tensor{}, dx, dw, db, true); err != nil {
		return err
	}
	if err := b.checkArgs(op, kernels.Arg{Name: "dy", T: dy, Want: kernels.Shape{s.Rows, s.C}}); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		layerNormBackward(b, host[float64](dx), host[float64](dw), host[float64](db), host[float64](dy),
			host[float64](x), host[float64](mean), host[float64](rstd), host[float64](w), s)
	} else {
		layerNormBackward(b, host[float32](dx), host[float32](dw), host[float32](db), host[float32](dy),
			host[float32](x), host[float32](mean), host[float32](rstd), host[float32](w), s)
	}
	b.roundBF16(dx)
	return nil
}

// checkNorm validates s and the tensors the LayerNorm family shares. In the
// forward (backward false) y and b are checked; in the backward dx, dw, db.
func (b *Backend) checkNorm(op string, s kernels.NormShape, y, mean, rstd, x, w, bias, dx, dw, db kernels.Tensor, backward bool) error {
	if err := s.Validate(); err != nil {
		return shapeErr(op, s, err)
	}
	return b.checkArgs(op, kernels.NormArgs(s, y, mean, rstd, x, w, bias, dx, dw, db, backward)...)
}

// rowStats returns the mean and 1/sqrt(biased variance + eps) of row,
// accumulated in float64 with sum64 and sumSqDev64.
func rowStats[T Float](row []T, eps float64) (mu, rs float64) {
	n := float64(len(row))
	mu = sum64(row) / n
	return mu, 1 / math.Sqrt(sumSqDev64(row, mu)/n+eps)
}

// normParams returns w (and bias, when it is not nil) converted to float64
// in one pooled buffer, w in the first C elements, bias in the next.
func normParams[T Float](w, bias []T) *[]float64 {
	C := len(w)
	n := C
	if bias != nil {
		n = 2 * C
	}
	buf := getF64Dirty(n)
	p := *buf
	for j, v := range w {
		p[j] = float64(v)
	}
	if bias != nil {
		for j, v := range bias[:C] {
			p[C+j] = float64(v)
		}
	}
	return buf
}

func layerNorm[T Float](b *Backend, y, mean, rstd, x, w, bias []T, s kernels.NormShape) {
	C := s.C
	buf := normParams(w[:C], bias[:C])
	defer putF64(buf)
	wb := *buf
	b.parallelFor(s.Rows, 3*C, func(lo, hi int) {
		layerNormRows(y[lo*C:hi*C], mean[lo:hi], rstd[lo:hi], x[lo*C:hi*C], wb[:C], wb[C:], s.Eps)
	})
}

// layerNormRows normalizes the len(mean) rows of x [rows, C] into y and
// writes their mean and rstd, with the weight and bias w, bias [C] in
// float64. y may alias x.
func layerNormRows[T Float](y, mean, rstd, x []T, w, bias []float64, eps float64) {
	if !layerNormRowsAsm(y, mean, rstd, x, w, bias, eps) {
		layerNormRowsGo(y, mean, rstd, x, w, bias, eps)
	}
}

// layerNormRowsGo is layerNormRows in Go. Like every Go loop that the
// assembly kernels mirror, it rounds each product (the explicit float64
// conversion forbids fusing it into a multiply-add, which the compiler does
// for arm64 or GOAMD64=v3), so all builds give bit-identical results.
func layerNormRowsGo[T Float](y, mean, rstd, x []T, w, bias []float64, eps float64) {
	C := len(w)
	bias = bias[:C]
	for r := range mean {
		xr := x[r*C : (r+1)*C]
		mu, rs := rowStats(xr, eps)
		mean[r], rstd[r] = T(mu), T(rs)
		normAffineRow(y[r*C:(r+1)*C], xr, mu, rs, w, bias)
	}
}

// normAffineRows writes y = (x − mean)·rstd·w + b for the len(mean) rows
// of x [rows, C] with their given mean and rstd (LayerNorm's output from
// saved statistics), w and bias [C] in float64, rounded as in
// layerNormRowsGo. y may alias x.
func normAffineRows[T Float](y, mean, rstd, x []T, w, bias []float64) {
	if !normAffineRowsAsm(y, mean, rstd, x, w, bias) {
		normAffineRowsGo(y, mean, rstd, x, w, bias)
	}
}

// normAffineRowsGo is normAffineRows in Go.
func normAffineRowsGo[T Float](y, mean, rstd, x []T, w, bias []float64) {
	C := len(w)
	for r := range mean {
		normAffineRow(y[r*C:(r+1)*C], x[r*C:(r+1)*C], float64(mean[r]), float64(rstd[r]), w, bias)
	}
}

// normAffineRow writes y = (x − mu)·rs·w + bias for one row x [C], with w
// and bias [C] in float64: the product is rounded before the bias is added
// and the sum is rounded to T, as in the assembly kernels. y may alias x.
func normAffineRow[T Float](y, x []T, mu, rs float64, w, bias []float64) {
	y, w, bias = y[:len(x)], w[:len(x)], bias[:len(x)]
	for j, v := range x {
		y[j] = T(float64((float64(v)-mu)*rs*w[j]) + bias[j])
	}
}

func layerNormBackward[T Float](b *Backend, dx, dw, db, dy, x, mean, rstd, w []T, s kernels.NormShape) {
	C := s.C
	wbuf := normParams(w[:C], nil)
	defer putF64(wbuf)
	w64 := *wbuf
	sums := getF64(2 * C)
	defer putF64(sums)
	b.rowReduce(s.Rows, 4*C, 0, *sums, func(lo, hi int, acc, _ []float64) {
		layerNormGradRows(dx[lo*C:hi*C], dy[lo*C:hi*C], x[lo*C:hi*C], mean[lo:hi], rstd[lo:hi], w64, acc[:C], acc[C:2*C])
	})
	addTo(dw, (*sums)[:C])
	addTo(db, (*sums)[C:])
}

// layerNormGradRows writes dx for the len(mean) rows of dy and x [rows, C]
// (see LayerNormBackward) and adds the rows' Σ dy·x̂ to accW and Σ dy to
// accB [C], in row order; w [C] is in float64. The row sums of g = dy·w
// and g·x̂ run in four interleaved partial sums like sum64. dx may alias
// dy.
func layerNormGradRows[T Float](dx, dy, x, mean, rstd []T, w, accW, accB []float64) {
	if !layerNormGradRowsAsm(dx, dy, x, mean, rstd, w, accW, accB) {
		layerNormGradRowsGo(dx, dy, x, mean, rstd, w, accW, accB)
	}
}

// layerNormGradRowsGo is layerNormGradRows in Go.
func layerNormGradRowsGo[T Float](dx, dy, x, mean, rstd []T, w, accW, accB []float64) {
	C := len(w)
	accW, accB = accW[:C], accB[:C]
	invC := 1 / float64(C)
	for r := range mean {
		xr, dyr, dxr := x[r*C:(r+1)*C], dy[r*C:(r+1)*C], dx[r*C:(r+1)*C]
		mu, rs := float64(mean[r]), float64(rstd[r])
		// Partial sums of g and g·x̂, element j in sum j mod 4.
		var g0, g1, g2, g3, h0, h1, h2, h3 float64
		j := 0
		for ; j+4 <= C; j += 4 {
			xv, dv, wv := xr[j:j+4:j+4], dyr[j:j+4:j+4], w[j:j+4:j+4]
			aw, ab := accW[j:j+4:j+4], accB[j:j+4:j+4]
			x0, x1, x2, x3 := (float64(xv[0])-mu)*rs, (float64(xv[1])-mu)*rs, (float64(xv[2])-mu)*rs, (float64(xv[3])-mu)*rs
			d0, d1, d2, d3 := float64(dv[0]), float64(dv[1]), float64(dv[2]), float64(dv[3])
			e0, e1, e2, e3 := float64(d0*wv[0]), float64(d1*wv[1]), float64(d2*wv[2]), float64(d3*wv[3])
			g0 += e0
			g1 += e1
			g2 += e2
			g3 += e3
			h0 += float64(e0 * x0)
			h1 += float64(e1 * x1)
			h2 += float64(e2 * x2)
			h3 += float64(e3 * x3)
			aw[0] += float64(d0 * x0)
			aw[1] += float64(d1 * x1)
			aw[2] += float64(d2 * x2)
			aw[3] += float64(d3 * x3)
			ab[0] += d0
			ab[1] += d1
			ab[2] += d2
			ab[3] += d3
		}
		for ; j < C; j++ {
			xh := (float64(xr[j]) - mu) * rs
			d := float64(dyr[j])
			e := float64(d * w[j])
			g0 += e
			h0 += float64(e * xh)
			accW[j] += float64(d * xh)
			accB[j] += d
		}
		sg := ((g0 + g1) + (g2 + g3)) * invC
		sgx := ((h0 + h1) + (h2 + h3)) * invC
		for j, v := range xr {
			xh := (float64(v) - mu) * rs
			g := float64(float64(dyr[j]) * w[j])
			dxr[j] = T(rs * (g - sg - float64(xh*sgx)))
		}
	}
}

// addTo accumulates the float64 sums into dst.
func addTo[T Float](dst []T, sums []float64) {
	for j, v := range sums {
		dst[j] = T(float64(dst[j]) + v)
	}
}
