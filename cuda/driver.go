// Package cuda is nextconv's thin layer over a CUDA device: the [Driver]
// interface that kernels/gpu launches kernels through, implemented by the
// real driver over gorgonia.org/cu (build tag cuda, file driver_cuda.go) and
// by the CPU simulator in cuda/sim. It knows nothing of layers or models.
package cuda

import (
	"errors"
	"fmt"
	"math"
)

// DevicePtr is an address in device memory (a CUdeviceptr). 0 is the null
// pointer.
type DevicePtr uintptr

// Dim3 is a CUDA grid or block size; zero components are treated as 1.
type Dim3 struct{ X, Y, Z int }

// LaunchSizes returns the grid and block components as cuLaunchKernel
// takes them, with CUDA's "zero means one" applied. It returns an error
// naming the grid or block for a negative component or one above 2³² − 1;
// drivers add their own limits (such as 1024 threads a block).
func LaunchSizes(grid, block Dim3) (g, b [3]uint32, err error) {
	if g, err = grid.sizes(); err != nil {
		return g, b, fmt.Errorf("grid %v: %w", grid, err)
	}
	if b, err = block.sizes(); err != nil {
		return g, b, fmt.Errorf("block %v: %w", block, err)
	}
	return g, b, nil
}

// sizes applies "zero means one" to v and checks each component's range.
func (v Dim3) sizes() ([3]uint32, error) {
	var out [3]uint32
	for i, x := range [3]int{v.X, v.Y, v.Z} {
		switch {
		case x < 0:
			return out, fmt.Errorf("negative size %d", x)
		case x == 0:
			out[i] = 1
		case x > math.MaxUint32:
			return out, fmt.Errorf("size %d too large", x)
		default:
			out[i] = uint32(x)
		}
	}
	return out, nil
}

// Function is a kernel resolved from the loaded module by its extern "C"
// name. Drivers resolve every kernel of the manifest at load time, so a
// missing kernel fails at start, not mid-training.
type Function interface {
	// Name returns the kernel's symbol name.
	Name() string
}

// Image is the compiled kernel module a driver loads: what
// cuModuleLoadData takes, and the kernels to resolve from it at start, so
// that a missing kernel fails in New, not mid-training. The driver knows
// no particular image; nextconv's kernels are kernels/gpu.Image.
type Image struct {
	// Data is a fatbin, cubin or PTX image.
	Data string
	// Kernels are the extern "C" names New resolves from Data.
	Kernels []string
	// Compiler names what built Data ("nvcc 11.8.89") and Flags its
	// arguments; String and load errors quote them.
	Compiler string
	Flags    []string
	// Rebuild tells the user how to rebuild Data when it lacks a kernel
	// ("run go generate ./kernels/..."); errors quote it.
	Rebuild string
}

// Event is a point in a stream's work that Elapsed measures between.
type Event interface {
	// Release frees the event.
	Release()
}

// Stream is a second queue of device work (a non-blocking CUstream) beside
// the driver's main stream, which every Launch, Sgemm and synchronous copy
// uses. Work on different streams is unordered unless an [Event] recorded on
// one is waited for on the other (Driver.RecordEvent, Driver.WaitEvent).
type Stream interface {
	// Release destroys the stream once its queued work is done.
	Release()
}

// Driver is the device API kernels/gpu needs. Launches are ordered on one
// main stream; memory copies wait for preceding work. A second [Stream]
// carries asynchronous host-to-device copies (the input pipeline), ordered
// against the main stream by events only. A Driver is driven from one
// goroutine (the real one locks it to an OS thread holding the context).
type Driver interface {
	// Name returns "cuda" or "cudasim".
	Name() string
	// Malloc allocates bytes of device memory aligned to at least 256
	// bytes. The contents are undefined.
	Malloc(bytes int) (DevicePtr, error)
	// Free releases memory returned by Malloc.
	Free(p DevicePtr) error
	// CopyHtoD copies len(src) bytes from host memory to dst.
	CopyHtoD(dst DevicePtr, src []byte) error
	// CopyDtoH copies len(dst) bytes from src to host memory.
	CopyDtoH(dst []byte, src DevicePtr) error
	// CopyDtoD copies bytes between device buffers.
	CopyDtoD(dst, src DevicePtr, bytes int) error
	// Memset sets bytes bytes at dst to value (cuMemsetD8).
	Memset(dst DevicePtr, value byte, bytes int) error
	// Function returns the kernel named name from the loaded module, or an
	// error naming it if the module has no such kernel.
	Function(name string) (Function, error)
	// Launch queues f on a grid of blocks with smem bytes of dynamic shared
	// memory and the parameters packed in args (nil for none). Launch has
	// read args when it returns, so the caller may refill it at once; it
	// allocates no Go memory on success.
	Launch(f Function, grid, block Dim3, smem int, args *Args) error
	// Sgemm computes C = alpha·op(A)·op(B) + beta·C in column-major order,
	// as cublasSgemm does; op(X) is X or Xᵀ. A row-major product
	// Y[m×n] = X[m×k]·W[k×n] is Sgemm(false, false, n, m, k, 1, W, n, X, k, 0, Y, n).
	Sgemm(transA, transB bool, m, n, k int, alpha float32, a DevicePtr, lda int, b DevicePtr, ldb int, beta float32, c DevicePtr, ldc int) error
	// Matmul queues one cuBLASLt matrix product (see [Matmul]: bfloat16 or
	// float32 inputs, float32 accumulation, an optional bias or
	// bias-gradient epilogue) on the main stream. Sizes are checked at once
	// ([Matmul.Check]); as in cuBLASLt, M == 0 or N == 0 does nothing.
	Matmul(m Matmul) error
	// Device returns the name and compute capability of the device.
	Device() DeviceInfo
	// Synchronize waits for all queued work and returns the first
	// asynchronous error.
	Synchronize() error
	// Record queues a timing event (a CUevent) after the work queued so far.
	Record() (Event, error)
	// Elapsed waits for end and returns the time between start and end in
	// milliseconds of device time.
	Elapsed(start, end Event) (float64, error)
	// RangePush opens a named profiler range (NVTX on a real GPU) that an
	// nsys timeline shows; RangePop closes the innermost one.
	RangePush(name string)
	// RangePop closes the range opened by the matching RangePush.
	RangePop()
	// HostAlloc returns bytes of page-locked host memory (cuMemHostAlloc;
	// plain Go memory on the simulator), the source CopyHtoDAsync needs to
	// overlap a copy with computation. Release it with HostFree.
	HostAlloc(bytes int) ([]byte, error)
	// HostFree releases memory returned by HostAlloc.
	HostFree(b []byte) error
	// NewStream creates a non-blocking stream beside the main one.
	NewStream() (Stream, error)
	// CopyHtoDAsync queues a copy of src, which must come from HostAlloc,
	// to dst on stream s (nil: the main stream) and returns at once. src
	// must stay unchanged until the copy is done: record an event after it
	// and SyncEvent before writing src again.
	CopyHtoDAsync(dst DevicePtr, src []byte, s Stream) error
	// NewEvent creates an event for ordering streams (no timing). Record
	// and wait on it any number of times; Release it at the end.
	NewEvent() (Event, error)
	// RecordEvent captures in e the work queued on s (nil: the main
	// stream) so far, replacing what e captured before.
	RecordEvent(e Event, s Stream) error
	// WaitEvent makes work queued on s (nil: the main stream) after this
	// call wait until the work e captured is done (cuStreamWaitEvent). An
	// event never recorded is complete.
	WaitEvent(s Stream, e Event) error
	// SyncEvent blocks the caller until the work e captured is done.
	SyncEvent(e Event) error
	// BeginCapture starts recording the work queued on the stream (kernel
	// launches, Sgemm, Memset, CopyDtoD) into a graph instead of running
	// it (cuStreamBeginCapture). Until EndCapture, host copies,
	// Synchronize, Record, Elapsed and Free are errors that also make
	// EndCapture fail, as they would break the capture on a GPU. Launch
	// arguments are copied when recorded; device pointers are kept, so the
	// memory they point to must stay allocated while the graph lives.
	BeginCapture() error
	// EndCapture ends the capture and returns the recorded work as an
	// executable graph (cuStreamEndCapture, cuGraphInstantiate).
	EndCapture() (Graph, error)
	// Close releases the context and everything allocated through it.
	Close() error
}

// Graph is captured stream work ([Driver.BeginCapture]) that can be
// replayed: a CUDA graph, instantiated.
type Graph interface {
	// Launch queues one replay of the captured work, in capture order, on
	// the stream (cuGraphLaunch). Errors and faults are reported as for
	// the launches it replays.
	Launch() error
	// Release frees the graph; it must not be launched afterwards.
	Release() error
}

// ErrNoCUDA is returned by New when the binary was built without the cuda
// build tag or no device is present. Nothing falls back to the CPU silently.
var ErrNoCUDA = errors.New("cuda: no CUDA device available (build with -tags cuda on a machine with an NVIDIA GPU and driver)")

// Error is a driver error wrapped with the operation and, for launches, the
// kernel name.
type Error struct {
	Op     string // "malloc", "launch", "sgemm", ...
	Kernel string // kernel name for launches, else ""
	Range  string // innermost profiler range open at the launch, if known
	Err    error
}

// Error formats the operation, kernel, range and cause.
func (e *Error) Error() string {
	s := "cuda " + e.Op
	if e.Kernel != "" {
		s += " " + e.Kernel
	}
	if e.Range != "" {
		s += " (in " + e.Range + ")"
	}
	return fmt.Sprintf("%s: %v", s, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }
