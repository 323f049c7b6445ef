package cpu_test

// Golden tests: every op of the CPU backend against PyTorch's values and
// autograd gradients in testdata/golden (written by scripts/golden/golden.py;
// the README there lists every file and tensor).

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
)

// tolerance accepts |got − want| <= ATol·max|want| + RTol·|want|: the
// absolute slack scales with the tensor's largest element, so cases with
// tiny data (grn_tiny, layernorm_c8_tiny_var) are held to the same
// standard as O(1) ones.
type tolerance struct{ RTol, ATol float64 }

// The tolerances, one reason each. Golden values are torch's float64 results
// rounded to float32, so they carry at most 2^-24 ≈ 6e-8 relative error.
var (
	// float32 forward. An output is a sum of at most a few hundred terms
	// no larger than the tensor's scale, whose float32 rounding is
	// ≲ n·2^-24·max|term| ≈ 1e-6 of that scale. ATol covers elements that
	// cancel to near zero, where rtol alone would demand digits float32
	// cannot hold.
	fwd32 = tolerance{RTol: 1e-5, ATol: 1e-6}
	// float32 gradients: longer chains and sums over every position (dw,
	// dgamma sum N·H·W terms), hence ten times both.
	grad32 = tolerance{RTol: 1e-4, ATol: 1e-5}
	// float64 backend: the reference's own rounding (6e-8) dominates; 1e-6
	// leaves a margin, ATol is for exact zeros stored as tiny float32 values.
	all64 = tolerance{RTol: 1e-6, ATol: 1e-10}
)

// goldenCase is one backend running one golden file.
type goldenCase struct {
	t         *testing.T
	be        *cpu.Backend
	g         *testutil.Golden
	fwd, grad tolerance
}

// runGolden runs fn on testdata/golden/<file>.safetensors with the
// float32 and the float64 CPU backend.
func runGolden(t *testing.T, file string, fn func(c *goldenCase)) {
	t.Helper()
	runGoldenFile(t, filepath.Join("testdata", "golden", file+".safetensors"), fn)
}

// runGoldenFile runs fn on both CPU backends for the golden file at path.
func runGoldenFile(t *testing.T, path string, fn func(c *goldenCase)) {
	t.Helper()
	g := testutil.MustLoadGolden(t, path)
	file := strings.TrimSuffix(filepath.Base(path), ".safetensors")
	backends := []struct {
		name      string
		be        *cpu.Backend
		fwd, grad tolerance
	}{
		{"float32", cpu.New(), fwd32, grad32},
		{"float64", cpu.New64(), all64, all64},
	}
	for _, b := range backends {
		t.Run(file+"/"+b.name, func(t *testing.T) {
			fn(&goldenCase{t: t, be: b.be, g: g, fwd: b.fwd, grad: b.grad})
		})
	}
}

// ok stops the test on an op error.
func (c *goldenCase) ok(err error) {
	c.t.Helper()
	if err != nil {
		c.t.Fatal(err)
	}
}

// meta returns the integer metadata value key.
func (c *goldenCase) meta(key string) int { c.t.Helper(); return c.g.Int(c.t, key) }

// in uploads the golden tensor name, which must have exactly shape.
func (c *goldenCase) in(name string, shape ...int) kernels.Tensor {
	c.t.Helper()
	return c.upload(c.g.Tensor(c.t, name, shape...), shape)
}

// out allocates an output filled with NaN, so an op that reads its output
// before writing it, or leaves elements unwritten, fails.
func (c *goldenCase) out(shape ...int) kernels.Tensor {
	c.t.Helper()
	return c.filled(math.NaN(), shape)
}

// acc allocates the accumulator for the golden gradient name, filled with
// accBase(name) so that the test sees whether the op adds (+=) to it, as
// parameter gradients must, rather than overwriting it.
func (c *goldenCase) acc(name string, shape ...int) kernels.Tensor {
	c.t.Helper()
	return c.filled(c.accBase(name), shape)
}

// accBase is a power of two between 1/8 and 1/4 of the golden gradient's
// largest element: large enough that overwriting shows, small enough that
// adding the gradient to it keeps the gradient's digits.
func (c *goldenCase) accBase(name string) float64 {
	c.t.Helper()
	gt, err := c.g.Get(name)
	if err != nil {
		c.t.Fatal(err)
	}
	m := 0.0
	for _, v := range gt.Data {
		m = max(m, math.Abs(float64(v)))
	}
	if m == 0 {
		return 0.25
	}
	return math.Ldexp(1, math.Ilogb(m)-2)
}

func (c *goldenCase) filled(v float64, shape []int) kernels.Tensor {
	c.t.Helper()
	data := make([]float32, kernels.Shape(shape).Len())
	for i := range data {
		data[i] = float32(v)
	}
	return c.upload(data, shape)
}

func (c *goldenCase) upload(data []float32, shape []int) kernels.Tensor {
	c.t.Helper()
	t, err := c.be.Alloc(kernels.Shape(shape))
	c.ok(err)
	c.ok(c.be.Upload(t, data))
	return t
}

// values returns t's elements as float64 without rounding float64 storage.
func values(t kernels.Tensor) []float64 {
	if v := t.Host64(); v != nil {
		return v
	}
	v32 := t.Host32()
	v := make([]float64, len(v32))
	for i, x := range v32 {
		v[i] = float64(x)
	}
	return v
}

// check compares the output got with the golden tensor name of the same
// shape and logs the largest error and how much of the tolerance it used.
func (c *goldenCase) check(name string, got kernels.Tensor, tol tolerance) {
	c.t.Helper()
	c.compare(name, values(got), got.Shape, tol)
}

// checkAcc compares the accumulator got, minus accBase, with the golden
// gradient name.
func (c *goldenCase) checkAcc(name string, got kernels.Tensor, tol tolerance) {
	c.t.Helper()
	base := c.accBase(name)
	v := values(got)
	d := make([]float64, len(v))
	for i, x := range v {
		d[i] = x - base
	}
	c.compare(name, d, got.Shape, tol)
}

func (c *goldenCase) compare(name string, got []float64, shape kernels.Shape, tol tolerance) {
	c.t.Helper()
	want := c.g.Tensor(c.t, name, shape...)
	maxWant := 0.0
	for _, w := range want {
		maxWant = max(maxWant, math.Abs(float64(w)))
	}
	atol := tol.ATol * maxWant
	what := fmt.Sprintf("%s %s", filepath.Base(c.g.Path), name)
	if !testutil.AllClose(c.t, what, got, want, tol.RTol, atol) {
		return
	}
	maxAbs, used := 0.0, 0.0
	for i, w := range want {
		d := math.Abs(got[i] - float64(w))
		maxAbs = max(maxAbs, d)
		if d > 0 {
			used = max(used, d/(atol+tol.RTol*math.Abs(float64(w))))
		}
	}
	c.t.Logf("%s %s/%s: max abs err %.2e (max |want| %.3g), %.0f%% of tolerance", c.be.Name(), filepath.Base(c.g.Path), name, maxAbs, maxWant, 100*used)
}

func TestGoldenConv2D(t *testing.T) {
	for _, name := range []string{"k4s4", "k2s2", "k2s2_nobias", "k1s1", "k3s2p1", "k3s1p1", "k3s1p1_w1", "k3s2p1_h1",
		"k3s2p1_g3", "k3s1p1_g2_nobias", "k5s1p2_g4_w1", "k7s2p3"} {
		runGolden(t, "conv2d_"+name, func(c *goldenCase) {
			s := kernels.ConvShape{N: c.meta("N"), H: c.meta("H"), W: c.meta("W"), CIn: c.meta("CIn"),
				COut: c.meta("COut"), K: c.meta("K"), Stride: c.meta("Stride"), Pad: c.meta("Pad")}
			if c.g.Metadata["Groups"] != "" {
				s.Groups = c.meta("Groups")
			}
			x, w := c.in("x", s.XShape()...), c.in("w", s.WShape()...)
			var b, db kernels.Tensor
			if c.g.Has("b") {
				b, db = c.in("b", s.COut), c.acc("db", s.COut)
			}
			y := c.out(s.YShape()...)
			c.ok(c.be.Conv2D(y, x, w, b, s))
			c.check("y", y, c.fwd)

			dy := c.in("dy", s.YShape()...)
			dx, dw := c.out(s.XShape()...), c.acc("dw", s.WShape()...)
			c.ok(c.be.Conv2DBackward(dx, dw, db, dy, x, w, s))
			c.check("dx", dx, c.grad)
			c.checkAcc("dw", dw, c.grad)
			if !b.Nil() {
				c.checkAcc("db", db, c.grad)
			}
			// The stem needs no dx.
			dw = c.acc("dw", s.WShape()...)
			c.ok(c.be.Conv2DBackward(kernels.Tensor{}, dw, kernels.Tensor{}, dy, x, w, s))
			c.checkAcc("dw", dw, c.grad)
		})
	}
}

func TestGoldenDWConv(t *testing.T) {
	for _, name := range []string{"k3s1", "k3s2", "k5s1_w1", "k5s2", "k7s1", "k7s2_h1", "k9s1", "k9s2"} {
		runGolden(t, "dwconv_"+name, func(c *goldenCase) {
			s := kernels.DWConvShape{N: c.meta("N"), H: c.meta("H"), W: c.meta("W"), C: c.meta("C"),
				K: c.meta("K"), Stride: c.meta("Stride")}
			x, w, b := c.in("x", s.XShape()...), c.in("w", s.WShape()...), c.in("b", s.C)
			y := c.out(s.YShape()...)
			c.ok(c.be.DWConv(y, x, w, b, s))
			c.check("y", y, c.fwd)

			dy := c.in("dy", s.YShape()...)
			dx, dw, db := c.out(s.XShape()...), c.acc("dw", s.WShape()...), c.acc("db", s.C)
			c.ok(c.be.DWConvBackward(dx, dw, db, dy, x, w, s))
			c.check("dx", dx, c.grad)
			c.checkAcc("dw", dw, c.grad)
			c.checkAcc("db", db, c.grad)
		})
	}
}

func TestGoldenLinear(t *testing.T) {
	for _, name := range []string{"bias", "nobias"} {
		runGolden(t, "linear_"+name, func(c *goldenCase) {
			s := kernels.LinearShape{Rows: c.meta("Rows"), In: c.meta("In"), Out: c.meta("Out")}
			x, w := c.in("x", s.Rows, s.In), c.in("w", s.Out, s.In)
			var b, db kernels.Tensor
			if c.g.Has("b") {
				b, db = c.in("b", s.Out), c.acc("db", s.Out)
			}
			y := c.out(s.Rows, s.Out)
			c.ok(c.be.Linear(y, x, w, b, s))
			c.check("y", y, c.fwd)

			dy := c.in("dy", s.Rows, s.Out)
			dx, dw := c.out(s.Rows, s.In), c.acc("dw", s.Out, s.In)
			c.ok(c.be.LinearBackward(dx, dw, db, dy, x, w, s))
			c.check("dx", dx, c.grad)
			c.checkAcc("dw", dw, c.grad)
			if !b.Nil() {
				c.checkAcc("db", db, c.grad)
			}
			dw = c.acc("dw", s.Out, s.In)
			c.ok(c.be.LinearBackward(kernels.Tensor{}, dw, kernels.Tensor{}, dy, x, w, s))
			c.checkAcc("dw", dw, c.grad)
		})
	}
}

// approxOf returns the GELU form the golden file's "approx" metadata names.
func (c *goldenCase) approx() kernels.GELUApprox {
	c.t.Helper()
	switch a := c.g.Metadata["approx"]; a {
	case "erf":
		return kernels.GELUErf
	case "tanh":
		return kernels.GELUTanh
	default:
		c.t.Fatalf("%s: approx %q", c.g.Path, a)
		return 0
	}
}

func TestGoldenLayerNorm(t *testing.T) {
	for _, name := range []string{"layernorm_c3", "layernorm_c16_shift", "layernorm_c8_tiny_var", "lngelu_erf", "lngelu_tanh"} {
		runGolden(t, name, func(c *goldenCase) {
			s := kernels.NormShape{Rows: c.meta("Rows"), C: c.meta("C"), Eps: c.g.Float(c.t, "Eps")}
			fused := c.g.Metadata["op"] == "lngelu"
			x, w, b := c.in("x", s.Rows, s.C), c.in("w", s.C), c.in("b", s.C)
			y, mean, rstd := c.out(s.Rows, s.C), c.out(s.Rows), c.out(s.Rows)
			if fused {
				c.ok(c.be.LayerNormGELU(y, mean, rstd, x, w, b, s, c.approx()))
			} else {
				c.ok(c.be.LayerNorm(y, mean, rstd, x, w, b, s))
			}
			c.check("y", y, c.fwd)
			c.check("mean", mean, c.fwd)
			c.check("rstd", rstd, c.fwd)

			dy := c.in("dy", s.Rows, s.C)
			dx, dw, db := c.out(s.Rows, s.C), c.acc("dw", s.C), c.acc("db", s.C)
			if fused {
				c.ok(c.be.LayerNormGELUBackward(dx, dw, db, dy, x, mean, rstd, w, b, s, c.approx()))
			} else {
				c.ok(c.be.LayerNormBackward(dx, dw, db, dy, x, mean, rstd, w, s))
			}
			c.check("dx", dx, c.grad)
			c.checkAcc("dw", dw, c.grad)
			c.checkAcc("db", db, c.grad)
		})
	}
}

func TestGoldenGELU(t *testing.T) {
	for _, name := range []string{"gelu_erf", "gelu_tanh"} {
		runGolden(t, name, func(c *goldenCase) {
			shape := []int{2, 5, 7, 3}
			x := c.in("x", shape...)
			y := c.out(shape...)
			c.ok(c.be.GELU(y, x, c.approx()))
			c.check("y", y, c.fwd)
			// y may alias x.
			c.ok(c.be.GELU(x, x, c.approx()))
			c.check("y", x, c.fwd)

			x = c.in("x", shape...)
			dy := c.in("dy", shape...)
			dx := c.out(shape...)
			c.ok(c.be.GELUBackward(dx, dy, x, c.approx()))
			c.check("dx", dx, c.grad)
			// dx may alias dy.
			c.ok(c.be.GELUBackward(dy, dy, x, c.approx()))
			c.check("dx", dy, c.grad)
		})
	}
}

func TestGoldenGRN(t *testing.T) {
	for _, name := range []string{"grn", "grn_zero_sample", "grn_hw1", "grn_tiny"} {
		runGolden(t, name, func(c *goldenCase) {
			s := kernels.GRNShape{N: c.meta("N"), HW: c.meta("HW"), C: c.meta("C"), Eps: c.g.Float(c.t, "Eps")}
			x, gamma, beta := c.in("x", s.N, s.HW, s.C), c.in("gamma", s.C), c.in("beta", s.C)
			y, gnorm := c.out(s.N, s.HW, s.C), c.out(s.N, s.C)
			c.ok(c.be.GRN(y, gnorm, x, gamma, beta, s))
			c.check("y", y, c.fwd)
			c.check("gnorm", gnorm, c.fwd)

			dy := c.in("dy", s.N, s.HW, s.C)
			dx, dgamma, dbeta := c.out(s.N, s.HW, s.C), c.acc("dgamma", s.C), c.acc("dbeta", s.C)
			c.ok(c.be.GRNBackward(dx, dgamma, dbeta, dy, x, gnorm, gamma, s))
			c.check("dx", dx, c.grad)
			c.checkAcc("dgamma", dgamma, c.grad)
			c.checkAcc("dbeta", dbeta, c.grad)
		})
	}
}

func TestGoldenChannelGate(t *testing.T) {
	for _, name := range []string{"sigmoid", "hard_sigmoid"} {
		runGolden(t, "channelgate_"+name, func(c *goldenCase) {
			s := kernels.GateShape{N: c.meta("N"), HW: c.meta("HW"), C: c.meta("C"), Gate: kernels.GateKind(c.meta("Gate"))}
			x, g, y := c.in("x", s.N, s.HW, s.C), c.in("g", s.N, s.C), c.out(s.N, s.HW, s.C)
			c.ok(c.be.ChannelGate(y, x, g, s))
			c.check("y", y, c.fwd)
			dy, dx, dg := c.in("dy", s.N, s.HW, s.C), c.out(s.N, s.HW, s.C), c.out(s.N, s.C)
			c.ok(c.be.ChannelGateBackward(dx, dg, dy, x, g, s))
			c.check("dx", dx, c.grad)
			c.check("dg", dg, c.grad)
		})
	}
}

func TestGoldenChannelConv(t *testing.T) {
	for _, name := range []string{"k3", "k5"} {
		runGolden(t, "channelconv_"+name, func(c *goldenCase) {
			s := kernels.ChannelConvShape{N: c.meta("N"), C: c.meta("C"), K: c.meta("K")}
			x, w, y := c.in("x", s.N, s.C), c.in("w", s.WShape()...), c.out(s.N, s.C)
			c.ok(c.be.ChannelConv(y, x, w, s))
			c.check("y", y, c.fwd)
			dy, dx, dw := c.in("dy", s.N, s.C), c.out(s.N, s.C), c.acc("dw", s.WShape()...)
			c.ok(c.be.ChannelConvBackward(dx, dw, dy, x, w, s))
			c.check("dx", dx, c.grad)
			c.checkAcc("dw", dw, c.grad)
		})
	}
}

func TestGoldenAvgPool(t *testing.T) {
	runGolden(t, "avgpool", func(c *goldenCase) {
		s := kernels.PoolShape{N: c.meta("N"), HW: c.meta("HW"), C: c.meta("C")}
		x, y := c.in("x", s.N, s.HW, s.C), c.out(s.N, s.C)
		c.ok(c.be.AvgPool(y, x, s))
		c.check("y", y, c.fwd)
		dy, dx := c.in("dy", s.N, s.C), c.out(s.N, s.HW, s.C)
		c.ok(c.be.AvgPoolBackward(dx, dy, s))
		c.check("dx", dx, c.grad)
	})
}

func TestGoldenDropPath(t *testing.T) {
	runGolden(t, "droppath", func(c *goldenCase) {
		shape := []int{c.meta("N"), 5, 7, 3}
		x, scale, y := c.in("x", shape...), c.in("scale", shape[0]), c.out(shape...)
		c.ok(c.be.ScaleSamples(y, x, scale))
		c.check("y", y, c.fwd)
		// Drop path's backward is the same per-sample scaling of dy.
		dy, dx := c.in("dy", shape...), c.out(shape...)
		c.ok(c.be.ScaleSamples(dx, dy, scale))
		c.check("dx", dx, c.grad)
	})
}

func TestGoldenAdd(t *testing.T) {
	runGolden(t, "add", func(c *goldenCase) {
		shape := []int{2, 5, 7, 3}
		a, b, y := c.in("a", shape...), c.in("b", shape...), c.out(shape...)
		c.ok(c.be.Add(y, a, b))
		c.check("y", y, c.fwd)
		// The residual stream adds in place.
		c.ok(c.be.Add(a, a, b))
		c.check("y", a, c.fwd)
	})
}

func TestGoldenChannelScale(t *testing.T) {
	runGolden(t, "channelscale", func(c *goldenCase) {
		rows, ch := c.meta("Rows"), c.meta("C")
		x, gamma, y := c.in("x", rows, ch), c.in("gamma", ch), c.out(rows, ch)
		c.ok(c.be.ChannelScale(y, x, gamma))
		c.check("y", y, c.fwd)
		dy, dx, dgamma := c.in("dy", rows, ch), c.out(rows, ch), c.acc("dgamma", ch)
		c.ok(c.be.ChannelScaleBackward(dx, dgamma, dy, x, gamma))
		c.check("dx", dx, c.grad)
		c.checkAcc("dgamma", dgamma, c.grad)
	})
}

func TestGoldenCrossEntropy(t *testing.T) {
	for _, name := range []string{"ce_smooth", "ce_soft"} {
		runGolden(t, name, func(c *goldenCase) {
			s := kernels.LossShape{N: c.meta("N"), K: c.meta("K")}
			logits := c.in("logits", s.N, s.K)
			target := c.in("target", s.N, s.K)
			if c.g.Has("labels") {
				// torch's F.cross_entropy(label_smoothing=ε) took class
				// indices; our target rows are (1−ε)·onehot + ε/K.
				target = c.upload(goldenSmoothedTargets(c, s), []int{s.N, s.K})
			}
			loss, prob := c.out(s.N), c.out(s.N, s.K)
			c.ok(c.be.CrossEntropy(loss, prob, logits, target, s))
			c.check("loss", loss, c.fwd)
			c.check("prob", prob, c.fwd)
			dlogits := c.out(s.N, s.K)
			c.ok(c.be.CrossEntropyBackward(dlogits, prob, target, 1/float64(s.N), s))
			c.check("dlogits", dlogits, c.grad)
		})
	}
}

// smoothedTargets returns the label-smoothed target rows (1−ε)·onehot + ε/K,
// [len(labels), k] in float64, for class indices stored as floats.
func smoothedTargets(labels []float32, k int, eps float64) []float64 {
	target := make([]float64, len(labels)*k)
	for n, l := range labels {
		for j := range k {
			target[n*k+j] = eps / float64(k)
			if j == int(l) {
				target[n*k+j] += 1 - eps
			}
		}
	}
	return target
}

// goldenSmoothedTargets builds the target rows from the golden labels in
// float32 and checks them against the stored target.
func goldenSmoothedTargets(c *goldenCase, s kernels.LossShape) []float32 {
	c.t.Helper()
	t64 := smoothedTargets(c.g.Tensor(c.t, "labels", s.N), s.K, c.g.Float(c.t, "label_smoothing"))
	target := make([]float32, len(t64))
	for i, v := range t64 {
		target[i] = float32(v)
	}
	testutil.AllClose(c.t, "smoothed target", target, c.g.Tensor(c.t, "target", s.N, s.K), 1e-7, 0)
	return target
}

func TestGoldenAdamW(t *testing.T) {
	runGolden(t, "adamw", func(c *goldenCase) {
		var raw [][4]float64
		if err := json.Unmarshal([]byte(c.g.Metadata["groups"]), &raw); err != nil {
			c.t.Fatalf("adamw groups %q: %v", c.g.Metadata["groups"], err)
		}
		groups := make([]kernels.AdamWGroup, len(raw))
		for i, r := range raw {
			groups[i] = kernels.AdamWGroup{Offset: int(r[0]), Len: int(r[1]), LR: r[2], WeightDecay: r[3]}
		}
		n := c.g.Tensors["p0"].Shape[0]
		p, m, v := c.in("p0", n), c.upload(make([]float32, n), []int{n}), c.upload(make([]float32, n), []int{n})
		h := kernels.AdamWHyper{Beta1: c.g.Float(c.t, "beta1"), Beta2: c.g.Float(c.t, "beta2"), Eps: c.g.Float(c.t, "eps")}
		// The gradients, hence the moments, span seven orders of magnitude
		// (golden.py scales them by 10^-j), so no absolute slack: every
		// element must be within rtol of its own value.
		relative := tolerance{RTol: c.fwd.RTol}
		for step := 1; step <= c.meta("steps"); step++ {
			h.Step = step
			g := c.in(fmt.Sprint("g", step), n)
			c.ok(c.be.AdamW(p, g, m, v, groups, h))
			c.check(fmt.Sprint("p", step), p, relative)
			c.check(fmt.Sprint("m", step), m, relative)
			c.check(fmt.Sprint("v", step), v, relative)
		}
	})
}

func TestGoldenEMA(t *testing.T) {
	runGolden(t, "ema", func(c *goldenCase) {
		shape := []int{2, 5, 7, 3}
		decay := c.g.Float(c.t, "decay")
		avg := c.in("avg0", shape...)
		for step := 1; step <= c.meta("steps"); step++ {
			c.ok(c.be.EMA(avg, c.in(fmt.Sprint("x", step), shape...), decay))
			c.check(fmt.Sprint("avg", step), avg, c.fwd)
		}
	})
}
