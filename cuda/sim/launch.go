package sim

/*
#include <stdlib.h>
#include "cudasim_abi.h"
*/
import "C"

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"unsafe"

	"github.com/nextconv/nextconv/cuda"
)

// Parameter kinds, as cuda_sim_runtime.h's ParamKind classifies C++ types.
const (
	kindPointer = 1
	kindInt32   = 2
	kindUint32  = 3
	kindInt64   = 4
	kindUint64  = 5
	kindFloat32 = 6
	kindFloat64 = 7
	kindOther   = 8
)

// param is one kernel parameter as the registry describes it.
type param struct {
	kind int
	size int
	typ  string // C++ type
	name string // from the source, "#i" if unknown
}

func (p param) String() string { return strings.TrimSpace(p.typ + " " + p.name) }

// Kernel is a kernel compiled into the simulator, found by [Driver.Function].
type Kernel struct {
	name   string
	index  int
	params []param
}

// Name returns the kernel's extern "C" name.
func (k *Kernel) Name() string { return k.name }

// Params returns the kernel's parameters as "C++type name" strings.
func (k *Kernel) Params() []string {
	s := make([]string, len(k.params))
	for i, p := range k.params {
		s[i] = p.String()
	}
	return s
}

var kernelCache sync.Map // name -> *Kernel; the registry never changes

// Function returns the kernel named name, or an error wrapping ErrNotFound.
func (d *Driver) Function(name string) (cuda.Function, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable("function"); err != nil {
		return nil, err
	}
	k, err := lookup(name)
	if err != nil {
		return nil, err
	}
	return k, nil
}

func lookup(name string) (*Kernel, error) {
	if k, ok := kernelCache.Load(name); ok {
		return k.(*Kernel), nil
	}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	i := int(C.cudasim_kernel_find(cname))
	if i < 0 {
		return nil, &cuda.Error{Op: "function", Kernel: name, Err: fmt.Errorf("%w: no kernel %q among the %d compiled into the simulator (is it extern \"C\" __global__ in kernels/src, and was go generate ./cuda/sim/... run?)", ErrNotFound, name, int(C.cudasim_kernel_count()))}
	}
	k := &Kernel{name: name, index: i}
	n := int(C.cudasim_kernel_nparams(C.int(i)))
	for j := 0; j < n; j++ {
		var kind, size C.int
		var typ, pname *C.char
		C.cudasim_kernel_param(C.int(i), C.int(j), &kind, &size, &typ, &pname)
		k.params = append(k.params, param{kind: int(kind), size: int(size), typ: C.GoString(typ), name: C.GoString(pname)})
	}
	kernelCache.Store(name, k)
	return k, nil
}

// Launch runs f on a grid of blocks with smem bytes of dynamic shared memory
// and returns when it has finished. Each argument must be a cuda.DevicePtr,
// int32, uint32, int64, float32 or float64 matching the kernel's parameter
// (int64 also fills an unsigned 64-bit parameter). Launch returns
// ErrInvalidLaunch, before running anything, for a bad geometry (zero or
// negative sizes, more than 1024 threads per block or than the kernel's
// __launch_bounds__, more than 48 KB of dynamic shared memory), a wrong
// number or type of arguments, and pointer arguments that are not null and
// not inside an allocation of this Driver or misaligned for their type. It
// returns ErrKernelFault, and the Driver stays faulted, when the kernel
// fails while running: an out-of-bounds write found in the guard bytes of an
// allocation or of dynamic shared memory, a divergent __syncthreads or warp
// collective, mismatched warp masks, a shuffle reading a lane that did not
// take part, a thread returning before a barrier the others wait in (strict
// mode), or a deadlock found by the watchdog.
func (d *Driver) Launch(f cuda.Function, grid, block cuda.Dim3, smem int, args ...any) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	name := ""
	if f != nil {
		name = f.Name()
	}
	if err := d.usable("launch"); err != nil {
		err.(*cuda.Error).Kernel = name
		return err
	}
	invalid := func(format string, a ...any) error {
		return &cuda.Error{Op: "launch", Kernel: name, Err: fmt.Errorf("%w: %s", ErrInvalidLaunch, fmt.Sprintf(format, a...))}
	}
	k, ok := f.(*Kernel)
	if !ok {
		return invalid("the function was not returned by the simulator's Function")
	}
	g, b, err := cuda.LaunchSizes(grid, block)
	if err != nil {
		return invalid("%v", err)
	}
	if smem < 0 {
		return invalid("negative dynamic shared memory size %d", smem)
	}
	slots, err := pack(k, args)
	if err != nil {
		return invalid("%v", err)
	}
	if err := d.streams.launchOnMain(name, args); err != nil {
		return err
	}
	var slotp *C.uint64_t
	if len(slots) > 0 {
		slotp = (*C.uint64_t)(unsafe.Pointer(&slots[0]))
	}
	var msg *C.char
	rc := C.cudasim_launch(d.ctx, C.int(k.index), C.uint(g[0]), C.uint(g[1]), C.uint(g[2]), C.uint(b[0]), C.uint(b[1]), C.uint(b[2]),
		C.size_t(smem), slotp, C.int(len(slots)), &msg)
	if rc != 1 {
		d.launches = append(d.launches, Launch{Kernel: name, Grid: grid, Block: block, Smem: smem})
	}
	if rc == 0 {
		return nil
	}
	s := C.GoString(msg)
	C.free(unsafe.Pointer(msg))
	if rc == 1 {
		return invalid("%s", s)
	}
	d.fault = &cuda.Error{Op: "launch", Kernel: name, Err: fmt.Errorf("%w: %s", ErrKernelFault, s)}
	return d.fault
}

// pack converts Go arguments into the 8-byte slots cuLaunchKernel reads,
// checking each against the kernel's parameter type.
func pack(k *Kernel, args []any) ([]uint64, error) {
	if len(args) != len(k.params) {
		return nil, fmt.Errorf("%s takes %d arguments (%s), got %d", k.name, len(k.params), strings.Join(k.Params(), ", "), len(args))
	}
	slots := make([]uint64, len(args))
	for i, a := range args {
		p := k.params[i]
		var kind int
		switch x := a.(type) {
		case cuda.DevicePtr:
			kind, slots[i] = kindPointer, uint64(x)
		case int32:
			kind, slots[i] = kindInt32, uint64(int64(x))
		case uint32:
			kind, slots[i] = kindUint32, uint64(x)
		case int64:
			kind, slots[i] = kindInt64, uint64(x)
			if p.kind == kindUint64 {
				if x < 0 {
					return nil, fmt.Errorf("argument %d (%s) is negative (%d)", i, p, x)
				}
				kind = kindUint64
			}
		case float32:
			kind, slots[i] = kindFloat32, uint64(math.Float32bits(x))
		case float64:
			kind, slots[i] = kindFloat64, math.Float64bits(x)
		case int, uint, int8, int16, uint8, uint16, uint64, uintptr:
			return nil, fmt.Errorf("argument %d (%s) is a Go %T; pass cuda.DevicePtr, int32, uint32, int64, float32 or float64", i, p, a)
		default:
			return nil, fmt.Errorf("argument %d (%s) has unsupported type %T", i, p, a)
		}
		if p.kind == kindOther {
			return nil, fmt.Errorf("parameter %d (%s) is a %d-byte type that cuda.Driver cannot pass (only pointers, 32- and 64-bit integers, float and double)", i, p, p.size)
		}
		if kind != p.kind {
			return nil, fmt.Errorf("argument %d (%s) is a Go %T", i, p, a)
		}
	}
	return slots, nil
}
