package sim

/*
#cgo CXXFLAGS: -std=c++20 -DCUDASIM -Wall -Wno-unknown-pragmas -I${SRCDIR}
#cgo LDFLAGS: -lm -lpthread
#include <stdlib.h>
#include "cudasim_abi.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"
	"unsafe"

	"github.com/nextconv/nextconv/cuda"
)

// Errors wrapped by the *cuda.Error values the simulator returns.
var (
	// ErrInvalidValue: a memory operation or Sgemm got a size, pointer or
	// range that CUDA would reject (CUDA_ERROR_INVALID_VALUE).
	ErrInvalidValue = errors.New("invalid value")
	// ErrNotFound: no kernel of that name is compiled into the simulator.
	ErrNotFound = errors.New("kernel not found")
	// ErrInvalidLaunch: the launch was rejected before any thread ran (bad
	// geometry, shared-memory size, argument count or types, or a pointer
	// argument that is not device memory of this context).
	ErrInvalidLaunch = errors.New("invalid launch")
	// ErrKernelFault: the kernel did something a GPU faults on or leaves
	// undefined (an out-of-bounds write, a divergent barrier, a deadlock,
	// a shuffle from a lane that did not take part). As on a GPU the context
	// is unusable afterwards: every later call returns the fault.
	ErrKernelFault = errors.New("kernel fault")
	// ErrClosed: the Driver was closed.
	ErrClosed = errors.New("driver closed")
)

// Driver is the CUDA simulator as a [cuda.Driver]: device memory is C memory
// of exactly the requested size, kernels are the project's CUDA sources
// compiled with g++ and run on CPU threads, launches are synchronous, and
// Sgemm is a plain column-major loop. Side streams run their work when it
// is submitted; a copy and a launch on different streams that no event
// orders are reported as ErrMissingWait (streams.go). Its zero value is not usable; call
// [New]. Like every cuda.Driver it is meant to be driven from one goroutine;
// it is nevertheless safe for concurrent use, and launches of all Drivers in
// a process run one at a time.
type Driver struct {
	mu       sync.Mutex
	ctx      C.uint64_t
	closed   bool
	fault    error // sticky: the first kernel fault
	pending  error // first asynchronous misuse not yet returned by Synchronize
	ranges   []Range
	open     []int // indexes into ranges of the open ones
	launches []Launch
	streams  streamState     // side streams and event order (streams.go)
	capture  *capture        // open stream capture, or nil
	replays  int             // graph launches completed
	scratch  node            // the node being queued (kept here so queuing allocates nothing)
	msg      *C.char         // cudasim_launch's error message
	device   cuda.DeviceInfo // what Device reports; zero: the default
}

// Range is one profiler range opened with RangePush.
type Range struct {
	Name   string
	Depth  int  // 0 for an outermost range
	Closed bool // RangePop closed it
}

// Launch records one kernel launch (run eagerly or replayed from a graph).
type Launch struct {
	Kernel      string
	Grid, Block cuda.Dim3 // as passed, zero components kept
	Smem        int
	Range       string // innermost range open when it was queued
}

var _ cuda.Driver = (*Driver)(nil)

// New returns a simulator context. It fails when the compiled kernels are
// older than the sources in the module's kernels/src (go build does not see
// changes there; run go generate ./cuda/sim/...).
func New() (*Driver, error) {
	if err := checkSources(); err != nil {
		return nil, &cuda.Error{Op: "init", Err: err}
	}
	return &Driver{ctx: C.cudasim_ctx_new()}, nil
}

// Name returns "cudasim".
func (d *Driver) Name() string { return "cudasim" }

// usable returns the error every operation returns on a closed or faulted
// context, or nil.
func (d *Driver) usable(op string) error {
	if d.closed {
		return &cuda.Error{Op: op, Err: ErrClosed}
	}
	if d.fault != nil {
		return &cuda.Error{Op: op, Err: fmt.Errorf("context unusable after an earlier fault: %w", d.fault)}
	}
	return nil
}

// cerr converts a message from the C side (freeing it) into an error
// wrapping sentinel, or nil.
func cerr(msg *C.char, op string, sentinel error) error {
	if msg == nil {
		return nil
	}
	s := C.GoString(msg)
	C.free(unsafe.Pointer(msg))
	return &cuda.Error{Op: op, Err: fmt.Errorf("%w: %s", sentinel, s)}
}

// Malloc allocates exactly bytes of device memory aligned to 256 bytes and
// fills it with 0xff bytes (float NaN), since its contents are undefined. It
// returns ErrInvalidValue for bytes <= 0, as cuMemAlloc does for 0.
func (d *Driver) Malloc(bytes int) (cuda.DevicePtr, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable("malloc"); err != nil {
		return 0, err
	}
	if bytes <= 0 {
		return 0, &cuda.Error{Op: "malloc", Err: fmt.Errorf("%w: cannot allocate %d bytes", ErrInvalidValue, bytes)}
	}
	var p C.uintptr_t
	if err := cerr(C.cudasim_malloc(d.ctx, C.size_t(bytes), &p), "malloc", ErrInvalidValue); err != nil {
		return 0, err
	}
	return cuda.DevicePtr(p), nil
}

// Free releases memory returned by Malloc. Besides pointers that Malloc did
// not return, it reports an out-of-bounds write that overwrote the guard
// bytes around the allocation (ErrKernelFault); the memory is freed anyway.
func (d *Driver) Free(p cuda.DevicePtr) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return &cuda.Error{Op: "free", Err: ErrClosed}
	}
	if err := d.notCapturing("free"); err != nil {
		return err
	}
	msg := C.cudasim_free(d.ctx, C.uintptr_t(p))
	if msg == nil {
		return nil
	}
	s := C.GoString(msg)
	C.free(unsafe.Pointer(msg))
	if len(s) >= 13 && s[:13] == "out-of-bounds" {
		return &cuda.Error{Op: "free", Err: fmt.Errorf("%w: %s", ErrKernelFault, s)}
	}
	return &cuda.Error{Op: "free", Err: fmt.Errorf("%w: %s", ErrInvalidValue, s)}
}

// CopyHtoD copies len(src) bytes from host memory to dst, which must lie in
// one allocation of this context.
func (d *Driver) CopyHtoD(dst cuda.DevicePtr, src []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable("memcpy HtoD"); err != nil || len(src) == 0 {
		return err
	}
	if err := d.notCapturing("memcpy HtoD"); err != nil {
		return err
	}
	return cerr(C.cudasim_htod(d.ctx, C.uintptr_t(dst), unsafe.Pointer(&src[0]), C.size_t(len(src))), "memcpy HtoD", ErrInvalidValue)
}

// CopyDtoH copies len(dst) bytes from src, which must lie in one allocation
// of this context, to host memory.
func (d *Driver) CopyDtoH(dst []byte, src cuda.DevicePtr) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable("memcpy DtoH"); err != nil || len(dst) == 0 {
		return err
	}
	if err := d.notCapturing("memcpy DtoH"); err != nil {
		return err
	}
	return cerr(C.cudasim_dtoh(d.ctx, unsafe.Pointer(&dst[0]), C.uintptr_t(src), C.size_t(len(dst))), "memcpy DtoH", ErrInvalidValue)
}

// CopyDtoD copies bytes between device buffers (overlap allowed).
func (d *Driver) CopyDtoD(dst, src cuda.DevicePtr, bytes int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable("memcpy DtoD"); err != nil {
		return err
	}
	if bytes < 0 {
		return &cuda.Error{Op: "memcpy DtoD", Err: fmt.Errorf("%w: negative size %d", ErrInvalidValue, bytes)}
	}
	if bytes == 0 {
		return nil
	}
	n := &d.scratch
	*n = node{op: opCopy, dst: dst, src: src, bytes: bytes}
	return d.submit(n)
}

// Memset sets bytes bytes at dst to value.
func (d *Driver) Memset(dst cuda.DevicePtr, value byte, bytes int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable("memset"); err != nil {
		return err
	}
	if bytes < 0 {
		return &cuda.Error{Op: "memset", Err: fmt.Errorf("%w: negative size %d", ErrInvalidValue, bytes)}
	}
	if bytes == 0 {
		return nil
	}
	n := &d.scratch
	*n = node{op: opMemset, dst: dst, value: value, bytes: bytes}
	return d.submit(n)
}

// Synchronize returns the context's kernel fault, if any, and otherwise the
// first misuse noticed since the last call (a RangePop without RangePush).
// Launches are synchronous, so there is nothing to wait for.
func (d *Driver) Synchronize() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable("synchronize"); err != nil {
		return err
	}
	if err := d.notCapturing("synchronize"); err != nil {
		return err
	}
	err := d.pending
	d.pending = nil
	return err
}

type event struct {
	d        *Driver
	t        time.Time
	released bool
}

// Release frees the event.
func (e *event) Release() { e.released = true }

// Record returns an event holding the wall-clock time: all queued work has
// already run, so its time is the time of the call.
func (d *Driver) Record() (cuda.Event, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable("event record"); err != nil {
		return nil, err
	}
	if err := d.notCapturing("event record"); err != nil {
		return nil, err
	}
	return &event{d: d, t: time.Now()}, nil
}

// Elapsed returns the wall-clock milliseconds between two events of this
// Driver. It measures the simulator, not a GPU.
func (d *Driver) Elapsed(start, end cuda.Event) (float64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable("event elapsed"); err != nil {
		return 0, err
	}
	if err := d.notCapturing("event elapsed"); err != nil {
		return 0, err
	}
	s, ok1 := start.(*event)
	e, ok2 := end.(*event)
	if !ok1 || !ok2 || s.d != d || e.d != d {
		return 0, &cuda.Error{Op: "event elapsed", Err: fmt.Errorf("%w: events must come from this Driver's Record", ErrInvalidValue)}
	}
	if s.released || e.released {
		return 0, &cuda.Error{Op: "event elapsed", Err: fmt.Errorf("%w: event already released", ErrInvalidValue)}
	}
	return float64(e.t.Sub(s.t).Nanoseconds()) / 1e6, nil
}

// RangePush opens a named profiler range; the simulator records it for
// [Driver.Ranges].
func (d *Driver) RangePush(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.open = append(d.open, len(d.ranges))
	d.ranges = append(d.ranges, Range{Name: name, Depth: len(d.open) - 1})
}

// RangePop closes the innermost open range. A RangePop without an open range
// is reported by the next Synchronize.
func (d *Driver) RangePop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.open) == 0 {
		if d.pending == nil {
			d.pending = &cuda.Error{Op: "range pop", Err: fmt.Errorf("%w: RangePop without an open range", ErrInvalidValue)}
		}
		return
	}
	d.ranges[d.open[len(d.open)-1]].Closed = true
	d.open = d.open[:len(d.open)-1]
}

// innermost returns the name of the innermost open range, or "".
func (d *Driver) innermost() string {
	if len(d.open) == 0 {
		return ""
	}
	return d.ranges[d.open[len(d.open)-1]].Name
}

// Replays returns the number of graph launches completed.
func (d *Driver) Replays() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.replays
}

// Ranges returns every range pushed so far, in push order.
func (d *Driver) Ranges() []Range {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Range(nil), d.ranges...)
}

// Launches returns every successful or faulting launch so far, in order.
func (d *Driver) Launches() []Launch {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Launch(nil), d.launches...)
}

// Close frees every allocation of the context. It reports (ErrKernelFault)
// out-of-bounds writes that it finds in the guard bytes of the allocations
// it frees. Closing twice is a no-op.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	return cerr(C.cudasim_ctx_close(d.ctx), "close", ErrKernelFault)
}

// Sgemm computes C = alpha·op(A)·op(B) + beta·C on column-major matrices, as
// cublasSgemm does: op(A) is m×k, op(B) is k×n, C is m×n with leading
// dimensions lda, ldb, ldc. Sums are accumulated in float64; as in cuBLAS,
// C is not read when beta == 0, nor A and B when alpha == 0 or k == 0.
// Sizes, leading dimensions and the extents of the three matrices are
// checked against their allocations (ErrInvalidValue).
func (d *Driver) Sgemm(transA, transB bool, m, n, k int, alpha float32, a cuda.DevicePtr, lda int, b cuda.DevicePtr, ldb int, beta float32, c cuda.DevicePtr, ldc int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable("sgemm"); err != nil {
		return err
	}
	for _, v := range []int{m, n, k, lda, ldb, ldc} {
		if v > math.MaxInt32 {
			return &cuda.Error{Op: "sgemm", Err: fmt.Errorf("%w: size %d exceeds int32", ErrInvalidValue, v)}
		}
	}
	nd := &d.scratch
	*nd = node{op: opSgemm, rng: d.innermost(), gemm: sgemmArgs{transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
		a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc}}
	return d.submit(nd)
}

// Matmul emulates cublasLtMatmul (see [cuda.Matmul]) exactly where the
// contract is exact: bfloat16 inputs are widened to float32 (TF32 compute
// rounds float32 inputs to a 10-bit mantissa, to nearest, ties away), the
// products are summed in float64 and rounded to float32 once (a GPU's
// float32 accumulation differs from it by the rounding of its summation
// order), the epilogue (alpha, beta·C, the bias) runs in float32 and D is
// rounded to its type once, to nearest even. EpilogueBGradB overwrites
// Bias[j] with the float64 sum of column j of op(B), rounded to BiasType.
// Sizes, leading dimensions and the extents of A, B, C, D and the bias are
// checked against their allocations (ErrInvalidValue).
func (d *Driver) Matmul(m cuda.Matmul) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable("matmul"); err != nil {
		return err
	}
	if err := m.Check(); err != nil {
		return &cuda.Error{Op: "matmul", Err: fmt.Errorf("%w: %v", ErrInvalidValue, err)}
	}
	if m.M == 0 || m.N == 0 {
		return nil
	}
	nd := &d.scratch
	*nd = node{op: opMatmul, rng: d.innermost(), matmul: C.cudasim_matmul_args{
		transa: cbool(m.TransA), transb: cbool(m.TransB), m: C.int(m.M), n: C.int(m.N), k: C.int(m.K),
		a: C.uintptr_t(m.A), b: C.uintptr_t(m.B), c: C.uintptr_t(m.C), d: C.uintptr_t(m.D), bias: C.uintptr_t(m.Bias),
		lda: C.int(m.LDA), ldb: C.int(m.LDB), ldc: C.int(m.LDC), ldd: C.int(m.LDD),
		ab: C.int(m.AB), cd: C.int(m.CD), bias_type: C.int(m.BiasType), tf32: cbool(m.Compute == cuda.Compute32FFastTF32),
		epilogue: C.int(m.Epilogue), alpha: C.float(m.Alpha), beta: C.float(m.Beta)}}
	return d.submit(nd)
}

// Device returns the simulated device: "cudasim" with compute capability
// 9.0 unless SetDevice changed it.
func (d *Driver) Device() cuda.DeviceInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.device.Name == "" {
		return cuda.DeviceInfo{Name: "cudasim", Major: 9, Minor: 0}
	}
	return d.device
}

// SetDevice makes Device report info, so that tests can stand in for an
// older GPU (a Volta's sm_70, which lacks bfloat16 tensor cores).
func (d *Driver) SetDevice(info cuda.DeviceInfo) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.device = info
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// Kernels returns the names of every kernel compiled into the simulator,
// sorted.
func Kernels() []string {
	n := int(C.cudasim_kernel_count())
	names := make([]string, n)
	for i := range names {
		names[i] = C.GoString(C.cudasim_kernel_name(C.int(i)))
	}
	sort.Strings(names)
	return names
}

// Settings for the simulator's tests; see doc.go for the environment
// variables they override.

func setForceThreads(on bool) { C.cudasim_set_force_threads(cbool(on)) }
func setStrict(on bool)       { C.cudasim_set_strict(cbool(on)) }
func setTimeout(d time.Duration) {
	C.cudasim_set_timeout_ms(C.int64_t(d.Milliseconds()))
}
func asanBuild() bool { return C.cudasim_asan() != 0 }

func threaded(k int) bool { return C.cudasim_threaded(C.int(k)) != 0 }
