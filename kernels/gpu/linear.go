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
	if err := checkArgs(op,
		kernels.Arg{Name: "y", T: y, Want: kernels.Shape{s.Rows, s.Out}},
		kernels.Arg{Name: "x", T: x, Want: kernels.Shape{s.Rows, s.In}},
		kernels.Arg{Name: "w", T: w, Want: kernels.Shape{s.Out, s.In}},
		kernels.Arg{Name: "b", T: bias, Want: kernels.Shape{s.Out}, Optional: true},
	); err != nil {
		return err
	}
	if err := checkInt32(op, s.Rows*s.In, s.Rows*s.Out, s.Out*s.In); err != nil {
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
	if err := checkArgs(op,
		kernels.Arg{Name: "dx", T: dx, Want: kernels.Shape{s.Rows, s.In}, Optional: true},
		kernels.Arg{Name: "dw", T: dw, Want: kernels.Shape{s.Out, s.In}},
		kernels.Arg{Name: "db", T: db, Want: kernels.Shape{s.Out}, Optional: true},
		kernels.Arg{Name: "dy", T: dy, Want: kernels.Shape{s.Rows, s.Out}},
		kernels.Arg{Name: "x", T: x, Want: kernels.Shape{s.Rows, s.In}},
		kernels.Arg{Name: "w", T: w, Want: kernels.Shape{s.Out, s.In}},
	); err != nil {
		return err
	}
	if err := checkInt32(op, s.Rows*s.In, s.Rows*s.Out, s.Out*s.In); err != nil {
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

// sgemm runs Driver.Sgemm (column-major, cuBLAS semantics) for op and, with
// SyncEach, waits and reports its error under op's name.
func (b *Backend) sgemm(op string, transA, transB bool, m, n, k int, alpha float32, a cuda.DevicePtr, lda int, bm cuda.DevicePtr, ldb int, beta float32, c cuda.DevicePtr, ldc int) error {
	if err := b.drv.Sgemm(transA, transB, m, n, k, alpha, a, lda, bm, ldb, beta, c, ldc); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if b.SyncEach {
		if err := b.drv.Synchronize(); err != nil {
			return fmt.Errorf("%s: after sgemm: %w", op, err)
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
