//go:build cuda && cgo

package cuda

/*
#cgo LDFLAGS: -lcuda
#include <cuda.h>

// nc_host_alloc allocates page-locked host memory that every context may
// use for asynchronous copies (gorgonia.org/cu has no cuMemHostAlloc).
static CUresult nc_host_alloc(void** p, size_t bytes) { return cuMemHostAlloc(p, bytes, CU_MEMHOSTALLOC_PORTABLE); }
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"

	"gorgonia.org/cu"
)

// The side streams, ordering events and page-locked host memory of the
// input pipeline (Driver.NewStream and the methods after it).

// stream is a side stream of a Device.
type stream struct {
	d *Device
	s cu.Stream
}

// Release queues the stream's destruction; CUDA destroys it once its work
// is done.
func (s *stream) Release() {
	st := s.s
	s.s = cu.Stream{}
	if st == (cu.Stream{}) {
		return
	}
	_ = s.d.queue("stream destroy", func() error { return st.Destroy() })
}

// HostAlloc returns bytes of page-locked host memory (cuMemHostAlloc,
// portable). It waits for the device goroutine, which holds the context.
func (d *Device) HostAlloc(bytes int) ([]byte, error) {
	if bytes <= 0 {
		return nil, &Error{Op: "host alloc", Err: fmt.Errorf("cannot allocate %d bytes", bytes)}
	}
	var p unsafe.Pointer
	err := d.call("host alloc", func() error {
		if rc := C.nc_host_alloc(&p, C.size_t(bytes)); rc != C.CUDA_SUCCESS {
			return &Error{Op: "host alloc", Err: fmt.Errorf("%d bytes: CUresult %d", bytes, int(rc))}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return unsafe.Slice((*byte)(p), bytes), nil
}

// HostFree waits for the queued work (a copy may still read b) and frees
// memory returned by HostAlloc.
func (d *Device) HostFree(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	p := unsafe.Pointer(unsafe.SliceData(b))
	return d.call("host free", func() error {
		if err := cu.Synchronize(); err != nil {
			return &Error{Op: "host free", Err: err}
		}
		if err := cu.MemFreeHost(p); err != nil {
			return &Error{Op: "host free", Err: err}
		}
		return nil
	})
}

// NewStream creates a non-blocking stream.
func (d *Device) NewStream() (Stream, error) {
	s := &stream{d: d}
	err := d.call("stream create", func() error {
		var err error
		if s.s, err = cu.MakeStream(cu.NonBlocking); err != nil {
			return &Error{Op: "stream create", Err: err}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// cuStream returns the CUDA stream of s, the main stream for nil.
func (d *Device) cuStream(op string, s Stream) (cu.Stream, error) {
	if s == nil {
		return d.stream, nil
	}
	x, ok := s.(*stream)
	if !ok || x.d != d || x.s == (cu.Stream{}) {
		return cu.Stream{}, &Error{Op: op, Err: errors.New("not a live stream of this device's NewStream")}
	}
	return x.s, nil
}

// cuEvent returns the CUDA event of e.
func (d *Device) cuEvent(op string, e Event) (cu.Event, error) {
	x, ok := e.(*event)
	if !ok || x.d != d || x.ev == (cu.Event{}) {
		return cu.Event{}, &Error{Op: op, Err: errors.New("not a live event of this device")}
	}
	return x.ev, nil
}

// CopyHtoDAsync queues cuMemcpyHtoDAsync of src (page-locked, from
// HostAlloc) to dst on s and returns; errors of the queued copy go to the
// next Synchronize, as for Launch.
func (d *Device) CopyHtoDAsync(dst DevicePtr, src []byte, s Stream) error {
	if len(src) == 0 {
		return nil
	}
	st, err := d.cuStream("memcpy HtoD async", s)
	if err != nil {
		return err
	}
	p := unsafe.Pointer(unsafe.SliceData(src))
	return d.queue("memcpy HtoD async", func() error {
		if err := cu.MemcpyHtoDAsync(cu.DevicePtr(dst), p, int64(len(src)), st); err != nil {
			return &Error{Op: "memcpy HtoD async", Err: fmt.Errorf("%d bytes to %#x: %w", len(src), uintptr(dst), err)}
		}
		return nil
	})
}

// NewEvent creates an event without timing (cheaper to record and wait on).
func (d *Device) NewEvent() (Event, error) {
	e := &event{d: d}
	err := d.call("event create", func() error {
		var err error
		if e.ev, err = cu.MakeEvent(cu.DisableTiming); err != nil {
			return &Error{Op: "event create", Err: err}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// RecordEvent queues cuEventRecord of e on s.
func (d *Device) RecordEvent(e Event, s Stream) error {
	ev, err := d.cuEvent("event record", e)
	if err != nil {
		return err
	}
	st, err := d.cuStream("event record", s)
	if err != nil {
		return err
	}
	return d.queue("event record", func() error {
		if err := ev.Record(st); err != nil {
			return &Error{Op: "event record", Err: err}
		}
		return nil
	})
}

// WaitEvent queues cuStreamWaitEvent(s, e).
func (d *Device) WaitEvent(s Stream, e Event) error {
	ev, err := d.cuEvent("event wait", e)
	if err != nil {
		return err
	}
	st, err := d.cuStream("event wait", s)
	if err != nil {
		return err
	}
	return d.queue("event wait", func() error {
		if err := st.Wait(ev, 0); err != nil {
			return &Error{Op: "event wait", Err: err}
		}
		return nil
	})
}

// SyncEvent waits on the device goroutine for e (cuEventSynchronize).
func (d *Device) SyncEvent(e Event) error {
	ev, err := d.cuEvent("event synchronize", e)
	if err != nil {
		return err
	}
	return d.call("event synchronize", func() error {
		if err := ev.Synchronize(); err != nil {
			return &Error{Op: "event synchronize", Err: err}
		}
		return nil
	})
}
