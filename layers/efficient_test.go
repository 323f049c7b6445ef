package layers

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/internal/philox"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
)

// TestEfficientBlockGradients checks every efficient block kind, residual
// and strided, with and without SE, every UIB form and layer scale, by
// finite differences in float64 (BatchNorm in training mode, SiLU, odd
// sizes).
func TestEfficientBlockGradients(t *testing.T) {
	base := EfficientConfig{Act: "silu", BNEps: 1e-5, BNMomentum: 0.1}
	cfgs := []EfficientConfig{
		{Kind: KindDS, In: 5, Out: 5, Kernel: 3, Stride: 1, SE: 2},
		{Kind: KindDS, In: 5, Out: 3, Kernel: 5, Stride: 2},
		{Kind: KindIR, In: 5, Out: 5, Mid: 9, Kernel: 3, Stride: 1, SE: 2},
		{Kind: KindIR, In: 4, Out: 6, Mid: 8, Kernel: 5, Stride: 2},
		{Kind: KindER, In: 5, Out: 5, Mid: 7, Kernel: 3, Stride: 1, SE: 3},
		{Kind: KindER, In: 3, Out: 4, Mid: 6, Kernel: 3, Stride: 2},
		{Kind: KindCN, In: 4, Out: 4, Kernel: 3, Stride: 1, Skip: true},
		{Kind: KindCN, In: 4, Out: 6, Kernel: 1, Stride: 1},
		{Kind: KindUIB, In: 5, Out: 5, Mid: 8, StartKernel: 3, Kernel: 5, Stride: 1, LayerScale: 0.5}, // ExtraDW
		{Kind: KindUIB, In: 4, Out: 6, Mid: 8, StartKernel: 3, Kernel: 3, Stride: 2},                  // ExtraDW, strided
		{Kind: KindUIB, In: 5, Out: 5, Mid: 7, Kernel: 3, Stride: 1, SE: 2},                           // IB
		{Kind: KindUIB, In: 5, Out: 5, Mid: 10, StartKernel: 5, Stride: 1},                            // ConvNext-like
		{Kind: KindUIB, In: 4, Out: 4, Mid: 6, StartKernel: 3, Stride: 2},                             // ConvNext-like, stride on dw_start
		{Kind: KindUIB, In: 5, Out: 5, Mid: 6, Stride: 1},                                             // FFN
	}
	be := cpu.New64()
	for i, c := range cfgs {
		c.Act, c.BNEps, c.BNMomentum = base.Act, base.BNEps, base.BNMomentum
		t.Run(fmt.Sprintf("%d_%s_s%d", i, c.Kind, c.Stride), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			b, err := NewEfficientBlock(be, "blocks.0.0", c, rng, philox.New(1))
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := b.Container.(*Residual); ok != c.HasResidual() {
				t.Fatalf("residual %v, want %v", ok, c.HasResidual())
			}
			if got, want := CountParams(b.Params()), c.NumParams(); got != want {
				t.Errorf("%d params, formula %d", got, want)
			}
			gradCheck(t, be, b, kernels.Shape{2, 7, 5, c.In}, rng)
		})
	}
}

// TestEfficientBlockNames checks timm's state-dict names of an MBConv with
// SE and an ExtraDW UIB with layer scale, parameters and buffers in order.
func TestEfficientBlockNames(t *testing.T) {
	be := cpu.New()
	for _, tc := range []struct {
		cfg  EfficientConfig
		want string
	}{
		{EfficientConfig{Kind: KindIR, In: 4, Out: 4, Mid: 8, Kernel: 3, Stride: 1, SE: 2, Act: "silu", BNEps: 1e-5, BNMomentum: 0.1},
			"conv_pw.weight bn1.weight bn1.bias bn1.running_mean bn1.running_var bn1.num_batches_tracked conv_dw.weight bn2.weight bn2.bias " +
				"bn2.running_mean bn2.running_var bn2.num_batches_tracked se.conv_reduce.weight se.conv_reduce.bias se.conv_expand.weight se.conv_expand.bias " +
				"conv_pwl.weight bn3.weight bn3.bias bn3.running_mean bn3.running_var bn3.num_batches_tracked"},
		{EfficientConfig{Kind: KindUIB, In: 4, Out: 4, Mid: 8, StartKernel: 3, Kernel: 3, Stride: 1, LayerScale: 1e-5, Act: "relu", BNEps: 1e-5, BNMomentum: 0.1},
			"dw_start.conv.weight dw_start.bn.weight dw_start.bn.bias dw_start.bn.running_mean dw_start.bn.running_var dw_start.bn.num_batches_tracked " +
				"pw_exp.conv.weight pw_exp.bn.weight pw_exp.bn.bias pw_exp.bn.running_mean pw_exp.bn.running_var pw_exp.bn.num_batches_tracked " +
				"dw_mid.conv.weight dw_mid.bn.weight dw_mid.bn.bias dw_mid.bn.running_mean dw_mid.bn.running_var dw_mid.bn.num_batches_tracked " +
				"pw_proj.conv.weight pw_proj.bn.weight pw_proj.bn.bias pw_proj.bn.running_mean pw_proj.bn.running_var pw_proj.bn.num_batches_tracked layer_scale.gamma"},
	} {
		b, err := NewEfficientBlock(be, "b", tc.cfg, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		Walk(b, func(l Layer) {
			if _, ok := l.(Container); ok {
				return
			}
			for _, p := range l.Params() {
				names = append(names, strings.TrimPrefix(p.Name, "b."))
			}
			if h, ok := l.(BufferHolder); ok {
				for _, p := range h.Buffers() {
					names = append(names, strings.TrimPrefix(p.Name, "b."))
				}
			}
		})
		if got := strings.Join(names, " "); got != tc.want {
			t.Errorf("%s names\n got %s\nwant %s", tc.cfg.Kind, got, tc.want)
		}
	}
}

// TestEfficientConfigErrors checks that invalid blocks are refused with the
// field named.
func TestEfficientConfigErrors(t *testing.T) {
	ok := EfficientConfig{Kind: KindIR, In: 4, Out: 4, Mid: 8, Kernel: 3, Stride: 1, Act: "silu", BNEps: 1e-5, BNMomentum: 0.1}
	for _, tc := range []struct {
		edit func(*EfficientConfig)
		want string
	}{
		{func(c *EfficientConfig) { c.Kind = "resnet" }, `kind "resnet" unknown`},
		{func(c *EfficientConfig) { c.Stride = 3 }, "stride 3"},
		{func(c *EfficientConfig) { c.Out = 0 }, "out 0"},
		{func(c *EfficientConfig) { c.Kernel = 4 }, "kernel 4"},
		{func(c *EfficientConfig) { c.Mid = 0 }, "mid 0"},
		{func(c *EfficientConfig) { c.Kind, c.Kernel, c.StartKernel, c.Stride = KindUIB, 0, 0, 2 }, "needs a depthwise"},
		{func(c *EfficientConfig) { c.Act = "tanh" }, "act"},
	} {
		c := ok
		tc.edit(&c)
		_, err := NewEfficientBlock(cpu.New(), "blocks.2.1", c, nil, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "blocks.2.1") {
			t.Errorf("%+v: error %v, want one naming blocks.2.1 and %q", c, err, tc.want)
		}
	}
}

// TestBlockAttentionGradients checks the ConvNeXt V2 block with SE and with
// ECA on its residual branch by finite differences in float64, and their
// parameter names.
func TestBlockAttentionGradients(t *testing.T) {
	be := cpu.New64()
	for i, tc := range []struct {
		se    int
		eca   bool
		names string
	}{
		{se: 2, names: "se.conv_reduce.weight se.conv_reduce.bias se.conv_expand.weight se.conv_expand.bias"},
		{eca: true, names: "eca.conv.weight"},
	} {
		cfg := V2Block(6, 0)
		cfg.Kernel, cfg.SE, cfg.ECA = 3, tc.se, tc.eca
		rng := rand.New(rand.NewPCG(uint64(i), 9))
		b, err := NewBlock(be, "b", cfg, rng, philox.New(1))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, p := range b.Attn.Params() {
			names = append(names, strings.TrimPrefix(p.Name, "b."))
		}
		if got := strings.Join(names, " "); got != tc.names {
			t.Errorf("attention params %q, want %q", got, tc.names)
		}
		gradCheck(t, be, b, kernels.Shape{2, 5, 3, 6}, rng)
	}
	if _, err := NewBlock(be, "b", BlockConfig{Dim: 4, Kernel: 3, MLPRatio: 4, SE: 1, ECA: true}, nil, nil); err == nil {
		t.Error("SE and ECA together accepted")
	}
}
