package gpu

import (
	"encoding/binary"
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
// its weight decay — so a schedule that moves the learning rate every step
// does not re-upload it. What changes every step (the reference rate,
// AdamW's bias corrections, SGD's first-step flag) sits in a second small
// device array, hyper, that the kernels read: uploading it outside a
// captured step (PrepareAdamW, PrepareSGD) lets a CUDA graph of the step
// replay with each step's values.

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
	lastN   int          // arena length last was checked against
	next    []optimChunk // the table being built (reused)
	uploads int          // table uploads made (tests check a schedule causes none)

	hyper     cuda.DevicePtr       // optimHyper float64 values
	hyperHost [optimHyper]float64  // what hyper holds
	hyperBuf  [8 * optimHyper]byte // hyperHost's bytes for the upload
	hyperSet  bool                 // hyper holds hyperHost
}

// optimHyper is the number of per-step values in the hyper array:
// {lr_ref, bc1, bc2_sqrt} for adamw_f32, {lr_ref, first} for sgd_f32.
const optimHyper = 3

// prepare makes the device chunk table describe groups — every non-empty
// group cut into chunks of at most optimChunkLen elements, each with the
// group's learning rate as a ratio to ref = refLR(groups) (C0) and its
// weight decay (C1) — and the hyper array hold hyper(ref), and returns the
// number of chunks, one block each (0: nothing to update). Outside a
// capture it uploads what changed; inside one (Capture) uploads are not
// allowed, so both must already hold these values (the caller prepared the
// step), or it returns an error saying so. Groups are validated
// (kernels.CheckGroups) unless they equal the table's.
func (b *Backend) prepare(op string, n int, groups []kernels.AdamWGroup, hyper func(ref float64) [optimHyper]float64) (chunks int, err error) {
	t := &b.optim
	ref := refLR(groups)
	t.next = t.next[:0]
	for _, gr := range groups {
		for off := 0; off < gr.Len; off += optimChunkLen {
			t.next = append(t.next, optimChunk{Offset: int64(gr.Offset + off), Len: int32(min(optimChunkLen, gr.Len-off)), C0: gr.LR / ref, C1: gr.WeightDecay})
		}
	}
	same := t.ptr != 0 && t.lastN == n && slices.Equal(t.last, t.next)
	if !same {
		if err := kernels.CheckGroups(op, groups, n); err != nil {
			return 0, err
		}
	}
	if len(t.next) == 0 {
		return 0, nil
	}
	h := hyper(ref)
	if b.capturing {
		if !same || !t.hyperSet || h != t.hyperHost {
			return 0, fmt.Errorf("%s: inside a graph capture the step's learning rates and coefficients must already be on the device: call PrepareAdamW or PrepareSGD with the same values before capturing", op)
		}
		return len(t.next), nil
	}
	if !same {
		if err := b.uploadTable(op, t.next); err != nil {
			return 0, err
		}
		t.lastN = n
	}
	if t.hyper == 0 {
		if t.hyper, err = b.pool.get(8 * optimHyper); err != nil {
			return 0, fmt.Errorf("%s: step values: %w", op, err)
		}
	}
	if !t.hyperSet || t.hyperHost != h {
		for i, v := range h {
			binary.LittleEndian.PutUint64(t.hyperBuf[8*i:], math.Float64bits(v))
		}
		if err := b.drv.CopyHtoD(t.hyper, t.hyperBuf[:]); err != nil {
			return 0, fmt.Errorf("%s: uploading the step values: %w", op, err)
		}
		t.hyperHost, t.hyperSet = h, true
	}
	return len(t.next), nil
}

// uploadTable makes the device table hold chunks.
func (b *Backend) uploadTable(op string, chunks []optimChunk) error {
	t := &b.optim
	bytes := len(chunks) * int(unsafe.Sizeof(optimChunk{}))
	if t.bytes != bytes {
		if t.ptr != 0 {
			b.pool.put(t.ptr, t.bytes)
			t.ptr, t.bytes = 0, 0
		}
		p, err := b.pool.get(bytes)
		if err != nil {
			return fmt.Errorf("%s: chunk table of %d bytes: %w", op, bytes, err)
		}
		t.ptr, t.bytes = p, bytes
	}
	t.last = t.last[:0]
	raw := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(chunks))), bytes)
	if err := b.drv.CopyHtoD(t.ptr, raw); err != nil {
		return fmt.Errorf("%s: uploading the chunk table: %w", op, err)
	}
	t.last = append(t.last, chunks...)
	t.uploads++
	return nil
}

// AdamW applies one step of AdamW (Loshchilov & Hutter 2019) with PyTorch
// 1.13 torch.optim.AdamW's arithmetic, as the CPU backend computes it (see
// kernels/cpu AdamW), to the parameter arena p with gradients g and moments
// m, v, all of the same number of elements, in one launch (adamw_f32) over
// every group: each group [Offset, Offset+Len) has its own learning rate and
// decoupled weight decay; elements outside every group are untouched. The
// bias corrections are computed here in float64 from h.Step and, with the
// learning rates, uploaded as PrepareAdamW does (inside a Capture they must
// have been prepared). It returns an error wrapping kernels.ErrShape for a
// missing or mis-sized tensor or a group out of range or overlapping
// another (kernels.CheckGroups), kernels.ErrDType for a tensor that is not
// this backend's device memory, and an error for coefficients PyTorch
// rejects (AdamWHyper.Validate).
func (b *Backend) AdamW(p, g, m, v kernels.Tensor, groups []kernels.AdamWGroup, h kernels.AdamWHyper) error {
	return b.adamW("gpu adamw", "adamw_f32", p, g, m, v, kernels.Tensor{}, groups, h)
}

// adamW checks AdamW's tensors and launches kernel (adamw_f32, or
// adamw_bf16 with the bf16 copy p16, checked by the caller).
func (b *Backend) adamW(op, kernel string, p, g, m, v, p16 kernels.Tensor, groups []kernels.AdamWGroup, h kernels.AdamWHyper) error {
	if err := checkArgs(op, kernels.Arg{Name: "p", T: p, Want: p.Shape}, kernels.Arg{Name: "g", T: g, Want: p.Shape},
		kernels.Arg{Name: "m", T: m, Want: p.Shape}, kernels.Arg{Name: "v", T: v, Want: p.Shape}); err != nil {
		return err
	}
	chunks, err := b.prepareAdamW(op, p.Len(), groups, h)
	if err != nil || chunks == 0 {
		return err
	}
	args := b.args().Ptr(ptr(p)).Ptr(ptr(g)).Ptr(ptr(m)).Ptr(ptr(v))
	if !p16.Nil() {
		args = args.Ptr(ptr(p16))
	}
	return b.launch(kernel, dim1(chunks), dim1(streamThreads), 0, args.
		Ptr(b.optim.ptr).Ptr(b.optim.hyper).Float64(h.Beta1).Float64(h.Beta2).Float64(h.Eps))
}

// PrepareAdamW uploads what AdamW over an arena of n elements with these
// groups and coefficients reads from device memory: the chunk table (when
// it changed) and the step's values {reference learning rate, 1 − β1^t,
// sqrt(1 − β2^t)}. Call it before capturing a step that runs AdamW and
// before every replay of that graph, with the values of the step the
// replay performs (kernels.OptimPreparer). Errors as for AdamW.
func (b *Backend) PrepareAdamW(n int, groups []kernels.AdamWGroup, h kernels.AdamWHyper) error {
	_, err := b.prepareAdamW("gpu adamw", n, groups, h)
	return err
}

func (b *Backend) prepareAdamW(op string, n int, groups []kernels.AdamWGroup, h kernels.AdamWHyper) (int, error) {
	if err := h.Validate(); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	t := float64(h.Step)
	bc1 := 1 - math.Pow(h.Beta1, t)
	bc2Sqrt := math.Sqrt(1 - math.Pow(h.Beta2, t))
	return b.prepare(op, n, groups, func(ref float64) [optimHyper]float64 { return [optimHyper]float64{ref, bc1, bc2Sqrt} })
}

// SGD applies one torch.optim.SGD step (momentum, dampening, Nesterov, L2
// weight decay; see kernels.OptimOps) to every group's range of the arena p
// with gradients g and momentum buffer buf (nil allowed when h.Momentum is
// 0) in one launch (sgd_f32), with the CPU backend's float64 arithmetic.
// The learning rates and the first-step flag are uploaded as PrepareSGD
// does. Errors as for AdamW, with SGDHyper.Validate for the coefficients.
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
	chunks, err := b.prepareSGD(op, n, groups, h)
	if err != nil || chunks == 0 {
		return err
	}
	bufPtr := cuda.DevicePtr(0)
	if h.Momentum != 0 {
		bufPtr = ptr(buf)
	}
	return b.launch("sgd_f32", dim1(chunks), dim1(streamThreads), 0, b.args().Ptr(ptr(p)).Ptr(ptr(g)).Ptr(bufPtr).
		Ptr(b.optim.ptr).Ptr(b.optim.hyper).Float64(h.Momentum).Float64(h.Dampening).Int32(boolInt(h.Nesterov)))
}

// PrepareSGD uploads what SGD over an arena of n elements with these
// groups and coefficients reads from device memory (the chunk table when
// it changed, the reference learning rate and the first-step flag), as
// PrepareAdamW does for AdamW. Errors as for SGD.
func (b *Backend) PrepareSGD(n int, groups []kernels.AdamWGroup, h kernels.SGDHyper) error {
	_, err := b.prepareSGD("gpu sgd", n, groups, h)
	return err
}

func (b *Backend) prepareSGD(op string, n int, groups []kernels.AdamWGroup, h kernels.SGDHyper) (int, error) {
	if err := h.Validate(); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	first := 0.0
	if h.First {
		first = 1
	}
	return b.prepare(op, n, groups, func(ref float64) [optimHyper]float64 { return [optimHyper]float64{ref, first, 0} })
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
