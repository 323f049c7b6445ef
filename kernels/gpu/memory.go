package gpu

import (
	"fmt"
	"unsafe"

	"github.com/nextconv/nextconv/cuda"
	"github.com/nextconv/nextconv/kernels"
)

// pool is a caching allocator: freed buffers are kept by exact byte size and
// handed out again, so a training loop whose shapes repeat stops calling the
// driver after its first step. Exact sizes (no rounding up) keep the
// simulator's out-of-bounds guards meaningful.
type pool struct {
	drv  cuda.Driver
	free map[int][]cuda.DevicePtr
	live map[cuda.DevicePtr]int // allocation start → bytes
}

func (p *pool) get(bytes int) (cuda.DevicePtr, error) {
	if p.free == nil {
		p.free, p.live = map[int][]cuda.DevicePtr{}, map[cuda.DevicePtr]int{}
	}
	if list := p.free[bytes]; len(list) > 0 {
		ptr := list[len(list)-1]
		p.free[bytes] = list[:len(list)-1]
		p.live[ptr] = bytes
		return ptr, nil
	}
	ptr, err := p.drv.Malloc(bytes)
	if err != nil {
		return 0, err
	}
	p.live[ptr] = bytes
	return ptr, nil
}

// put returns an allocation to the cache; pointers that are not the start
// of a live allocation (views) are ignored.
func (p *pool) put(ptr cuda.DevicePtr, bytes int) {
	if n, ok := p.live[ptr]; ok && n == bytes {
		delete(p.live, ptr)
		p.free[bytes] = append(p.free[bytes], ptr)
	}
}

// release frees every cached and live allocation.
func (p *pool) release() error {
	var first error
	for _, list := range p.free {
		for _, ptr := range list {
			if err := p.drv.Free(ptr); err != nil && first == nil {
				first = err
			}
		}
	}
	for ptr := range p.live {
		if err := p.drv.Free(ptr); err != nil && first == nil {
			first = err
		}
	}
	p.free, p.live = nil, nil
	return first
}

// Alloc returns a zero-filled device tensor of shape s.
func (b *Backend) Alloc(s kernels.Shape) (kernels.Tensor, error) {
	if len(s) == 0 || !s.Valid() {
		return kernels.Tensor{}, fmt.Errorf("gpu alloc: shape %v has a non-positive dimension: %w", s, kernels.ErrShape)
	}
	n := s.Len()
	ptr, err := b.pool.get(4 * n)
	if err != nil {
		return kernels.Tensor{}, fmt.Errorf("gpu alloc %v (%d bytes): %w", s, 4*n, err)
	}
	if err := b.drv.Memset(ptr, 0, 4*n); err != nil {
		return kernels.Tensor{}, err
	}
	return kernels.Tensor{Shape: s.Clone(), Data: Buffer{Ptr: ptr, N: n}}, nil
}

// Free returns t's memory to the backend's cache. Views and the nil tensor
// are ignored.
func (b *Backend) Free(t kernels.Tensor) {
	if buf, ok := t.Data.(Buffer); ok {
		b.pool.put(buf.Ptr, 4*buf.N)
	}
}

// Upload copies host values into dst.
func (b *Backend) Upload(dst kernels.Tensor, src []float32) error {
	if buf, ok := dst.Data.(Buffer); !ok || buf.N != len(src) || dst.Shape.Len() != len(src) {
		// Only a bad call gets here: the checks allocate.
		if err := checkArgs("upload", kernels.Arg{Name: "dst", T: dst, Want: kernels.Shape{len(src)}}); err != nil {
			return err
		}
	}
	if len(src) == 0 {
		return nil
	}
	return b.drv.CopyHtoD(ptr(dst), f32Bytes(src))
}

// Download copies src into host values, waiting for queued work.
func (b *Backend) Download(dst []float32, src kernels.Tensor) error {
	if err := checkArgs("download", kernels.Arg{Name: "src", T: src, Want: kernels.Shape{len(dst)}}); err != nil {
		return err
	}
	if len(dst) == 0 {
		return nil
	}
	return b.checked(b.drv.CopyDtoH(f32Bytes(dst), ptr(src)))
}

// Zero sets t to 0.
func (b *Backend) Zero(t kernels.Tensor) error {
	if err := checkArgs("zero", kernels.Arg{Name: "t", T: t, Want: t.Shape}); err != nil {
		return err
	}
	return b.drv.Memset(ptr(t), 0, 4*t.Len())
}

// Copy copies src into dst on the device.
func (b *Backend) Copy(dst, src kernels.Tensor) error {
	if err := checkArgs("copy", kernels.Arg{Name: "dst", T: dst, Want: src.Shape}, kernels.Arg{Name: "src", T: src, Want: dst.Shape}); err != nil {
		return err
	}
	return b.drv.CopyDtoD(ptr(dst), ptr(src), 4*src.Len())
}

// f32Bytes views float32 values as their little-endian bytes.
func f32Bytes(v []float32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 4*len(v))
}
