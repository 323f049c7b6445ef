// Package record provides a [cuda.Driver] that runs nothing: it hands out
// fake device addresses, discards uploads, returns zeros on downloads and
// counts the work queued on it, including graph captures and replays. It
// measures the host side of the CUDA backend — launches per step, Go heap
// allocations per step — on a machine without a GPU, at the cost of no
// device work at all.
package record

import (
	"errors"
	"fmt"

	"github.com/nextconv/nextconv/cuda"
)

// Driver is the recording driver. Its zero value is not usable; call New.
// It is not safe for concurrent use.
type Driver struct {
	next      cuda.DevicePtr
	capture   *Graph
	Launches  int // kernel launches run, eagerly or by graph replays
	Ops       int // memsets, device copies and GEMMs run
	Uploads   int // host-to-device copies
	Downloads int // device-to-host copies
	Replays   int // graph launches
}

var _ cuda.Driver = (*Driver)(nil)

// New returns a recording driver.
func New() *Driver { return &Driver{next: 1 << 30} }

type function string

func (f function) Name() string { return string(f) }

type event struct{}

func (event) Release() {}

// Name returns "record".
func (d *Driver) Name() string { return "record" }

// Malloc returns a fresh fake address aligned to 256 bytes; nothing is
// allocated.
func (d *Driver) Malloc(bytes int) (cuda.DevicePtr, error) {
	if bytes <= 0 {
		return 0, fmt.Errorf("record: malloc of %d bytes", bytes)
	}
	p := d.next
	d.next += cuda.DevicePtr((bytes + 255) &^ 255)
	return p, nil
}

// Free does nothing.
func (d *Driver) Free(cuda.DevicePtr) error { return d.host("free") }

// CopyHtoD counts the upload and discards it.
func (d *Driver) CopyHtoD(cuda.DevicePtr, []byte) error {
	d.Uploads++
	return d.host("memcpy HtoD")
}

// CopyDtoH fills dst with zeros.
func (d *Driver) CopyDtoH(dst []byte, _ cuda.DevicePtr) error {
	clear(dst)
	d.Downloads++
	return d.host("memcpy DtoH")
}

// CopyDtoD counts a device operation.
func (d *Driver) CopyDtoD(_, _ cuda.DevicePtr, _ int) error { return d.op(false) }

// Memset counts a device operation.
func (d *Driver) Memset(cuda.DevicePtr, byte, int) error { return d.op(false) }

// Function returns a function of any name.
func (d *Driver) Function(name string) (cuda.Function, error) { return function(name), nil }

// Launch counts a kernel launch; args is not read.
func (d *Driver) Launch(cuda.Function, cuda.Dim3, cuda.Dim3, int, *cuda.Args) error {
	return d.op(true)
}

// Sgemm counts a device operation.
func (d *Driver) Sgemm(bool, bool, int, int, int, float32, cuda.DevicePtr, int, cuda.DevicePtr, int, float32, cuda.DevicePtr, int) error {
	return d.op(false)
}

// Matmul counts a device operation.
func (d *Driver) Matmul(cuda.Matmul) error { return d.op(false) }

// Device returns "record" with compute capability 9.0.
func (d *Driver) Device() cuda.DeviceInfo { return cuda.DeviceInfo{Name: "record", Major: 9} }

// op counts one piece of stream work, or records it into the open capture.
func (d *Driver) op(kernel bool) error {
	switch {
	case d.capture != nil && kernel:
		d.capture.launches++
	case d.capture != nil:
		d.capture.ops++
	case kernel:
		d.Launches++
	default:
		d.Ops++
	}
	return nil
}

// host returns an error for host work inside a capture, as a GPU would.
func (d *Driver) host(op string) error {
	if d.capture != nil {
		return fmt.Errorf("record: %s while capturing a graph", op)
	}
	return nil
}

// Synchronize does nothing (an error while capturing).
func (d *Driver) Synchronize() error { return d.host("synchronize") }

// Record returns an event.
func (d *Driver) Record() (cuda.Event, error) { return event{}, d.host("event record") }

// Elapsed returns 0.
func (d *Driver) Elapsed(_, _ cuda.Event) (float64, error) { return 0, d.host("event elapsed") }

// RangePush does nothing.
func (d *Driver) RangePush(string) {}

// RangePop does nothing.
func (d *Driver) RangePop() {}

// Close does nothing.
func (d *Driver) Close() error { return nil }

// BeginCapture starts counting work into a graph instead of running it.
func (d *Driver) BeginCapture() error {
	if d.capture != nil {
		return errors.New("record: capture already open")
	}
	d.capture = &Graph{d: d}
	return nil
}

// EndCapture returns the captured graph.
func (d *Driver) EndCapture() (cuda.Graph, error) {
	g := d.capture
	if g == nil {
		return nil, errors.New("record: no capture open")
	}
	d.capture = nil
	return g, nil
}

// Graph is a captured graph of a recording Driver: replaying it adds its
// counts to the driver's.
type Graph struct {
	d             *Driver
	launches, ops int
}

// Launch counts one replay.
func (g *Graph) Launch() error {
	if err := g.d.host("graph launch"); err != nil {
		return err
	}
	g.d.Launches += g.launches
	g.d.Ops += g.ops
	g.d.Replays++
	return nil
}

// Release does nothing.
func (g *Graph) Release() error { return nil }

// The input pipeline's streams and events only order work; the recording
// driver keeps one queue and counts asynchronous copies as uploads.
type stream struct{}

func (stream) Release() {}

// HostAlloc returns plain Go memory.
func (d *Driver) HostAlloc(bytes int) ([]byte, error) { return make([]byte, bytes), nil }

// HostFree does nothing.
func (d *Driver) HostFree([]byte) error { return nil }

// NewStream returns a stream that orders nothing.
func (d *Driver) NewStream() (cuda.Stream, error) { return stream{}, nil }

// CopyHtoDAsync counts the upload and discards it, like CopyHtoD.
func (d *Driver) CopyHtoDAsync(dst cuda.DevicePtr, src []byte, _ cuda.Stream) error {
	return d.CopyHtoD(dst, src)
}

// NewEvent returns an event that orders nothing.
func (d *Driver) NewEvent() (cuda.Event, error) { return event{}, nil }

// RecordEvent does nothing.
func (d *Driver) RecordEvent(cuda.Event, cuda.Stream) error { return nil }

// WaitEvent does nothing.
func (d *Driver) WaitEvent(cuda.Stream, cuda.Event) error { return nil }

// SyncEvent does nothing.
func (d *Driver) SyncEvent(cuda.Event) error { return d.host("event synchronize") }
