//go:build cuda && cgo

package cuda

/*
#cgo LDFLAGS: -ldl
#include <stdlib.h>
#include <nvtx3/nvToolsExt.h>

// NVTX v3 is header-only: the first call looks for a tool (Nsight sets
// NVTX_INJECTION64_PATH) with dlopen; without one every call is a no-op.
static void nc_nvtx_push(const char* name) { nvtxRangePushA(name); }
static void nc_nvtx_pop(void) { nvtxRangePop(); }
*/
import "C"

import "unsafe"

// rangeOp opens or closes an NVTX range on the device goroutine and keeps
// the stack of open ones, which launch errors name. Each name becomes a C
// string once.
func (d *Device) rangeOp(op rangeOp, name string) {
	if op == popRange {
		if len(d.ranges) > 0 {
			d.ranges = d.ranges[:len(d.ranges)-1]
		}
		C.nc_nvtx_pop()
		return
	}
	cs, ok := d.cnames[name]
	if !ok {
		cs = unsafe.Pointer(C.CString(name))
		d.cnames[name] = cs
	}
	d.ranges = append(d.ranges, name)
	C.nc_nvtx_push((*C.char)(cs))
}

// innermost returns the innermost open NVTX range, or "".
func (d *Device) innermost() string {
	if len(d.ranges) == 0 {
		return ""
	}
	return d.ranges[len(d.ranges)-1]
}

// freeNames frees the C strings of rangeOp.
func freeNames(names map[string]unsafe.Pointer) {
	for k, p := range names {
		C.free(p)
		delete(names, k)
	}
}
