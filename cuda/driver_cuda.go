//go:build cuda && cgo

package cuda

// The real driver over gorgonia.org/cu v0.9.6 (build tag cuda).
//
// Building needs cgo, the CUDA headers cuda.h and nvtx3/ and libcuda.so to
// link against (the driver's, or the toolkit's stub in lib64/stubs). On
// Debian 12 they come from the non-free packages nvidia-cuda-dev and
// libcuda1 (scripts/setup.sh) in /usr/include and /usr/lib/x86_64-linux-gnu,
// which the compiler searches by default. For a toolkit elsewhere (NVIDIA's
// installer, a conda environment) point cgo at it:
//
//	CGO_CFLAGS=-I$CUDA_HOME/include CGO_LDFLAGS=-L$CUDA_HOME/lib64/stubs go build -tags cuda ./...
//
// At run time the binary needs libcuda.so.1 (the NVIDIA driver) and cuBLAS
// and cuBLASLt of CUDA 13, 12 or 11, which New loads with dlopen (package
// cuda/internal/cublas; NEXTCONV_CUBLAS and NEXTCONV_CUBLASLT override the
// paths). Nothing of cuBLAS is linked.
//
// gorgonia.org/cu runs cuInit in its package init and exits the process
// when no GPU is present, so only files with this build tag import it, and
// a binary built with -tags cuda does not start on a machine without one.

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/nextconv/nextconv/cuda/internal/cublas"
)

var errClosed = errors.New("driver closed")

// Device is the [Driver] of one NVIDIA GPU, returned by [New].
//
// All device work runs on one goroutine locked to an OS thread that holds
// the device's primary context current (CUDA's current context is per
// thread; goroutines move between threads). Every method hands its work to
// that goroutine over a channel, in order. Launch, CopyDtoD, Memset,
// Sgemm, RangePush and RangePop only queue their work and return: their
// errors are kept and the first one is returned by the next Synchronize
// (and by Launch until then). The others wait for the device goroutine;
// CopyDtoH also waits for the copy, and so for all work queued before it.
// GPU work is asynchronous on one non-blocking stream, in queue order.
//
// Close releases everything; there are no finalizers. A Device may be used
// from several goroutines, but its work is serialised.
type Device struct {
	reqs chan request  // to the device goroutine
	exit chan struct{} // closed when the device goroutine has returned

	mu     sync.Mutex // held while sending on reqs; guards closed
	closed bool

	errMu   sync.Mutex
	pending error // first error of queued work not yet returned by Synchronize

	info  string // device name and properties, for String
	image Image  // the kernel module New loaded

	// Owned by the device goroutine.
	dev       cu.Device
	ctx       cu.CUContext
	stream    cu.Stream
	mod       cu.Module
	extra     []cu.Module // modules addModule loaded (tests)
	fns       map[string]*kernel
	allocs    map[DevicePtr]int // live allocations: freed by Close
	blasLib   *cublas.Library   // loaded by open
	blas      cublas.Handle     // created on the first Sgemm; 0 before
	lt        lt                // cuBLASLt, set up on the first Matmul (matmul_cuda.go)
	device    DeviceInfo        // name and compute capability, set by open
	tf32      bool
	slots     launchSlots               // C memory launches pack their arguments into
	ranges    []string                  // open NVTX ranges, innermost last
	cnames    map[string]unsafe.Pointer // NVTX range names as C strings, made once each
	capturing bool                      // a stream capture is open
}

// request is one piece of device work: a function to run, or (run nil) a
// launch, a graph launch or an NVTX range push or pop, carried by value so
// that queuing them allocates nothing. reply is nil for queued work, whose
// error goes to pending.
type request struct {
	run    func() error
	reply  chan error
	launch launchReq
	graph  *graph
	push   string // range to open, when rangeOp is pushRange
	rop    rangeOp
}

// rangeOp says whether a request opens or closes an NVTX range.
type rangeOp uint8

const (
	noRange rangeOp = iota
	pushRange
	popRange
)

// launchReq is one queued kernel launch.
type launchReq struct {
	k    *kernel
	g, b [3]uint32
	smem int
	args Args
}

var _ Driver = (*Device)(nil)

// New opens a GPU (device 0 unless NEXTCONV_CUDA_DEVICE or [WithDevice]
// says otherwise): it starts the device goroutine, makes the primary
// context current on its thread, creates a non-blocking stream, loads
// cuBLAS and cuBLASLt (an error lists every path tried), loads image and
// resolves every kernel image.Kernels lists, so a missing library or an
// unloadable kernel fails here, with the driver's CUDA version and the
// compiler the image was built with. A device ordinal that does not exist
// wraps ErrNoCUDA. Without any GPU the process has already exited in
// gorgonia.org/cu's init.
func New(image Image, opts ...Option) (Driver, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	d := &Device{
		reqs:   make(chan request, 4096),
		exit:   make(chan struct{}),
		fns:    map[string]*kernel{},
		allocs: map[DevicePtr]int{},
		cnames: map[string]unsafe.Pointer{},
		tf32:   cfg.tf32,
		image:  image,
	}
	ready := make(chan error, 1)
	go d.loop(cfg.device, ready)
	if err := <-ready; err != nil {
		<-d.exit
		return nil, err
	}
	return d, nil
}

// loop is the device goroutine. It never unlocks its thread: when it
// returns, the runtime ends the thread together with its CUDA state.
func (d *Device) loop(ordinal int, ready chan<- error) {
	defer close(d.exit)
	runtime.LockOSThread()
	if err := d.open(ordinal); err != nil {
		d.teardown()
		ready <- err
		return
	}
	d.slots = newLaunchSlots()
	ready <- nil
	for r := range d.reqs {
		var err error
		switch {
		case r.run != nil:
			err = safely(r.run)
		case r.graph != nil:
			err = d.launchGraph(r.graph)
		case r.rop != noRange:
			d.rangeOp(r.rop, r.push)
		default:
			err = d.launchNow(&r.launch)
		}
		if r.reply != nil {
			r.reply <- err
		} else if err != nil {
			d.keep(err)
		}
	}
}

// safely runs f, turning a panic into an error instead of ending the
// process from the device goroutine.
func safely(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic on the device goroutine: %v", p)
		}
	}()
	return f()
}

// open runs on the device goroutine: context, stream, module, kernels.
func (d *Device) open(ordinal int) error {
	n, err := cu.NumDevices()
	if err != nil {
		return &Error{Op: "init", Err: err}
	}
	if ordinal >= n {
		return &Error{Op: "init", Err: fmt.Errorf("%w: device %d requested, %d present", ErrNoCUDA, ordinal, n)}
	}
	if d.dev, err = cu.GetDevice(ordinal); err != nil {
		return &Error{Op: "init", Err: err}
	}
	name, _ := d.dev.Name()
	major, minor, err := d.dev.ComputeCapability()
	if err != nil {
		return &Error{Op: "init", Err: err}
	}
	d.device = DeviceInfo{Name: name, Major: major, Minor: minor}
	sms, _ := d.dev.Attribute(cu.MultiprocessorCount)
	mem, _ := d.dev.TotalMem()
	if d.blasLib, err = cublas.Load(); err != nil {
		return &Error{Op: "init", Err: err}
	}
	blasVersion, err := d.blasLib.Version(0)
	if err != nil {
		return &Error{Op: "init", Err: fmt.Errorf("%s: %w", d.blasLib.BLAS.Path, err)}
	}
	d.info = fmt.Sprintf("%s (device %d, sm_%d%d, %d SMs, %.1f GiB, driver CUDA %s, cuBLAS %s from %s, kernels from %s, TF32 %s)",
		name, ordinal, major, minor, sms, float64(mem)/(1<<30), driverVersion(), blasRelease(blasVersion), d.blasLib.BLAS.Path, d.image.Compiler, onOff(d.tf32))
	if major < 8 {
		return &Error{Op: "init", Err: fmt.Errorf("%s: the kernels are built for compute capability 8.0 or newer (sm_80, sm_86, sm_89, sm_90 and compute_80 PTX)", d.info)}
	}
	if d.ctx, err = d.dev.RetainPrimaryCtx(); err != nil {
		return &Error{Op: "init", Err: fmt.Errorf("retain the primary context of %s: %w", d.info, err)}
	}
	if err := cu.SetCurrentContext(d.ctx); err != nil {
		return &Error{Op: "init", Err: err}
	}
	if d.stream, err = cu.MakeStream(cu.NonBlocking); err != nil {
		return &Error{Op: "init", Err: fmt.Errorf("create a stream: %w", err)}
	}
	log := &cu.JITErrorLogBuffer{Buffer: make([]byte, 16<<10)}
	if d.image.Data == "" {
		return &Error{Op: "load module", Err: errors.New("empty kernel image")}
	}
	if d.mod, err = cu.LoadDataEx(d.image.Data, log); err != nil {
		msg := strings.TrimRight(string(log.Buffer), "\x00")
		return &Error{Op: "load module", Err: fmt.Errorf("%w (%s; image of %d bytes, flags %s)%s",
			err, d.info, len(d.image.Data), strings.Join(d.image.Flags, " "), prefixed("\njit log: ", msg))}
	}
	for _, name := range d.image.Kernels {
		f, err := d.mod.Function(name)
		if err != nil {
			return &Error{Op: "load module", Kernel: name, Err: fmt.Errorf("%w: the image's kernel list names it but the image lacks it (%s)%s", err, d.info, prefixed("; ", d.image.Rebuild))}
		}
		d.fns[name] = &kernel{name: name, fn: f, dev: d}
	}
	return nil
}

// teardown releases what open and later work created; it runs on the
// device goroutine and returns the first error.
func (d *Device) teardown() error {
	var first error
	note := func(op string, err error) {
		if err != nil && first == nil {
			first = &Error{Op: op, Err: err}
		}
	}
	if d.ctx == (cu.CUContext{}) {
		return nil
	}
	if d.stream != (cu.Stream{}) {
		note("close: synchronize", d.stream.Synchronize())
	}
	if d.blas != 0 {
		note("close: cublas", d.blasLib.Destroy(d.blas))
		d.blas = 0
	}
	note("close: cublasLt", d.ltRelease())
	for p := range d.allocs {
		note("close: free", cu.MemFree(cu.DevicePtr(p)))
	}
	clear(d.allocs)
	for _, m := range append(d.extra, d.mod) {
		if m != (cu.Module{}) {
			note("close: unload module", m.Unload())
		}
	}
	d.extra = nil
	if d.stream != (cu.Stream{}) {
		note("close: destroy stream", d.stream.Destroy())
	}
	note("close: release context", d.dev.ReleasePrimaryCtx())
	freeNames(d.cnames)
	d.ctx = cu.CUContext{}
	return first
}

func driverVersion() string {
	v := cu.Version()
	if v <= 0 {
		return "unknown"
	}
	return fmt.Sprintf("%d.%d", v/1000, v%1000/10)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

// send hands r to the device goroutine unless the Device is closed.
func (d *Device) send(op string, r request) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return &Error{Op: op, Err: errClosed}
	}
	d.reqs <- r
	return nil
}

// call runs f on the device goroutine and waits for its result.
func (d *Device) call(op string, f func() error) error {
	reply := make(chan error, 1)
	if err := d.send(op, request{run: f, reply: reply}); err != nil {
		return err
	}
	return <-reply
}

// queue hands f to the device goroutine without waiting; its error, wrapped
// by f, is kept for Synchronize.
func (d *Device) queue(op string, f func() error) error {
	return d.send(op, request{run: f})
}

// keep records err as pending unless an earlier error is.
func (d *Device) keep(err error) {
	d.errMu.Lock()
	if d.pending == nil {
		d.pending = err
	}
	d.errMu.Unlock()
}

// peek returns the pending error without clearing it.
func (d *Device) peek() error {
	d.errMu.Lock()
	defer d.errMu.Unlock()
	return d.pending
}

// take returns and clears the pending error.
func (d *Device) take() error {
	d.errMu.Lock()
	defer d.errMu.Unlock()
	err := d.pending
	d.pending = nil
	return err
}

// Name returns "cuda".
func (d *Device) Name() string { return "cuda" }

// String describes the GPU: name, ordinal, compute capability, SMs,
// memory, driver version, the nvcc of the kernel image and the TF32 mode.
func (d *Device) String() string { return d.info }

// Malloc allocates bytes of device memory (cuMemAlloc: aligned to at least
// 256 bytes, contents undefined). bytes must be positive.
func (d *Device) Malloc(bytes int) (DevicePtr, error) {
	if bytes <= 0 {
		return 0, &Error{Op: "malloc", Err: fmt.Errorf("cannot allocate %d bytes", bytes)}
	}
	var p cu.DevicePtr
	err := d.call("malloc", func() error {
		var err error
		if p, err = cu.MemAlloc(int64(bytes)); err != nil {
			return &Error{Op: "malloc", Err: fmt.Errorf("%d bytes: %w", bytes, err)}
		}
		d.allocs[DevicePtr(p)] = bytes
		return nil
	})
	return DevicePtr(p), err
}

// Free waits for the work queued so far (which may still use p) and
// releases memory returned by Malloc.
func (d *Device) Free(p DevicePtr) error {
	return d.call("free", func() error {
		if _, ok := d.allocs[p]; !ok {
			return &Error{Op: "free", Err: fmt.Errorf("%#x is not an allocation of this device", uintptr(p))}
		}
		if err := d.stream.Synchronize(); err != nil {
			return &Error{Op: "free", Err: err}
		}
		delete(d.allocs, p)
		if err := cu.MemFree(cu.DevicePtr(p)); err != nil {
			return &Error{Op: "free", Err: err}
		}
		return nil
	})
}

// CopyHtoD copies len(src) bytes from host memory to dst, after the work
// queued so far. It returns once src may be reused (the driver stages
// pageable memory before returning).
func (d *Device) CopyHtoD(dst DevicePtr, src []byte) error {
	if len(src) == 0 {
		return nil
	}
	return d.call("memcpy HtoD", func() error {
		if err := cu.MemcpyHtoDAsync(cu.DevicePtr(dst), unsafe.Pointer(&src[0]), int64(len(src)), d.stream); err != nil {
			return &Error{Op: "memcpy HtoD", Err: fmt.Errorf("%d bytes to %#x: %w", len(src), uintptr(dst), err)}
		}
		return nil
	})
}

// CopyDtoH copies len(dst) bytes from src to host memory after the work
// queued so far, and waits for it.
func (d *Device) CopyDtoH(dst []byte, src DevicePtr) error {
	if len(dst) == 0 {
		return nil
	}
	return d.call("memcpy DtoH", func() error {
		err := cu.MemcpyDtoHAsync(unsafe.Pointer(&dst[0]), cu.DevicePtr(src), int64(len(dst)), d.stream)
		if err == nil {
			err = d.stream.Synchronize()
		}
		if err != nil {
			return &Error{Op: "memcpy DtoH", Err: fmt.Errorf("%d bytes from %#x: %w", len(dst), uintptr(src), err)}
		}
		return nil
	})
}

// CopyDtoD queues a copy of bytes between device buffers.
func (d *Device) CopyDtoD(dst, src DevicePtr, bytes int) error {
	if bytes < 0 {
		return &Error{Op: "memcpy DtoD", Err: fmt.Errorf("negative size %d", bytes)}
	}
	if bytes == 0 {
		return nil
	}
	return d.queue("memcpy DtoD", func() error {
		if err := cu.MemcpyDtoDAsync(cu.DevicePtr(dst), cu.DevicePtr(src), int64(bytes), d.stream); err != nil {
			return &Error{Op: "memcpy DtoD", Err: fmt.Errorf("%d bytes %#x → %#x: %w", bytes, uintptr(src), uintptr(dst), err)}
		}
		return nil
	})
}

// Memset queues setting bytes bytes at dst to value (cuMemsetD8Async).
func (d *Device) Memset(dst DevicePtr, value byte, bytes int) error {
	if bytes < 0 {
		return &Error{Op: "memset", Err: fmt.Errorf("negative size %d", bytes)}
	}
	if bytes == 0 {
		return nil
	}
	return d.queue("memset", func() error {
		if err := cu.MemsetD8Async(cu.DevicePtr(dst), value, int64(bytes), d.stream); err != nil {
			return &Error{Op: "memset", Err: fmt.Errorf("%d bytes at %#x: %w", bytes, uintptr(dst), err)}
		}
		return nil
	})
}

// kernel is a function of the loaded module.
type kernel struct {
	name string
	fn   cu.Function
	dev  *Device
}

// Name returns the kernel's symbol name.
func (k *kernel) Name() string { return k.name }

// Function returns the kernel named name, resolved when the module loaded.
func (d *Device) Function(name string) (Function, error) {
	if k, ok := d.fns[name]; ok {
		return k, nil
	}
	return nil, &Error{Op: "function", Kernel: name, Err: fmt.Errorf("not in the kernel image (%d kernels, %s)%s", len(d.fns), d.image.Compiler, prefixed(": ", d.image.Rebuild))}
}

// addModule loads one more image (PTX, cubin or fatbin) and makes the
// named functions of it available to Function. The driver's tests use it
// for kernels that are not part of kernels/src.
func (d *Device) addModule(image string, names ...string) error {
	return d.call("load module", func() error {
		m, err := cu.LoadData(image)
		if err != nil {
			return &Error{Op: "load module", Err: err}
		}
		d.extra = append(d.extra, m)
		for _, name := range names {
			f, err := m.Function(name)
			if err != nil {
				return &Error{Op: "load module", Kernel: name, Err: err}
			}
			d.fns[name] = &kernel{name: name, fn: f, dev: d}
		}
		return nil
	})
}

// Launch queues f on grid × block with smem bytes of dynamic shared memory.
// Every argument of args travels in its own 8-byte slot, as cuLaunchKernel
// reads it; the driver reads as many bytes as the kernel's parameter has.
// Bad geometry is reported at once; an error of the launch itself (too
// much shared memory for the device, ...) names the kernel and the NVTX
// range it was queued in, is kept for Synchronize and is returned by later
// Launches until then. Queuing a launch allocates nothing.
func (d *Device) Launch(f Function, grid, block Dim3, smem int, args *Args) error {
	k, ok := f.(*kernel)
	if !ok || k.dev != d {
		name := ""
		if f != nil {
			name = f.Name()
		}
		return &Error{Op: "launch", Kernel: name, Err: errors.New("the function was not returned by this device's Function")}
	}
	g, b, err := LaunchSizes(grid, block)
	if err != nil {
		return &Error{Op: "launch", Kernel: k.name, Err: err}
	}
	if threads := uint64(b[0]) * uint64(b[1]) * uint64(b[2]); threads > 1024 {
		return &Error{Op: "launch", Kernel: k.name, Err: fmt.Errorf("block %v has %d threads, more than 1024", block, threads)}
	}
	if smem < 0 || smem > math.MaxInt32 {
		return &Error{Op: "launch", Kernel: k.name, Err: fmt.Errorf("dynamic shared memory size %d", smem)}
	}
	if err := args.Err(); err != nil {
		return &Error{Op: "launch", Kernel: k.name, Err: err}
	}
	if err := d.peek(); err != nil {
		return err
	}
	r := request{launch: launchReq{k: k, g: g, b: b, smem: smem}}
	if args != nil {
		r.launch.args = *args
	}
	return d.send("launch", r)
}

// Synchronize waits for all queued work and returns the first error of the
// queued work since the last Synchronize, or the stream's error.
func (d *Device) Synchronize() error {
	err := d.call("synchronize", func() error {
		if err := d.stream.Synchronize(); err != nil {
			return &Error{Op: "synchronize", Err: err}
		}
		return nil
	})
	if first := d.take(); first != nil {
		return first
	}
	return err
}

// event is a CUDA event of a Device.
type event struct {
	d  *Device
	ev cu.Event
}

// Release queues the event's destruction.
func (e *event) Release() {
	ev := e.ev
	e.ev = cu.Event{}
	if ev == (cu.Event{}) {
		return
	}
	_ = e.d.queue("event destroy", func() error { return cu.DestroyEvent(&ev) })
}

// Record creates an event and records it on the stream after the work
// queued so far.
func (d *Device) Record() (Event, error) {
	e := &event{d: d}
	err := d.call("event record", func() error {
		ev, err := cu.MakeEvent(cu.DefaultEvent)
		if err != nil {
			return &Error{Op: "event record", Err: err}
		}
		if err := ev.Record(d.stream); err != nil {
			cu.DestroyEvent(&ev)
			return &Error{Op: "event record", Err: err}
		}
		e.ev = ev
		return nil
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// Elapsed waits for end and returns the device time from start to end in
// milliseconds (resolution about 0.5 µs).
func (d *Device) Elapsed(start, end Event) (float64, error) {
	s, ok1 := start.(*event)
	e, ok2 := end.(*event)
	if !ok1 || !ok2 || s.d != d || e.d != d {
		return 0, &Error{Op: "event elapsed", Err: errors.New("events must come from this device's Record")}
	}
	if s.ev == (cu.Event{}) || e.ev == (cu.Event{}) {
		return 0, &Error{Op: "event elapsed", Err: errors.New("event already released")}
	}
	var ms float64
	err := d.call("event elapsed", func() error {
		err := e.ev.Synchronize()
		if err == nil {
			ms, err = s.ev.Elapsed(e.ev)
		}
		if err != nil {
			return &Error{Op: "event elapsed", Err: err}
		}
		return nil
	})
	return ms, err
}

// RangePush queues opening an NVTX range named name on the device thread,
// so that Nsight Systems nests it with the launches that follow.
func (d *Device) RangePush(name string) {
	_ = d.send("range push", request{rop: pushRange, push: name})
}

// RangePop queues closing the innermost NVTX range.
func (d *Device) RangePop() { _ = d.send("range pop", request{rop: popRange}) }

// Close waits for queued work, frees every allocation still live, destroys
// the cuBLAS handle, module and stream, releases the primary context and
// ends the device goroutine. It returns the first error among the pending
// one and those of the teardown. Closing twice is a no-op.
func (d *Device) Close() error {
	reply := make(chan error, 1)
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.reqs <- request{run: d.teardown, reply: reply}
	close(d.reqs)
	d.mu.Unlock()
	err := <-reply
	<-d.exit
	if first := d.take(); first != nil {
		return first
	}
	return err
}
