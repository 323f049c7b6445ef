package gpu

import (
	"fmt"
	"math"

	"github.com/nextconv/nextconv/cuda"
	"github.com/nextconv/nextconv/kernels"
)

// Linear computes y = x·wᵀ + b for [kernels.LinearShape] s, PyTorch's
// F.linear: x [Rows, In], w [Out, In], b [Out] (nil for none), y [Rows,
// Out] overwritten. It is one GEMM (gemm: an SGEMM in FP32 precision, a
// cuBLASLt product in TF32 and BF16; in column-major terms yᵀ = w·xᵀ, so
// both operands are used as stored) with the bias added by the product's
// BIAS epilogue when the bias has y's type in TF32 or BF16 precision, else
// by bias_add_f32. In BF16 precision x and w are bf16 and y is bf16 or
// float32, rounded once. It returns an error wrapping kernels.ErrShape or
// kernels.ErrDType naming the tensor if s is invalid or a tensor does not
// match it or is not device memory of this backend.
func (b *Backend) Linear(y, x, w, bias kernels.Tensor, s kernels.LinearShape) error {
	const op = "linear"
	if err := s.Validate(); err != nil {
		return err
	}
	if err := linearShapes(s).checkForward(op, y, x, w, bias); err != nil {
		return err
	}
	epi, bo := b.forwardEpilogue(y, bias)
	if err := b.gemm(op, true, false, s.Out, s.Rows, s.In, operandOf(w), s.In, operandOf(x), s.In, 0, operandOf(y), s.Out, epi, bo); err != nil {
		return err
	}
	return b.addBias(op, y, bias, s.Rows, s.Out)
}

// LinearBackward computes the gradients of [Backend.Linear] from dy [Rows,
// Out]: dx [Rows, In] = dy·w is overwritten (nil skips it), dw [Out, In] +=
// dyᵀ·x is accumulated by a GEMM with beta = 1, and db [Out] += Σ_rows dy
// (nil skips it; see weightGrad).
// Errors are those of Linear.
func (b *Backend) LinearBackward(dx, dw, db, dy, x, w kernels.Tensor, s kernels.LinearShape) error {
	const op = "linear backward"
	if err := s.Validate(); err != nil {
		return err
	}
	if err := linearShapes(s).checkBackward(op, dx, dw, db, dy, x, w); err != nil {
		return err
	}
	if !dx.Nil() {
		// dxᵀ [In, Rows] = wᵀ·dyᵀ in column-major terms.
		if err := b.gemm(op, false, false, s.In, s.Rows, s.Out, operandOf(w), s.In, operandOf(dy), s.Out, 0, operandOf(dx), s.In, cuda.EpilogueDefault, operand{}); err != nil {
			return err
		}
	}
	// dwᵀ [In, Out] += xᵀ·dy in column-major terms, with db from the same
	// product's BGRADB epilogue when dy is bf16 (see weightGrad).
	return b.weightGrad(op, operandOf(x), s.In, dy, s.Out, s.Rows, dw, db)
}

// weightGrad adds dwᵀ [ck, cout] += xᵀ·dy for x [rows, ck] and dy [rows,
// cout] (column-major: op(A) = x as stored, op(B) = dyᵀ) and db [cout] +=
// Σ_rows dy (nil skips it). A float32 dy gets the deterministic column sum
// of bias.cu (biasGrad). A bf16 dy, which that kernel does not read, gets
// the column sums from the product's BGRADB epilogue (Σ over the product's
// K, the rows): cuBLASLt overwrites its bias vector, while db accumulates
// (gradient accumulation over micro-batches, shared parameters), so the
// sums go to a float32 scratch vector that add_f32 then adds into db.
func (b *Backend) weightGrad(op string, x operand, ck int, dy kernels.Tensor, cout, rows int, dw, db kernels.Tensor) error {
	dyo := operandOf(dy)
	if db.Nil() || dyo.t == cuda.Float32 {
		if err := b.gemm(op, false, true, ck, cout, rows, x, ck, dyo, cout, 1, operandOf(dw), ck, cuda.EpilogueDefault, operand{}); err != nil {
			return err
		}
		if db.Nil() {
			return nil
		}
		return b.biasGrad(db, dy, rows, cout)
	}
	sums, err := b.scratch(op, 4*cout)
	if err != nil {
		return err
	}
	defer b.pool.put(sums, 4*cout)
	if err := b.gemm(op, false, true, ck, cout, rows, x, ck, dyo, cout, 1, operandOf(dw), ck, cuda.EpilogueBGradB, operand{p: sums}); err != nil {
		return err
	}
	return b.launch("add_f32", streamGrid(cout), dim1(streamThreads), 0, b.args().Ptr(ptr(db)).Ptr(ptr(db)).Ptr(sums).Int32(int32(cout)))
}

// linearShapes are the tensor shapes of [Backend.Linear] at s.
func linearShapes(s kernels.LinearShape) layerShapes {
	return layerShapes{s.Layer(), []int{s.Rows * s.In, s.Rows * s.Out, s.Out * s.In}, true}
}

// layerShapes are the tensor shapes of a layer with a weight and an
// optional bias (Linear, Conv2D, DWConv), as the CPU backend checks them,
// and the element counts its kernels and GEMMs index with int32.
type layerShapes struct {
	kernels.LayerShapes
	int32s []int
	// gemm is set for the ops whose tensors only GEMMs read (Linear, the
	// direct Conv2D path): those take float32 or bf16 tensors and gemm and
	// addBias check the combination; the others take float32 only.
	gemm bool
}

// checkForward checks the forward's y, x, w and b (nil for none) against
// l, then l.int32s (checkInt32). It returns an error wrapping
// kernels.ErrShape or kernels.ErrDType that names op and the tensor.
func (l layerShapes) checkForward(op string, y, x, w, bias kernels.Tensor) error {
	if err := l.check(op, l.Forward(y, x, w, bias)...); err != nil {
		return err
	}
	return checkInt32(op, l.int32s...)
}

// checkBackward is checkForward for the backward's dx and db (nil skips
// either), dw, dy, x and w.
func (l layerShapes) checkBackward(op string, dx, dw, db, dy, x, w kernels.Tensor) error {
	if err := l.check(op, l.Backward(dx, dw, db, dy, x, w)...); err != nil {
		return err
	}
	return checkInt32(op, l.int32s...)
}

// check is checkDevice for a GEMM op (l.gemm), else checkArgs.
func (l layerShapes) check(op string, args ...kernels.Arg) error {
	if l.gemm {
		return checkDevice(op, args...)
	}
	return checkArgs(op, args...)
}

// checkInt32 returns an error wrapping kernels.ErrShape if one of the
// element counts does not fit the int32 sizes the kernels and cuBLAS take.
func checkInt32(op string, counts ...int) error {
	for _, n := range counts {
		if n > math.MaxInt32 {
			return fmt.Errorf("%s: a tensor of %d elements exceeds the kernels' int32 sizes: %w", op, n, kernels.ErrShape)
		}
	}
	return nil
}
