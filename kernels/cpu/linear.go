package cpu

import "github.com/nextconv/nextconv/kernels"

// Linear computes y = x·wᵀ + b for [kernels.LinearShape] s, PyTorch's
// F.linear: x [Rows, In], w [Out, In], b [Out] (nil for none), y [Rows,
// Out], overwritten (y must not share memory with x). It is one GEMM (see [SGEMM]) after y is filled with the
// bias. It returns an error wrapping kernels.ErrShape or kernels.ErrDType
// naming the tensor and its shape if s is invalid or a tensor does not
// match it.
func (b *Backend) Linear(y, x, w, bias kernels.Tensor, s kernels.LinearShape) error {
	const op = "linear"
	if err := s.Validate(); err != nil {
		return err
	}
	if err := b.checkArgs(op, s.Layer().Forward(y, x, w, bias)...); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		linearForward(b, host[float64](y), host[float64](x), host[float64](w), host[float64](bias), s)
	} else {
		linearForward(b, host[float32](y), host[float32](x), host[float32](w), host[float32](bias), s)
	}
	b.roundBF16(y)
	return nil
}

func linearForward[T Float](b *Backend, y, x, w, bias []T, s kernels.LinearShape) {
	var beta T
	if bias != nil {
		fillRows(b, y, bias, s.Rows, s.Out)
		beta = 1
	}
	gemm(false, true, s.Rows, s.Out, s.In, 1, x, s.In, w, s.In, beta, y, s.Out)
}

// LinearBackward computes the gradients of [Backend.Linear] from dy [Rows,
// Out]: dx [Rows, In] = dy·w is overwritten (nil skips it); dw [Out, In] +=
// dyᵀ·x and db [Out] += Σ_rows dy are accumulated (db nil skips it); no
// output may share memory with an input. The
// bias sums are taken in float64 per worker block and added in a fixed
// order. Errors are those of Linear.
func (b *Backend) LinearBackward(dx, dw, db, dy, x, w kernels.Tensor, s kernels.LinearShape) error {
	const op = "linear backward"
	if err := s.Validate(); err != nil {
		return err
	}
	if err := b.checkArgs(op, s.Layer().Backward(dx, dw, db, dy, x, w)...); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		linearBackward(b, host[float64](dx), host[float64](dw), host[float64](db), host[float64](dy), host[float64](x), host[float64](w), s)
	} else {
		linearBackward(b, host[float32](dx), host[float32](dw), host[float32](db), host[float32](dy), host[float32](x), host[float32](w), s)
	}
	b.roundBF16(dx)
	return nil
}

func linearBackward[T Float](b *Backend, dx, dw, db, dy, x, w []T, s kernels.LinearShape) {
	if dx != nil {
		gemm(false, false, s.Rows, s.In, s.Out, 1, dy, s.Out, w, s.In, 0, dx, s.In)
	}
	gemm(true, false, s.Out, s.In, s.Rows, 1, dy, s.Out, x, s.In, 1, dw, s.In)
	if db != nil {
		addColumnSums(b, db, dy, s.Rows, s.Out)
	}
}
