package cuda

import (
	"fmt"
	"math"
)

// MaxArgs is the most parameters one launch can carry. The project's
// kernels take at most 16 (col2im_f32).
const MaxArgs = 24

// ArgKind is the Go type an [Args] slot was filled from, which a driver
// checks against the kernel's parameter type.
type ArgKind uint8

// The kinds of launch argument.
const (
	ArgPtr     ArgKind = iota + 1 // DevicePtr, a pointer parameter
	ArgInt32                      // int32, an int parameter
	ArgUint32                     // uint32, an unsigned parameter
	ArgInt64                      // int64, a long long or size_t parameter
	ArgFloat32                    // float32, a float parameter
	ArgFloat64                    // float64, a double parameter
)

// String returns the Go type of the kind ("cuda.DevicePtr", "int32", ...).
func (k ArgKind) String() string {
	switch k {
	case ArgPtr:
		return "cuda.DevicePtr"
	case ArgInt32:
		return "int32"
	case ArgUint32:
		return "uint32"
	case ArgInt64:
		return "int64"
	case ArgFloat32:
		return "float32"
	case ArgFloat64:
		return "float64"
	}
	return fmt.Sprintf("ArgKind(%d)", uint8(k))
}

// ErrTooManyArgs is returned by Launch for an [Args] that overflowed
// MaxArgs.
var ErrTooManyArgs = fmt.Errorf("more than %d launch arguments", MaxArgs)

// Args is the parameter list of one kernel launch, packed as cuLaunchKernel
// reads it: each value in its own 8-byte little-endian slot (the driver
// copies as many bytes as the parameter has), with its kind kept for
// checking. It is a fixed-size value, so filling and passing it allocates
// nothing; a launcher keeps one and refills it for every launch:
//
//	a := args.Reset().Ptr(y).Ptr(x).Int32(int32(n))
//	err := drv.Launch(f, grid, block, 0, a)
//
// Appending past MaxArgs is remembered and makes Launch fail with
// ErrTooManyArgs.
type Args struct {
	slots [MaxArgs]uint64
	kinds [MaxArgs]ArgKind
	n     int
	over  bool
}

// Reset empties a and returns it.
func (a *Args) Reset() *Args {
	a.n, a.over = 0, false
	return a
}

func (a *Args) add(k ArgKind, v uint64) *Args {
	if a.n == MaxArgs {
		a.over = true
		return a
	}
	a.slots[a.n], a.kinds[a.n] = v, k
	a.n++
	return a
}

// Ptr appends a device pointer.
func (a *Args) Ptr(p DevicePtr) *Args { return a.add(ArgPtr, uint64(p)) }

// Int32 appends an int.
func (a *Args) Int32(v int32) *Args { return a.add(ArgInt32, uint64(uint32(v))) }

// Uint32 appends an unsigned int.
func (a *Args) Uint32(v uint32) *Args { return a.add(ArgUint32, uint64(v)) }

// Int64 appends a 64-bit integer (long long, or size_t when non-negative).
func (a *Args) Int64(v int64) *Args { return a.add(ArgInt64, uint64(v)) }

// Float32 appends a float.
func (a *Args) Float32(v float32) *Args { return a.add(ArgFloat32, uint64(math.Float32bits(v))) }

// Float64 appends a double.
func (a *Args) Float64(v float64) *Args { return a.add(ArgFloat64, math.Float64bits(v)) }

// Len returns the number of arguments; a nil Args has none.
func (a *Args) Len() int {
	if a == nil {
		return 0
	}
	return a.n
}

// Err returns ErrTooManyArgs if more than MaxArgs were appended, else nil.
func (a *Args) Err() error {
	if a != nil && a.over {
		return ErrTooManyArgs
	}
	return nil
}

// Slots returns the packed 8-byte slots, a view of a's storage (nil for a
// nil Args).
func (a *Args) Slots() []uint64 {
	if a == nil {
		return nil
	}
	return a.slots[:a.n]
}

// Kind returns the kind of argument i.
func (a *Args) Kind(i int) ArgKind { return a.kinds[i] }

// Value returns argument i as the Go value it was appended from (a
// DevicePtr, int32, uint32, int64, float32 or float64), for tools and
// error messages; it allocates.
func (a *Args) Value(i int) any {
	v := a.slots[i]
	switch a.kinds[i] {
	case ArgPtr:
		return DevicePtr(v)
	case ArgInt32:
		return int32(uint32(v))
	case ArgUint32:
		return uint32(v)
	case ArgInt64:
		return int64(v)
	case ArgFloat32:
		return math.Float32frombits(uint32(v))
	case ArgFloat64:
		return math.Float64frombits(v)
	}
	return nil
}

// Values returns every argument as Value does.
func (a *Args) Values() []any {
	vs := make([]any, a.Len())
	for i := range vs {
		vs[i] = a.Value(i)
	}
	return vs
}

// ArgsOf packs Go values (DevicePtr, int32, uint32, int64, float32 or
// float64) into a new Args, for tests and tools; launch paths fill a reused
// Args with the typed methods instead. It returns an error naming the first
// value of another type.
func ArgsOf(vals ...any) (*Args, error) {
	a := new(Args)
	for i, v := range vals {
		switch x := v.(type) {
		case DevicePtr:
			a.Ptr(x)
		case int32:
			a.Int32(x)
		case uint32:
			a.Uint32(x)
		case int64:
			a.Int64(x)
		case float32:
			a.Float32(x)
		case float64:
			a.Float64(x)
		default:
			return nil, fmt.Errorf("argument %d is a Go %T; pass cuda.DevicePtr, int32, uint32, int64, float32 or float64", i, v)
		}
	}
	return a, a.Err()
}
