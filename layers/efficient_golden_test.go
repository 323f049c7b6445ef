package layers_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/internal/testutil/layergolden"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
	"github.com/nextconv/nextconv/layers"
)

// TestGoldenEfficientBlocks runs timm's own efficient blocks' golden data
// (scripts/golden/efficient_blocks.py: DepthwiseSeparableConv with SE and
// strided, InvertedResidual with SE and strided without, EdgeResidual with
// and without expansion, ConvBnAct with skip and strided, and the UIB forms
// ExtraDW with layer scale, ExtraDW strided, IB with SE, ConvNext-like
// strided on dw_start, and FFN with layer scale) on both CPU backends, in
// evaluation and in training mode: y, dx, every parameter gradient and
// BatchNorm's running statistics after the training step.
func TestGoldenEfficientBlocks(t *testing.T) {
	runGoldenFamily(t, "efficient")
}

// TestGoldenConvNeXtAttention runs the ConvNeXt V2 block with SE and with
// ECA on the residual branch against timm's ConvNeXtBlock with timm's
// SqueezeExcite or EcaModule inserted after the MLP
// (scripts/golden/efficient_blocks.py).
func TestGoldenConvNeXtAttention(t *testing.T) {
	runGoldenFamily(t, "convnext")
}

// TestGoldenBottleneck runs the ResNet bottleneck (models' "bottleneck"
// kind through models.BuildBlock) against timm's resnet.Bottleneck: with
// the projection shortcut, stride 2 and 3 groups (ResNeXt), and with the
// identity shortcut, in evaluation and training mode.
func TestGoldenBottleneck(t *testing.T) {
	runGoldenFamily(t, "bottleneck")
}

// runGoldenFamily checks every golden case of family on the float32 CPU
// backend (forward rtol 1e-5, gradients 1e-4) and on the float64 one (both
// 1e-6: the golden values are float64 results rounded to float32), with an
// absolute tolerance of 1e-6.
func runGoldenFamily(t *testing.T, family string) {
	for _, name := range layergolden.Cases(t, family) {
		g := layergolden.Load(t, name)
		for _, tc := range []struct {
			be  *cpu.Backend
			tol layergolden.Tolerance
		}{{cpu.New(), layergolden.Tolerance{Forward: 1e-5, Grad: 1e-4, Abs: 1e-6}}, {cpu.New64(), layergolden.Tolerance{Forward: 1e-6, Grad: 1e-6, Abs: 1e-6}}} {
			t.Run(name+"/"+tc.be.Name(), func(t *testing.T) {
				l, xs := layergolden.Build(t, tc.be, g)
				layergolden.Check(t, g, tc.be, l, xs, tc.tol)
			})
		}
	}
}

// TestGoldenActivationLayers runs every Activation kind on PyTorch's golden
// data of the CPU kernels (scripts/golden/batchnorm.py,
// kernels/cpu/testdata/golden/activation.safetensors: x [4, 3, 5, 7] holding
// the kinks −6, −3, 0, 3, 6 and values next to them; autograd's derivative at
// each kink) through the layer's Forward and Backward.
func TestGoldenActivationLayers(t *testing.T) {
	g := testutil.MustLoadGolden(t, filepath.Join("..", "kernels", "cpu", "testdata", "golden", "activation.safetensors"))
	xs := kernels.Shape{4, 3, 5, 7}
	be := cpu.New()
	for _, kind := range []kernels.ActivationKind{kernels.ReLU, kernels.ReLU6, kernels.SiLU, kernels.Hardswish, kernels.Hardsigmoid, kernels.Sigmoid} {
		t.Run(kind.String(), func(t *testing.T) {
			l, err := layers.NewActivation(be, "act", kind)
			if err != nil {
				t.Fatal(err)
			}
			x, _ := be.Alloc(xs)
			copy(x.Host32(), g.Tensor(t, "x", xs...))
			y, err := l.Forward(x)
			if err != nil {
				t.Fatal(err)
			}
			key := strings.ToLower(kind.String()) // the golden file's y_relu6, dx_hardswish, ...
			testutil.AllClose(t, "y", y.Host32(), g.Tensor(t, "y_"+key, xs...), 1e-5, 1e-6)
			dy, _ := be.Alloc(xs)
			copy(dy.Host32(), g.Tensor(t, "dy", xs...))
			dx, err := l.Backward(dy)
			if err != nil {
				t.Fatal(err)
			}
			testutil.AllClose(t, "dx", dx.Host32(), g.Tensor(t, "dx_"+key, xs...), 1e-4, 1e-6)
		})
	}
}

// TestGoldenGroupedConv2D runs grouped Conv2D layers on PyTorch's golden
// conv2d cases of the CPU kernels (scripts/golden/golden.py): 3 groups with
// stride 2, padding 1 and bias (9 → 6 channels), 2 groups without bias, and
// 4 groups of a 5×5 kernel on a width-1 input; y, dx, dweight and dbias.
func TestGoldenGroupedConv2D(t *testing.T) {
	for _, file := range []string{"conv2d_k3s2p1_g3", "conv2d_k3s1p1_g2_nobias", "conv2d_k5s1p2_g4_w1"} {
		t.Run(file, func(t *testing.T) {
			g := testutil.MustLoadGolden(t, filepath.Join("..", "kernels", "cpu", "testdata", "golden", file+".safetensors"))
			in := func(k string) int { return g.Int(t, k) }
			be := cpu.New()
			bias := g.Has("b")
			l, err := layers.NewGroupedConv2D(be, "conv", in("CIn"), in("COut"), in("K"), in("Stride"), in("Pad"), in("Groups"), bias, nil)
			if err != nil {
				t.Fatal(err)
			}
			copy(l.Weight.Value.Host32(), g.Tensor(t, "w", l.Weight.Shape()...))
			names := map[string]string{"conv.weight": "w"}
			if bias {
				copy(l.Bias.Value.Host32(), g.Tensor(t, "b", l.COut))
				names["conv.bias"] = "b"
			}
			x, _ := be.Alloc(kernels.Shape{in("N"), in("H"), in("W"), in("CIn")})
			copy(x.Host32(), g.Tensor(t, "x", x.Shape...))
			y, err := l.Forward(x)
			if err != nil {
				t.Fatal(err)
			}
			testutil.AllClose(t, "y", y.Host32(), g.Tensor(t, "y", y.Shape...), 1e-5, 1e-6)
			dy, _ := be.Alloc(y.Shape)
			copy(dy.Host32(), g.Tensor(t, "dy", y.Shape...))
			dx, err := l.Backward(dy)
			if err != nil {
				t.Fatal(err)
			}
			testutil.AllClose(t, "dx", dx.Host32(), g.Tensor(t, "dx", x.Shape...), 1e-4, 1e-6)
			for _, p := range l.Params() {
				testutil.AllClose(t, "d"+names[p.Name], p.Grad.Host32(), g.Tensor(t, "d"+names[p.Name], p.Shape()...), 1e-4, 1e-6)
			}
		})
	}
}
