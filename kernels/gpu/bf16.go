package gpu

import (
	"fmt"

	"github.com/nextconv/nextconv/kernels"
)

// errNoBF16 is the error of the bf16 entry points until the CUDA backend's
// bf16 kernels land (issue 12).
func (b *Backend) errNoBF16(op string) error {
	return fmt.Errorf("gpu %s on %s: bfloat16 is not yet supported by the CUDA backend: %w", op, b.Name(), kernels.ErrDType)
}

// AllocDType returns Alloc(s) for Float32; any other dtype is an error
// wrapping kernels.ErrDType (bf16 storage is not yet supported).
func (b *Backend) AllocDType(s kernels.Shape, dt kernels.DType) (kernels.Tensor, error) {
	if dt == kernels.Float32 {
		return b.Alloc(s)
	}
	return kernels.Tensor{}, b.errNoBF16("alloc " + dt.String())
}

// AdamWBF16 is not yet supported; it returns an error wrapping
// kernels.ErrDType.
func (b *Backend) AdamWBF16(p, g, m, v, p16 kernels.Tensor, groups []kernels.AdamWGroup, h kernels.AdamWHyper) error {
	return b.errNoBF16("adamw-bf16")
}
