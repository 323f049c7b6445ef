package onnx

import (
	"errors"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
	"github.com/nextconv/nextconv/layers"
	"github.com/nextconv/nextconv/models"
)

// swish is a layer the exporter has no spelling for.
type swish struct{ *layers.GELU }

// A block kind from outside ConvNeXt, registered as another package would.
func init() {
	models.RegisterBlock("onnx_test_swish", models.BlockKind{
		Check: func(models.BlockArgs) error { return nil },
		Cost: func(a models.BlockArgs, n, h, w int) models.Cost {
			return models.Cost{Saved: float64(n * h * w * a.Out), OutH: h, OutW: w}
		},
		Build: func(a models.BlockArgs) (layers.Layer, error) {
			return swish{layers.NewGELU(a.Backend, a.Name+".act", kernels.GELUErf)}, nil
		},
	})
}

// TestExportSpecUnsupported exports a spec model whose second stage is of a
// kind the exporter does not know: the error wraps ErrUnsupported and names
// the layer; the same spec with ConvNeXt blocks only exports.
func TestExportSpecUnsupported(t *testing.T) {
	cfg := models.Config{Name: "s", InChans: 1, NumClasses: 3, StemPatch: 2, HeadInitScale: 1, Eps: 1e-6,
		Stages: []models.StageSpec{{Kind: "convnext", Depth: 1, Dim: 8}, {Kind: "onnx_test_swish", Depth: 1, Dim: 8, Stride: 1}}}
	md := Metadata{InputSize: 8, Mean: []float64{0}, Std: []float64{1}}
	m, err := models.New(cpu.New(), cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Export(m, md, Options{}); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "stages.1.blocks.0.act") {
		t.Errorf("export of an unknown layer: %v", err)
	}
	cfg.Stages[1].Kind = "convnext"
	if m, err = models.New(cpu.New(), cfg, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := Export(m, md, Options{}); err != nil {
		t.Errorf("export of a ConvNeXt spec: %v", err)
	}
}
