package cpu

import (
	"math"

	"github.com/nextconv/nextconv/kernels"
)

// BatchNorm computes 2-D batch normalization over x [Rows, C] (NHWC with
// Rows = N·H·W; Ioffe & Szegedy 2015, Algorithm 1; PyTorch's
// F.batch_norm), y = (x − mean)·rstd·w + b, and writes mean and rstd [C].
// In training (s.Training) the statistics are the batch's, with the biased
// variance, and the running estimates runMean, runVar [C] are updated in
// place with momentum, runVar from the unbiased variance var·Rows/(Rows−1)
// (aten's batch_norm_cpu_update_stats_template); in evaluation mean and
// rstd come from runMean and runVar. Sums are float64, two passes (mean,
// then Σ(x − mean)²), split into row blocks that depend only on Rows
// (rowReduce), so results are bit-identical for any number of workers.
// y may alias x. It returns an error wrapping kernels.ErrShape for an
// invalid s (training with one row included) or a missing or mis-sized
// tensor, kernels.ErrDType for a tensor of the wrong dtype.
func (b *Backend) BatchNorm(y, mean, rstd, x, w, bias, runMean, runVar kernels.Tensor, s kernels.BatchNormShape) error {
	const op = "cpu batchnorm"
	if err := s.Validate(); err != nil {
		return shapeErr(op, s, err)
	}
	if err := b.checkArgs(op, s.ForwardArgs(y, mean, rstd, x, w, bias, runMean, runVar)...); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		batchNorm(b, host[float64](y), host[float64](mean), host[float64](rstd), host[float64](x),
			host[float64](w), host[float64](bias), host[float64](runMean), host[float64](runVar), s)
	} else {
		batchNorm(b, host[float32](y), host[float32](mean), host[float32](rstd), host[float32](x),
			host[float32](w), host[float32](bias), host[float32](runMean), host[float32](runVar), s)
	}
	return nil
}

// BatchNormBackward overwrites dx [Rows, C] and accumulates dw and db [C]
// from dy [Rows, C] with the forward's x, mean, rstd and w. With
// x̂ = (x − mean)·rstd, per channel:
//
//	db += Σ dy    dw += Σ dy·x̂
//	dx  = w·rstd·(dy − Σdy/Rows − x̂·Σ(dy·x̂)/Rows)   training (through the batch statistics)
//	dx  = w·rstd·dy                                  evaluation
//
// (PyTorch's batch_norm_backward_cpu_template). The two channel sums are
// float64 over the same row blocks as the forward's. dx may alias dy.
// Errors as for BatchNorm.
func (b *Backend) BatchNormBackward(dx, dw, db, dy, x, mean, rstd, w kernels.Tensor, s kernels.BatchNormShape) error {
	const op = "cpu batchnorm backward"
	if err := s.Validate(); err != nil {
		return shapeErr(op, s, err)
	}
	if err := b.checkArgs(op, s.BackwardArgs(dx, dw, db, dy, x, mean, rstd, w)...); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		batchNormBackward(b, host[float64](dx), host[float64](dw), host[float64](db), host[float64](dy),
			host[float64](x), host[float64](mean), host[float64](rstd), host[float64](w), s)
	} else {
		batchNormBackward(b, host[float32](dx), host[float32](dw), host[float32](db), host[float32](dy),
			host[float32](x), host[float32](mean), host[float32](rstd), host[float32](w), s)
	}
	return nil
}

func batchNorm[T Float](b *Backend, y, mean, rstd, x, w, bias, runMean, runVar []T, s kernels.BatchNormShape) {
	R, C := s.Rows, s.C
	buf := getF64(4 * C)
	defer putF64(buf)
	mu, sq, scale, shift := (*buf)[:C], (*buf)[C:2*C], (*buf)[2*C:3*C], (*buf)[3*C:]
	if s.Training {
		b.rowReduce(R, C, 0, mu, func(lo, hi int, acc, _ []float64) {
			for r := lo; r < hi; r++ {
				for c, v := range x[r*C : (r+1)*C] {
					acc[c] += float64(v)
				}
			}
		})
		for c := range mu {
			mu[c] /= float64(R)
		}
		b.rowReduce(R, C, 0, sq, func(lo, hi int, acc, _ []float64) {
			for r := lo; r < hi; r++ {
				for c, v := range x[r*C : (r+1)*C] {
					d := float64(v) - mu[c]
					acc[c] += d * d
				}
			}
		})
		m := s.Momentum
		for c := range C {
			v := sq[c] / float64(R)
			runMean[c] = T((1-m)*float64(runMean[c]) + m*mu[c])
			runVar[c] = T((1-m)*float64(runVar[c]) + m*sq[c]/float64(R-1))
			sq[c] = 1 / math.Sqrt(v+s.Eps)
		}
	} else {
		for c := range C {
			mu[c] = float64(runMean[c])
			sq[c] = 1 / math.Sqrt(float64(runVar[c])+s.Eps)
		}
	}
	for c := range C {
		mean[c], rstd[c] = T(mu[c]), T(sq[c])
		scale[c] = sq[c] * float64(w[c])
		shift[c] = float64(bias[c]) - mu[c]*scale[c]
	}
	b.parallelFor(R, C, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			ys := y[r*C : (r+1)*C]
			for c, v := range x[r*C : (r+1)*C] {
				ys[c] = T(float64(v)*scale[c] + shift[c])
			}
		}
	})
}

func batchNormBackward[T Float](b *Backend, dx, dw, db, dy, x, mean, rstd, w []T, s kernels.BatchNormShape) {
	R, C := s.Rows, s.C
	buf := getF64(5 * C)
	defer putF64(buf)
	sums, a, k1, k2 := (*buf)[:2*C], (*buf)[2*C:3*C], (*buf)[3*C:4*C], (*buf)[4*C:]
	b.rowReduce(R, 2*C, 0, sums, func(lo, hi int, acc, _ []float64) {
		for r := lo; r < hi; r++ {
			xs := x[r*C : (r+1)*C]
			for c, g := range dy[r*C : (r+1)*C] {
				acc[c] += float64(g)
				acc[C+c] += float64(g) * (float64(xs[c]) - float64(mean[c]))
			}
		}
	})
	for c := range C {
		rs := float64(rstd[c])
		sdy, sdyx := sums[c], sums[C+c]*rs // Σdy, Σdy·x̂
		db[c] = T(float64(db[c]) + sdy)
		dw[c] = T(float64(dw[c]) + sdyx)
		a[c] = float64(w[c]) * rs
		if s.Training {
			k1[c], k2[c] = sdy/float64(R), sdyx*rs/float64(R)
		}
	}
	b.parallelFor(R, 2*C, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xs, dxs := x[r*C:(r+1)*C], dx[r*C:(r+1)*C]
			for c, g := range dy[r*C : (r+1)*C] {
				dxs[c] = T(a[c] * (float64(g) - k1[c] - (float64(xs[c])-float64(mean[c]))*k2[c]))
			}
		}
	})
}
