// Package torchpt reads PyTorch checkpoints written by torch.save (the zip
// format of PyTorch ≥ 1.6) holding a state dict, such as the official
// ConvNeXt V2 releases ({"model": state_dict}), without running any of the
// pickle's code.
//
// Files from outside are untrusted. Before unpickling, the pickle is scanned
// opcode by opcode (scan.go): a pickle that names any class or function
// outside the tensor-rebuild set (torch._utils._rebuild_tensor_v2,
// collections.OrderedDict, the typed storages such as torch.FloatStorage)
// is refused with ErrUnsafe, and every length it announces must fit in its
// own bytes. Zip entries, storages and the pickle are bounded by [Limits]
// before anything is allocated. Unpickling itself uses
// github.com/nlpodyssey/gopickle's pickle machine with a resolver that
// knows only that set.
package torchpt

import (
	"archive/zip"
	"errors"
	"fmt"
	"os"
)

// ErrUnsafe is wrapped when a pickle names a callable outside the
// tensor-rebuild set or uses an opcode that could reach other code.
var ErrUnsafe = errors.New("unsafe pickle refused")

// Limits bounds what a file may make the reader allocate.
type Limits struct {
	MaxEntries int   // zip entries (default 1<<16)
	MaxPickle  int64 // bytes of data.pkl (default 64 MiB)
	MaxBytes   int64 // bytes of all storages together (default 8 GiB)
	MaxDims    int   // dimensions of one tensor (default 8)
}

// DefaultLimits returns limits that admit every published ConvNeXt V2
// checkpoint (huge: 660 M parameters, 2.6 GB in float32).
func DefaultLimits() Limits {
	return Limits{MaxEntries: 1 << 16, MaxPickle: 64 << 20, MaxBytes: 8 << 30, MaxDims: 8}
}

// Tensor is one named tensor of a state dict as float32 in row-major
// (contiguous) order of Shape, PyTorch's layout.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// Read returns the tensors of the state dict in a torch.save checkpoint, in
// the dict's order: the file's top-level object may be the state dict itself
// or a dict holding it under "model" or "state_dict" (the official and
// timm training scripts). Float32, float64, float16 and bfloat16 tensors are
// converted to float32; views are gathered through their strides. Errors
// name the path: a missing file, a file that is not a zip (the legacy
// pre-1.6 format included), a truncated or corrupt archive, a pickle with
// unexpected contents, and ErrUnsafe for a pickle naming code.
func Read(path string, lim Limits) ([]Tensor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("torchpt: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("torchpt: %w", err)
	}
	zr, err := zip.NewReader(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("torchpt: %s is not a PyTorch zip checkpoint (truncated, corrupt, or saved in the legacy pre-1.6 format): %w", path, err)
	}
	a, err := openArchive(path, zr, st.Size(), lim)
	if err != nil {
		return nil, err
	}
	pkl, err := a.record("data.pkl", lim.MaxPickle)
	if err != nil {
		return nil, err
	}
	if err := scan(pkl); err != nil {
		return nil, fmt.Errorf("torchpt: %s: %w", path, err)
	}
	obj, err := unpickle(pkl, a)
	if err != nil {
		return nil, fmt.Errorf("torchpt: %s: %w", path, err)
	}
	sd, err := stateDict(obj)
	if err != nil {
		return nil, fmt.Errorf("torchpt: %s: %w", path, err)
	}
	return tensors(sd, lim)
}
