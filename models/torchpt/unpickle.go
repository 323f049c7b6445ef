package torchpt

import (
	"bytes"
	"fmt"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// dtype is one of torch's typed storage classes.
type dtype struct {
	name string // "torch.FloatStorage"
	size int    // bytes per element
}

var dtypes = map[string]dtype{}

func init() {
	for name, size := range map[string]int{
		"FloatStorage": 4, "HalfStorage": 2, "DoubleStorage": 8, "BFloat16Storage": 2,
		"LongStorage": 8, "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1, "BoolStorage": 1,
	} {
		dtypes["torch."+name] = dtype{"torch." + name, size}
	}
}

// storage is one storage's raw little-endian bytes.
type storage struct {
	dtype
	data []byte
}

// rawTensor is what _rebuild_tensor_v2 returns: a view of a storage.
type rawTensor struct {
	storage      *storage
	offset       int
	size, stride []int
}

// rebuildTensor stands in for torch._utils._rebuild_tensor_v2(storage,
// storage_offset, size, stride, requires_grad, backward_hooks[, metadata]).
type rebuildTensor struct{}

func (rebuildTensor) Call(args ...interface{}) (interface{}, error) {
	if len(args) != 6 && len(args) != 7 {
		return nil, fmt.Errorf("_rebuild_tensor_v2 with %d arguments", len(args))
	}
	st, ok := args[0].(*storage)
	off, ok2 := args[1].(int)
	size, err := ints(args[2])
	stride, err2 := ints(args[3])
	if !ok || !ok2 || err != nil || err2 != nil {
		return nil, fmt.Errorf("_rebuild_tensor_v2 with unexpected arguments (storage %T, offset %T, size %v, stride %v)", args[0], args[1], err, err2)
	}
	return &rawTensor{storage: st, offset: off, size: size, stride: stride}, nil
}

// ints converts a pickled tuple of ints.
func ints(v interface{}) ([]int, error) {
	t, ok := v.(*types.Tuple)
	if !ok {
		return nil, fmt.Errorf("%T is not a tuple", v)
	}
	out := make([]int, t.Len())
	for i := range out {
		if out[i], ok = t.Get(i).(int); !ok {
			return nil, fmt.Errorf("tuple element %d is %T, not an int", i, t.Get(i))
		}
	}
	return out, nil
}

// unpickle runs gopickle's machine on a scanned pickle with a class
// resolver that knows only the tensor-rebuild set and a persistent loader
// that reads storages from the archive (each once).
func unpickle(pkl []byte, a *archive) (interface{}, error) {
	u := pickle.NewUnpickler(bytes.NewReader(pkl))
	u.FindClass = func(module, name string) (interface{}, error) {
		full := module + "." + name
		if full == "torch._utils._rebuild_tensor_v2" {
			return rebuildTensor{}, nil
		}
		if dt, ok := dtypes[full]; ok {
			return dt, nil
		}
		return nil, allowed(module, name) // never reached after scan; refuses anyway
	}
	loaded := map[string]*storage{}
	u.PersistentLoad = func(id interface{}) (interface{}, error) {
		t, ok := id.(*types.Tuple)
		if !ok || t.Len() != 5 || t.Get(0) != "storage" {
			return nil, fmt.Errorf("persistent id %v is not ('storage', type, key, location, numel)", id)
		}
		dt, ok1 := t.Get(1).(dtype)
		key, ok2 := t.Get(2).(string)
		numel, ok3 := t.Get(4).(int)
		if !ok1 || !ok2 || !ok3 || numel < 0 {
			return nil, fmt.Errorf("persistent id %v has unexpected fields", id)
		}
		if st, ok := loaded[key]; ok {
			if st.dtype != dt || len(st.data) != numel*dt.size {
				return nil, fmt.Errorf("storage %s is referenced with two types or sizes", key)
			}
			return st, nil
		}
		if int64(numel) > a.limits.MaxBytes/int64(dt.size) {
			return nil, fmt.Errorf("storage %s announces %d elements, more than Limits.MaxBytes allow", key, numel)
		}
		data, err := a.storage(key, int64(numel)*int64(dt.size))
		if err != nil {
			return nil, err
		}
		st := &storage{dtype: dt, data: data}
		loaded[key] = st
		return st, nil
	}
	obj, err := u.Load()
	if err != nil {
		return nil, fmt.Errorf("unpickling: %w", err)
	}
	return obj, nil
}

// stateDict finds the ordered name → tensor mapping in the unpickled
// object: the object itself, or its "model" or "state_dict" entry.
func stateDict(obj interface{}) (*types.OrderedDict, error) {
	switch d := obj.(type) {
	case *types.OrderedDict:
		return d, nil
	case *types.Dict:
		for _, k := range []string{"model", "state_dict"} {
			if v, ok := d.Get(k); ok {
				if sd, ok := v.(*types.OrderedDict); ok {
					return sd, nil
				}
				return nil, fmt.Errorf("entry %q is a %T, not a state dict", k, v)
			}
		}
		return nil, fmt.Errorf("the checkpoint is a dict with keys %v but no \"model\" or \"state_dict\"", d.Keys())
	}
	return nil, fmt.Errorf("the checkpoint holds a %T, not a state dict", obj)
}
