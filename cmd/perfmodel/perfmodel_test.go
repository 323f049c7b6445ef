package main

import (
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/bin"
	"github.com/nextconv/nextconv/kernels/gpu"
)

// docPath is the committed document, relative to this package.
const docPath = "../../kernels/PERFORMANCE.md"

// TestDocumentInSync regenerates the document in memory and fails when
// the committed kernels/PERFORMANCE.md differs, e.g. after a launcher's
// geometry or a kernel changed.
func TestDocumentInSync(t *testing.T) {
	want, err := generate()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatalf("%v (run go generate ./cmd/perfmodel)", err)
	}
	if string(got) == want {
		return
	}
	g, w := strings.Split(string(got), "\n"), strings.Split(want, "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			t.Fatalf("kernels/PERFORMANCE.md is stale (run go generate ./cmd/perfmodel); first difference at line %d:\ncommitted: %s\ngenerated: %s", i+1, gl, wl)
		}
	}
}

var (
	tracesOnce sync.Once
	tracesAll  []*trace
	tracesErr  error
)

// recorded returns the traces of every workload, recorded once per test
// binary.
func recorded(t *testing.T) []*trace {
	t.Helper()
	tracesOnce.Do(func() {
		ws, err := workloads()
		if err != nil {
			tracesErr = err
			return
		}
		for _, w := range ws {
			tr, err := record(w)
			if err != nil {
				tracesErr = err
				return
			}
			tracesAll = append(tracesAll, tr)
		}
	})
	if tracesErr != nil {
		t.Fatal(tracesErr)
	}
	return tracesAll
}

// macs sums m·n·k over the SGEMMs of a phase (and, for the backward, of
// one β).
func macs(tr *trace, phase string, beta float32) int64 {
	var s int64
	for _, it := range tr.Items {
		if it.Kernel == "sgemm" && it.Phase == phase && (phase == "forward" || it.launch.GEMM.Beta == beta) {
			g := it.launch.GEMM
			s += int64(g.M) * int64(g.N) * int64(g.K)
		}
	}
	return s
}

// TestGEMMMACs checks the recorded SGEMMs against models.Describe's MAC
// count of the convolutions and linears: equal in the forward (within 1%,
// in fact exactly), and in the backward one weight-gradient GEMM per
// forward GEMM plus one input-gradient GEMM for every layer but the stem,
// which has no input gradient.
func TestGEMMMACs(t *testing.T) {
	for _, tr := range recorded(t) {
		dense, _ := forwardMACs(tr.Rows)
		fwd := macs(tr, "forward", 0)
		if d := float64(fwd-dense) / float64(dense); d > 0.01 || d < -0.01 {
			t.Errorf("%v: forward SGEMM MACs %d, models.Describe %d (%.2f%% off)", tr.W, fwd, dense, 100*d)
		}
		var stem int64
		for _, r := range tr.Rows {
			if r.Name == "stem.0" {
				stem = r.MACs
			}
		}
		if wg := macs(tr, "backward", 1); wg != dense {
			t.Errorf("%v: weight-gradient SGEMM MACs %d, want %d", tr.W, wg, dense)
		}
		if ig := macs(tr, "backward", 0); ig != dense-stem {
			t.Errorf("%v: input-gradient SGEMM MACs %d, want %d − stem %d = %d", tr.W, ig, dense, stem, dense-stem)
		}
	}
}

// TestPublishedMACs cross-checks the models' forward MACs per image
// against the published figures docs/PERFORMANCE.md §4.2 quotes: 0.547 GMAC for
// V2-Atto, 4.47 GMAC for V2-Tiny at 224 px (timm, official README).
func TestPublishedMACs(t *testing.T) {
	want := map[string]float64{"convnextv2_atto": 0.547e9, "convnextv2_tiny": 4.47e9}
	for _, tr := range recorded(t) {
		w, ok := want[tr.W.Config.Name]
		if !ok || tr.W.Size != 224 {
			continue
		}
		dense, dw := forwardMACs(tr.Rows)
		got := float64(dense+dw) / float64(tr.W.Batch)
		if d := got/w - 1; d > 0.01 || d < -0.01 {
			t.Errorf("%v: %.4g MAC per image, published %.4g", tr.W, got, w)
		}
	}
}

// TestBlockTraffic checks the traffic of the block kernels against §4.3's
// per-block counts in units of A: depthwise forward and input gradient 2A
// (read once, write once), on the 4C hidden tensor the fused MLP passes
// (the block runs layers.FusedMLP) 8A forward (read a, write h, as the
// unfused GELU) and 16A backward (read dy, h and a, write da), and GRN's
// apply pass 8A (at 224 px: at 28 px the per-sample [N, C] statistics
// they also move are a few percent), residual add 3A, and at 224 px the two
// forward SGEMMs 10A (their weights are negligible there, not at 28 px).
// Σ A itself must match §4.2's 76.3M (Atto) and 274.6M (Tiny).
func TestBlockTraffic(t *testing.T) {
	sumA := map[string]float64{"convnextv2_atto": 76.3e6, "convnextv2_tiny": 274.6e6}
	for _, tr := range recorded(t) {
		if w, ok := sumA[tr.W.Config.Name]; ok && tr.W.Size == 224 {
			if got := float64(blockElements(tr.Rows)); got/w-1 > 0.001 || got/w-1 < -0.001 {
				t.Errorf("%v: Σ A = %.4g, docs/PERFORMANCE.md §4.2 has %.4g", tr.W, got, w)
			}
		}
		fwd, bwd := blockUnits(tr, "forward"), blockUnits(tr, "backward")
		for _, c := range []struct {
			what    string
			got     float64
			want    float64
			only224 bool
		}{
			{"dwconv_fwd_k7_f32", fwd["dwconv_fwd_k7_f32"], 2, false},
			{"dwconv_bwd_input_k7_f32", bwd["dwconv_bwd_input_k7_f32"], 2, false},
			{"mlp_fwd_f32", fwd["mlp_fwd_f32"], 8, true},
			{"mlp_bwd_f32", bwd["mlp_bwd_f32"], 16, true},
			{"grn_apply_f32", fwd["grn_apply_f32"], 8, true},
			{"add_f32 forward", fwd["add_f32"], 3, false},
		} {
			if c.only224 && tr.W.Size != 224 {
				continue
			}
			if d := c.got/c.want - 1; d > 0.02 || d < -0.02 {
				t.Errorf("%v: %s moves %.3gA per block, want %gA", tr.W, c.what, c.got, c.want)
			}
		}
		if g := fwd["sgemm (forward)"]; tr.W.Size == 224 && (g < 10 || g > 10.2) {
			t.Errorf("%v: forward SGEMMs move %.3gA per block, want 10A plus the weights", tr.W, g)
		}
	}
}

// TestOptimizerTraffic checks that AdamW updates every parameter once
// (28 bytes each: p, g, m, v read, p, m, v written) and that zeroing the
// gradients writes 4 bytes an arena element (padding included).
func TestOptimizerTraffic(t *testing.T) {
	for _, tr := range recorded(t) {
		var adamw, zero int64
		for _, it := range tr.Items {
			switch it.Phase {
			case "optimizer":
				adamw += it.Bytes
			case "zero-grad":
				zero += it.Bytes
			}
		}
		// AdamW's groups cover the parameters (no padding between those of
		// these models); zeroing covers the whole gradient arena, the
		// padding after the head's bias included.
		if p, a := int64(tr.Params), int64(tr.Arena); adamw != 28*p || zero != 4*a {
			t.Errorf("%v: AdamW %d B, zero-grad %d B; want %d and %d for %d parameters in %d arena elements", tr.W, adamw, zero, 28*p, 4*a, p, a)
		}
	}
}

// TestGeometry recomputes the launch geometry two kernels' comments in
// kernels/src document and requires the recorded launches to match:
// dwconv_fwd_k7_f32 has one thread per (4×4 output tile, channel) in
// 256-thread blocks, layernorm_fwd_f32 one warp per row in 256-thread
// blocks.
func TestGeometry(t *testing.T) {
	seen := 0
	for _, tr := range recorded(t) {
		for _, it := range tr.Items {
			a := args(it.Args)
			switch it.Kernel {
			case "dwconv_fwd_k7_f32": // y, x, wt, b, hasBias, N, H, W, C, S, OH, OW
				n, c, oh, ow := a.i(5), a.i(8), a.i(10), a.i(11)
				want := (n*((oh+3)/4)*((ow+3)/4)*c + 255) / 256
				if int64(it.Grid.X) != want || it.Block.X != 256 {
					t.Errorf("%v: %s grid %v block %v, want %d × 256", tr.W, it.Kernel, it.Grid, it.Block, want)
				}
				seen++
			case "layernorm_fwd_f32": // y, mean, rstd, x, w, b, rows, C, eps
				if want := (a.i(6) + 7) / 8; int64(it.Grid.X) != want || it.Block.X != 256 {
					t.Errorf("%v: %s grid %v block %v, want %d × 256", tr.W, it.Kernel, it.Grid, it.Block, want)
				}
				seen++
			}
		}
	}
	if seen == 0 {
		t.Fatal("no dwconv_fwd_k7_f32 or layernorm_fwd_f32 launch recorded")
	}
}

// TestAboveSection44 requires this backend's bound to lie above §4.4's
// fused fp32 schedules, which move fewer bytes by construction: a cost
// model that lost launches or bytes would undercut them.
func TestAboveSection44(t *testing.T) {
	for _, tr := range recorded(t) {
		if tr.W.Size != 224 {
			continue
		}
		s := total(tr.Items)
		var strict, tf32 float64
		switch tr.W.Config.Name {
		case "convnextv2_atto":
			strict, tf32 = section44[2].Atto, section44[1].Atto
		case "convnextv2_tiny":
			strict, tf32 = section44[2].Tiny, section44[1].Tiny
		default:
			continue
		}
		if s.T32*1e3 < strict || s.TF32*1e3 < tf32 {
			t.Errorf("%v: bound %.2f ms (FP32) / %.2f ms (TF32) below §4.4's fused %.2f / %.2f ms", tr.W, s.T32*1e3, s.TF32*1e3, strict, tf32)
		}
	}
}

// TestUnknownKernel checks that a kernel without a cost model, or with
// arguments the model cannot read, is an error and not a silent zero or a
// crash.
func TestUnknownKernel(t *testing.T) {
	if _, err := costOf(launch{Kernel: "fused_everything_f32"}, nil); err == nil {
		t.Error("no error for an unknown kernel")
	}
	if _, err := costOf(launch{Kernel: "add_f32", Args: []any{int32(1)}}, nil); err == nil {
		t.Error("no error for add_f32 with one argument")
	}
}

// TestBatchNormActivationCosts records BatchNorm (training and evaluation,
// forward and backward) and an activation on the CUDA backend over the
// recorder and checks that every launch has a cost model and that the
// streaming kernels' traffic is what kernels/src/batchnorm.cu and
// activation.cu document: 8 B per element for the apply and the activation
// forward, 12 B for the backward applies, 4 B per element for each
// statistics pass.
func TestBatchNormActivationCosts(t *testing.T) {
	r := newRecorder()
	be, err := gpu.New(r)
	if err != nil {
		t.Fatal(err)
	}
	const rows, c = 1000, 24
	alloc := func(s ...int) kernels.Tensor {
		x, err := be.Alloc(kernels.Shape(s))
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	x, y, dy := alloc(rows, c), alloc(rows, c), alloc(rows, c)
	w, b, mean, rstd, rm, rv := alloc(c), alloc(c), alloc(c), alloc(c), alloc(c), alloc(c)
	r.on = true
	for _, training := range []bool{true, false} {
		s := kernels.BatchNormShape{Rows: rows, C: c, Eps: 1e-5, Momentum: 0.1, Training: training}
		if err := be.BatchNorm(y, mean, rstd, x, w, b, rm, rv, s); err != nil {
			t.Fatal(err)
		}
		if err := be.BatchNormBackward(y, w, b, dy, x, mean, rstd, w, s); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []kernels.ActivationKind{kernels.ReLU, kernels.SiLU} {
		if err := be.Activation(y, x, k); err != nil {
			t.Fatal(err)
		}
		if err := be.ActivationBackward(y, dy, x, k); err != nil {
			t.Fatal(err)
		}
	}
	const n = rows * c
	want := map[string]int64{"bn_apply_f32": 8*n + 16*c, "bn_bwd_apply_f32": 12*n + 16*c, "act_fwd_f32": 8 * n, "act_bwd_f32": 12 * n}
	seen := map[string]bool{}
	for _, l := range r.launches {
		cost, err := costOf(l, r.uploads)
		if err != nil {
			t.Fatal(err)
		}
		if wb, ok := want[l.Kernel]; ok && cost.Bytes != wb {
			t.Errorf("%s: %d B, want %d", l.Kernel, cost.Bytes, wb)
		}
		if l.Kernel == "bn_stats_f32" && cost.Bytes < 4*n {
			t.Errorf("bn_stats_f32: %d B, want at least one read of x (%d B)", cost.Bytes, 4*n)
		}
		seen[l.Kernel] = true
	}
	for _, k := range []string{"bn_stats_f32", "bn_mean_f32", "bn_var_f32", "bn_eval_stats_f32", "bn_apply_f32",
		"bn_bwd_sums_f32", "bn_bwd_coef_f32", "bn_bwd_apply_f32", "act_fwd_f32", "act_bwd_f32"} {
		if !seen[k] {
			t.Errorf("%s was not launched", k)
		}
	}
}

// TestMaxPoolCosts records ResNet's stem pool (3×3, stride 2, pad 1) on the
// CUDA backend and checks the traffic kernels/src/maxpool.cu documents:
// the input read and the output written once forward; x and dy read and
// dx written once backward.
func TestMaxPoolCosts(t *testing.T) {
	r := newRecorder()
	be, err := gpu.New(r)
	if err != nil {
		t.Fatal(err)
	}
	s := kernels.MaxPoolShape{N: 2, H: 13, W: 11, C: 6, K: 3, Stride: 2, Pad: 1}
	x, err := be.Alloc(kernels.Shape{2, 13, 11, 6})
	if err != nil {
		t.Fatal(err)
	}
	y, err := be.Alloc(kernels.Shape{2, 7, 6, 6})
	if err != nil {
		t.Fatal(err)
	}
	r.on = true
	if err := be.MaxPool(y, x, s); err != nil {
		t.Fatal(err)
	}
	if err := be.MaxPoolBackward(x, y, x, s); err != nil {
		t.Fatal(err)
	}
	const in, out = 2 * 13 * 11 * 6, 2 * 7 * 6 * 6
	want := map[string]int64{"maxpool_fwd_f32": 4 * (in + out), "maxpool_bwd_f32": 4 * (2*in + out)}
	for _, l := range r.launches {
		cost, err := costOf(l, r.uploads)
		if err != nil {
			t.Fatal(err)
		}
		if cost.Bytes != want[l.Kernel] {
			t.Errorf("%s: %d B, want %d", l.Kernel, cost.Bytes, want[l.Kernel])
		}
		delete(want, l.Kernel)
	}
	for k := range want {
		t.Errorf("%s was not launched", k)
	}
}

// TestBF16Costs prices every recorded float32 launch whose kernel has a
// _bf16 instantiation in kernels/bin as that instantiation (the same
// arguments): the cost model must know it, count the same FLOPs and fewer
// bytes (the activations at 2 B), and the step must reach the bf16 kernels
// of the V2 block's hot path.
func TestBF16Costs(t *testing.T) {
	twins := map[string]bool{}
	for _, k := range bin.Kernels {
		if base, ok := strings.CutSuffix(k, "_bf16"); ok {
			twins[base+"_f32"] = true
		}
	}
	seen := map[string]bool{}
	for _, tr := range recorded(t) {
		for _, it := range tr.Items {
			if !twins[it.Kernel] || it.Kernel == "adamw_f32" { // adamw_bf16 takes one more argument (the bf16 copy); the recorded bf16 steps price it
				continue
			}
			l := it.launch
			l.Kernel = strings.TrimSuffix(l.Kernel, "_f32") + "_bf16"
			c, err := costOf(l, nil)
			switch {
			case err != nil:
				t.Fatalf("%s: %v", l.Kernel, err)
			case c.FLOPs != it.FLOPs || c.Bytes >= it.Bytes || 2*c.Bytes < it.Bytes:
				t.Fatalf("%s: %d FLOPs, %d B; %s: %d FLOPs, %d B (want the same FLOPs, between half and all the bytes)",
					l.Kernel, c.FLOPs, c.Bytes, it.Kernel, it.FLOPs, it.Bytes)
			}
			seen[l.Kernel] = true
		}
	}
	for _, k := range []string{"mlp_fwd_bf16", "mlp_bwd_bf16", "grn_apply_bf16", "grn_bwd_sums_bf16", "layernorm_fwd_bf16",
		"layernorm_bwd_bf16", "add_bf16", "avgpool_fwd_bf16", "avgpool_bwd_bf16"} {
		if !seen[k] {
			t.Errorf("the step has no launch of %s's float32 twin", k)
		}
	}
}
