package cpu

import (
	"fmt"
	"math"
	"testing"

	"github.com/nextconv/nextconv/internal/bfloat16"
	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
)

// bfArg is one tensor argument of an op under the bf16 emulation test: act
// marks an activation (bf16 in the emulation; the matrix products' weights
// too, as layers pass the bf16 copy), pos a statistic that must be
// positive (rstd, gnorm).
type bfArg struct {
	name     string
	shape    kernels.Shape
	act, pos bool
}

// bfCase is an op and its arguments, in the order op receives them.
type bfCase struct {
	name string
	args []bfArg
	op   func(b *Backend, t []kernels.Tensor) error
}

func act(name string, s ...int) bfArg  { return bfArg{name: name, shape: s, act: true} }
func f32(name string, s ...int) bfArg  { return bfArg{name: name, shape: s} }
func stat(name string, s ...int) bfArg { return bfArg{name: name, shape: s, pos: true} }

// bfCases covers every op with an activation output on odd shapes: odd
// channel counts, W = 1, stride 2, unaligned tails.
func bfCases() []bfCase {
	const n, h, w, c = 2, 5, 3, 13
	conv := kernels.ConvShape{N: n, H: h, W: w, CIn: 5, COut: 7, K: 3, Stride: 2, Pad: 1}
	stem := kernels.ConvShape{N: n, H: 6, W: 4, CIn: 3, COut: 9, K: 2, Stride: 2}
	dw := kernels.DWConvShape{N: n, H: h, W: 1, C: c, K: 7, Stride: 1}
	dw2 := kernels.DWConvShape{N: n, H: h, W: w, C: c, K: 3, Stride: 2}
	lin := kernels.LinearShape{Rows: 11, In: 13, Out: 9}
	norm := kernels.NormShape{Rows: 11, C: c, Eps: 1e-6}
	grn := kernels.GRNShape{N: n, HW: 5, C: c, Eps: 1e-6}
	pool := kernels.PoolShape{N: n, HW: 5, C: c}
	loss := kernels.LossShape{N: 3, K: 7}
	var cases []bfCase
	for _, cs := range []kernels.ConvShape{conv, stem} {
		x, y, wt := cs.XShape(), cs.YShape(), cs.WShape()
		k := fmt.Sprintf(" k%d s%d", cs.K, cs.Stride)
		cases = append(cases,
			bfCase{"conv2d" + k, []bfArg{act("y", y...), act("x", x...), act("w", wt...), f32("b", cs.COut)},
				func(b *Backend, t []kernels.Tensor) error { return b.Conv2D(t[0], t[1], t[2], t[3], cs) }},
			bfCase{"conv2d backward" + k, []bfArg{act("dx", x...), f32("dw", wt...), f32("db", cs.COut), act("dy", y...), act("x", x...), act("w", wt...)},
				func(b *Backend, t []kernels.Tensor) error {
					return b.Conv2DBackward(t[0], t[1], t[2], t[3], t[4], t[5], cs)
				}})
	}
	for _, ds := range []kernels.DWConvShape{dw, dw2} {
		x, y, wt := ds.XShape(), ds.YShape(), ds.WShape()
		k := fmt.Sprintf(" k%d s%d", ds.K, ds.Stride)
		cases = append(cases,
			bfCase{"dwconv" + k, []bfArg{act("y", y...), act("x", x...), f32("w", wt...), f32("b", ds.C)},
				func(b *Backend, t []kernels.Tensor) error { return b.DWConv(t[0], t[1], t[2], t[3], ds) }},
			bfCase{"dwconv backward" + k, []bfArg{act("dx", x...), f32("dw", wt...), f32("db", ds.C), act("dy", y...), act("x", x...), f32("w", wt...)},
				func(b *Backend, t []kernels.Tensor) error {
					return b.DWConvBackward(t[0], t[1], t[2], t[3], t[4], t[5], ds)
				}})
	}
	r, k := norm.Rows, norm.C
	cases = append(cases,
		bfCase{"linear", []bfArg{act("y", lin.Rows, lin.Out), act("x", lin.Rows, lin.In), act("w", lin.Out, lin.In), f32("b", lin.Out)},
			func(b *Backend, t []kernels.Tensor) error { return b.Linear(t[0], t[1], t[2], t[3], lin) }},
		bfCase{"linear backward", []bfArg{act("dx", lin.Rows, lin.In), f32("dw", lin.Out, lin.In), f32("db", lin.Out), act("dy", lin.Rows, lin.Out), act("x", lin.Rows, lin.In), act("w", lin.Out, lin.In)},
			func(b *Backend, t []kernels.Tensor) error {
				return b.LinearBackward(t[0], t[1], t[2], t[3], t[4], t[5], lin)
			}},
		bfCase{"layernorm", []bfArg{act("y", r, k), f32("mean", r), f32("rstd", r), act("x", r, k), f32("w", k), f32("b", k)},
			func(b *Backend, t []kernels.Tensor) error {
				return b.LayerNorm(t[0], t[1], t[2], t[3], t[4], t[5], norm)
			}},
		bfCase{"layernorm backward", []bfArg{act("dx", r, k), f32("dw", k), f32("db", k), act("dy", r, k), act("x", r, k), f32("mean", r), stat("rstd", r), f32("w", k)},
			func(b *Backend, t []kernels.Tensor) error {
				return b.LayerNormBackward(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], norm)
			}},
		bfCase{"layernorm-gelu", []bfArg{act("y", r, k), f32("mean", r), f32("rstd", r), act("x", r, k), f32("w", k), f32("b", k)},
			func(b *Backend, t []kernels.Tensor) error {
				return b.LayerNormGELU(t[0], t[1], t[2], t[3], t[4], t[5], norm, kernels.GELUErf)
			}},
		bfCase{"layernorm-gelu backward", []bfArg{act("dx", r, k), f32("dw", k), f32("db", k), act("dy", r, k), act("x", r, k), f32("mean", r), stat("rstd", r), f32("w", k), f32("b", k)},
			func(b *Backend, t []kernels.Tensor) error {
				return b.LayerNormGELUBackward(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8], norm, kernels.GELUErf)
			}},
		bfCase{"grn", []bfArg{act("y", grn.N, grn.HW, grn.C), f32("gnorm", grn.N, grn.C), act("x", grn.N, grn.HW, grn.C), f32("gamma", grn.C), f32("beta", grn.C)},
			func(b *Backend, t []kernels.Tensor) error { return b.GRN(t[0], t[1], t[2], t[3], t[4], grn) }},
		bfCase{"grn backward", []bfArg{act("dx", grn.N, grn.HW, grn.C), f32("dgamma", grn.C), f32("dbeta", grn.C), act("dy", grn.N, grn.HW, grn.C), act("x", grn.N, grn.HW, grn.C), stat("gnorm", grn.N, grn.C), f32("gamma", grn.C)},
			func(b *Backend, t []kernels.Tensor) error {
				return b.GRNBackward(t[0], t[1], t[2], t[3], t[4], t[5], t[6], grn)
			}},
		bfCase{"grn apply", []bfArg{act("y", grn.N, grn.HW, grn.C), f32("gnorm", grn.N, grn.C), act("x", grn.N, grn.HW, grn.C), stat("sumSq", grn.N, grn.C), f32("gamma", grn.C), f32("beta", grn.C)},
			func(b *Backend, t []kernels.Tensor) error { return b.GRNApply(t[0], t[1], t[2], t[3], t[4], t[5], grn) }},
		bfCase{"grn gelu backward", []bfArg{act("da", grn.N, grn.HW, grn.C), f32("dbias", grn.C), f32("dgamma", grn.C), f32("dbeta", grn.C), act("dy", grn.N, grn.HW, grn.C), act("h", grn.N, grn.HW, grn.C), act("a", grn.N, grn.HW, grn.C), f32("bias", grn.C), stat("gnorm", grn.N, grn.C), f32("gamma", grn.C)},
			func(b *Backend, t []kernels.Tensor) error {
				return b.GRNGELUBackward(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8], t[9], grn)
			}},
		bfCase{"gelu", []bfArg{act("y", r, k), act("x", r, k)},
			func(b *Backend, t []kernels.Tensor) error { return b.GELU(t[0], t[1], kernels.GELUErf) }},
		bfCase{"gelu tanh", []bfArg{act("y", r, k), act("x", r, k)},
			func(b *Backend, t []kernels.Tensor) error { return b.GELU(t[0], t[1], kernels.GELUTanh) }},
		bfCase{"gelu backward", []bfArg{act("dx", r, k), act("dy", r, k), act("x", r, k)},
			func(b *Backend, t []kernels.Tensor) error { return b.GELUBackward(t[0], t[1], t[2], kernels.GELUErf) }},
		bfCase{"avgpool", []bfArg{act("y", pool.N, pool.C), act("x", pool.N, pool.HW, pool.C)},
			func(b *Backend, t []kernels.Tensor) error { return b.AvgPool(t[0], t[1], pool) }},
		bfCase{"avgpool backward", []bfArg{act("dx", pool.N, pool.HW, pool.C), act("dy", pool.N, pool.C)},
			func(b *Backend, t []kernels.Tensor) error { return b.AvgPoolBackward(t[0], t[1], pool) }},
		bfCase{"add", []bfArg{act("y", r, k), act("a", r, k), act("b", r, k)},
			func(b *Backend, t []kernels.Tensor) error { return b.Add(t[0], t[1], t[2]) }},
		bfCase{"scale", []bfArg{act("y", r, k), act("x", r, k)},
			func(b *Backend, t []kernels.Tensor) error { return b.Scale(t[0], t[1], 1/3.0) }},
		bfCase{"scale-samples", []bfArg{act("y", n, h, c), act("x", n, h, c), f32("scale", n)},
			func(b *Backend, t []kernels.Tensor) error { return b.ScaleSamples(t[0], t[1], t[2]) }},
		bfCase{"channel-scale", []bfArg{act("y", r, k), act("x", r, k), f32("gamma", k)},
			func(b *Backend, t []kernels.Tensor) error { return b.ChannelScale(t[0], t[1], t[2]) }},
		bfCase{"channel-scale backward", []bfArg{act("dx", r, k), f32("dgamma", k), act("dy", r, k), act("x", r, k), f32("gamma", k)},
			func(b *Backend, t []kernels.Tensor) error {
				return b.ChannelScaleBackward(t[0], t[1], t[2], t[3], t[4])
			}},
		bfCase{"cross-entropy", []bfArg{f32("loss", loss.N), f32("prob", loss.N, loss.K), act("logits", loss.N, loss.K), stat("target", loss.N, loss.K)},
			func(b *Backend, t []kernels.Tensor) error { return b.CrossEntropy(t[0], t[1], t[2], t[3], loss) }},
		bfCase{"cross-entropy backward", []bfArg{act("dlogits", loss.N, loss.K), stat("prob", loss.N, loss.K), stat("target", loss.N, loss.K)},
			func(b *Backend, t []kernels.Tensor) error {
				return b.CrossEntropyBackward(t[0], t[1], t[2], 1/3.0, loss)
			}},
		bfCase{"mix-blend", []bfArg{act("x", 4, h, w, 3)},
			func(b *Backend, t []kernels.Tensor) error { return b.MixBlend(t[0], 0.3) }},
	)
	return cases
}

// TestBF16Emulation runs every case twice from the same bf16-representable
// inputs: with every tensor float32, and with the activations in bf16
// storage. Each bf16 output must equal the float32 output rounded to
// nearest even, bit for bit, and every float32 output (parameter
// gradients, statistics, loss) must equal its float32 run exactly:
// rounding happens at the bf16 stores and nowhere else.
func TestBF16Emulation(t *testing.T) {
	for _, tc := range bfCases() {
		t.Run(tc.name, func(t *testing.T) {
			rng := testutil.NewRand(7)
			init := make([][]float32, len(tc.args))
			for i, a := range tc.args {
				v := testutil.Rand(rng, a.shape.Len(), 2)
				for j := range v {
					if a.pos {
						v[j] = 0.25 + float32(math.Abs(float64(v[j])))
					}
					v[j] = bfloat16.Round(v[j])
				}
				init[i] = v
			}
			run := func(p kernels.Precision) []kernels.Tensor {
				b := New()
				must(t, b.SetPrecision(p))
				ts := make([]kernels.Tensor, len(tc.args))
				for i, a := range tc.args {
					dt := kernels.Float32
					if a.act && p == kernels.BF16 {
						dt = kernels.BFloat16
					}
					x, err := b.AllocDType(a.shape, dt)
					must(t, err)
					must(t, b.Upload(x, init[i]))
					ts[i] = x
				}
				must(t, tc.op(b, ts))
				return ts
			}
			ref, got := run(kernels.FP32), run(kernels.BF16)
			for i, a := range tc.args {
				want := ref[i].Data.(kernels.F32)
				g := host[float32](got[i])
				rounded := 0
				for j := range want {
					w := want[j]
					if a.act {
						w = bfloat16.Round(w)
					}
					if math.Float32bits(g[j]) != math.Float32bits(w) && !(w != w && g[j] != g[j]) {
						t.Fatalf("%s[%d] = %g (%#08x), want %g (%#08x)", a.name, j, g[j], math.Float32bits(g[j]), w, math.Float32bits(w))
					}
					if w != want[j] {
						rounded++
					}
				}
				if a.act && got[i].Data.DType() != kernels.BFloat16 {
					t.Fatalf("%s is %v, want bfloat16", a.name, got[i].Data.DType())
				}
				if a.act && rounded == 0 && !equal(init[i], want) {
					t.Errorf("%s: no value of the written output needed rounding; the case does not test the store", a.name)
				}
			}
		})
	}
}

func equal(a, b []float32) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestBF16Memory checks AllocDType, Upload (rounds), Download and Copy
// (rounds float32 into bf16, exact the other way) on bf16 tensors, and
// the errors for dtypes a backend does not store.
func TestBF16Memory(t *testing.T) {
	b := New()
	x, err := b.AllocDType(kernels.Shape{3}, kernels.BFloat16)
	must(t, err)
	if x.Data.DType() != kernels.BFloat16 || x.String() != "bfloat16[3]" {
		t.Fatalf("AllocDType bf16 gave %v", x)
	}
	src := []float32{1.00390625, 1.005859375, -3.3e38}
	must(t, b.Upload(x, src))
	got := make([]float32, 3)
	must(t, b.Download(got, x))
	want := []float32{1, 1.0078125, bfloat16.Round(-3.3e38)}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("upload/download [%d] = %g, want %g", i, got[i], want[i])
		}
	}
	f, _ := b.Alloc(kernels.Shape{3})
	must(t, b.Upload(f, src))
	y, _ := b.AllocDType(kernels.Shape{3}, kernels.BFloat16)
	must(t, b.Copy(y, f))
	must(t, b.Download(got, y))
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("copy f32->bf16 [%d] = %g, want %g", i, got[i], want[i])
		}
	}
	must(t, b.Copy(f, y))
	if f.Data.(kernels.F32)[1] != want[1] {
		t.Errorf("copy bf16->f32 = %v", f.Data)
	}
	if _, err := New64().AllocDType(kernels.Shape{3}, kernels.BFloat16); err == nil {
		t.Error("float64 backend allocated bf16")
	}
	if _, err := b.AllocDType(kernels.Shape{3}, kernels.Float64); err == nil {
		t.Error("float32 backend allocated float64")
	}
	if err := b.SetPrecision(kernels.TF32); err == nil {
		t.Error("cpu accepted tf32")
	}
	if err := New64().SetPrecision(kernels.BF16); err == nil {
		t.Error("float64 backend accepted bf16")
	}
	if err := b.SetPrecision("fp16"); err == nil {
		t.Error("cpu accepted fp16")
	}
}

// TestAdamWBF16 checks that AdamWBF16 updates p, m and v exactly as AdamW
// does and writes the bf16 rounding of every updated element into p16,
// leaving elements outside every group alone.
func TestAdamWBF16(t *testing.T) {
	rng := testutil.NewRand(3)
	const n = 37
	init := [][]float32{testutil.Rand(rng, n, 1), testutil.Rand(rng, n, 1), testutil.Rand(rng, n, 0.1), testutil.Rand(rng, n, 0.1)}
	for i := range init[3] {
		init[3][i] = float32(math.Abs(float64(init[3][i])))
	}
	groups := []kernels.AdamWGroup{{Offset: 0, Len: 20, LR: 1e-2, WeightDecay: 0.05}, {Offset: 25, Len: 12, LR: 3e-3}}
	h := kernels.AdamWHyper{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 3}
	b := New()
	mk := func() []kernels.Tensor {
		ts := make([]kernels.Tensor, 4)
		for i := range ts {
			ts[i], _ = b.Alloc(kernels.Shape{n})
			must(t, b.Upload(ts[i], init[i]))
		}
		return ts
	}
	ref, got := mk(), mk()
	must(t, b.AdamW(ref[0], ref[1], ref[2], ref[3], groups, h))
	p16, _ := b.AllocDType(kernels.Shape{n}, kernels.BFloat16)
	const sentinel = 7
	for i := range p16.Data.(kernels.BF16Host) {
		p16.Data.(kernels.BF16Host)[i] = sentinel
	}
	must(t, b.AdamWBF16(got[0], got[1], got[2], got[3], p16, groups, h))
	for i := range ref {
		if !equal(ref[i].Data.(kernels.F32), got[i].Data.(kernels.F32)) {
			t.Errorf("tensor %d differs from AdamW's", i)
		}
	}
	for i, v := range p16.Data.(kernels.BF16Host) {
		want := float32(sentinel)
		if i < 20 || i >= 25 {
			want = bfloat16.Round(ref[0].Data.(kernels.F32)[i])
		}
		if v != want {
			t.Errorf("p16[%d] = %g, want %g", i, v, want)
		}
	}
	if err := b.AdamWBF16(got[0], got[1], got[2], got[3], got[0], groups, h); err == nil {
		t.Error("AdamWBF16 accepted a float32 p16")
	}
}
