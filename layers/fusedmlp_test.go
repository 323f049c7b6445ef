package layers

import (
	"math"
	"testing"

	"github.com/nextconv/nextconv/internal/philox"
	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
)

// blockRun is the output, input gradient and parameter gradients of one
// forward and backward of a block, downloaded as float32.
type blockRun struct {
	y, dx []float32
	grads [][]float32
}

// runBlockPath zeroes b's gradients, runs r (the block itself or one of its
// residual paths) forward on x and backward on dy and downloads the results.
func runBlockPath(t *testing.T, be kernels.Backend, b *Block, r Layer, x, dy kernels.Tensor) blockRun {
	t.Helper()
	get := func(v kernels.Tensor) []float32 {
		out := make([]float32, v.Len())
		if err := be.Download(out, v); err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, p := range b.Params() {
		if err := be.Upload(p.Grad, make([]float32, p.Grad.Len())); err != nil {
			t.Fatal(err)
		}
	}
	y, err := r.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	run := blockRun{y: get(y)}
	dx, err := r.Backward(dy)
	if err != nil {
		t.Fatal(err)
	}
	run.dx = get(dx)
	for _, p := range b.Params() {
		run.grads = append(run.grads, get(p.Grad))
	}
	return run
}

// TestFusedBlock runs a ConvNeXt V2 block with an odd hidden width (13
// channels, H·W = 15) through the fused MLP (Block.Forward on a backend
// with kernels.MLPOps) and through the separate ops (its Residual: FC1 with
// its bias, GELU, GRN) from the same weights, input and drop-path mask, and
// requires the output, dx and every parameter gradient to agree: to float64
// rounding, to float32 rounding, and in the CPU bf16 emulation an identical
// output (FC1's product adds the bias before its one rounding on both
// paths, as autocast does) and gradients within the difference one
// rounding makes (the fused backward does not store GRN's dh in bf16), a
// relative L2 error of at most 1e-2 per tensor, the bf16 step's tolerance.
func TestFusedBlock(t *testing.T) {
	for _, tc := range []struct {
		name       string
		be         func() *cpu.Backend
		rtol, atol float64 // elementwise; 0: relative L2 error ≤ 1e-2
	}{
		{"float64", cpu.New64, 1e-12, 1e-14},
		{"float32", cpu.New, 2e-5, 1e-6},
		{"bf16", func() *cpu.Backend {
			be := cpu.New()
			if err := be.SetPrecision(kernels.BF16); err != nil {
				t.Fatal(err)
			}
			return be
		}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := tc.be()
			rng := testutil.NewRand(3)
			cfg := V2Block(5, 0.25)
			cfg.HiddenDim = 13
			b := must[*Block](t)(NewBlock(be, "stages.0.blocks.1", cfg, rng, philox.New(4)))
			if b.Fused == nil {
				t.Fatal("a V2 block on the CPU backend has no fused MLP")
			}
			b.DropPath.FixedMask = []float32{0, 1 / 0.75}
			arena := must[*Arena](t)(NewArena(be, b.Params()))
			for _, p := range arena.Params { // GRN's zero gamma and beta included
				if err := be.Upload(p.Value, testutil.Rand(rng, p.Value.Len(), 0.5)); err != nil {
					t.Fatal(err)
				}
			}
			if err := arena.SyncLow(); err != nil {
				t.Fatal(err)
			}
			xs := kernels.Shape{2, 3, 5, 5}
			x, dy := mustAlloc(t, be, xs), mustAlloc(t, be, xs)
			if err := be.Upload(x, testutil.Rand(rng, xs.Len(), 1)); err != nil {
				t.Fatal(err)
			}
			if err := be.Upload(dy, testutil.Rand(rng, xs.Len(), 1)); err != nil {
				t.Fatal(err)
			}
			fused := runBlockPath(t, be, b, b, x, dy)
			if b.last != b.fused {
				t.Fatal("Block.Forward did not take the fused path")
			}
			sep := runBlockPath(t, be, b, b.Residual, x, dy)
			check := func(what string, got, want []float32) {
				if tc.rtol > 0 {
					testutil.AllClose(t, what, got, want, tc.rtol, tc.atol)
				} else if e := relL2(got, want); !(e <= 1e-2) {
					t.Errorf("%s: relative L2 error %.3g, want ≤ 1e-2", what, e)
				}
			}
			if tc.rtol == 0 {
				testutil.AllClose(t, "y", fused.y, sep.y, 0, 0)
			}
			check("y", fused.y, sep.y)
			check("dx", fused.dx, sep.dx)
			for i, p := range b.Params() {
				check("d"+p.Name, fused.grads[i], sep.grads[i])
			}
		})
	}
}

// relL2 returns ‖got − want‖₂ / ‖want‖₂.
func relL2(got, want []float32) float64 {
	var d, w float64
	for i, v := range want {
		e := float64(got[i]) - float64(v)
		d += e * e
		w += float64(v) * float64(v)
	}
	return math.Sqrt(d / w)
}

// noMLP hides the CPU backend's kernels.MLPOps.
type noMLP struct{ kernels.Backend }

// tap is an identity layer, as a pruning criterion inserts one.
type tap struct{ Layer }

func (tap) Forward(x kernels.Tensor) (kernels.Tensor, error)  { return x, nil }
func (tap) Backward(d kernels.Tensor) (kernels.Tensor, error) { return d, nil }

// TestFusedBlockFallback checks which blocks run the separate ops: V1 (no
// GRN), tanh GELU, SE and ECA, a backend without kernels.MLPOps, and a V2
// block whose body was rewritten after NewBlock (as fake quantization or a
// pruning tap rewrites it) — the latter still computing the right values.
func TestFusedBlockFallback(t *testing.T) {
	be := cpu.New64()
	tanh := V2Block(4, 0)
	tanh.GELU = kernels.GELUTanh
	se, eca := V2Block(4, 0), V2Block(4, 0)
	se.SE, eca.ECA = 2, true
	for _, tc := range []struct {
		name string
		be   kernels.Backend
		cfg  BlockConfig
	}{
		{"v1", be, V1Block(4, 0)}, {"tanh", be, tanh}, {"se", be, se}, {"eca", be, eca},
		{"no_mlp_ops", noMLP{be}, V2Block(4, 0)},
	} {
		if b := must[*Block](t)(NewBlock(tc.be, tc.name, tc.cfg, nil, nil)); b.Fused != nil {
			t.Errorf("%s: block has a fused MLP, want the separate ops", tc.name)
		}
	}

	rng := testutil.NewRand(8)
	b := must[*Block](t)(NewBlock(be, "b", V2Block(4, 0), rng, nil))
	for _, p := range b.Params() {
		copy(p.Value.Host64(), testutil.Rand64(rng, p.Value.Len(), 0.5))
	}
	x := mustAlloc(t, be, kernels.Shape{1, 2, 3, 4})
	copy(x.Host64(), testutil.Rand64(rng, x.Len(), 1))
	want := append([]float64(nil), must[kernels.Tensor](t)(b.Forward(x)).Host64()...)
	body := b.Body.(*Sequential)
	body.Layers[3] = tap{body.Layers[3]} // the GELU wrapped: FC1 → tap(GELU) → GRN computes FC1 → GRN
	got := must[kernels.Tensor](t)(b.Forward(x)).Host64()
	if b.last != b.Residual {
		t.Fatal("a rewritten body ran the fused path")
	}
	body.Layers[3] = b.Act
	if b.Forward(x); b.last != b.fused {
		t.Fatal("the restored body did not run the fused path")
	}
	// Without its GELU the block computes something else: the rewrite ran.
	if testutil.Compare(got, want, 1e-6, 1e-9) == nil {
		t.Error("the block with its GELU replaced computed the fused block's output")
	}
}
