package main

import (
	"fmt"

	"github.com/nextconv/nextconv/cuda"
)

// launch is one operation the backend queued on the stream: a kernel
// launch, a cuBLAS SGEMM or a driver memset/copy, with the phase and layer
// of the training step it belongs to.
type launch struct {
	Kernel      string // kernel symbol, or "sgemm", "matmul", "memset", "memcpy"
	Grid, Block cuda.Dim3
	Smem        int   // dynamic shared memory bytes
	Args        []any // the kernel's arguments as the launcher passed them
	GEMM        gemm  // for "sgemm" and "matmul"
	Size        int   // bytes of a "memset" or "memcpy"
	Phase       string
	Layer       string
}

// gemm is the size of one Sgemm call in cuBLAS's column-major terms:
// C [M×N] = op(A) [M×K] · op(B) [K×N] (+ Beta·C).
type gemm struct {
	M, N, K  int
	Beta     float32
	AB, CD   cuda.DataType // element types of A, B and of C, D ("matmul" only)
	TF32     bool          // TF32 tensor-core compute
	Epilogue cuda.Epilogue // "matmul" only
}

// recorder is a [cuda.Driver] that runs nothing: it hands out fake device
// addresses, keeps small host-to-device uploads (the optimizer's chunk
// table), returns zeros on downloads, and records every stream operation
// while on is set. The backend above it is the real kernels/gpu.Backend,
// so the recorded kernel names, grids, blocks and arguments are exactly
// the ones its launchers compute.
type recorder struct {
	next      cuda.DevicePtr
	uploads   map[cuda.DevicePtr][]byte
	on        bool
	phase     string
	layer     string
	launches  []launch
	uploadsOn int // host-to-device copies while on (synchronous: each waits for queued work)
}

// maxKeptUpload bounds the uploads the recorder keeps (chunk tables are a
// few kilobytes; weights and images are not needed).
const maxKeptUpload = 1 << 20

func newRecorder() *recorder {
	return &recorder{next: 1 << 30, uploads: map[cuda.DevicePtr][]byte{}}
}

// at sets the phase and layer later operations are attributed to.
func (r *recorder) at(phase, layer string) { r.phase, r.layer = phase, layer }

func (r *recorder) add(l launch) {
	if r.on {
		l.Phase, l.Layer = r.phase, r.layer
		r.launches = append(r.launches, l)
	}
}

type function string

func (f function) Name() string { return string(f) }

type event struct{}

func (event) Release() {}

func (r *recorder) Name() string { return "perfmodel" }

func (r *recorder) Malloc(bytes int) (cuda.DevicePtr, error) {
	if bytes < 0 {
		return 0, fmt.Errorf("perfmodel: malloc of %d bytes", bytes)
	}
	p := r.next
	r.next += cuda.DevicePtr((bytes + 255) &^ 255)
	return p, nil
}

func (r *recorder) Free(cuda.DevicePtr) error { return nil }

func (r *recorder) CopyHtoD(dst cuda.DevicePtr, src []byte) error {
	if r.on {
		r.uploadsOn++
	}
	if len(src) <= maxKeptUpload {
		r.uploads[dst] = append([]byte(nil), src...)
	}
	return nil
}

func (r *recorder) CopyDtoH(dst []byte, _ cuda.DevicePtr) error {
	clear(dst)
	return nil
}

func (r *recorder) CopyDtoD(_, _ cuda.DevicePtr, bytes int) error {
	r.add(launch{Kernel: "memcpy", Size: bytes})
	return nil
}

func (r *recorder) Memset(_ cuda.DevicePtr, _ byte, bytes int) error {
	r.add(launch{Kernel: "memset", Size: bytes})
	return nil
}

func (r *recorder) Function(name string) (cuda.Function, error) { return function(name), nil }

func (r *recorder) Launch(f cuda.Function, grid, block cuda.Dim3, smem int, args *cuda.Args) error {
	if r.on {
		r.add(launch{Kernel: f.Name(), Grid: grid, Block: block, Smem: smem, Args: args.Values()})
	}
	return nil
}

func (r *recorder) Sgemm(_, _ bool, m, n, k int, _ float32, _ cuda.DevicePtr, _ int, _ cuda.DevicePtr, _ int, beta float32, _ cuda.DevicePtr, _ int) error {
	r.add(launch{Kernel: "sgemm", GEMM: gemm{M: m, N: n, K: k, Beta: beta}})
	return nil
}

func (r *recorder) Matmul(m cuda.Matmul) error {
	r.add(launch{Kernel: "matmul", GEMM: gemm{M: m.M, N: m.N, K: m.K, Beta: m.Beta, AB: m.AB, CD: m.CD,
		TF32: m.Compute == cuda.Compute32FFastTF32, Epilogue: m.Epilogue}})
	return nil
}

// Device is an H100 (the model's hardware, hardware.go).
func (r *recorder) Device() cuda.DeviceInfo {
	return cuda.DeviceInfo{Name: "perfmodel H100", Major: 9}
}

func (r *recorder) Synchronize() error                       { return nil }
func (r *recorder) Record() (cuda.Event, error)              { return event{}, nil }
func (r *recorder) Elapsed(_, _ cuda.Event) (float64, error) { return 0, nil }
func (r *recorder) RangePush(string)                         {}
func (r *recorder) RangePop()                                {}
func (r *recorder) Close() error                             { return nil }

// The input pipeline's streams and events only order work; the recorder
// keeps one queue. Asynchronous copies are recorded like synchronous ones.
type stream struct{}

func (stream) Release() {}

func (r *recorder) HostAlloc(bytes int) ([]byte, error) { return make([]byte, bytes), nil }
func (r *recorder) HostFree([]byte) error               { return nil }
func (r *recorder) NewStream() (cuda.Stream, error)     { return stream{}, nil }
func (r *recorder) CopyHtoDAsync(_ cuda.DevicePtr, src []byte, _ cuda.Stream) error {
	return r.CopyHtoD(0, src)
}
func (r *recorder) NewEvent() (cuda.Event, error)             { return event{}, nil }
func (r *recorder) RecordEvent(cuda.Event, cuda.Stream) error { return nil }
func (r *recorder) WaitEvent(cuda.Stream, cuda.Event) error   { return nil }
func (r *recorder) SyncEvent(cuda.Event) error                { return nil }

func (r *recorder) BeginCapture() error {
	return fmt.Errorf("perfmodel: the recorder does not capture graphs")
}

func (r *recorder) EndCapture() (cuda.Graph, error) {
	return nil, fmt.Errorf("perfmodel: the recorder does not capture graphs")
}

var _ cuda.Driver = (*recorder)(nil)
