package gpu

import (
	"fmt"

	"github.com/nextconv/nextconv/cuda"
	"github.com/nextconv/nextconv/kernels"
)

// bnMinChunk and bnMaxChunks set the rows one block of the BatchNorm
// column-sum kernels covers: at least 64, and enough that there are at most
// 1,024 chunks, whose sums one thread per channel then adds in order. The
// chunking depends only on the row count, so results are deterministic.
const bnMinChunk, bnMaxChunks = 64, 1024

// bnThreads is the block size of the per-channel and elementwise kernels.
const bnThreads = 256

// bnChunk returns the rows per chunk and the number of chunks for rows.
func bnChunk(rows int) (chunk, chunks int) {
	chunk = max(bnMinChunk, blocks(rows, bnMaxChunks))
	return chunk, blocks(rows, chunk)
}

// BatchNorm computes 2-D batch normalization over x [Rows, C] (NHWC with
// Rows = N·H·W; Ioffe & Szegedy 2015; PyTorch's F.batch_norm),
// y = (x − mean)·rstd·w + b, and writes mean and rstd [C]. In training the
// statistics are the batch's (biased variance) and runMean, runVar [C] are
// updated in place with momentum, runVar from the unbiased variance; in
// evaluation mean and rstd come from the running estimates. Training takes
// five launches (kernels/src/batchnorm.cu): column sums, mean, centered
// column sums, variance with the running update, apply; evaluation two.
// Sums are float32 in a fixed order (no atomics). y may alias x. It returns
// an error wrapping kernels.ErrShape for an invalid s, a missing or
// mis-sized tensor or more than 2³¹ − 1 elements, kernels.ErrDType for host
// tensors, or the driver's error.
func (b *Backend) BatchNorm(y, mean, rstd, x, w, bias, runMean, runVar kernels.Tensor, s kernels.BatchNormShape) error {
	const op = "gpu batchnorm"
	if err := bnCheck(op, s, s.ForwardArgs(y, mean, rstd, x, w, bias, runMean, runVar)...); err != nil {
		return err
	}
	rows, C := int32(s.Rows), int32(s.C)
	cgrid := dim1(blocks(s.C, bnThreads))
	if s.Training {
		chunk, chunks := bnChunk(s.Rows)
		part, free, err := b.normTemp(chunks * s.C)
		if err != nil {
			return fmt.Errorf("%s: chunk sums: %w", op, err)
		}
		defer free()
		grid := cuda.Dim3{X: blocks(s.C, 32), Y: chunks, Z: 1}
		block := cuda.Dim3{X: 32, Y: 8, Z: 1}
		if err := b.launch("bn_stats_f32", grid, block, 0, b.args().Ptr(part).Ptr(ptr(x)).Ptr(ptr(mean)).
			Int32(rows).Int32(C).Int32(int32(chunk)).Int32(0)); err != nil {
			return err
		}
		if err := b.launch("bn_mean_f32", cgrid, dim1(bnThreads), 0, b.args().Ptr(ptr(mean)).Ptr(part).
			Int32(int32(chunks)).Int32(rows).Int32(C)); err != nil {
			return err
		}
		if err := b.launch("bn_stats_f32", grid, block, 0, b.args().Ptr(part).Ptr(ptr(x)).Ptr(ptr(mean)).
			Int32(rows).Int32(C).Int32(int32(chunk)).Int32(1)); err != nil {
			return err
		}
		if err := b.launch("bn_var_f32", cgrid, dim1(bnThreads), 0, b.args().Ptr(ptr(rstd)).Ptr(ptr(runMean)).
			Ptr(ptr(runVar)).Ptr(ptr(mean)).Ptr(part).Int32(int32(chunks)).Int32(rows).Int32(C).
			Float32(float32(s.Eps)).Float32(float32(s.Momentum))); err != nil {
			return err
		}
	} else if err := b.launch("bn_eval_stats_f32", cgrid, dim1(bnThreads), 0, b.args().Ptr(ptr(mean)).Ptr(ptr(rstd)).
		Ptr(ptr(runMean)).Ptr(ptr(runVar)).Int32(C).Float32(float32(s.Eps))); err != nil {
		return err
	}
	n := s.Rows * s.C
	return b.launch("bn_apply_f32", dim1(blocks(n, bnThreads)), dim1(bnThreads), 0, b.args().Ptr(ptr(y)).Ptr(ptr(x)).
		Ptr(ptr(mean)).Ptr(ptr(rstd)).Ptr(ptr(w)).Ptr(ptr(bias)).Int32(int32(n)).Int32(C))
}

// BatchNormBackward overwrites dx [Rows, C] and accumulates dw and db [C]
// from dy [Rows, C] with the forward's x, mean, rstd and w. With
// x̂ = (x − mean)·rstd, per channel:
//
//	db += Σ dy    dw += Σ dy·x̂
//	dx  = w·rstd·(dy − Σdy/Rows − x̂·Σ(dy·x̂)/Rows)   training
//	dx  = w·rstd·dy                                  evaluation
//
// Three launches: chunked sums of dy and dy·(x − mean) (bn_bwd_sums_f32),
// the per-channel sums in chunk order with the parameter gradients and dx's
// coefficients (bn_bwd_coef_f32), the elementwise dx (bn_bwd_apply_f32).
// dx may alias dy. Errors as for BatchNorm.
func (b *Backend) BatchNormBackward(dx, dw, db, dy, x, mean, rstd, w kernels.Tensor, s kernels.BatchNormShape) error {
	const op = "gpu batchnorm backward"
	if err := bnCheck(op, s, s.BackwardArgs(dx, dw, db, dy, x, mean, rstd, w)...); err != nil {
		return err
	}
	chunk, chunks := bnChunk(s.Rows)
	part, freePart, err := b.normTemp(chunks * 2 * s.C)
	if err != nil {
		return fmt.Errorf("%s: chunk sums: %w", op, err)
	}
	defer freePart()
	coef, freeCoef, err := b.normTemp(3 * s.C)
	if err != nil {
		return fmt.Errorf("%s: coefficients: %w", op, err)
	}
	defer freeCoef()
	rows, C := int32(s.Rows), int32(s.C)
	training := int32(0)
	if s.Training {
		training = 1
	}
	if err := b.launch("bn_bwd_sums_f32", cuda.Dim3{X: blocks(s.C, 32), Y: chunks, Z: 1}, cuda.Dim3{X: 32, Y: 8, Z: 1}, 0,
		b.args().Ptr(part).Ptr(ptr(dy)).Ptr(ptr(x)).Ptr(ptr(mean)).Int32(rows).Int32(C).Int32(int32(chunk))); err != nil {
		return err
	}
	if err := b.launch("bn_bwd_coef_f32", dim1(blocks(s.C, bnThreads)), dim1(bnThreads), 0, b.args().Ptr(coef).
		Ptr(ptr(dw)).Ptr(ptr(db)).Ptr(part).Ptr(ptr(rstd)).Ptr(ptr(w)).Int32(int32(chunks)).Int32(rows).Int32(C).
		Int32(training)); err != nil {
		return err
	}
	n := s.Rows * s.C
	return b.launch("bn_bwd_apply_f32", dim1(blocks(n, bnThreads)), dim1(bnThreads), 0, b.args().Ptr(ptr(dx)).
		Ptr(ptr(dy)).Ptr(ptr(x)).Ptr(ptr(mean)).Ptr(coef).Int32(int32(n)).Int32(C))
}

// bnCheck validates s, its 32-bit sizes, then the tensors.
func bnCheck(op string, s kernels.BatchNormShape, args ...kernels.Arg) error {
	if err := s.Validate(); err != nil {
		return fmt.Errorf("%s %+v: %w", op, s, err)
	}
	if err := normFitsInt32(op, s, s.Rows*s.C); err != nil {
		return err
	}
	return checkArgs(op, args...)
}
