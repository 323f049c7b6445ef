package sim

/*
#cgo noescape cudasim_launch
#cgo nocallback cudasim_launch
#include <stdlib.h>
#include "cudasim_abi.h"
*/
import "C"

import (
	"errors"
	"fmt"
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
// and returns when it has finished. Each argument must have the kind of the
// kernel's parameter (an Int64 also fills an unsigned 64-bit parameter).
// Launch returns ErrInvalidLaunch, before running anything, for a bad
// geometry (zero or negative sizes, more than 1024 threads per block or than
// the kernel's __launch_bounds__, more than 48 KB of dynamic shared memory),
// a wrong number or kind of arguments, and pointer arguments that are not
// null and not inside an allocation of this Driver or misaligned for their
// type. It returns ErrKernelFault, and the Driver stays faulted, when the
// kernel fails while running: an out-of-bounds write found in the guard
// bytes of an allocation or of dynamic shared memory, a divergent
// __syncthreads or warp collective, mismatched warp masks, a shuffle reading
// a lane that did not take part, a thread returning before a barrier the
// others wait in (strict mode), or a deadlock found by the watchdog. Errors
// name the kernel and the innermost open range.
func (d *Driver) Launch(f cuda.Function, grid, block cuda.Dim3, smem int, args *cuda.Args) error {
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
	k, ok := f.(*Kernel)
	if !ok {
		return d.invalid(name, errors.New("the function was not returned by the simulator's Function"))
	}
	g, b, err := cuda.LaunchSizes(grid, block)
	if err != nil {
		return d.invalid(name, err)
	}
	if smem < 0 {
		return d.invalid(name, fmt.Errorf("negative dynamic shared memory size %d", smem))
	}
	if err := check(k, args); err != nil {
		return d.invalid(name, err)
	}
	if err := d.streams.launchOnMain(name, args); err != nil {
		return err
	}
	n := &d.scratch
	*n = node{op: opLaunch, kernel: k, grid: grid, block: block, g: g, b: b, smem: smem, rng: d.innermost()}
	if args != nil {
		n.args = *args
	}
	return d.submit(n)
}

// run executes one kernel launch node and records it.
func (d *Driver) run(n *node) error {
	slots := n.args.Slots()
	var slotp *C.uint64_t
	if len(slots) > 0 {
		slotp = (*C.uint64_t)(unsafe.Pointer(&slots[0]))
	}
	rc := C.cudasim_launch(d.ctx, C.int(n.kernel.index), C.uint(n.g[0]), C.uint(n.g[1]), C.uint(n.g[2]), C.uint(n.b[0]), C.uint(n.b[1]), C.uint(n.b[2]),
		C.size_t(n.smem), slotp, C.int(len(slots)), &d.msg)
	if rc != 1 {
		d.launches = append(d.launches, Launch{Kernel: n.kernel.name, Grid: n.grid, Block: n.block, Smem: n.smem, Range: n.rng})
	}
	if rc == 0 {
		return nil
	}
	s := C.GoString(d.msg)
	C.free(unsafe.Pointer(d.msg))
	d.msg = nil
	if rc == 1 {
		return d.invalid(n.kernel.name, errors.New(s))
	}
	d.fault = &cuda.Error{Op: "launch", Kernel: n.kernel.name, Range: n.rng, Err: fmt.Errorf("%w: %s", ErrKernelFault, s)}
	return d.fault
}

// invalid returns the ErrInvalidLaunch error of a launch of kernel name.
func (d *Driver) invalid(name string, err error) error {
	return &cuda.Error{Op: "launch", Kernel: name, Range: d.innermost(), Err: fmt.Errorf("%w: %v", ErrInvalidLaunch, err)}
}

// check compares the packed arguments with the kernel's parameters.
func check(k *Kernel, args *cuda.Args) error {
	if err := args.Err(); err != nil {
		return err
	}
	n := args.Len()
	if n != len(k.params) {
		return fmt.Errorf("%s takes %d arguments (%s), got %d", k.name, len(k.params), strings.Join(k.Params(), ", "), n)
	}
	for i := range n {
		p := k.params[i]
		if p.kind == kindOther {
			return fmt.Errorf("parameter %d (%s) is a %d-byte type that cuda.Driver cannot pass (only pointers, 32- and 64-bit integers, float and double)", i, p, p.size)
		}
		kind := args.Kind(i)
		if want := paramKinds[p.kind]; kind == want || (kind == cuda.ArgInt64 && p.kind == kindUint64) {
			if p.kind == kindUint64 && int64(args.Slots()[i]) < 0 {
				return fmt.Errorf("argument %d (%s) is negative (%d)", i, p, int64(args.Slots()[i]))
			}
			continue
		}
		return fmt.Errorf("argument %d (%s) is a Go %v", i, p, kind)
	}
	return nil
}

// paramKinds maps the registry's parameter kinds to the argument kind that
// fills them.
var paramKinds = [...]cuda.ArgKind{
	kindPointer: cuda.ArgPtr,
	kindInt32:   cuda.ArgInt32,
	kindUint32:  cuda.ArgUint32,
	kindInt64:   cuda.ArgInt64,
	kindUint64:  cuda.ArgInt64,
	kindFloat32: cuda.ArgFloat32,
	kindFloat64: cuda.ArgFloat64,
	kindOther:   0,
}
