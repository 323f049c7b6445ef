package trainer

import (
	"errors"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
	"github.com/nextconv/nextconv/models"
)

// TestSetPrecision checks the defaults and the errors of train.precision:
// fp32 by default on the CPU, bf16 when asked, and clear errors for tf32 on
// the CPU, an unknown value, and bf16 on a backend without precisions.
func TestSetPrecision(t *testing.T) {
	for _, tc := range []struct {
		setting string
		want    kernels.Precision
		err     string
	}{
		{"", kernels.FP32, ""},
		{"fp32", kernels.FP32, ""},
		{"bf16", kernels.BF16, ""},
		{"tf32", "", "TF32"},
		{"fp16", "", `unknown precision "fp16"`},
	} {
		be := cpu.New()
		got, err := SetPrecision(be, "cpu", tc.setting)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want one containing %q", tc.setting, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want || be.Precision() != tc.want {
			t.Errorf("%q: %v, %v (backend %v), want %v", tc.setting, got, err, be.Precision(), tc.want)
		}
	}
	// A backend that is no PrecisionSetter runs fp32 only.
	var plain struct{ kernels.Backend }
	plain.Backend = cpu.New()
	if p, err := SetPrecision(plain, "cuda", ""); err != nil || p != kernels.FP32 {
		t.Errorf("default on a backend without precisions: %v, %v", p, err)
	}
	if _, err := SetPrecision(plain, "cuda", "bf16"); err == nil || !strings.Contains(err.Error(), "fp32 only") {
		t.Errorf("bf16 on a backend without precisions: %v", err)
	}
}

// TestPrecisionConfig checks that Validate names train.precision for an
// unknown value and refuses bf16 with QAT.
func TestPrecisionConfig(t *testing.T) {
	c := Default()
	c.Train.Precision = "half"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "train.precision") {
		t.Errorf("unknown precision: %v", err)
	}
	c.Train.Precision = "bf16"
	c.QAT.Enabled = true
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "train.precision") {
		t.Errorf("bf16 with QAT: %v", err)
	}
}

// oldGPU stands for a CUDA device before sm_80: it has precisions but
// refuses bf16.
type oldGPU struct{ *cpu.Backend }

func (o oldGPU) SetPrecision(p kernels.Precision) error {
	if p == kernels.BF16 {
		return errors.New("device sm_75 has no bf16 tensor cores")
	}
	return o.Backend.SetPrecision(p)
}

// TestDefaultPrecisionFallsBack checks that the default on a CUDA backend
// is bf16 where it runs it and fp32 where the device refuses bf16, while
// asking for bf16 explicitly there is the device's error.
func TestDefaultPrecisionFallsBack(t *testing.T) {
	be := oldGPU{cpu.New()}
	if p, err := SetPrecision(be, "cuda", ""); err != nil || p != kernels.FP32 || be.Precision() != kernels.FP32 {
		t.Errorf("default: %v, %v (backend %v)", p, err, be.Precision())
	}
	if _, err := SetPrecision(be, "cuda", "bf16"); err == nil || !strings.Contains(err.Error(), "sm_75") {
		t.Errorf("explicit bf16 on an old device: %v", err)
	}
	if p, err := SetPrecision(cpu.New(), "cuda", ""); err != nil || p != kernels.BF16 {
		t.Errorf("default on a CUDA backend that runs bf16: %v, %v", p, err)
	}
}

// TestModelPrecision: on a CUDA backend the default precision stays as
// SetPrecision picks it for ConvNeXt V1 and V2 (every op has bf16 kernels)
// and becomes fp32 for a model with SE, ECA, an efficient block or a
// custom stem; an explicit bf16 for such a model is an error naming it,
// while the CPU (whose emulation covers every op) keeps any setting.
func TestModelPrecision(t *testing.T) {
	v2, err := models.Variant("convnextv2_atto")
	if err != nil {
		t.Fatal(err)
	}
	v1, err := models.Variant("convnext_atto")
	if err != nil {
		t.Fatal(err)
	}
	convStages := v2
	convStages.Stages = []models.StageSpec{{Kind: "convnext", Depth: 1, Dim: 8, Params: models.Params{"kernel": 3}}}
	eca := v2
	eca.Name, eca.Stages = "eca", []models.StageSpec{{Kind: "convnext", Depth: 1, Dim: 8, Params: models.Params{"eca": true}}}
	mb := v2
	mb.Name, mb.Stages = "mb", []models.StageSpec{{Kind: "mbconv", Depth: 1, Dim: 8, Params: models.Params{"kernel": 3, "expand": 2}}}
	stem := v2
	stem.Name, stem.Stem = "stem", &models.PartSpec{}
	for _, c := range []models.Config{v2, v1, convStages} {
		if s, err := ModelPrecision("cuda", "", c); err != nil || s != "" {
			t.Errorf("%s: default %q, %v; want it left to SetPrecision", c.Name, s, err)
		}
	}
	for _, c := range []models.Config{eca, mb, stem} {
		if s, err := ModelPrecision("cuda", "", c); err != nil || s != "fp32" {
			t.Errorf("%s: default %q, %v; want fp32", c.Name, s, err)
		}
		if _, err := ModelPrecision("cudasim", "bf16", c); err == nil || !strings.Contains(err.Error(), c.Name) {
			t.Errorf("%s: explicit bf16: %v, want an error naming the model", c.Name, err)
		}
		if s, err := ModelPrecision("cpu", "bf16", c); err != nil || s != "bf16" {
			t.Errorf("%s on the CPU: %q, %v", c.Name, s, err)
		}
	}
}
