package gpu

import (
	"fmt"

	"github.com/nextconv/nextconv/cuda"
	"github.com/nextconv/nextconv/kernels"
)

// geluThreads is the block size of the elementwise GELU kernels.
const geluThreads = 256

// GELU computes y = GELU(x) elementwise (Hendrycks & Gimpel 2016) for any
// shape; y and x have the same number of elements and y may alias x.
// approx GELUErf is the exact x·Φ(x) of PyTorch's nn.GELU(), evaluated as
// 0.5·x·erfc(−x/√2), which keeps float32 relative precision in the
// negative tail where 0.5·x·(1 + erf(x/√2)) cancels; GELUTanh is
// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), evaluated as x·σ(2u) (kernel
// gelu_fwd_f32, kernels/src/gelu.cu; gelu_fwd_bf16 on bf16 x and y, which
// computes in float32 and rounds y once). It returns an error wrapping
// kernels.ErrShape or kernels.ErrDType for missing, mis-sized or host
// tensors or tensors of two dtypes, or an error for an unknown approx.
func (b *Backend) GELU(y, x kernels.Tensor, approx kernels.GELUApprox) error {
	const op = "gpu gelu"
	code, err := geluCode(op, approx)
	if err != nil {
		return err
	}
	dt, err := checkActs(op, []kernels.Arg{{Name: "x", T: x, Want: x.Shape}, {Name: "y", T: y, Want: x.Shape}})
	if err != nil {
		return err
	}
	n := x.Len()
	if err := normFitsInt32(op, x.Shape, n); err != nil || n == 0 {
		return err
	}
	return b.launch(kernelFor("gelu_fwd", dt), geluGrid(n, dt), dim1(geluThreads), 0, b.args().Ptr(ptr(y)).
		Ptr(ptr(x)).Int32(int32(n)).Int32(code))
}

// GELUBackward overwrites dx = dy·GELU'(x) for the approximation approx; dx,
// dy and x have the same number of elements and dx may alias dy (or x).
// GELU'(x) = Φ(x) + x·φ(x) for GELUErf; for GELUTanh it is the derivative
// of x·σ(2u) (kernel gelu_bwd_f32). Errors as for GELU.
func (b *Backend) GELUBackward(dx, dy, x kernels.Tensor, approx kernels.GELUApprox) error {
	const op = "gpu gelu backward"
	code, err := geluCode(op, approx)
	if err != nil {
		return err
	}
	dt, err := checkActs(op, []kernels.Arg{{Name: "x", T: x, Want: x.Shape},
		{Name: "dy", T: dy, Want: x.Shape}, {Name: "dx", T: dx, Want: x.Shape}})
	if err != nil {
		return err
	}
	n := x.Len()
	if err := normFitsInt32(op, x.Shape, n); err != nil || n == 0 {
		return err
	}
	return b.launch(kernelFor("gelu_bwd", dt), geluGrid(n, dt), dim1(geluThreads), 0, b.args().Ptr(ptr(dx)).
		Ptr(ptr(dy)).Ptr(ptr(x)).Int32(int32(n)).Int32(code))
}

// geluGrid is the grid of the GELU kernels over n elements: one element a
// thread in float32, a grid-stride loop over 8-element groups in bf16
// (streamGridFor).
func geluGrid(n int, dt kernels.DType) cuda.Dim3 {
	if dt == kernels.BFloat16 {
		return streamGridFor(n, dt)
	}
	return dim1(blocks(n, geluThreads))
}

// geluCode returns the kernels' approx argument for a: 0 for GELUErf, 1 for
// GELUTanh, or an error naming op for any other value.
func geluCode(op string, a kernels.GELUApprox) (int32, error) {
	switch a {
	case kernels.GELUErf:
		return 0, nil
	case kernels.GELUTanh:
		return 1, nil
	}
	return 0, fmt.Errorf("%s: unknown GELU approximation %d (want erf or tanh)", op, uint8(a))
}
