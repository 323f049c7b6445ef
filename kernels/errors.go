package kernels

import (
	"errors"
	"fmt"
)

// ErrShape is wrapped by every error about a tensor or shape struct that does
// not fit an op.
var ErrShape = errors.New("shape mismatch")

// ErrDType is wrapped by errors about a tensor whose element type is not the
// backend's.
var ErrDType = errors.New("dtype mismatch")

// ErrNaN is wrapped by errors about values that are NaN or infinite where a
// finite value is required.
var ErrNaN = errors.New("non-finite value")

// Arg names one tensor argument of an op and the shape the op expects.
type Arg struct {
	Name     string
	T        Tensor
	Want     Shape
	Optional bool // a nil tensor is allowed
}

// CheckArgs checks each argument's shape against its expected shape and, for
// backends with one compute type, its dtype against dt (0 skips that check);
// with dt Float32 a [BFloat16] tensor passes too (a bf16 activation, see
// [Backend]).
// A required argument that is nil is an error. The error wraps [ErrShape] or
// [ErrDType] and names op, the argument and both shapes.
func CheckArgs(op string, dt DType, args ...Arg) error {
	for _, a := range args {
		if a.T.Nil() {
			if a.Optional {
				continue
			}
			return fmt.Errorf("%s: %s is missing (want %v): %w", op, a.Name, a.Want, ErrShape)
		}
		if a.T.Len() != a.Want.Len() || a.T.Data.Len() != a.Want.Len() {
			return fmt.Errorf("%s: %s has shape %v, want %v: %w", op, a.Name, a.T.Shape, a.Want, ErrShape)
		}
		if got := a.T.Data.DType(); dt != 0 && got != dt && (dt != Float32 || got != BFloat16) {
			return fmt.Errorf("%s: %s is %v, backend computes in %v: %w", op, a.Name, a.T.Data.DType(), dt, ErrDType)
		}
	}
	return nil
}

// positive returns an error wrapping ErrShape unless every named value is > 0.
func positive(op string, kv ...any) error {
	for i := 0; i+1 < len(kv); i += 2 {
		if v, _ := kv[i+1].(int); v <= 0 {
			return fmt.Errorf("%s: %s = %v must be positive: %w", op, kv[i], kv[i+1], ErrShape)
		}
	}
	return nil
}
