package layers

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/internal/philox"
	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
)

// gradCheck verifies a layer's Backward against central differences in
// float64: with L = Σ y·r for a fixed random r, dL/dx and dL/dθ from
// Backward(dy = r) must match (L(v+h) − L(v−h))/2h for the input and every
// parameter element.
func gradCheck(t *testing.T, be *cpu.Backend, l Layer, xShape kernels.Shape, rng *rand.Rand) {
	t.Helper()
	for _, p := range l.Params() { // non-trivial values everywhere, GRN's zeros included
		copy(p.Value.Host64(), testutil.Rand64(rng, p.Value.Len(), 0.5))
	}
	x := mustAlloc(t, be, xShape)
	copy(x.Host64(), testutil.Rand64(rng, x.Len(), 1))
	y, err := l.Forward(x)
	if err != nil {
		t.Fatalf("forward: %v", err)
	}
	r := mustAlloc(t, be, y.Shape)
	copy(r.Host64(), testutil.Rand64(rng, r.Len(), 1))
	loss := func() float64 {
		y, err := l.Forward(x)
		if err != nil {
			t.Fatalf("forward: %v", err)
		}
		s := 0.0
		for i, v := range y.Host64() {
			s += v * r.Host64()[i]
		}
		return s
	}
	loss()
	for _, p := range l.Params() {
		clear(p.Grad.Host64())
	}
	dx, err := l.Backward(r)
	if err != nil {
		t.Fatalf("backward: %v", err)
	}
	gotDX := append([]float64(nil), dx.Host64()...)
	gotParams := make([][]float64, len(l.Params()))
	for i, p := range l.Params() {
		gotParams[i] = append([]float64(nil), p.Grad.Host64()...)
	}
	const h, rtol, atol = 1e-6, 1e-6, 1e-7
	testutil.AllClose(t, l.Name()+" dx", gotDX, testutil.NumGrad(x.Host64(), h, loss), rtol, atol)
	for i, p := range l.Params() {
		testutil.AllClose(t, l.Name()+" d"+p.Name, gotParams[i], testutil.NumGrad(p.Value.Host64(), h, loss), rtol, atol)
	}
}

func mustAlloc(t *testing.T, be kernels.Backend, s kernels.Shape) kernels.Tensor {
	t.Helper()
	x, err := be.Alloc(s)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// TestGradients checks every layer's backward on small odd shapes.
func TestGradients(t *testing.T) {
	be := cpu.New64()
	rng := testutil.NewRand(1)
	const n, h, w, c = 2, 5, 7, 3
	x4 := kernels.Shape{n, h, w, c}
	fixed := []float32{1 / 0.75, 0}
	cases := []struct {
		l Layer
		x kernels.Shape
	}{
		{must[*Conv2D](t)(NewConv2D(be, "stem", c, 4, 2, 2, 0, true, nil)), kernels.Shape{n, 6, 8, c}},
		{must[*Conv2D](t)(NewConv2D(be, "conv3", c, 4, 3, 2, 1, true, nil)), x4},
		{must[*Conv2D](t)(NewGroupedConv2D(be, "conv3_g3", 6, 9, 3, 2, 1, 3, true, nil)), kernels.Shape{n, 5, 7, 6}},
		{must[*Conv2D](t)(NewGroupedConv2D(be, "conv5_g2_nobias", 4, 2, 5, 1, 2, 2, false, nil)), kernels.Shape{n, 1, 6, 4}},
		{must[*Conv2D](t)(NewConv2D(be, "conv7s2p3", c, 2, 7, 2, 3, true, nil)), kernels.Shape{1, 9, 8, c}},
		{must[*DWConv](t)(NewDWConv(be, "dw7", c, 7, 1, true, nil)), x4},
		{must[*DWConv](t)(NewDWConv(be, "dw5s2", c, 5, 2, true, nil)), x4},
		{must[*DWConv](t)(NewDWConv(be, "dw3s2", c, 3, 2, true, nil)), x4},
		{must[*Linear](t)(NewLinear(be, "fc", c, 5, true, nil)), x4},
		{must[*Linear](t)(NewLinear(be, "fc_nobias", c, 5, false, nil)), x4},
		{must[*LayerNorm](t)(NewLayerNorm(be, "norm", c, DefaultEps)), x4},
		{must[*LayerNormGELU](t)(NewLayerNormGELU(be, "norm_gelu", c, DefaultEps, kernels.GELUErf)), x4},
		{must[*LayerNormGELU](t)(NewLayerNormGELU(be, "norm_gelu_tanh", c, DefaultEps, kernels.GELUTanh)), x4},
		{NewGELU(be, "gelu", kernels.GELUErf), x4},
		{NewGELU(be, "gelu_tanh", kernels.GELUTanh), x4},
		{must[*GRN](t)(NewGRN(be, "grn", c, DefaultEps)), x4},
		{NewGlobalAvgPool(be, "pool"), x4},
		{must[*MaxPool2d](t)(NewMaxPool2d(be, "maxpool3s2p1", 3, 2, 1)), x4},
		{must[*MaxPool2d](t)(NewMaxPool2d(be, "maxpool2s1", 2, 1, 0)), kernels.Shape{1, 3, 4, 2}},
		{&GlobalAvgPool{name: "pool_keepdims", be: be, KeepDims: true}, x4},
		{must[*ChannelAttention](t)(NewSqueezeExcite(be, "se", 5, 2, NewGELU(be, "se.act1", kernels.GELUErf), kernels.GateSigmoid, nil)), kernels.Shape{n, 3, 4, 5}},
		{must[*ChannelAttention](t)(NewSqueezeExcite(be, "se_hard", 5, 3, nil, kernels.GateHardSigmoid, nil)), kernels.Shape{n, 1, 3, 5}},
		{must[*ChannelAttention](t)(NewECA(be, "eca", 7, 3, nil)), kernels.Shape{n, 3, 2, 7}},
		{must[*ChannelAttention](t)(NewECA(be, "eca5", 4, 5, nil)), kernels.Shape{n, 2, 2, 4}}, // kernel wider than the channels
		{must[*ChannelConv](t)(NewChannelConv(be, "channel_conv", 6, 5)), kernels.Shape{n, 1, 1, 6}},
		{&DropPath{name: "drop_path", be: be, Rate: 0.25, training: true, FixedMask: fixed}, x4},
		{must[*LayerScale](t)(NewLayerScale(be, "ls", "gamma", c, 1e-6)), x4},
		{must[*BatchNorm2d](t)(NewBatchNorm2d(be, "bn", c, DefaultBNEps, DefaultBNMomentum)), x4},
		{must[*BatchNorm2d](t)(NewBatchNorm2d(be, "bn_h1", c, 1e-3, 0.5)), kernels.Shape{2, 1, 1, c}},
	}
	for k := range kernels.Sigmoid + 1 {
		cases = append(cases, struct {
			l Layer
			x kernels.Shape
		}{must[*Activation](t)(NewActivation(be, k.String(), k)), x4})
	}
	for _, tc := range cases {
		t.Run(tc.l.Name(), func(t *testing.T) { gradCheck(t, be, tc.l, tc.x, rng) })
	}
	for _, v := range []struct {
		name string
		cfg  BlockConfig
	}{{"v2_block", V2Block(c, 0.25)}, {"v1_block", V1Block(c, 0.25)}} {
		t.Run(v.name, func(t *testing.T) {
			b := must[*Block](t)(NewBlock(be, v.name, v.cfg, nil, philox.New(2)))
			b.DropPath.FixedMask = fixed
			gradCheck(t, be, b, x4, rng)
		})
	}
}

// TestBackwardBeforeForward checks that every layer refuses a Backward with
// no Forward, naming itself.
func TestBackwardBeforeForward(t *testing.T) {
	be := cpu.New()
	dy := mustAlloc(t, be, kernels.Shape{1, 2, 2, 3})
	ls := []Layer{
		must[*Conv2D](t)(NewConv2D(be, "stem.0", 3, 3, 1, 1, 0, true, nil)),
		must[*DWConv](t)(NewDWConv(be, "conv_dw", 3, 3, 1, true, nil)),
		must[*Linear](t)(NewLinear(be, "mlp.fc1", 3, 3, true, nil)),
		must[*LayerNorm](t)(NewLayerNorm(be, "norm", 3, DefaultEps)),
		must[*GRN](t)(NewGRN(be, "mlp.grn", 3, DefaultEps)),
		NewGELU(be, "act", kernels.GELUErf),
		must[*Activation](t)(NewActivation(be, "act6", kernels.ReLU6)),
		must[*BatchNorm2d](t)(NewBatchNorm2d(be, "bn1", 3, DefaultBNEps, DefaultBNMomentum)),
		NewGlobalAvgPool(be, "pool"),
		must[*ChannelAttention](t)(NewSqueezeExcite(be, "se", 3, 1, nil, kernels.GateSigmoid, nil)),
		must[*ChannelAttention](t)(NewECA(be, "eca", 3, 0, nil)),
		must[*ChannelConv](t)(NewChannelConv(be, "eca.conv", 3, 3)),
		must[*DropPath](t)(NewDropPath(be, "drop_path", 0.1, philox.New(1))),
	}
	for _, l := range ls {
		_, err := l.Backward(dy)
		if !errors.Is(err, ErrNoForward) || !strings.Contains(err.Error(), l.Name()) {
			t.Errorf("%s: Backward before Forward gave %v, want ErrNoForward naming the layer", l.Name(), err)
		}
	}
}

// TestShapeErrors checks that wrong input and parameter shapes give errors
// naming the layer and both shapes, and never panic.
func TestShapeErrors(t *testing.T) {
	be := cpu.New()
	x := mustAlloc(t, be, kernels.Shape{2, 5, 7, 3})
	cases := []struct {
		l    Layer
		want []string
	}{
		{must[*Conv2D](t)(NewConv2D(be, "stem.0", 4, 8, 4, 4, 0, true, nil)), []string{"stem.0", "[2 5 7 3]", "[N H W 4]"}},
		{must[*DWConv](t)(NewDWConv(be, "conv_dw", 5, 7, 1, true, nil)), []string{"conv_dw", "[2 5 7 3]", "[N H W 5]"}},
		{must[*Linear](t)(NewLinear(be, "mlp.fc1", 4, 16, true, nil)), []string{"mlp.fc1", "[2 5 7 3]", "[... 4]"}},
		{must[*LayerNorm](t)(NewLayerNorm(be, "norm", 8, DefaultEps)), []string{"norm", "[2 5 7 3]", "[... 8]"}},
		{must[*GRN](t)(NewGRN(be, "mlp.grn", 12, DefaultEps)), []string{"mlp.grn", "[2 5 7 3]", "[N H W 12]"}},
		{must[*ChannelAttention](t)(NewSqueezeExcite(be, "blocks.1.0.se", 4, 1, nil, kernels.GateSigmoid, nil)), []string{"blocks.1.0.se", "SqueezeExcite", "[2 5 7 3]", "[N H W 4]"}},
		{must[*ChannelAttention](t)(NewECA(be, "eca", 8, 3, nil)), []string{"eca", "ECA", "[2 5 7 3]", "[N H W 8]"}},
		{must[*ChannelConv](t)(NewChannelConv(be, "eca.conv", 3, 3)), []string{"eca.conv", "[2 5 7 3]", "[N 1 1 3]"}},
	}
	for _, tc := range cases {
		_, err := tc.l.Forward(x)
		if !errors.Is(err, kernels.ErrShape) {
			t.Errorf("%s: got %v, want ErrShape", tc.l.Name(), err)
			continue
		}
		for _, s := range tc.want {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: error %q does not mention %q", tc.l.Name(), err, s)
			}
		}
	}
	// A parameter replaced by one of the wrong shape is caught by the op.
	fc := must[*Linear](t)(NewLinear(be, "head.fc", 3, 10, true, nil))
	fc.Weight.Value = mustAlloc(t, be, kernels.Shape{10, 4})
	if _, err := fc.Forward(x); !errors.Is(err, kernels.ErrShape) || !strings.Contains(err.Error(), "head.fc") || !strings.Contains(err.Error(), "[10 4]") {
		t.Errorf("wrong weight shape: got %v", err)
	}
	// Backward with the wrong upstream shape.
	ln := must[*LayerNorm](t)(NewLayerNorm(be, "norm", 3, DefaultEps))
	if _, err := ln.Forward(x); err != nil {
		t.Fatal(err)
	}
	if _, err := ln.Backward(mustAlloc(t, be, kernels.Shape{2, 5, 7, 4})); !errors.Is(err, kernels.ErrShape) || !strings.Contains(err.Error(), "norm") {
		t.Errorf("wrong dy shape: got %v", err)
	}
	if _, err := NewBlock(be, "stages.0.blocks.0", BlockConfig{Dim: 8, Kernel: 4, MLPRatio: 4}, nil, nil); err == nil || !strings.Contains(err.Error(), "kernel 4") {
		t.Errorf("even kernel: got %v", err)
	}
}

// TestArena checks that packing keeps values, makes views and zeroes grads.
func TestArena(t *testing.T) {
	be := cpu.New()
	rng := testutil.NewRand(3)
	b := must[*Block](t)(NewBlock(be, "stages.0.blocks.0", V2Block(8, 0), rng, nil))
	params := b.Params()
	before := make([][]float32, len(params))
	for i, p := range params {
		before[i] = append([]float32(nil), p.Value.Host32()...)
		p.Grad.Host32()[0] = 1
	}
	a, err := NewArena(be, params)
	if err != nil {
		t.Fatal(err)
	}
	// dwconv 8·49+8, norm 16, fc1 32·8+32, grn 64, fc2 8·32+8
	if want := 400 + 16 + 288 + 64 + 264; a.Len() != want || CountParams(params) != want {
		t.Fatalf("arena holds %d elements, want %d", a.Len(), want)
	}
	for i, p := range params {
		testutil.AllClose(t, p.Name, p.Value.Host32(), before[i], 0, 0)
		if p.Grad.Host32()[0] != 0 {
			t.Errorf("%s: grad not zero after packing", p.Name)
		}
	}
	p, off := a.Find("stages.0.blocks.0.mlp.grn.weight")
	if p == nil || off != 400+16+288 {
		t.Errorf("Find grn.weight: %v at %d", p, off)
	}
	a.Values.Host32()[off] = 42
	if p.Value.Host32()[0] != 42 {
		t.Error("param is not a view into the arena")
	}
	if _, err := NewArena(be, append(params, params[0])); err == nil {
		t.Error("duplicate names accepted")
	}
}

// TestArenaAlign checks that parameters of sizes that are not multiples of
// ArenaAlign (a 3→5 Linear: weight 15, bias 5) start at multiples of it,
// that the padding is zero, and that Pack and Unpack convert between the
// padded arena and the packed arena order of checkpoints.
func TestArenaAlign(t *testing.T) {
	be := cpu.New()
	lin := must[*Linear](t)(NewLinear(be, "head", 3, 5, true, testutil.NewRand(4)))
	if err := be.Upload(lin.Bias.Value, []float32{1, 2, 3, 4, 5}); err != nil {
		t.Fatal(err)
	}
	a := must[*Arena](t)(NewArena(be, lin.Params()))
	if a.Offsets[1] != 16 || a.Len() != 24 || a.NumParams() != 20 {
		t.Fatalf("offsets %v, Len %d, NumParams %d; want bias at 16, 24 and 20", a.Offsets, a.Len(), a.NumParams())
	}
	flat := a.Values.Host32()
	for _, i := range []int{15, 21, 22, 23} {
		if flat[i] != 0 {
			t.Errorf("padding element %d = %v, want 0", i, flat[i])
		}
	}
	packed := a.Pack(flat)
	if len(packed) != 20 || packed[15] != 1 || packed[19] != 5 || packed[14] != flat[14] {
		t.Fatalf("Pack = %v", packed)
	}
	back := must[[]float32](t)(a.Unpack(packed))
	testutil.AllClose(t, "Unpack(Pack)", back, flat, 0, 0)
	if _, err := a.Unpack(flat); err == nil || !strings.Contains(err.Error(), "24 elements for 20") {
		t.Errorf("Unpack of an arena-shaped slice: %v", err)
	}
}
