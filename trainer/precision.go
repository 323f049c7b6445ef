package trainer

import (
	"fmt"

	"github.com/nextconv/nextconv/kernels"
)

// SetPrecision puts be, opened as train.backend = backend, into the
// precision that train.precision = setting names (docs/BF16.md) and returns
// it. An empty setting is the default: bf16 on the CUDA backends where the
// backend and its device run it (fp32 otherwise, e.g. before sm_80), fp32
// on the CPU. An explicit setting the backend cannot run is an error naming
// the backend (and the device); so is an unknown value. Callers prefix the
// key the setting came from (train.precision, -precision). Call it
// before building the model: activations and bf16 weight copies are
// allocated in the precision in force.
func SetPrecision(be kernels.Backend, backend, setting string) (kernels.Precision, error) {
	ps, settable := be.(kernels.PrecisionSetter)
	if setting == "" {
		if backend != "cpu" && settable && ps.SetPrecision(kernels.BF16) == nil {
			return kernels.BF16, nil
		}
		if settable {
			if err := ps.SetPrecision(kernels.FP32); err != nil {
				return "", err
			}
		}
		return kernels.FP32, nil
	}
	p, err := kernels.ParsePrecision(setting)
	if err != nil {
		return "", err
	}
	if !settable {
		if p == kernels.FP32 {
			return p, nil
		}
		return "", fmt.Errorf("backend %s trains in fp32 only, not %s", be.Name(), p)
	}
	if err := ps.SetPrecision(p); err != nil {
		return "", err
	}
	return p, nil
}
