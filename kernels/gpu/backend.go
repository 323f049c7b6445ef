// Package gpu is the CUDA [kernels.Backend]: every op launches the kernels of
// kernels/src through a [cuda.Driver] — a real GPU (cuda.New, build tag cuda)
// or the CPU simulator (sim.New) — and GEMMs go to cuBLAS (Driver.Sgemm in
// fp32 precision) or cuBLASLt (Driver.Matmul in tf32 and bf16; gemm.go).
// No op falls back to the CPU.
//
// Tensors live in device memory as [Buffer] storage. Launches are
// asynchronous; Sync, Download and SumSquares wait. With SyncEach set (or
// NEXTCONV_CUDA_SYNC=1) the backend synchronises and checks after every
// launch, so a failing kernel is named.
package gpu

import (
	"fmt"
	"os"
	"sync"

	"github.com/nextconv/nextconv/cuda"
	"github.com/nextconv/nextconv/kernels"
)

// Buffer is device storage of N elements of type DT starting at Ptr: float32
// (DT zero or kernels.Float32; the CUDA backend computes in float32) or
// kernels.BFloat16 (bf16 activations, 2 bytes each, docs/BF16.md). Slices
// share the allocation.
type Buffer struct {
	Ptr cuda.DevicePtr
	N   int
	DT  kernels.DType
}

// Len returns the number of elements.
func (b Buffer) Len() int { return b.N }

// DType returns BFloat16 for bf16 storage, else Float32.
func (b Buffer) DType() kernels.DType {
	if b.DT == kernels.BFloat16 {
		return kernels.BFloat16
	}
	return kernels.Float32
}

// bytes returns the size of the buffer's elements in bytes.
func (b Buffer) bytes() int { return b.N * b.DType().Size() }

// Slice returns elements [off, off+n) as a view. It panics outside the
// buffer, like a Go slice.
func (b Buffer) Slice(off, n int) kernels.Storage {
	if off < 0 || n < 0 || off+n > b.N {
		panic(fmt.Sprintf("gpu: slice [%d:%d] of a buffer of %d elements", off, off+n, b.N))
	}
	return Buffer{Ptr: b.Ptr + cuda.DevicePtr(b.DType().Size()*off), N: n, DT: b.DT}
}

// Backend implements [kernels.Backend] on a cuda.Driver.
type Backend struct {
	drv       cuda.Driver
	fns       map[string]cuda.Function
	pool      pool
	SyncEach  bool // synchronise and check after every launch (debugging)
	mu        sync.Mutex
	optim     optimTable // AdamW/SGD chunk table (optim.go)
	argBuf    cuda.Args  // launch arguments, refilled by every launcher
	recent    launchRing // kernels queued since the last check (queued.go)
	ranges    []string   // open NVTX ranges, innermost last
	capturing bool       // a Capture is running (graph.go)
	prec      kernels.Precision
}

var _ kernels.Backend = (*Backend)(nil)
var _ kernels.Ranger = (*Backend)(nil)
var _ kernels.PrecisionSetter = (*Backend)(nil)

// New returns a backend on drv after resolving every kernel the module must
// contain (Kernels), so that a missing or misnamed kernel fails here and not
// mid-training. The backend does not own drv: close it after the backend.
func New(drv cuda.Driver) (*Backend, error) {
	b := &Backend{drv: drv, fns: make(map[string]cuda.Function, len(Kernels)), SyncEach: os.Getenv("NEXTCONV_CUDA_SYNC") == "1"}
	for _, name := range Kernels {
		f, err := drv.Function(name)
		if err != nil {
			return nil, fmt.Errorf("gpu: %s module: %w", drv.Name(), err)
		}
		b.fns[name] = f
	}
	b.pool.drv = drv
	return b, nil
}

// Name returns "cuda" or "cudasim" after the driver.
func (b *Backend) Name() string { return b.drv.Name() }

// DType returns Float32.
func (b *Backend) DType() kernels.DType { return kernels.Float32 }

// Driver returns the driver the backend launches on.
func (b *Backend) Driver() cuda.Driver { return b.drv }

// Close returns every cached allocation to the driver. Tensors must not be
// used afterwards.
func (b *Backend) Close() error { return b.pool.release() }

// RangePush opens an NVTX range named name; launch errors name the
// innermost open range.
func (b *Backend) RangePush(name string) {
	b.ranges = append(b.ranges, name)
	b.drv.RangePush(name)
}

// RangePop closes the innermost NVTX range.
func (b *Backend) RangePop() {
	if len(b.ranges) > 0 {
		b.ranges = b.ranges[:len(b.ranges)-1]
	}
	b.drv.RangePop()
}

// Sync waits for all queued work. A device error is a *QueuedError naming
// the kernels queued since the last check.
func (b *Backend) Sync() error { return b.checked(b.drv.Synchronize()) }

// args returns the backend's launch argument buffer, emptied: launchers
// fill it and pass it to launch, so that packing arguments allocates
// nothing.
func (b *Backend) args() *cuda.Args { return b.argBuf.Reset() }

// launch queues kernel name over grid × block with smem bytes of dynamic
// shared memory and records it, with the innermost NVTX range, for error
// reports. An error (the launch's own, or one of earlier work that the
// driver reports now) is a *QueuedError naming the kernels queued since the
// last check; with SyncEach the backend waits after each launch, so it
// names exactly the failing kernel.
func (b *Backend) launch(name string, grid, block cuda.Dim3, smem int, args *cuda.Args) error {
	f, ok := b.fns[name]
	if !ok {
		return fmt.Errorf("gpu: kernel %s is not in the module's manifest (run go generate ./kernels/...)", name)
	}
	b.recent.add(name, b.innermost())
	if err := b.drv.Launch(f, grid, block, smem, args); err != nil {
		return b.queuedError(err)
	}
	if b.SyncEach {
		return b.checked(b.drv.Synchronize())
	}
	return nil
}

// checkArgs runs kernels.CheckArgs and also requires float32 device
// storage, so a host tensor handed to the GPU backend is an error, not a
// crash, and so is a bf16 tensor handed to an op without bf16 kernels
// (those check their activations with checkActs).
func checkArgs(op string, args ...kernels.Arg) error {
	if err := checkDevice(op, args...); err != nil {
		return err
	}
	for _, a := range args {
		if !a.T.Nil() && a.T.Data.DType() != kernels.Float32 {
			return fmt.Errorf("%s: %s is %v; the CUDA backend runs this op on float32 tensors only: %w", op, a.Name, a.T.Data.DType(), kernels.ErrDType)
		}
	}
	return nil
}

// checkDevice runs kernels.CheckArgs and requires device storage.
func checkDevice(op string, args ...kernels.Arg) error {
	if err := kernels.CheckArgs(op, kernels.Float32, args...); err != nil {
		return err
	}
	for _, a := range args {
		if a.T.Nil() {
			continue
		}
		if _, ok := a.T.Data.(Buffer); !ok {
			return fmt.Errorf("%s: %s is %T storage, not device memory of the CUDA backend: %w", op, a.Name, a.T.Data, kernels.ErrDType)
		}
	}
	return nil
}

// ptr returns t's device address, or 0 for the nil tensor.
func ptr(t kernels.Tensor) cuda.DevicePtr {
	if t.Nil() {
		return 0
	}
	return t.Data.(Buffer).Ptr
}

// aligned16 reports whether every tensor of ts starts at a 16-byte aligned
// device address.
func aligned16(ts ...kernels.Tensor) bool {
	for _, t := range ts {
		if ptr(t)%16 != 0 {
			return false
		}
	}
	return true
}

// blocks returns the number of blocks of size threads covering n items.
func blocks(n, threads int) int { return (n + threads - 1) / threads }

// dim1 is a one-dimensional grid or block size.
func dim1(n int) cuda.Dim3 { return cuda.Dim3{X: n, Y: 1, Z: 1} }
