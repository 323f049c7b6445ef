//go:build !cuda

// gorgonia built with the cuda tag needs cuDNN (gorgonia.org/cu/dnn), which
// Debian does not package: this oracle runs in the default build only.

package cpu_test

// A second, independent autodiff oracle: the same expressions as gorgonia
// graphs in float64, differentiated symbolically (gorgonia.Grad) and run on
// its tape machine. Each test compares the float64 CPU backend with
// gorgonia, and gorgonia with the PyTorch golden values, on the golden
// files' inputs. gorgonia has no erf, so GELU is checked in its tanh form
// only (the erf form is covered by the PyTorch golden files).

import (
	"math"
	"path/filepath"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
)

// Two float64 computations of the same expression in different orders
// agree to a few ulps times the condition number (we see ≤ 3e-15 here);
// 1e-12 leaves room for that and catches any float32 step. Against the
// golden files the float32 rounding of the stored values (6e-8) sets the
// bound.
var (
	oracleTol = tolerance{RTol: 1e-12, ATol: 1e-13}
	torchTol  = tolerance{RTol: 1e-6, ATol: 1e-10}
)

// oracle builds one gorgonia expression graph in float64 from a golden file.
type oracle struct {
	t    *testing.T
	g    *G.ExprGraph
	gold *testutil.Golden
	be   *cpu.Backend
}

func newOracle(t *testing.T, file string) *oracle {
	t.Helper()
	gold := testutil.MustLoadGolden(t, filepath.Join("testdata", "golden", file+".safetensors"))
	return &oracle{t: t, g: G.NewGraph(), gold: gold, be: cpu.New64()}
}

// do stops the test if building a node failed.
func (o *oracle) do(n *G.Node, err error) *G.Node {
	o.t.Helper()
	if err != nil {
		o.t.Fatal(err)
	}
	return n
}

// node adds an input node holding data with shape.
func (o *oracle) node(name string, data []float64, shape ...int) *G.Node {
	val := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data))
	return G.NewTensor(o.g, tensor.Float64, len(shape), G.WithShape(shape...), G.WithName(name), G.WithValue(val))
}

// golden adds the golden tensor name as an input node.
func (o *oracle) golden(name string, shape ...int) *G.Node {
	o.t.Helper()
	data := o.gold.Tensor(o.t, name, shape...)
	v := make([]float64, len(data))
	for i, x := range data {
		v[i] = float64(x)
	}
	return o.node(name, v, shape...)
}

// tensor uploads data to the float64 backend.
func (o *oracle) tensor(data []float32, shape ...int) kernels.Tensor {
	o.t.Helper()
	t, err := o.be.Alloc(kernels.Shape(shape))
	if err != nil {
		o.t.Fatal(err)
	}
	if err := o.be.Upload(t, data); err != nil {
		o.t.Fatal(err)
	}
	return t
}

// in uploads the golden tensor name to the float64 backend.
func (o *oracle) in(name string, shape ...int) kernels.Tensor {
	o.t.Helper()
	return o.tensor(o.gold.Tensor(o.t, name, shape...), shape...)
}

// zeros allocates a zero tensor on the float64 backend.
func (o *oracle) zeros(shape ...int) kernels.Tensor {
	o.t.Helper()
	t, err := o.be.Alloc(kernels.Shape(shape))
	if err != nil {
		o.t.Fatal(err)
	}
	return t
}

func (o *oracle) ok(err error) {
	o.t.Helper()
	if err != nil {
		o.t.Fatal(err)
	}
}

// run adds the cost Σ y⊙dy and its symbolic gradients with respect to wrt,
// runs the graph on a tape machine and returns the values of y and of each
// gradient, in that order. The values are captured with gorgonia.Read as
// they are computed: the tape machine reuses registers in place, so a
// node's Value after RunAll may already hold a later result.
func (o *oracle) run(y, dy *G.Node, wrt ...*G.Node) [][]float64 {
	o.t.Helper()
	cost := o.do(G.Sum(o.do(G.HadamardProd(y, dy))))
	grads, err := G.Grad(cost, wrt...)
	if err != nil {
		o.t.Fatal(err)
	}
	outs := append(G.Nodes{y}, grads...)
	read := make([]G.Value, len(outs))
	for i, n := range outs {
		G.Read(n, &read[i])
	}
	m := G.NewTapeMachine(o.g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		o.t.Fatal(err)
	}
	vals := make([][]float64, len(read))
	for i, v := range read {
		vals[i] = v.Data().([]float64)
	}
	return vals
}

// vsTorch checks gorgonia's values against the PyTorch golden tensors of the
// same names.
func (o *oracle) vsTorch(names []string, gorgonia [][]float64) {
	o.t.Helper()
	for i, name := range names {
		want := o.gold.Tensors[name].Data
		if testutil.AllClose(o.t, name+": gorgonia vs torch", gorgonia[i], want, torchTol.RTol, torchTol.ATol) {
			o.t.Logf("%-7s |gorgonia−torch| <= %.1e", name, maxDiff(gorgonia[i], want))
		}
	}
}

// vsOurs checks the float64 backend's results against gorgonia's.
func (o *oracle) vsOurs(names []string, ours []kernels.Tensor, gorgonia [][]float64) {
	o.t.Helper()
	for i, name := range names {
		got := ours[i].Host64()
		if testutil.AllClose(o.t, name+": cpu-float64 vs gorgonia", got, gorgonia[i], oracleTol.RTol, oracleTol.ATol) {
			o.t.Logf("%-7s |cpu−gorgonia| <= %.1e", name, maxDiff(got, gorgonia[i]))
		}
	}
}

func maxDiff[T, U float32 | float64](a []T, b []U) float64 {
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

func TestGorgoniaLinear(t *testing.T) {
	o := newOracle(t, "linear_bias")
	s := kernels.LinearShape{Rows: o.gold.Int(t, "Rows"), In: o.gold.Int(t, "In"), Out: o.gold.Int(t, "Out")}

	x, w, b := o.golden("x", s.Rows, s.In), o.golden("w", s.Out, s.In), o.golden("b", s.Out)
	dy := o.golden("dy", s.Rows, s.Out)
	xw := o.do(G.Mul(x, o.do(G.Transpose(w))))
	y := o.do(G.BroadcastAdd(xw, b, nil, []byte{0}))
	names := []string{"y", "dx", "dw", "db"}
	vals := o.run(y, dy, x, w, b)
	o.vsTorch(names, vals)

	ty, tdx, tdw, tdb := o.zeros(s.Rows, s.Out), o.zeros(s.Rows, s.In), o.zeros(s.Out, s.In), o.zeros(s.Out)
	tx, tw := o.in("x", s.Rows, s.In), o.in("w", s.Out, s.In)
	o.ok(o.be.Linear(ty, tx, tw, o.in("b", s.Out), s))
	o.ok(o.be.LinearBackward(tdx, tdw, tdb, o.in("dy", s.Rows, s.Out), tx, tw, s))
	o.vsOurs(names, []kernels.Tensor{ty, tdx, tdw, tdb}, vals)
}

// layerNorm builds F.layer_norm over the last axis of x [Rows, C] with
// biased variance. It divides by Sqrt rather than multiplying by
// InverseSqrt, whose derivative gorgonia v0.9.18 gets wrong (it computes
// −dy/(2y³) instead of −dy·y³/2).
func (o *oracle) layerNorm(x, w, b *G.Node, eps float64) *G.Node {
	mean := o.do(G.Mean(x, 1))
	xc := o.do(G.BroadcastSub(x, mean, nil, []byte{1}))
	variance := o.do(G.Mean(o.do(G.Square(xc)), 1))
	std := o.do(G.Sqrt(o.do(G.Add(variance, G.NewConstant(eps)))))
	xhat := o.do(G.BroadcastHadamardDiv(xc, std, nil, []byte{1}))
	return o.do(G.BroadcastAdd(o.do(G.BroadcastHadamardProd(xhat, w, nil, []byte{0})), b, nil, []byte{0}))
}

// geluTanh builds 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
func (o *oracle) geluTanh(x *G.Node) *G.Node {
	cube := o.do(G.HadamardProd(G.NewConstant(0.044715), o.do(G.Cube(x))))
	inner := o.do(G.HadamardProd(G.NewConstant(math.Sqrt(2/math.Pi)), o.do(G.Add(x, cube))))
	onePlus := o.do(G.Add(G.NewConstant(1.0), o.do(G.Tanh(inner))))
	return o.do(G.HadamardProd(G.NewConstant(0.5), o.do(G.HadamardProd(x, onePlus))))
}

func TestGorgoniaLayerNorm(t *testing.T) {
	for _, file := range []string{"layernorm_c3", "layernorm_c16_shift", "lngelu_tanh"} {
		t.Run(file, func(t *testing.T) {
			o := newOracle(t, file)
			s := kernels.NormShape{Rows: o.gold.Int(t, "Rows"), C: o.gold.Int(t, "C"), Eps: o.gold.Float(t, "Eps")}
			fused := o.gold.Metadata["op"] == "lngelu"

			x, w, b := o.golden("x", s.Rows, s.C), o.golden("w", s.C), o.golden("b", s.C)
			y := o.layerNorm(x, w, b, s.Eps)
			if fused {
				y = o.geluTanh(y)
			}
			names := []string{"y", "dx", "dw", "db"}
			vals := o.run(y, o.golden("dy", s.Rows, s.C), x, w, b)
			o.vsTorch(names, vals)

			tx, tw, tb, tdy := o.in("x", s.Rows, s.C), o.in("w", s.C), o.in("b", s.C), o.in("dy", s.Rows, s.C)
			ty, mean, rstd := o.zeros(s.Rows, s.C), o.zeros(s.Rows), o.zeros(s.Rows)
			tdx, tdw, tdb := o.zeros(s.Rows, s.C), o.zeros(s.C), o.zeros(s.C)
			if fused {
				o.ok(o.be.LayerNormGELU(ty, mean, rstd, tx, tw, tb, s, kernels.GELUTanh))
				o.ok(o.be.LayerNormGELUBackward(tdx, tdw, tdb, tdy, tx, mean, rstd, tw, tb, s, kernels.GELUTanh))
			} else {
				o.ok(o.be.LayerNorm(ty, mean, rstd, tx, tw, tb, s))
				o.ok(o.be.LayerNormBackward(tdx, tdw, tdb, tdy, tx, mean, rstd, tw, s))
			}
			o.vsOurs(names, []kernels.Tensor{ty, tdx, tdw, tdb}, vals)
		})
	}
}

func TestGorgoniaGELUTanh(t *testing.T) {
	o := newOracle(t, "gelu_tanh")
	shape := []int{2, 5, 7, 3}
	x := o.golden("x", shape...)
	names := []string{"y", "dx"}
	vals := o.run(o.geluTanh(x), o.golden("dy", shape...), x)
	o.vsTorch(names, vals)

	tx, ty, tdx := o.in("x", shape...), o.zeros(shape...), o.zeros(shape...)
	o.ok(o.be.GELU(ty, tx, kernels.GELUTanh))
	o.ok(o.be.GELUBackward(tdx, o.in("dy", shape...), tx, kernels.GELUTanh))
	o.vsOurs(names, []kernels.Tensor{ty, tdx}, vals)
}

func TestGorgoniaGRN(t *testing.T) {
	// grn_zero_sample is left to the torch golden test: gorgonia's sqrt has
	// an infinite derivative at 0 where torch.norm's backward gives 0.
	for _, file := range []string{"grn", "grn_hw1"} {
		t.Run(file, func(t *testing.T) {
			o := newOracle(t, file)
			s := kernels.GRNShape{N: o.gold.Int(t, "N"), HW: o.gold.Int(t, "HW"), C: o.gold.Int(t, "C"), Eps: o.gold.Float(t, "Eps")}

			// ConvNeXt-V2 GRN: g = ‖x‖₂ over HW, Nx = g/(mean_c g + eps),
			// y = gamma·(x·Nx) + beta + x.
			x, gamma, beta := o.golden("x", s.N, s.HW, s.C), o.golden("gamma", s.C), o.golden("beta", s.C)
			gx := o.do(G.Sqrt(o.do(G.Sum(o.do(G.Square(x)), 1))))
			denom := o.do(G.Add(o.do(G.Mean(gx, 1)), G.NewConstant(s.Eps)))
			nx := o.do(G.BroadcastHadamardDiv(gx, denom, nil, []byte{1}))
			xnx := o.do(G.BroadcastHadamardProd(x, nx, nil, []byte{1}))
			scaled := o.do(G.BroadcastHadamardProd(xnx, gamma, nil, []byte{0, 1}))
			y := o.do(G.Add(o.do(G.BroadcastAdd(scaled, beta, nil, []byte{0, 1})), x))
			names := []string{"y", "dx", "dgamma", "dbeta"}
			vals := o.run(y, o.golden("dy", s.N, s.HW, s.C), x, gamma, beta)
			o.vsTorch(names, vals)

			tx, tgamma := o.in("x", s.N, s.HW, s.C), o.in("gamma", s.C)
			ty, gnorm := o.zeros(s.N, s.HW, s.C), o.zeros(s.N, s.C)
			tdx, tdgamma, tdbeta := o.zeros(s.N, s.HW, s.C), o.zeros(s.C), o.zeros(s.C)
			o.ok(o.be.GRN(ty, gnorm, tx, tgamma, o.in("beta", s.C), s))
			o.ok(o.be.GRNBackward(tdx, tdgamma, tdbeta, o.in("dy", s.N, s.HW, s.C), tx, gnorm, tgamma, s))
			o.vsOurs(names, []kernels.Tensor{ty, tdx, tdgamma, tdbeta}, vals)
		})
	}
}

func TestGorgoniaCrossEntropy(t *testing.T) {
	o := newOracle(t, "ce_smooth")
	s := kernels.LossShape{N: o.gold.Int(t, "N"), K: o.gold.Int(t, "K")}
	eps := o.gold.Float(t, "label_smoothing")

	// Label-smoothed targets from the labels, in float64 so that each row
	// sums to 1: the gradient of the loss is prob·Σtarget − target, which
	// CrossEntropyBackward's prob − target equals only for normalised rows
	// (float32-rounded rows are off by 1e-8).
	target := smoothedTargets(o.gold.Tensor(t, "labels", s.N), s.K, eps)
	// loss[n] = −Σ_k target·(logits − log Σ_j exp logits); logits here stay
	// below 700, so float64 exp needs no max shift. dy = 1/N makes the
	// cost the batch mean, as CrossEntropyBackward's scale does.
	logits := o.golden("logits", s.N, s.K)
	lse := o.do(G.Log(o.do(G.Sum(o.do(G.Exp(logits)), 1))))
	logp := o.do(G.BroadcastSub(logits, lse, nil, []byte{1}))
	tnode := o.node("target", target, s.N, s.K)
	loss := o.do(G.Neg(o.do(G.Sum(o.do(G.HadamardProd(tnode, logp)), 1))))
	inv := make([]float64, s.N)
	for i := range inv {
		inv[i] = 1 / float64(s.N)
	}
	names := []string{"loss", "dlogits"}
	vals := o.run(loss, o.node("scale", inv, s.N), logits)
	o.vsTorch(names, vals)

	tt := o.zeros(s.N, s.K)
	copy(tt.Host64(), target)
	tloss, prob, tdl := o.zeros(s.N), o.zeros(s.N, s.K), o.zeros(s.N, s.K)
	o.ok(o.be.CrossEntropy(tloss, prob, o.in("logits", s.N, s.K), tt, s))
	o.ok(o.be.CrossEntropyBackward(tdl, prob, tt, 1/float64(s.N), s))
	o.vsOurs(names, []kernels.Tensor{tloss, tdl}, vals)
}
