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
//
// It is stream-aware. A buffer freed by main-stream work (put) may be
// handed to later main-stream work at once, since the stream runs in
// order; one handed to a side stream (getOn) makes that stream wait for an
// event recorded on the main stream first, and one freed by side-stream
// work (putAfter) carries the event that marks the end of that work, which
// the main stream waits for before reusing it. So a copy stream never
// overwrites scratch memory a queued kernel still reads, nor the reverse.
type pool struct {
	drv  cuda.Driver
	free map[int][]pooled
	live map[cuda.DevicePtr]int // allocation start → bytes
	mark cuda.Event             // recorded on the main stream for getOn
}

// pooled is a cached allocation and, when side-stream work freed it, the
// event after that work (owned by the pool).
type pooled struct {
	ptr   cuda.DevicePtr
	ready cuda.Event
}

// get returns bytes of device memory for main-stream work.
func (p *pool) get(bytes int) (cuda.DevicePtr, error) {
	if p.free == nil {
		p.free, p.live = map[int][]pooled{}, map[cuda.DevicePtr]int{}
	}
	if list := p.free[bytes]; len(list) > 0 {
		e := list[len(list)-1]
		p.free[bytes] = list[:len(list)-1]
		if e.ready != nil {
			err := p.drv.WaitEvent(nil, e.ready)
			e.ready.Release()
			if err != nil {
				p.free[bytes] = append(p.free[bytes], pooled{ptr: e.ptr})
				return 0, err
			}
		}
		p.live[e.ptr] = bytes
		return e.ptr, nil
	}
	ptr, err := p.drv.Malloc(bytes)
	if err != nil {
		return 0, err
	}
	p.live[ptr] = bytes
	return ptr, nil
}

// getOn returns bytes of device memory for work on side stream s, which
// first waits for everything queued on the main stream so far (a cached
// buffer's last readers among it).
func (p *pool) getOn(bytes int, s cuda.Stream) (cuda.DevicePtr, error) {
	ptr, err := p.get(bytes)
	if err != nil {
		return 0, err
	}
	if p.mark == nil {
		if p.mark, err = p.drv.NewEvent(); err != nil {
			p.put(ptr, bytes)
			return 0, err
		}
	}
	if err = p.drv.RecordEvent(p.mark, nil); err == nil {
		err = p.drv.WaitEvent(s, p.mark)
	}
	if err != nil {
		p.put(ptr, bytes)
		return 0, err
	}
	return ptr, nil
}

// put returns an allocation that main-stream work used to the cache;
// pointers that are not the start of a live allocation (views) are ignored.
func (p *pool) put(ptr cuda.DevicePtr, bytes int) { p.putAfter(ptr, bytes, nil) }

// putAfter is put for an allocation that work before the event ready (on
// any stream) used; the pool owns ready from now on. A nil ready means the
// main stream.
func (p *pool) putAfter(ptr cuda.DevicePtr, bytes int, ready cuda.Event) {
	if n, ok := p.live[ptr]; ok && n == bytes {
		delete(p.live, ptr)
		p.free[bytes] = append(p.free[bytes], pooled{ptr: ptr, ready: ready})
		return
	}
	if ready != nil {
		ready.Release()
	}
}

// release frees every cached and live allocation.
func (p *pool) release() error {
	var first error
	for _, list := range p.free {
		for _, e := range list {
			if e.ready != nil {
				e.ready.Release()
			}
			if err := p.drv.Free(e.ptr); err != nil && first == nil {
				first = err
			}
		}
	}
	for ptr := range p.live {
		if err := p.drv.Free(ptr); err != nil && first == nil {
			first = err
		}
	}
	if p.mark != nil {
		p.mark.Release()
	}
	p.free, p.live, p.mark = nil, nil, nil
	return first
}

// Alloc returns a zero-filled float32 device tensor of shape s.
func (b *Backend) Alloc(s kernels.Shape) (kernels.Tensor, error) { return b.alloc(s, kernels.Float32) }

// alloc returns a zero-filled device tensor of shape s and dtype dt
// (Float32 or BFloat16).
func (b *Backend) alloc(s kernels.Shape, dt kernels.DType) (kernels.Tensor, error) {
	if len(s) == 0 || !s.Valid() {
		return kernels.Tensor{}, fmt.Errorf("gpu alloc: shape %v has a non-positive dimension: %w", s, kernels.ErrShape)
	}
	buf := Buffer{N: s.Len(), DT: dt}
	var err error
	if buf.Ptr, err = b.pool.get(buf.bytes()); err != nil {
		return kernels.Tensor{}, fmt.Errorf("gpu alloc %v %v (%d bytes): %w", dt, s, buf.bytes(), err)
	}
	if err := b.drv.Memset(buf.Ptr, 0, buf.bytes()); err != nil {
		return kernels.Tensor{}, err
	}
	return kernels.Tensor{Shape: s.Clone(), Data: buf}, nil
}

// Free returns t's memory to the backend's cache. Views and the nil tensor
// are ignored.
func (b *Backend) Free(t kernels.Tensor) {
	if buf, ok := t.Data.(Buffer); ok {
		b.pool.put(buf.Ptr, buf.bytes())
	}
}

// Upload copies host values into dst, rounding them to nearest even when
// dst is bf16.
func (b *Backend) Upload(dst kernels.Tensor, src []float32) error {
	if buf, ok := dst.Data.(Buffer); !ok || buf.N != len(src) || dst.Shape.Len() != len(src) {
		// Only a bad call gets here: the checks allocate.
		if err := checkDevice("upload", kernels.Arg{Name: "dst", T: dst, Want: kernels.Shape{len(src)}}); err != nil {
			return err
		}
	}
	if len(src) == 0 {
		return nil
	}
	if dst.Data.DType() == kernels.BFloat16 {
		return b.uploadBF16(dst, src)
	}
	return b.drv.CopyHtoD(ptr(dst), f32Bytes(src))
}

// Download copies src into host values, waiting for queued work; bf16
// values widen exactly.
func (b *Backend) Download(dst []float32, src kernels.Tensor) error {
	if err := checkDevice("download", kernels.Arg{Name: "src", T: src, Want: kernels.Shape{len(dst)}}); err != nil {
		return err
	}
	if len(dst) == 0 {
		return nil
	}
	if src.Data.DType() == kernels.BFloat16 {
		return b.downloadBF16(dst, src)
	}
	return b.checked(b.drv.CopyDtoH(f32Bytes(dst), ptr(src)))
}

// Zero sets t to 0.
func (b *Backend) Zero(t kernels.Tensor) error {
	if err := checkDevice("zero", kernels.Arg{Name: "t", T: t, Want: t.Shape}); err != nil {
		return err
	}
	return b.drv.Memset(ptr(t), 0, t.Len()*t.Data.DType().Size())
}

// Copy copies src into dst on the device; between float32 and bf16 it
// converts (rounding to nearest even into bf16, exact the other way).
func (b *Backend) Copy(dst, src kernels.Tensor) error {
	if err := checkDevice("copy", kernels.Arg{Name: "dst", T: dst, Want: src.Shape}, kernels.Arg{Name: "src", T: src, Want: dst.Shape}); err != nil {
		return err
	}
	if dst.Data.DType() != src.Data.DType() {
		return b.convert(dst, src)
	}
	return b.drv.CopyDtoD(ptr(dst), ptr(src), src.Len()*src.Data.DType().Size())
}

// f32Bytes views float32 values as their little-endian bytes.
func f32Bytes(v []float32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 4*len(v))
}
