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

// nvtxRangePush opens an NVTX range on the calling thread; the tool copies
// the name during the call.
func nvtxRangePush(name string) {
	cs := C.CString(name)
	C.nc_nvtx_push(cs)
	C.free(unsafe.Pointer(cs))
}

// nvtxRangePop closes the calling thread's innermost NVTX range.
func nvtxRangePop() { C.nc_nvtx_pop() }
