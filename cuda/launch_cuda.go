//go:build cuda && cgo

package cuda

/*
#cgo noescape nc_launch
#cgo nocallback nc_launch
#include <stdint.h>
#include <string.h>
#include <cuda.h>

// nc_launch copies n 8-byte argument slots into slots (C memory that the
// device goroutine owns; params[i] points at slots[i]) and launches f:
// cuLaunchKernel reads the parameters before it returns, so the slots can
// be reused by the next launch.
static CUresult nc_launch(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
		unsigned smem, CUstream s, const uint64_t* src, int n, uint64_t* slots, void** params) {
	memcpy(slots, src, (size_t)n * sizeof(uint64_t));
	return cuLaunchKernel(f, gx, gy, gz, bx, by, bz, smem, s, params, NULL);
}

static CUresult nc_begin_capture(CUstream s) { return cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_RELAXED); }
static CUresult nc_end_capture(CUstream s, CUgraph* g) { return cuStreamEndCapture(s, g); }
static CUresult nc_instantiate(CUgraphExec* e, CUgraph g) { return cuGraphInstantiateWithFlags(e, g, 0); }
static CUresult nc_graph_launch(CUgraphExec e, CUstream s) { return cuGraphLaunch(e, s); }
static CUresult nc_graph_exec_destroy(CUgraphExec e) { return cuGraphExecDestroy(e); }
static CUresult nc_graph_destroy(CUgraph g) { return cuGraphDestroy(g); }
static const char* nc_error_name(CUresult r) {
	const char* s = NULL;
	if (cuGetErrorName(r, &s) != CUDA_SUCCESS || s == NULL) return "CUDA_ERROR_UNKNOWN";
	return s;
}
*/
import "C"

import (
	"fmt"
	"unsafe"

	"gorgonia.org/cu"
)

// launchSlots is the C memory the device goroutine packs launch arguments
// into: MaxArgs slots and the pointer array cuLaunchKernel reads them
// through (the pointers must not point into Go memory).
type launchSlots struct {
	slots  *C.uint64_t
	params *unsafe.Pointer
}

// newLaunchSlots allocates the slots; they live as long as the process's
// device goroutine, so they are never freed.
func newLaunchSlots() launchSlots {
	slots := (*C.uint64_t)(C.calloc(MaxArgs, 8))
	params := (*unsafe.Pointer)(C.calloc(MaxArgs, C.size_t(unsafe.Sizeof(unsafe.Pointer(nil)))))
	ps := unsafe.Slice(params, MaxArgs)
	for i := range ps {
		ps[i] = unsafe.Add(unsafe.Pointer(slots), 8*i)
	}
	return launchSlots{slots: slots, params: params}
}

// cuResult is a CUresult that is not CUDA_SUCCESS.
type cuResult C.CUresult

func (r cuResult) Error() string {
	return fmt.Sprintf("%s (%d)", C.GoString(C.nc_error_name(C.CUresult(r))), int(r))
}

func check(r C.CUresult) error {
	if r == C.CUDA_SUCCESS {
		return nil
	}
	return cuResult(r)
}

// rawStream returns s's CUstream handle.
func rawStream(s cu.Stream) C.CUstream { return C.CUstream(unsafe.Pointer(s.C())) }

// rawFunction returns f's CUfunction handle: gorgonia.org/cu v0.9.6 keeps it
// as the only field of Function and does not export it.
func rawFunction(f *cu.Function) C.CUfunction { return *(*C.CUfunction)(unsafe.Pointer(f)) }

// launchNow launches r on the device goroutine.
func (d *Device) launchNow(r *launchReq) error {
	slots := r.args.Slots()
	var src *C.uint64_t
	if len(slots) > 0 {
		src = (*C.uint64_t)(unsafe.Pointer(&slots[0]))
	}
	rc := C.nc_launch(rawFunction(&r.k.fn), C.uint(r.g[0]), C.uint(r.g[1]), C.uint(r.g[2]), C.uint(r.b[0]), C.uint(r.b[1]), C.uint(r.b[2]),
		C.uint(r.smem), rawStream(d.stream), src, C.int(len(slots)), d.slots.slots, d.slots.params)
	if rc != C.CUDA_SUCCESS {
		return &Error{Op: "launch", Kernel: r.k.name, Range: d.innermost(), Err: fmt.Errorf("grid %v block %v smem %d: %w", r.g, r.b, r.smem, cuResult(rc))}
	}
	return nil
}

// graph is an instantiated CUDA graph of a Device.
type graph struct {
	d    *Device
	g    C.CUgraph
	exec C.CUgraphExec
}

// BeginCapture starts capturing the stream's work (cuStreamBeginCapture in
// relaxed mode, so that the caching allocator may still cuMemAlloc).
// Everything queued until EndCapture is recorded, not run.
func (d *Device) BeginCapture() error {
	if err := d.take(); err != nil {
		return err
	}
	return d.call("begin capture", func() error {
		if d.capturing {
			return &Error{Op: "begin capture", Err: fmt.Errorf("a capture is already open")}
		}
		if err := check(C.nc_begin_capture(rawStream(d.stream))); err != nil {
			return &Error{Op: "begin capture", Err: err}
		}
		d.capturing = true
		return nil
	})
}

// EndCapture ends the capture and instantiates the graph. An error of work
// queued during the capture (an operation not allowed in a capture) is
// returned instead, and the partial graph is destroyed.
func (d *Device) EndCapture() (Graph, error) {
	gr := &graph{d: d}
	err := d.call("end capture", func() error {
		if !d.capturing {
			return &Error{Op: "end capture", Err: fmt.Errorf("no capture is open")}
		}
		d.capturing = false
		if err := check(C.nc_end_capture(rawStream(d.stream), &gr.g)); err != nil {
			return &Error{Op: "end capture", Err: err}
		}
		if err := check(C.nc_instantiate(&gr.exec, gr.g)); err != nil {
			C.nc_graph_destroy(gr.g)
			return &Error{Op: "graph instantiate", Err: err}
		}
		return nil
	})
	if first := d.take(); first != nil {
		if err == nil {
			gr.Release()
		}
		return nil, first
	}
	if err != nil {
		return nil, err
	}
	return gr, nil
}

// Launch queues one replay of the graph on the stream.
func (g *graph) Launch() error {
	d := g.d
	if err := d.peek(); err != nil {
		return err
	}
	return d.send("graph launch", request{graph: g})
}

// Release queues the destruction of the graph.
func (g *graph) Release() error {
	return g.d.queue("graph destroy", func() error {
		if g.exec != nil {
			if err := check(C.nc_graph_exec_destroy(g.exec)); err != nil {
				return &Error{Op: "graph destroy", Err: err}
			}
			g.exec = nil
		}
		if g.g != nil {
			C.nc_graph_destroy(g.g)
			g.g = nil
		}
		return nil
	})
}

// launchGraph runs on the device goroutine.
func (d *Device) launchGraph(g *graph) error {
	if g.exec == nil {
		return &Error{Op: "graph launch", Err: fmt.Errorf("graph already released")}
	}
	if err := check(C.nc_graph_launch(g.exec, rawStream(d.stream))); err != nil {
		return &Error{Op: "graph launch", Err: err}
	}
	return nil
}
