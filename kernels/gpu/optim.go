package gpu

import (
	"fmt"
	"math"
	"slices"
	"unsafe"

	"github.com/nextconv/nextconv/cuda"
	"github.com/nextconv/nextconv/kernels"
)

// How the fused optimizer steps work (kernels/src/optim.cu): the host cuts
// every non-empty group into chunks of at most optimChunkLen elements and
// describes each chunk by an optimChunk entry carrying the group's
// constants; one launch runs one 256-thread block per entry. The table lives
// in a device buffer the backend keeps (optimTable) and is uploaded only
// when it differs from the previous step's. It holds what stays constant
// over a run — each group's learning rate relative to a reference rate and
// its weight decay — while the reference rate and the step's bias
// corrections travel as kernel arguments, so a schedule that moves the
// learning rate every step does not re-upload it (an upload is a
// synchronous host-to-device copy, which would make the step wait for the
// queued backward pass and keep the step out of a CUDA graph).

// optimChunkLen is the most elements one block updates: 8192 gives 452
// blocks for the 3.7M parameters of ConvNeXt V2-Atto (about 3.4 per H100 SM)
// with 32 elements per thread.
const optimChunkLen = 8192

// optimChunk mirrors struct optim_chunk of kernels/src/optim.cu (32 bytes):
// elements [Offset, Offset+Len) of the arena and two per-group constants.
type optimChunk struct {
	Offset int64
	Len    int32
	_      int32
	C0, C1 float64
}

// optimTable is the device copy of the last chunk table the backend
// uploaded.
type optimTable struct {
	ptr     cuda.DevicePtr
	bytes   int
	last    []optimChunk
	uploads int // host-to-device copies made (tests check a schedule causes none)
}

// groupTable makes the device chunk table describe groups — every
// non-empty group cut into chunks of at most optimChunkLen elements, each
// with the group's learning rate as a ratio to ref = refLR(groups) (C0) and
// its weight decay (C1) — and returns the table's address, ref and the
// number of chunks, one block each (0: nothing to update, no table).
func (b *Backend) groupTable(op string, groups []kernels.AdamWGroup) (table cuda.DevicePtr, ref float64, chunks int, err error) {
	ref = refLR(groups)
	var cs []optimChunk
	for _, gr := range groups {
		for off := 0; off < gr.Len; off += optimChunkLen {
			cs = append(cs, optimChunk{Offset: int64(gr.Offset + off), Len: int32(min(optimChunkLen, gr.Len-off)), C0: gr.LR / ref, C1: gr.WeightDecay})
		}
	}
	if len(cs) == 0 {
		return 0, ref, 0, nil
	}
	table, err = b.uploadTable(op, cs)
	return table, ref, len(cs), err
}

// uploadTable makes the device table hold chunks and returns its address.
func (b *Backend) uploadTable(op string, chunks []optimChunk) (cuda.DevicePtr, error) {
	t := &b.optim
	if t.ptr != 0 && slices.Equal(t.last, chunks) {
		return t.ptr, nil
	}
	bytes := len(chunks) * int(unsafe.Sizeof(optimChunk{}))
	if t.bytes != bytes {
		if t.ptr != 0 {
			b.pool.put(t.ptr, t.bytes)
			t.ptr, t.bytes = 0, 0
		}
		p, err := b.pool.get(bytes)
		if err != nil {
			return 0, fmt.Errorf("%s: chunk table of %d bytes: %w", op, bytes, err)
		}
		t.ptr, t.bytes = p, bytes
	}
	t.last = t.last[:0]
	raw := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(chunks))), bytes)
	if err := b.drv.CopyHtoD(t.ptr, raw); err != nil {
		return 0, fmt.Errorf("%s: uploading the chunk table: %w", op, err)
	}
	t.last = append(t.last, chunks...)
	t.uploads++
	return t.ptr, nil
}

// AdamW applies one step of AdamW (Loshchilov & Hutter 2019) with PyTorch
// 1.13 torch.optim.AdamW's arithmetic, as the CPU backend computes it (see
// kernels/cpu AdamW), to the parameter arena p with gradients g and moments
// m, v, all of the same number of elements, in one launch (adamw_f32) over
// every group: each group [Offset, Offset+Len) has its own learning rate and
// decoupled weight decay; elements outside every group are untouched. The
// bias corrections are computed here in float64 from h.Step. It returns an
// error wrapping kernels.ErrShape for a missing or mis-sized tensor or a
// group out of range or overlapping another (kernels.CheckGroups),
// kernels.ErrDType for a tensor that is not this backend's device memory,
// and an error for coefficients PyTorch rejects (AdamWHyper.Validate).
func (b *Backend) AdamW(p, g, m, v kernels.Tensor, groups []kernels.AdamWGroup, h kernels.AdamWHyper) error {
	const op = "gpu adamw"
	if err := checkArgs(op, kernels.Arg{Name: "p", T: p, Want: p.Shape}, kernels.Arg{Name: "g", T: g, Want: p.Shape},
		kernels.Arg{Name: "m", T: m, Want: p.Shape}, kernels.Arg{Name: "v", T: v, Want: p.Shape}); err != nil {
		return err
	}
	if err := h.Validate(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := kernels.CheckGroups(op, groups, p.Len()); err != nil {
		return err
	}
	t := float64(h.Step)
	bc1 := 1 - math.Pow(h.Beta1, t)
	bc2Sqrt := math.Sqrt(1 - math.Pow(h.Beta2, t))
	table, ref, chunks, err := b.groupTable(op, groups)
	if err != nil || chunks == 0 {
		return err
	}
	return b.launch("adamw_f32", dim1(chunks), dim1(streamThreads), 0, b.args().Ptr(ptr(p)).Ptr(ptr(g)).Ptr(ptr(m)).Ptr(ptr(v)).Ptr(table).Float64(ref).Float64(bc1).Float64(h.Beta1).Float64(h.Beta2).Float64(h.Eps).Float64(bc2Sqrt))
}

// SGD applies one torch.optim.SGD step (momentum, dampening, Nesterov, L2
// weight decay; see kernels.OptimOps) to every group's range of the arena p
// with gradients g and momentum buffer buf (nil allowed when h.Momentum is
// 0) in one launch (sgd_f32), with the CPU backend's float64 arithmetic.
// Errors as for AdamW, with SGDHyper.Validate for the coefficients.
func (b *Backend) SGD(p, g, buf kernels.Tensor, groups []kernels.AdamWGroup, h kernels.SGDHyper) error {
	const op = "gpu sgd"
	n := p.Len()
	args := []kernels.Arg{{Name: "p", T: p, Want: kernels.Shape{n}}, {Name: "g", T: g, Want: kernels.Shape{n}}}
	if h.Momentum != 0 {
		args = append(args, kernels.Arg{Name: "buf", T: buf, Want: kernels.Shape{n}})
	}
	if err := checkArgs(op, args...); err != nil {
		return err
	}
	if err := h.Validate(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := kernels.CheckGroups(op, groups, n); err != nil {
		return err
	}
	table, ref, chunks, err := b.groupTable(op, groups)
	if err != nil || chunks == 0 {
		return err
	}
	bufPtr := cuda.DevicePtr(0)
	if h.Momentum != 0 {
		bufPtr = ptr(buf)
	}
	return b.launch("sgd_f32", dim1(chunks), dim1(streamThreads), 0, b.args().Ptr(ptr(p)).Ptr(ptr(g)).Ptr(bufPtr).Ptr(table).Float64(ref).Float64(h.Momentum).Float64(h.Dampening).Int32(boolInt(h.Nesterov)).Int32(boolInt(h.First)))
}

// refLR returns the reference learning rate the chunk table's per-group
// ratios are relative to: the largest group rate (1 when every rate is 0).
// Layer-wise decay multiplies the schedule's rate by fixed factors, so the
// ratios — and the table — stay the same from step to step.
func refLR(groups []kernels.AdamWGroup) float64 {
	ref := 0.0
	for _, g := range groups {
		ref = max(ref, g.LR)
	}
	if ref == 0 {
		return 1
	}
	return ref
}

// boolInt returns 1 for true and 0 for false, as an int kernel argument.
func boolInt(v bool) int32 {
	if v {
		return 1
	}
	return 0
}
