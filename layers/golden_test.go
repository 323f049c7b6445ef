package layers_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/internal/philox"
	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
	"github.com/nextconv/nextconv/layers"
	"github.com/nextconv/nextconv/models"
)

// TestGoldenBlocks runs the V2 and V1 Block (with its fixed drop-path mask)
// on PyTorch's golden inputs and parameters (official ConvNeXt Block,
// scripts/golden/golden.py) and matches the output, dx and every parameter
// gradient: forward to rtol 1e-5, gradients to rtol 1e-4, on the float32
// backend. Parameters are found through the official → timm name mapping.
func TestGoldenBlocks(t *testing.T) {
	for _, tc := range []struct {
		file string
		cfg  func(dim int, dp float64) layers.BlockConfig
	}{{"block_v2", layers.V2Block}, {"block_v1", layers.V1Block}} {
		t.Run(tc.file, func(t *testing.T) {
			g := testutil.MustLoadGolden(t, filepath.Join("testdata", "golden", tc.file+".safetensors"))
			n, h, w, c := g.Int(t, "N"), g.Int(t, "H"), g.Int(t, "W"), g.Int(t, "dim")
			be := cpu.New()
			const name = "stages.0.blocks.0"
			b, err := layers.NewBlock(be, name, tc.cfg(c, g.Float(t, "drop_prob")), nil, philox.New(1))
			if err != nil {
				t.Fatal(err)
			}
			b.DropPath.FixedMask = g.Tensor(t, "drop_mask", n)
			byName := map[string]*layers.Param{}
			for _, p := range b.Params() {
				byName[p.Name] = p
			}
			data := map[string]bool{"x": true, "y": true, "dx": true, "dy": true, "drop_mask": true}
			for _, gn := range g.Names() {
				if strings.HasPrefix(gn, "grad.") || strings.HasPrefix(gn, "inter.") || data[gn] {
					continue
				}
				p := byName[models.OfficialToTimm("stages.0.0."+gn)]
				if p == nil {
					t.Fatalf("golden parameter %s has no counterpart in the block", gn)
				}
				copy(p.Value.Host32(), g.Tensor(t, gn, p.Shape()...))
			}
			checkGoldenLayer(t, g, be, b, kernels.Shape{n, h, w, c}, func(gn string) *layers.Param {
				return byName[models.OfficialToTimm("stages.0.0."+gn)]
			})
		})
	}
}

// checkGoldenLayer runs l forward on the golden x of shape xs and backward
// on dy, and matches y (rtol 1e-5), dx and every golden gradient grad.<gn>
// (rtol 1e-4) with the gradient of param(gn), which must cover all of l's
// parameters.
func checkGoldenLayer(t *testing.T, g *testutil.Golden, be kernels.Backend, l layers.Layer, xs kernels.Shape, param func(gn string) *layers.Param) {
	t.Helper()
	x, _ := be.Alloc(xs)
	copy(x.Host32(), g.Tensor(t, "x", xs...))
	y, err := l.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	testutil.AllClose(t, "y", y.Host32(), g.Tensor(t, "y", xs...), 1e-5, 1e-6)
	dy, _ := be.Alloc(y.Shape)
	copy(dy.Host32(), g.Tensor(t, "dy", xs...))
	dx, err := l.Backward(dy)
	if err != nil {
		t.Fatal(err)
	}
	testutil.AllClose(t, "dx", dx.Host32(), g.Tensor(t, "dx", xs...), 1e-4, 1e-6)
	checked := 0
	for _, gn := range g.Names() {
		if pn, ok := strings.CutPrefix(gn, "grad."); ok {
			p := param(pn)
			if p == nil {
				t.Fatalf("golden gradient %s has no parameter", gn)
			}
			testutil.AllClose(t, gn, p.Grad.Host32(), g.Tensor(t, gn, p.Shape()...), 1e-4, 1e-6)
			checked++
		}
	}
	if checked != len(l.Params()) {
		t.Errorf("checked %d gradients, %s has %d parameters", checked, l.Name(), len(l.Params()))
	}
}

// TestGoldenAttention runs squeeze-and-excitation (with a GELU between its
// convolutions) and ECA on PyTorch's golden inputs and parameters
// (scripts/golden/golden.py, written from the modules' definitions with
// timm's parameter names) and matches y, dx and every parameter gradient on
// the float32 backend: forward to rtol 1e-5, gradients to rtol 1e-4.
func TestGoldenAttention(t *testing.T) {
	for _, file := range []string{"se", "eca"} {
		t.Run(file, func(t *testing.T) {
			g := testutil.MustLoadGolden(t, filepath.Join("testdata", "golden", file+".safetensors"))
			n, h, w, c := g.Int(t, "N"), g.Int(t, "H"), g.Int(t, "W"), g.Int(t, "C")
			be := cpu.New()
			const name = "blocks.1.0.se"
			var l *layers.ChannelAttention
			var err error
			if file == "se" {
				l, err = layers.NewSqueezeExcite(be, name, c, g.Int(t, "reduced"), layers.NewGELU(be, name+".act1", kernels.GELUErf), kernels.GateSigmoid, nil)
			} else {
				l, err = layers.NewECA(be, name, c, g.Int(t, "K"), nil)
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range l.Params() {
				copy(p.Value.Host32(), g.Tensor(t, strings.TrimPrefix(p.Name, name+"."), p.Shape()...))
			}
			checkGoldenLayer(t, g, be, l, kernels.Shape{n, h, w, c}, func(gn string) *layers.Param {
				return findParam(l.Params(), name+"."+gn)
			})
		})
	}
}

// findParam returns the parameter of ps named name, or nil.
func findParam(ps []*layers.Param, name string) *layers.Param {
	for _, p := range ps {
		if p.Name == name {
			return p
		}
	}
	return nil
}
