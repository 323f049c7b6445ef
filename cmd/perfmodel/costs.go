package main

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/nextconv/nextconv/cuda"
)

// cost is what one launch moves and computes under the traffic model: each
// kernel reads its inputs from HBM and writes its outputs to HBM exactly
// once (re-reads served by L1/L2 are not counted; notes says where a
// kernel relies on that), float32 elements.
type cost struct {
	Bytes int64  // DRAM bytes read + written
	FLOPs int64  // floating-point operations (an FMA is 2)
	Shape string // the launch's problem size, for the tables
	GEMM  bool   // runs on cuBLAS (FP32 or TF32 peak), else on FP32 FMA units
	// Peak is the FLOP rate of a cuBLASLt product's tensor-core path (TF32
	// or BF16, hardware.go); 0 for everything else.
	Peak float64
}

// costOf returns the cost of l. uploads holds the small host-to-device
// copies the backend made (the optimizer's chunk table). It returns an
// error for a kernel the model does not know, so that a new kernel in the
// step fails the generator instead of being silently left out.
func costOf(l launch, uploads map[cuda.DevicePtr][]byte) (c cost, err error) {
	defer func() {
		// A launcher whose arguments no longer match the positions read
		// here (a changed signature) is reported, not crashed on.
		if r := recover(); r != nil {
			c, err = cost{}, fmt.Errorf("perfmodel: kernel %s with %d arguments: %v (update cmd/perfmodel/costs.go)", l.Kernel, len(l.Args), r)
		}
	}()
	a := args(l.Args)
	switch name := l.Kernel; name {
	case "sgemm":
		g := l.GEMM
		m, n, k := int64(g.M), int64(g.N), int64(g.K)
		c := m * n
		if g.Beta != 0 {
			c *= 2 // C is read and written
		}
		return cost{Bytes: 4 * (m*k + k*n + c), FLOPs: 2 * m * n * k, GEMM: true,
			Shape: fmt.Sprintf("%d×%d×%d β=%g", g.M, g.N, g.K, g.Beta)}, nil
	case "matmul":
		return matmulCost(l.GEMM), nil
	case "memset":
		return cost{Bytes: int64(l.Size), Shape: mb(l.Size)}, nil
	case "memcpy":
		return cost{Bytes: 2 * int64(l.Size), Shape: mb(l.Size)}, nil

	case "bias_add_f32": // y, b, rows, cols
		rows, cols := a.i(2), a.i(3)
		return cost{Bytes: 4 * (2*rows*cols + cols), FLOPs: rows * cols, Shape: rc(rows, cols)}, nil
	case "column_sum_f32": // out, in, rows, cols, ld, rowsPerChunk, accumulate
		rows, cols, chunks := a.i(2), a.i(3), int64(l.Grid.Y)
		out := chunks * cols
		if a.i(6) != 0 {
			out *= 2
		}
		return cost{Bytes: 4 * (rows*cols + out), FLOPs: rows * cols,
			Shape: fmt.Sprintf("%s → %s", rc(rows, cols), plural(chunks, "row"))}, nil
	case "im2col_f32": // cols, x, H, W, CIn, K, S, P, OH, OW, r0, pixels
		cin, k, s, pix := a.i(4), a.i(5), a.i(6), a.i(11)
		side := min(k, s) // input pixels a patch adds that no earlier patch read
		return cost{Bytes: 4 * (pix*cin*k*k + pix*cin*side*side),
			Shape: fmt.Sprintf("%d px × %d, K%d S%d", pix, cin*k*k, k, s)}, nil
	case "col2im_f32": // dx, dcols, H, W, CIn, K, S, P, OH, OW, r0, r1, q0, count, accumulate
		cin, k, ow, r0, r1, count := a.i(4), a.i(5), a.i(9), a.i(10), a.i(11), a.i(13)
		read := (r1 - r0) * ow * cin * k * k
		dx := count
		if a.i(14) != 0 {
			dx *= 2
		}
		return cost{Bytes: 4 * (read + dx), FLOPs: read,
			Shape: fmt.Sprintf("%d px × %d, K%d", (r1-r0)*ow, cin*k*k, k)}, nil

	case "dwconv_wt_f32": // wt, w, C, KK
		c, kk := a.i(2), a.i(3)
		return cost{Bytes: 8 * c * kk, Shape: fmt.Sprintf("C%d K²=%d", c, kk)}, nil
	case "dwconv_fwd_f32", "dwconv_bwd_input_f32", "dwconv_bwd_weight_f32",
		"dwconv_fwd_bf16", "dwconv_bwd_input_bf16", "dwconv_bwd_weight_bf16":
		return dwCost(name, a, l.Grid, 0)
	}
	if k, ok := tiledK(l.Kernel); ok {
		return dwCost(l.Kernel, a, l.Grid, k)
	}
	return streamCost(l, a, uploads)
}

// tiledK returns K of a tiled depthwise kernel name (dwconv_*_k7_f32,
// dwconv_*_k7_bf16 or the vector dwconv_*_k7_vec_bf16).
func tiledK(name string) (int64, bool) {
	if !strings.HasPrefix(name, "dwconv_") {
		return 0, false
	}
	name = strings.Replace(name, "_vec_", "_", 1)
	i, j := strings.LastIndex(name, "_k"), strings.LastIndex(name, "_")
	if i < 0 || j <= i || (name[j:] != "_f32" && name[j:] != "_bf16") {
		return 0, false
	}
	k, err := strconv.Atoi(name[i+2 : j])
	return int64(k), err == nil
}

// dwCost is the depthwise family. k is K for the tiled kernels (0 for the
// generic ones, which pass K as an argument). Taps falling in the padding
// are counted as FLOPs, the paper's MAC convention. The _bf16 kernels move
// 2 bytes per activation element (x, y, dx, dy); weights, bias and partial
// sums stay 4. The _vec_bf16 kernels are costed as their scalar twins: a
// block stages its window once with 16-byte loads, and the halos that
// neighbouring blocks (or rows of a weight-gradient block) share come from
// L2, as the scalar kernels' overlapping windows come from L1 and L2, so
// DRAM still sees each activation about once.
func dwCost(name string, a args, grid cuda.Dim3, k int64) (cost, error) {
	act := actSize(name)
	var n, h, w, c, s, oh, ow int64
	switch {
	case strings.HasPrefix(name, "dwconv_fwd"): // y, x, wt, b, hasBias, N, H, W, C, [K,] S, OH, OW
		n, h, w, c = a.i(5), a.i(6), a.i(7), a.i(8)
		rest := 9
		if k == 0 {
			k, rest = a.i(9), 10
		}
		s, oh, ow = a.i(rest), a.i(rest+1), a.i(rest+2)
	default: // dx|part, dy, wt|x, N, H, W, C, [K,] S, OH, OW, ...
		n, h, w, c = a.i(3), a.i(4), a.i(5), a.i(6)
		rest := 7
		if k == 0 {
			k, rest = a.i(7), 8
		}
		s, oh, ow = a.i(rest), a.i(rest+1), a.i(rest+2)
	}
	x, y, taps := n*h*w*c, n*oh*ow*c, k*k
	shape := fmt.Sprintf("%d×%d×%d×%d K%d S%d", n, h, w, c, k, s)
	switch {
	case strings.HasPrefix(name, "dwconv_fwd"):
		return cost{Bytes: act*(x+y) + 4*(taps*c+c), FLOPs: 2*taps*y + y, Shape: shape}, nil
	case strings.HasPrefix(name, "dwconv_bwd_input"):
		return cost{Bytes: act*(y+x) + 4*taps*c, FLOPs: 2 * taps * y, Shape: shape}, nil
	default: // weight gradient: dy and x in, per-chunk partials out
		part := int64(grid.Y) * c * (taps + 1)
		return cost{Bytes: act*(y+x) + 4*part, FLOPs: 2*taps*y + y, Shape: fmt.Sprintf("%s → %s", shape, plural(int64(grid.Y), "chunk"))}, nil
	}
}

// streamCost covers the normalisation, activation, elementwise, loss and
// optimizer kernels.
//
// A kernel with a _bf16 instantiation is costed under both names: its
// activation tensors at act bytes an element (actSize), everything else
// (statistics, parameters, partial sums) at 4.
func streamCost(l launch, a args, uploads map[cuda.DevicePtr][]byte) (cost, error) {
	act := actSize(l.Kernel)
	switch l.Kernel {
	case "layernorm_fwd_f32", "layernorm_gelu_fwd_f32", "layernorm_fwd_bf16", "layernorm_gelu_fwd_bf16": // y, mean, rstd, x, w, b, rows, C, eps[, approx]
		rows, c := a.i(6), a.i(7)
		flops := int64(7)
		if strings.HasPrefix(l.Kernel, "layernorm_gelu") {
			flops += 20
		}
		return cost{Bytes: 2*act*rows*c + 4*(2*rows+2*c), FLOPs: flops * rows * c, Shape: rc(rows, c)}, nil
	case "layernorm_bwd_f32", "layernorm_gelu_bwd_f32", "layernorm_bwd_bf16", "layernorm_gelu_bwd_bf16": // dx, part, slabs, dy, x, mean, rstd, w, [b,] rows, C, rowsPerBlock
		i, flops := 8, int64(15)
		if strings.HasPrefix(l.Kernel, "layernorm_gelu") {
			i, flops = 9, 45
		}
		rows, c, blocks := a.i(i), a.i(i+1), int64(l.Grid.X)
		bytes := 3*act*rows*c + 4*(2*rows+2*c+blocks*2*c)
		if a.ptr(2) != 0 { // per-warp slabs in global scratch: written and read back
			bytes += 2 * 4 * blocks * int64(l.Block.X/32) * 2 * c
		}
		return cost{Bytes: bytes, FLOPs: flops * rows * c, Shape: fmt.Sprintf("%s → %s", rc(rows, c), plural(blocks, "partial row"))}, nil
	case "layernorm_bwd_reduce_f32": // dw, db, part, T, C
		t, c := a.i(3), a.i(4)
		return cost{Bytes: 4 * (2*t*c + 4*c), FLOPs: 2 * t * c, Shape: fmt.Sprintf("%d × 2·%d", t, c)}, nil

	case "gelu_fwd_f32", "gelu_fwd_bf16": // y, x, n, approx
		n := a.i(2)
		return cost{Bytes: 2 * act * n, FLOPs: 20 * n, Shape: elems(n)}, nil
	case "gelu_bwd_f32", "gelu_bwd_bf16": // dx, dy, x, n, approx
		n := a.i(3)
		return cost{Bytes: 3 * act * n, FLOPs: 30 * n, Shape: elems(n)}, nil
	case "act_fwd_f32", "act_bwd_f32": // y|dx, [dy,] x, n, kind (2 SiLU and 5 Sigmoid take an exponential)
		i, bytes := 2, int64(8)
		if l.Kernel == "act_bwd_f32" {
			i, bytes = 3, 12
		}
		n, flops := a.i(i), int64(3)
		if k := a.i(i + 1); k == 2 || k == 5 {
			flops = 20
		}
		return cost{Bytes: bytes * n, FLOPs: flops * n, Shape: elems(n)}, nil

	case "bn_stats_f32": // part, x, mean, rows, C, chunk, centered; grid (C/32, chunks)
		rows, c, chunks := a.i(3), a.i(4), int64(l.Grid.Y)
		return cost{Bytes: 4 * (rows*c + chunks*c + c), FLOPs: (1 + 2*a.i(6)) * rows * c, Shape: rc(rows, c)}, nil
	case "bn_mean_f32": // mean, part, chunks, rows, C
		chunks, c := a.i(2), a.i(4)
		return cost{Bytes: 4 * (chunks*c + c), FLOPs: chunks * c, Shape: fmt.Sprintf("C%d, %s", c, plural(chunks, "chunk"))}, nil
	case "bn_var_f32": // rstd, run_mean, run_var, mean, part, chunks, rows, C, eps, momentum
		chunks, c := a.i(5), a.i(7)
		return cost{Bytes: 4 * (chunks*c + 6*c), FLOPs: chunks*c + 12*c, Shape: fmt.Sprintf("C%d, %s", c, plural(chunks, "chunk"))}, nil
	case "bn_eval_stats_f32": // mean, rstd, run_mean, run_var, C, eps
		c := a.i(4)
		return cost{Bytes: 16 * c, FLOPs: 3 * c, Shape: fmt.Sprintf("C%d", c)}, nil
	case "bn_apply_f32": // y, x, mean, rstd, w, b, n, C
		n, c := a.i(6), a.i(7)
		return cost{Bytes: 8*n + 16*c, FLOPs: 3 * n, Shape: rc(n/c, c)}, nil
	case "bn_bwd_sums_f32": // part, dy, x, mean, rows, C, chunk; grid (C/32, chunks)
		rows, c, chunks := a.i(4), a.i(5), int64(l.Grid.Y)
		return cost{Bytes: 4 * (2*rows*c + 2*chunks*c + c), FLOPs: 3 * rows * c, Shape: rc(rows, c)}, nil
	case "bn_bwd_coef_f32": // coef, dw, db, part, rstd, w, chunks, rows, C, training
		chunks, c := a.i(6), a.i(8)
		return cost{Bytes: 4 * (2*chunks*c + 9*c), FLOPs: 2*chunks*c + 8*c, Shape: fmt.Sprintf("C%d, %s", c, plural(chunks, "chunk"))}, nil
	case "bn_bwd_apply_f32": // dx, dy, x, mean, coef, n, C
		n, c := a.i(5), a.i(6)
		return cost{Bytes: 12*n + 16*c, FLOPs: 5 * n, Shape: rc(n/c, c)}, nil

	case "grn_sumsq_f32", "grn_sumsq_bf16", "grn_sumsq_v8_bf16": // part, x, HW, C, chunk; grid (C/32 or C/64, chunks, N)
		n, hw, c, chunks := int64(l.Grid.Z), a.i(2), a.i(3), int64(l.Grid.Y)
		return cost{Bytes: act*n*hw*c + 4*n*chunks*c, FLOPs: 2 * n * hw * c, Shape: grnShape(n, hw, c)}, nil
	case "grn_coef_f32": // coef, gnorm, part, gamma, chunks, C, eps; grid N
		n, chunks, c := int64(l.Grid.X), a.i(4), a.i(5)
		return cost{Bytes: 4 * n * c * (chunks + 3), FLOPs: n * c * (chunks + 4), Shape: fmt.Sprintf("N%d C%d, %s", n, c, plural(chunks, "chunk"))}, nil
	case "grn_apply_f32", "grn_apply_bf16": // y, x, coef, beta, HW, C; grid (HW·C/256 or HW·C/8/256, N)
		n, hw, c := int64(l.Grid.Y), a.i(4), a.i(5)
		return cost{Bytes: 2*act*n*hw*c + 4*(n*c+c), FLOPs: 2 * n * hw * c, Shape: grnShape(n, hw, c)}, nil
	case "grn_bwd_sums_f32", "grn_bwd_sums_bf16", "grn_bwd_sums_v8_bf16": // part, dy, x, HW, C, chunk
		n, hw, c, chunks := int64(l.Grid.Z), a.i(3), a.i(4), int64(l.Grid.Y)
		return cost{Bytes: 2*act*n*hw*c + 8*n*chunks*c, FLOPs: 3 * n * hw * c, Shape: grnShape(n, hw, c)}, nil
	case "grn_bwd_coef_f32": // coef, share, part, gnorm, gamma, chunks, C, eps
		n, chunks, c := int64(l.Grid.X), a.i(5), a.i(6)
		return cost{Bytes: 8 * n * c * (chunks + 4), FLOPs: n * c * (2*chunks + 10), Shape: fmt.Sprintf("N%d C%d, %s", n, c, plural(chunks, "chunk"))}, nil
	case "grn_bwd_apply_f32", "grn_bwd_apply_bf16": // dx, dy, x, coef, HW, C
		n, hw, c := int64(l.Grid.Y), a.i(4), a.i(5)
		return cost{Bytes: 3*act*n*hw*c + 8*n*c, FLOPs: 3 * n * hw * c, Shape: grnShape(n, hw, c)}, nil
	case "mlp_fwd_f32", "mlp_fwd_bf16", "mlp_fwd_v8_bf16": // h, part, a, bias, HW, C, chunk; grid (C/32 or C/64, chunks, N)
		n, hw, c, chunks := int64(l.Grid.Z), a.i(4), a.i(5), int64(l.Grid.Y)
		return cost{Bytes: 2*act*n*hw*c + 4*(n*chunks*c+c), FLOPs: 22 * n * hw * c, Shape: grnShape(n, hw, c)}, nil
	case "mlp_sum_chunks_f32": // sumsq, part, chunks, C; grid (C/256, N)
		n, chunks, c := int64(l.Grid.Y), a.i(2), a.i(3)
		return cost{Bytes: 4 * n * c * (chunks + 1), FLOPs: n * c * chunks, Shape: fmt.Sprintf("N%d C%d, %s", n, c, plural(chunks, "chunk"))}, nil
	case "mlp_bwd_f32", "mlp_bwd_bf16", "mlp_bwd_v8_bf16": // da, bpart, dy, h, a, bias, coef, HW, C, chunk
		n, hw, c, chunks := int64(l.Grid.Z), a.i(7), a.i(8), int64(l.Grid.Y)
		return cost{Bytes: 4*act*n*hw*c + 4*(n*chunks*c+2*n*c+c), FLOPs: 35 * n * hw * c, Shape: grnShape(n, hw, c)}, nil
	case "mlp_bwd_params_f32": // dgamma, dbeta, dbias, share, bpart, N, parts, C
		n, parts, c := a.i(5), a.i(6), a.i(7)
		return cost{Bytes: 4 * c * (2*n + parts + 6), FLOPs: c * (2*n + parts), Shape: fmt.Sprintf("N%d C%d, %s", n, c, plural(parts, "part"))}, nil
	case "grn_bwd_params_f32": // dgamma, dbeta, share, N, C
		n, c := a.i(3), a.i(4)
		return cost{Bytes: 4 * (2*n*c + 4*c), FLOPs: 2 * n * c, Shape: fmt.Sprintf("N%d C%d", n, c)}, nil

	case "add_f32", "add_bf16": // y, a, b, n
		n := a.i(3)
		return cost{Bytes: 3 * act * n, FLOPs: n, Shape: elems(n)}, nil
	case "convert_f32_bf16", "convert_bf16_f32": // y, x, n
		n := a.i(2)
		return cost{Bytes: 6 * n, Shape: elems(n)}, nil
	case "scale_f32": // y, x, alpha, n
		n := a.i(3)
		return cost{Bytes: 8 * n, FLOPs: n, Shape: elems(n)}, nil
	case "scale_samples_f32", "scale_samples_bf16": // y, x, scale, per, samples
		n := a.i(3) * a.i(4)
		return cost{Bytes: 2*act*n + 4*a.i(4), FLOPs: n, Shape: elems(n)}, nil
	case "channel_scale_f32", "channel_scale_bf16": // y, x, gamma, n, C
		n := a.i(3)
		return cost{Bytes: 2*act*n + 4*a.i(4), FLOPs: n, Shape: elems(n)}, nil
	case "channel_scale_bwd_f32": // dx, partial, dy, x, gamma, rows, C, width, perChunk
		rows, c := a.i(5), a.i(6)
		return cost{Bytes: 12*rows*c + 8*int64(l.Grid.Y)*c, FLOPs: 3 * rows * c, Shape: rc(rows, c)}, nil
	case "channel_scale_dgamma_f32": // dgamma, partial, chunks, C
		chunks, c := a.i(2), a.i(3)
		return cost{Bytes: 8*chunks*c + 8*c, FLOPs: chunks * c, Shape: fmt.Sprintf("%d × %d", chunks, c)}, nil

	case "avgpool_fwd_f32", "avgpool_bwd_f32", "avgpool_fwd_bf16", "avgpool_bwd_bf16": // y|dx, x|dy, N, HW, C
		n, hw, c := a.i(2), a.i(3), a.i(4)
		return cost{Bytes: act * (n*hw*c + n*c), FLOPs: n * hw * c, Shape: grnShape(n, hw, c)}, nil
	case "maxpool_fwd_f32", "maxpool_bwd_f32": // y|dx, x|dy, [x,] N, H, W, C, K, S, P, OH, OW
		i, bwd := 2, l.Kernel == "maxpool_bwd_f32"
		if bwd {
			i = 3
		}
		n, h, w, c, k := a.i(i), a.i(i+1), a.i(i+2), a.i(i+3), a.i(i+4)
		in, out := n*h*w*c, n*a.i(i+7)*a.i(i+8)*c
		shape := fmt.Sprintf("%d×%d×%d×%d K%d S%d", n, h, w, c, k, a.i(i+5))
		if bwd { // x and dy read, dx written; each window's winner recomputed by each of its K² inputs
			return cost{Bytes: 4 * (2*in + out), FLOPs: out * k * k * k * k, Shape: shape}, nil
		}
		return cost{Bytes: 4 * (in + out), FLOPs: out * k * k, Shape: shape}, nil
	case "cross_entropy_fwd_f32": // loss, prob, logits, target, K; grid N
		n, k := int64(l.Grid.X), a.i(4)
		return cost{Bytes: 4 * (3*n*k + n), FLOPs: 6 * n * k, Shape: rc(n, k)}, nil
	case "cross_entropy_bwd_f32": // dlogits, prob, target, scale, n
		n := a.i(4)
		return cost{Bytes: 12 * n, FLOPs: 2 * n, Shape: elems(n)}, nil

	case "mask_fill_f32", "mask_fill_bwd_f32": // y|dx, x|dy, mask, [fill,] n, C, GH, GW, S
		i := 4
		if l.Kernel == "mask_fill_bwd_f32" {
			i = 3
		}
		n := a.i(i)
		return cost{Bytes: 8 * n, FLOPs: n, Shape: elems(n)}, nil
	case "mask_fill_dfill_f32": // dfill, dy, mask, pixels, C, GH, GW, S; grid C
		pixels, c := a.i(3), a.i(4)
		return cost{Bytes: 4 * (pixels*c + pixels*c/32 + c), FLOPs: pixels * c, Shape: rc(pixels, c)}, nil
	case "patch_loss_f32": // loss, target, pred, img, GH, GW, P, C, norm_pix, eps; grid patches
		q, pl := int64(l.Grid.X), a.i(6)*a.i(6)*a.i(7)
		return cost{Bytes: 4 * (3*q*pl + q), FLOPs: 8 * q * pl, Shape: rc(q, pl)}, nil
	case "patch_loss_bwd_f32": // dpred, pred, target, mask, scale, n, PL
		n := a.i(5)
		return cost{Bytes: 12 * n, FLOPs: 4 * n, Shape: elems(n)}, nil

	case "adamw_f32", "sgd_f32": // p, g, m, v, table, ... | p, g, buf, table, ...
		tableArg, per, flops := 4, int64(28), int64(12)
		if l.Kernel == "sgd_f32" {
			tableArg, per, flops = 3, 12, 4
			if a.ptr(2) != 0 {
				per = 20
			}
		}
		n, err := chunkElements(uploads[a.ptr(tableArg)], l.Grid.X)
		if err != nil {
			return cost{}, fmt.Errorf("%s: %w", l.Kernel, err)
		}
		return cost{Bytes: per * n, FLOPs: flops * n, Shape: fmt.Sprintf("%s params in %d chunks", millions(n), l.Grid.X)}, nil
	case "sum_squares_partial_f32": // partial, x, n
		n := a.i(2)
		return cost{Bytes: 4*n + 8*int64(l.Grid.X), FLOPs: 2 * n, Shape: elems(n)}, nil
	case "sum_squares_final_f64": // out, partial, nb
		return cost{Bytes: 8*a.i(2) + 8, FLOPs: a.i(2), Shape: fmt.Sprintf("%d partials", a.i(2))}, nil
	case "ema_f32": // avg, x, decay, 1−decay, n
		n := a.i(4)
		return cost{Bytes: 12 * n, FLOPs: 3 * n, Shape: elems(n)}, nil
	}
	if c, ok, err := bf16Cost(l, a, uploads); ok {
		return c, err
	}
	return cost{}, fmt.Errorf("perfmodel: no cost model for kernel %s (add it to cmd/perfmodel/costs.go)", l.Kernel)
}

// actSize is the bytes of one activation element of a kernel: 2 for the
// bf16 instantiations (name suffix _bf16), else 4.
func actSize(kernel string) int64 {
	if strings.HasSuffix(kernel, "_bf16") {
		return 2
	}
	return 4
}

// chunkElements sums the element counts of the n optim_chunk entries
// (kernels/src/optim.cu: int64 offset, int32 len, int32 pad, two float64)
// of an uploaded chunk table.
func chunkElements(table []byte, n int) (int64, error) {
	const entry = 32
	if len(table) < n*entry {
		return 0, fmt.Errorf("chunk table of %d bytes, want %d entries of %d bytes", len(table), n, entry)
	}
	var total int64
	for i := range n {
		total += int64(int32(binary.LittleEndian.Uint32(table[i*entry+8:])))
	}
	return total, nil
}

// args reads launch arguments by position.
type args []any

// i returns integer argument k.
func (a args) i(k int) int64 {
	switch v := a[k].(type) {
	case int32:
		return int64(v)
	case uint32:
		return int64(v)
	case int64:
		return v
	case int:
		return int64(v)
	}
	panic(fmt.Sprintf("perfmodel: argument %d is %T, not an integer", k, a[k]))
}

// ptr returns pointer argument k.
func (a args) ptr(k int) cuda.DevicePtr {
	p, ok := a[k].(cuda.DevicePtr)
	if !ok {
		panic(fmt.Sprintf("perfmodel: argument %d is %T, not a device pointer", k, a[k]))
	}
	return p
}

// plural returns "n thing" or "n things".
func plural(n int64, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

func rc(rows, cols int64) string { return fmt.Sprintf("%d×%d", rows, cols) }

func grnShape(n, hw, c int64) string { return fmt.Sprintf("N%d HW%d C%d", n, hw, c) }

func elems(n int64) string { return millions(n) + " elements" }

func millions(n int64) string {
	if n >= 1e5 {
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	}
	return strconv.FormatInt(n, 10)
}

func mb(bytes int) string { return fmt.Sprintf("%.1f MB", float64(bytes)/1e6) }

// matmulCost is the cost of one cuBLASLt product: A and B read once at
// their element size, C read when beta ≠ 0 and D written at theirs, the
// bias vector read (BIAS) or written (BGRADB); 2·M·N·K FLOPs at the TF32
// or BF16 tensor-core peak (strict float32 compute at the FP32 peak).
func matmulCost(g gemm) cost {
	m, n, k := int64(g.M), int64(g.N), int64(g.K)
	ab, cd := int64(g.AB.Size()), int64(g.CD.Size())
	out := m * n
	if g.Beta != 0 {
		out *= 2
	}
	c := cost{Bytes: ab*(m*k+k*n) + cd*out, FLOPs: 2 * m * n * k, GEMM: true,
		Shape: fmt.Sprintf("%d×%d×%d %s→%s β=%g", g.M, g.N, g.K, g.AB, g.CD, g.Beta)}
	switch g.Epilogue {
	case cuda.EpilogueBias:
		c.Bytes += cd * m
		c.FLOPs += m * n
		c.Shape += " +bias"
	case cuda.EpilogueBGradB:
		c.Bytes += cd * n
		c.FLOPs += k * n
		c.Shape += " +bgrad"
	}
	switch {
	case g.AB == cuda.BFloat16:
		c.Peak = h100.BF16
	case g.TF32:
		c.Peak = h100.TF32
	default:
		c.Peak = h100.FP32
	}
	return c
}
