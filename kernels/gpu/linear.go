package gpu

import (
	"fmt"
	"math"

	"github.com/nextconv/nextconv/cuda"
	"github.com/nextconv/nextconv/kernels"
)

// Linear computes y = x·wᵀ + b for [kernels.LinearShape] s, PyTorch's
// F.linear: x [Rows, In], w [Out, In], b [Out] (nil for none), y [Rows,
// Out] overwritten. It is one cuBLAS SGEMM (Driver.Sgemm; in column-major
// terms yᵀ = w·xᵀ, so both operands are used as stored) followed, with a
// bias, by bias_add_f32. It returns an error wrapping kernels.ErrShape or
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
	if err := b.sgemm(op, true, false, s.Out, s.Rows, s.In, 1, ptr(w), s.In, ptr(x), s.In, 0, ptr(y), s.Out); err != nil {
		return err
	}
	if !bias.Nil() {
		return b.biasAdd(ptr(y), ptr(bias), s.Rows, s.Out)
	}
	return nil
}

// LinearBackward computes the gradients of [Backend.Linear] from dy [Rows,
// Out]: dx [Rows, In] = dy·w is overwritten (nil skips it), dw [Out, In] +=
// dyᵀ·x is accumulated by an SGEMM with beta = 1, and db [Out] += Σ_rows dy
// (nil skips it) by the deterministic two-pass column sum of bias.cu.
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
		if err := b.sgemm(op, false, false, s.In, s.Rows, s.Out, 1, ptr(w), s.In, ptr(dy), s.Out, 0, ptr(dx), s.In); err != nil {
			return err
		}
	}
	// dwᵀ [In, Out] += xᵀ·dy in column-major terms.
	if err := b.sgemm(op, false, true, s.In, s.Out, s.Rows, 1, ptr(x), s.In, ptr(dy), s.Out, 1, ptr(dw), s.In); err != nil {
		return err
	}
	if !db.Nil() {
		return b.biasGrad(ptr(db), ptr(dy), s.Rows, s.Out)
	}
	return nil
}

// linearShapes are the tensor shapes of [Backend.Linear] at s.
func linearShapes(s kernels.LinearShape) layerShapes {
	return layerShapes{s.Layer(), []int{s.Rows * s.In, s.Rows * s.Out, s.Out * s.In}}
}

// layerShapes are the tensor shapes of a layer with a weight and an
// optional bias (Linear, Conv2D, DWConv), as the CPU backend checks them,
// and the element counts its kernels and GEMMs index with int32.
type layerShapes struct {
	kernels.LayerShapes
	int32s []int
}

// checkForward checks the forward's y, x, w and b (nil for none) against
// l, then l.int32s (checkInt32). It returns an error wrapping
// kernels.ErrShape or kernels.ErrDType that names op and the tensor.
func (l layerShapes) checkForward(op string, y, x, w, bias kernels.Tensor) error {
	if err := checkArgs(op, l.Forward(y, x, w, bias)...); err != nil {
		return err
	}
	return checkInt32(op, l.int32s...)
}

// checkBackward is checkForward for the backward's dx and db (nil skips
// either), dw, dy, x and w.
func (l layerShapes) checkBackward(op string, dx, dw, db, dy, x, w kernels.Tensor) error {
	if err := checkArgs(op, l.Backward(dx, dw, db, dy, x, w)...); err != nil {
		return err
	}
	return checkInt32(op, l.int32s...)
}

// sgemm runs Driver.Sgemm (column-major, cuBLAS semantics) for op and, with
// SyncEach, waits and reports its error under op's name.
func (b *Backend) sgemm(op string, transA, transB bool, m, n, k int, alpha float32, a cuda.DevicePtr, lda int, bm cuda.DevicePtr, ldb int, beta float32, c cuda.DevicePtr, ldc int) error {
	b.recent.add("cublasSgemm", b.innermost())
	if err := b.drv.Sgemm(transA, transB, m, n, k, alpha, a, lda, bm, ldb, beta, c, ldc); err != nil {
		return fmt.Errorf("%s: %w", op, b.queuedError(err))
	}
	if b.SyncEach {
		if err := b.checked(b.drv.Synchronize()); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
	return nil
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
