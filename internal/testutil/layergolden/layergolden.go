// Package layergolden runs a block on PyTorch's golden data from
// scripts/golden/efficient_blocks.py (layers/testdata/golden/efficient) on
// any backend: it builds the block a file's metadata describes (an efficient
// block, the ResNet bottleneck or a ConvNeXt block with SE or ECA), loads
// the initial state by timm's names, and for evaluation and then training
// mode runs forward and backward and compares y, dx, every parameter
// gradient and, after the training step, every BatchNorm buffer. The layers
// tests run it on the float32 CPU backend, the simulator tests on the CUDA
// backend.
package layergolden

import (
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/internal/philox"
	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/layers"
	"github.com/nextconv/nextconv/models"
)

// Prefix is the parameter name prefix of every block Build returns; the
// golden names are the names after it.
const Prefix = "blocks.1.0"

// Cases returns the golden files' names (without .safetensors), sorted, of
// the given family ("efficient", "bottleneck" or "convnext"; "" for all).
func Cases(t testing.TB, family string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(Dir(), "*.safetensors"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no golden files in %s: %v", Dir(), err)
	}
	var names []string
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".safetensors")
		if family == "" || Load(t, name).Metadata["family"] == family {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		t.Fatalf("no golden file of family %q in %s", family, Dir())
	}
	return names
}

// Dir returns the folder of the golden files.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "layers", "testdata", "golden", "efficient")
}

// Load reads the golden file of case name.
func Load(t testing.TB, name string) *testutil.Golden {
	t.Helper()
	return testutil.MustLoadGolden(t, filepath.Join(Dir(), name+".safetensors"))
}

// Build returns the block g's metadata describes, named [Prefix], on be,
// with zero weights and drop path off, and the NHWC shape of its input x.
func Build(t testing.TB, be kernels.Backend, g *testutil.Golden) (layers.Layer, kernels.Shape) {
	t.Helper()
	meta := func(k string) int { return g.Int(t, k) }
	var l layers.Layer
	var err error
	switch f := g.Metadata["family"]; f {
	case "efficient":
		c := layers.EfficientConfig{
			Kind: g.Metadata["kind"], In: meta("in"), Out: meta("out"), Mid: meta("mid"), Kernel: meta("kernel"),
			StartKernel: meta("start_kernel"), Stride: meta("stride"), SE: meta("se"), Skip: meta("skip") == 1,
			Act: g.Metadata["act"], LayerScale: g.Float(t, "layer_scale"), BNEps: g.Float(t, "bn_eps"), BNMomentum: g.Float(t, "bn_momentum"),
		}
		l, err = layers.NewEfficientBlock(be, Prefix, c, nil, philox.New(1))
	case "bottleneck":
		l, err = models.BuildBlock("bottleneck", models.BlockArgs{
			Name: Prefix, In: meta("in"), Out: meta("out"), Stride: meta("stride"),
			Params:  models.Params{"groups": meta("groups"), "base_width": meta("base_width")},
			Backend: be, DropRNG: philox.New(1),
		})
	case "convnext":
		c := layers.V2Block(meta("dim"), 0)
		c.Kernel, c.SE, c.ECA, c.Eps = meta("kernel"), meta("se"), meta("eca") == 1, g.Float(t, "eps")
		l, err = layers.NewBlock(be, Prefix, c, nil, philox.New(1))
	default:
		t.Fatalf("golden %s: unknown family %q", g.Path, f)
	}
	if err != nil {
		t.Fatal(err)
	}
	gx, err := g.Get("x")
	if err != nil {
		t.Fatal(err)
	}
	return l, kernels.Shape(gx.Shape)
}

// Tolerance holds the tolerances of a comparison: relative Forward for y
// and the BatchNorm buffers, relative Grad for dx and the parameter
// gradients, and Abs, absolute, for both. Abs matters for gradients that
// are zero in exact arithmetic, such as the bias of a BatchNorm followed by
// a 1×1 convolution and a training-mode BatchNorm (UIB's dw_start), which
// the float32 backends compute as rounding noise.
type Tolerance struct{ Forward, Grad, Abs float64 }

// Check loads g's initial state into l (named under [Prefix]), whose input
// has shape xs, and runs evaluation and then one training step on be,
// comparing y, dx and every parameter gradient with g's eval.* and train.*
// tensors and, after the training step, every buffer with train.<name>.
// Every golden state tensor must name a parameter or buffer of l and the
// reverse, so a renamed parameter fails.
func Check(t *testing.T, g *testutil.Golden, be kernels.Backend, l layers.Layer, xs kernels.Shape, tol Tolerance) {
	t.Helper()
	atol := tol.Abs
	params, buffers := l.Params(), layers.Buffers(l)
	name := func(p *layers.Param) string { return strings.TrimPrefix(p.Name, Prefix+".") }
	state := map[string]*layers.Param{}
	for _, p := range append(append([]*layers.Param{}, params...), buffers...) {
		state[name(p)] = p
	}
	loaded := 0
	for _, gn := range g.Names() {
		if gn == "x" || gn == "dy" || strings.HasPrefix(gn, "eval.") || strings.HasPrefix(gn, "train.") {
			continue
		}
		p := state[gn]
		if p == nil {
			t.Fatalf("golden tensor %s has no parameter or buffer in %s", gn, l.Name())
		}
		testutil.Upload(t, be, p.Value, g.Tensor(t, gn, p.Shape()...))
		loaded++
	}
	if loaded != len(state) {
		t.Fatalf("golden state has %d tensors, %s has %d parameters and buffers", loaded, l.Name(), len(state))
	}
	for _, mode := range []string{"eval", "train"} {
		layers.SetTraining(l, mode == "train")
		for _, p := range params {
			if err := be.Zero(p.Grad); err != nil {
				t.Fatal(err)
			}
		}
		x := alloc(t, be, xs)
		testutil.Upload(t, be, x, g.Tensor(t, "x", xs...))
		y, err := l.Forward(x)
		if err != nil {
			t.Fatal(err)
		}
		testutil.AllClose(t, mode+".y", testutil.Download(t, be, y), g.Tensor(t, mode+".y", y.Shape...), tol.Forward, atol)
		dy := alloc(t, be, y.Shape)
		testutil.Upload(t, be, dy, g.Tensor(t, "dy", y.Shape...))
		dx, err := l.Backward(dy)
		if err != nil {
			t.Fatal(err)
		}
		testutil.AllClose(t, mode+".dx", testutil.Download(t, be, dx), g.Tensor(t, mode+".dx", xs...), tol.Grad, atol)
		grads := 0
		for _, gn := range g.Names() {
			if strings.HasPrefix(gn, mode+".grad.") {
				grads++
			}
		}
		if grads != len(params) {
			t.Fatalf("%s: %d golden gradients, %s has %d parameters", mode, grads, l.Name(), len(params))
		}
		for _, p := range params {
			gn := mode + ".grad." + name(p)
			testutil.AllClose(t, gn, testutil.Download(t, be, p.Grad), g.Tensor(t, gn, p.Shape()...), tol.Grad, atol)
		}
	}
	for _, p := range buffers {
		gn := "train." + name(p)
		testutil.AllClose(t, gn, testutil.Download(t, be, p.Value), g.Tensor(t, gn, p.Shape()...), tol.Forward, atol)
	}
}

func alloc(t *testing.T, be kernels.Backend, s kernels.Shape) kernels.Tensor {
	t.Helper()
	x, err := be.Alloc(s)
	if err != nil {
		t.Fatal(err)
	}
	return x
}
