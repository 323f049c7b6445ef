package gpu

import (
	"fmt"
	"unsafe"

	"github.com/nextconv/nextconv/internal/bfloat16"
	"github.com/nextconv/nextconv/kernels"
)

// AllocDType returns a zero-filled device tensor of shape s and dtype dt:
// Float32 (as Alloc) or BFloat16 (2 bytes per element; allocations are
// 256-byte aligned, so the kernels' 16-byte vector loads apply from the
// start). Any other dtype is an error wrapping kernels.ErrDType.
func (b *Backend) AllocDType(s kernels.Shape, dt kernels.DType) (kernels.Tensor, error) {
	switch dt {
	case kernels.Float32:
		return b.Alloc(s)
	case kernels.BFloat16:
		return b.alloc(s, kernels.BFloat16)
	}
	return kernels.Tensor{}, fmt.Errorf("gpu alloc %v: the CUDA backend does not store %v: %w", s, dt, kernels.ErrDType)
}

// AdamWBF16 is AdamW that also refreshes p16, the bf16 copy of the arena
// the matrix products read in bf16 precision (kernels.OptimOps.AdamWBF16,
// docs/BF16.md §3): p16[i] = bf16(p[i]) (nearest even) of every updated
// element, in the same launch (adamw_bf16); elements outside every group
// are untouched in both. p16 is a BFloat16 device tensor of p's length.
// Errors as for AdamW, and one wrapping kernels.ErrDType if p16 is not
// bf16.
func (b *Backend) AdamWBF16(p, g, m, v, p16 kernels.Tensor, groups []kernels.AdamWGroup, h kernels.AdamWHyper) error {
	const op = "gpu adamw-bf16"
	if err := checkDevice(op, kernels.Arg{Name: "p16", T: p16, Want: p.Shape}); err != nil {
		return err
	}
	if dt := p16.Data.DType(); dt != kernels.BFloat16 {
		return fmt.Errorf("%s: p16 is %v, want bfloat16: %w", op, dt, kernels.ErrDType)
	}
	return b.adamW(op, "adamw_bf16", p, g, m, v, p16, groups, h)
}

// checkActs checks the activation arguments of an op that has float32 and
// bf16 kernels, and its float32 arguments (parameters, statistics): shapes
// and device storage as checkArgs, every activation of one dtype, which it
// returns. A mixed call is an error wrapping kernels.ErrDType that names
// the activation whose dtype differs from the first one's.
func checkActs(op string, acts []kernels.Arg, f32 ...kernels.Arg) (kernels.DType, error) {
	if err := checkDevice(op, acts...); err != nil {
		return 0, err
	}
	if err := checkArgs(op, f32...); err != nil {
		return 0, err
	}
	dt, first := kernels.DType(0), ""
	for _, a := range acts {
		if a.T.Nil() {
			continue
		}
		switch got := a.T.Data.DType(); {
		case dt == 0:
			dt, first = got, a.Name
		case got != dt:
			return 0, fmt.Errorf("%s: %s is %v but %s is %v; the CUDA backend's kernels take one activation dtype: %w", op, a.Name, got, first, dt, kernels.ErrDType)
		}
	}
	if dt == 0 {
		dt = kernels.Float32
	}
	return dt, nil
}

// kernelFor returns name + "_bf16" for bf16 activations, else name + "_f32".
func kernelFor(name string, dt kernels.DType) string {
	if dt == kernels.BFloat16 {
		return name + "_bf16"
	}
	return name + "_f32"
}

// bf16Bytes views bf16 bit patterns as their little-endian bytes.
func bf16Bytes(v []uint16) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 2*len(v))
}

// uploadBF16 rounds src to bf16 (nearest even) on the host and copies it
// into the bf16 tensor dst.
func (b *Backend) uploadBF16(dst kernels.Tensor, src []float32) error {
	bits := make([]uint16, len(src))
	for i, v := range src {
		bits[i] = bfloat16.FromFloat32(v)
	}
	return b.drv.CopyHtoD(ptr(dst), bf16Bytes(bits))
}

// downloadBF16 copies the bf16 tensor src into dst, widening exactly.
func (b *Backend) downloadBF16(dst []float32, src kernels.Tensor) error {
	bits := make([]uint16, len(dst))
	if err := b.checked(b.drv.CopyDtoH(bf16Bytes(bits), ptr(src))); err != nil {
		return err
	}
	for i, h := range bits {
		dst[i] = bfloat16.ToFloat32(h)
	}
	return nil
}

// convert copies src into dst of the other dtype on the device
// (convert_f32_bf16 rounds to nearest even, convert_bf16_f32 is exact).
func (b *Backend) convert(dst, src kernels.Tensor) error {
	name := "convert_f32_bf16"
	if src.Data.DType() == kernels.BFloat16 {
		name = "convert_bf16_f32"
	}
	n := src.Len()
	if err := normFitsInt32("gpu copy", src.Shape, n); err != nil {
		return err
	}
	return b.launch(name, dim1(min(blocks(blocks(n, 8), 256), 65535)), dim1(256), 0, b.args().Ptr(ptr(dst)).Ptr(ptr(src)).Int32(int32(n)))
}
