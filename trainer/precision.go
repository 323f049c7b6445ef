package trainer

import (
	"fmt"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/models"
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

// ModelPrecision returns the train.precision setting to use for a model c
// on backend: setting itself, except that the default ("") becomes "fp32"
// when c uses an op the CUDA backends have no bf16 kernels for (see
// bf16Kernels), so that such a model trains in fp32 instead of failing at
// its first step. An explicit "bf16" for such a model on a CUDA backend is
// an error naming the model; the CPU emulates bf16 for every op.
func ModelPrecision(backend, setting string, c models.Config) (string, error) {
	if backend == "cpu" || bf16Kernels(c) {
		return setting, nil
	}
	switch setting {
	case "":
		return string(kernels.FP32), nil
	case string(kernels.BF16):
		return "", fmt.Errorf("model %s uses layers (BatchNorm, SE, ECA, the efficient blocks' activations or a custom stem or head) that have no bf16 kernels on backend %s; use precision = \"fp32\" or \"tf32\"", c.Name, backend)
	}
	return setting, nil
}

// bf16Kernels reports whether every op of c's model has bf16 kernels on
// the CUDA backend: ConvNeXt V1 and V2 (the default stem and head; stages
// of kind "convnext" without SE or ECA). BatchNorm, the activations, the
// gates and the efficient blocks are float32 only (docs/BF16.md §7).
func bf16Kernels(c models.Config) bool {
	if c.Stem != nil || c.Head != nil {
		return false
	}
	for _, st := range c.Stages {
		if st.Kind != "convnext" || len(st.Blocks) > 0 {
			return false
		}
		se, err := st.Params.Float("se", 0)
		eca, err2 := st.Params.Bool("eca", false)
		if err != nil || err2 != nil || se != 0 || eca {
			return false
		}
	}
	return true
}
