package gpu

import (
	"fmt"

	"github.com/nextconv/nextconv/cuda"
	"github.com/nextconv/nextconv/kernels"
)

var _ kernels.InputOps = (*Backend)(nil)

// stager is the CUDA [kernels.Stager]: two page-locked host buffers and
// two device byte buffers used alternately (double buffering). For slot s,
// Normalize queues on the copy stream: wait for consumed[s] (the kernel
// that last read dev[s] on the main stream), the copy host[s] → dev[s],
// record copied[s]; then on the main stream: wait for copied[s], the
// normalize_u8_f32 kernel, record consumed[s]. Host waits for copied[s]
// before handing host[s] out again. The copy of step k+1 thus overlaps the
// kernels of step k, which are still queued when the host prepares it.
type stager struct {
	b        *Backend
	copy     cuda.Stream
	size     int
	host     [2][]byte
	dev      [2]cuda.DevicePtr
	copied   [2]cuda.Event
	consumed [2]cuda.Event
	stats    cuda.DevicePtr // mean[0..C), std[0..C) as float32
	c        int
	slot     int // the slot Host handed out last
	n        int // its byte count
	used     [2]bool
}

// NewStager allocates the stager's buffers, stream and events; see
// kernels.InputOps.NewStager for the errors, plus the driver's.
func (b *Backend) NewStager(maxBytes int, mean, std []float64) (st kernels.Stager, err error) {
	stats, err := kernels.NormalizeStats(mean, std)
	if err != nil {
		return nil, err
	}
	if maxBytes <= 0 {
		return nil, fmt.Errorf("gpu stager: %d bytes: %w", maxBytes, kernels.ErrShape)
	}
	s := &stager{b: b, size: maxBytes, c: len(mean), slot: 1}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.copy, err = b.drv.NewStream(); err != nil {
		return nil, err
	}
	if s.stats, err = b.pool.get(4 * len(stats)); err != nil {
		return nil, err
	}
	if err = b.drv.CopyHtoD(s.stats, f32Bytes(stats)); err != nil {
		return nil, err
	}
	for i := range 2 {
		if s.host[i], err = b.drv.HostAlloc(maxBytes); err != nil {
			return nil, err
		}
		if s.dev[i], err = b.pool.getOn(maxBytes, s.copy); err != nil {
			return nil, err
		}
		if s.copied[i], err = b.drv.NewEvent(); err != nil {
			return nil, err
		}
		if s.consumed[i], err = b.drv.NewEvent(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Host returns the next slot's host buffer after its previous copy is done.
func (s *stager) Host(n int) ([]byte, error) {
	if n <= 0 || n > s.size {
		return nil, fmt.Errorf("gpu stager: batch of %d bytes, stage holds %d: %w", n, s.size, kernels.ErrShape)
	}
	next := 1 - s.slot
	if s.used[next] {
		if err := s.b.drv.SyncEvent(s.copied[next]); err != nil {
			return nil, err
		}
	}
	s.slot, s.n = next, n
	return s.host[next][:n], nil
}

// Normalize queues the current slot's copy on the copy stream and the
// normalisation into y (normalize_u8_f32, or normalize_u8_bf16 for a bf16
// y, rounded once) on the main stream.
func (s *stager) Normalize(y kernels.Tensor) error {
	const op = "gpu normalize"
	n, dt, err := checkBatch(op, kernels.Arg{Name: "y", T: y, Want: kernels.Shape{s.n}})
	if err != nil {
		return err
	}
	if n%s.c != 0 {
		return fmt.Errorf("%s: %d bytes are not whole pixels of %d channels: %w", op, n, s.c, kernels.ErrShape)
	}
	d, i := s.b.drv, s.slot
	if s.used[i] {
		if err := d.WaitEvent(s.copy, s.consumed[i]); err != nil {
			return err
		}
	}
	if err := d.CopyHtoDAsync(s.dev[i], s.host[i][:n], s.copy); err != nil {
		return err
	}
	if err := d.RecordEvent(s.copied[i], s.copy); err != nil {
		return err
	}
	s.used[i] = true
	if err := d.WaitEvent(nil, s.copied[i]); err != nil {
		return err
	}
	if err := s.b.launch(kernelFor("normalize_u8", dt), streamGrid(n), dim1(streamThreads), 0, s.b.args().Ptr(ptr(y)).Ptr(s.dev[i]).Ptr(s.stats).Int32(int32(n)).Int32(int32(s.c))); err != nil {
		return err
	}
	return d.RecordEvent(s.consumed[i], nil)
}

// Close waits for the stager's work, frees its host buffers and returns its
// device buffers to the backend's pool.
func (s *stager) Close() error {
	d := s.b.drv
	var first error
	note := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	for i := range 2 {
		if s.used[i] {
			note(d.SyncEvent(s.copied[i]))
		}
		if s.host[i] != nil {
			note(d.HostFree(s.host[i]))
		}
		if s.dev[i] != 0 {
			s.b.pool.putAfter(s.dev[i], s.size, s.copied[i])
			s.copied[i] = nil
		}
		for _, e := range []cuda.Event{s.copied[i], s.consumed[i]} {
			if e != nil {
				e.Release()
			}
		}
	}
	if s.stats != 0 {
		s.b.pool.put(s.stats, 4*2*s.c)
	}
	if s.copy != nil {
		s.copy.Release()
	}
	*s = stager{b: s.b}
	return first
}

// MixBlend mixes x with its reverse in place (mix_blend_f32, or
// mix_blend_bf16 for a bf16 x, rounded once); see
// kernels.InputOps.MixBlend. Errors as for Add, and kernels.ErrShape for
// lam outside [0, 1].
func (b *Backend) MixBlend(x kernels.Tensor, lam float64) error {
	const op = "gpu mix-blend"
	n, dt, err := checkBatch(op, kernels.Arg{Name: "x", T: x, Want: x.Shape})
	if err != nil || n == 0 {
		return err
	}
	if len(x.Shape) == 0 || !(lam >= 0 && lam <= 1) {
		return fmt.Errorf("%s: x %v, lambda %v: %w", op, x.Shape, lam, kernels.ErrShape)
	}
	l := float32(lam)
	return b.launch(kernelFor("mix_blend", dt), streamGrid(n), dim1(streamThreads), 0, b.args().Ptr(ptr(x)).Int32(int32(x.Shape[0])).Int32(int32(n/x.Shape[0])).Float32(l).Float32(1-l))
}

// MixCut swaps the box between each pair of samples of x [N, H, W, C]
// (mix_cut_f32, or mix_cut_bf16 for a bf16 x); see kernels.InputOps.MixCut.
func (b *Backend) MixCut(x kernels.Tensor, box [4]int) error {
	const op = "gpu mix-cut"
	n, dt, err := checkBatch(op, kernels.Arg{Name: "x", T: x, Want: x.Shape})
	if err != nil {
		return err
	}
	if err := kernels.CheckCut(op, x, box); err != nil {
		return err
	}
	s := x.Shape
	swapped := s[0] / 2 * (box[1] - box[0]) * (box[3] - box[2]) * s[3]
	if n == 0 || swapped == 0 {
		return nil
	}
	return b.launch(kernelFor("mix_cut", dt), streamGrid(swapped), dim1(streamThreads), 0, b.args().Ptr(ptr(x)).Int32(int32(s[0])).Int32(int32(s[1])).Int32(int32(s[2])).Int32(int32(s[3])).Int32(int32(box[0])).Int32(int32(box[1])).Int32(int32(box[2])).Int32(int32(box[3])))
}

// MixTargets writes the soft targets t [N, K] of labels [N]
// (mix_targets_f32); see kernels.InputOps.MixTargets. Labels are read on
// the device and not checked: the caller validates them on the host (a
// label outside [0, K) leaves its row without the label's share).
func (b *Backend) MixTargets(t, labels kernels.Tensor, lam, smoothing float64, mixed bool) error {
	const op = "gpu mix-targets"
	n := labels.Len()
	if err := checkArgs(op, kernels.Arg{Name: "labels", T: labels, Want: kernels.Shape{n}}, kernels.Arg{Name: "t", T: t, Want: t.Shape}); err != nil {
		return err
	}
	if len(t.Shape) != 2 || t.Shape[0] != n {
		return fmt.Errorf("%s: targets %v for %d labels: %w", op, t.Shape, n, kernels.ErrShape)
	}
	off, onY, onJ, err := kernels.TargetValues(t.Shape[1], lam, smoothing, mixed)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := fits32(op, t.Len()); err != nil || n == 0 {
		return err
	}
	m := int32(0)
	if mixed {
		m = 1
	}
	return b.launch("mix_targets_f32", streamGrid(t.Len()), dim1(streamThreads), 0, b.args().Ptr(ptr(t)).Ptr(ptr(labels)).Int32(int32(n)).Int32(int32(t.Shape[1])).Float32(off).Float32(onY).Float32(onJ).Int32(m))
}

// DropMask draws drop path's factors on the device (drop_mask_f32); see
// kernels.InputOps.DropMask.
func (b *Backend) DropMask(mask kernels.Tensor, keep float64, seed, counter uint64) error {
	const op = "gpu drop-mask"
	n, err := checkStream(op, kernels.Arg{Name: "mask", T: mask, Want: kernels.Shape{mask.Len()}})
	if err != nil || n == 0 {
		return err
	}
	if !(keep > 0 && keep <= 1) {
		return fmt.Errorf("%s: keep probability %v outside (0, 1]: %w", op, keep, kernels.ErrShape)
	}
	return b.launch("drop_mask_f32", streamGrid(n), dim1(streamThreads), 0, b.args().Ptr(ptr(mask)).Int32(int32(n)).Uint32(uint32(seed)).Uint32(uint32(seed>>32)).Uint32(uint32(counter)).Uint32(uint32(counter>>32)).Float32(float32(keep)).Float32(float32(1/keep)))
}

// checkBatch is checkStream for the one float32 or bf16 batch tensor of an
// input op; it also returns the batch's dtype.
func checkBatch(op string, x kernels.Arg) (int, kernels.DType, error) {
	dt, err := checkActs(op, []kernels.Arg{x})
	if err != nil {
		return 0, 0, err
	}
	n := x.T.Len()
	return n, dt, fits32(op, n)
}
