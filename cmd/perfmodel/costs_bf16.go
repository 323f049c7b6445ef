package main

import (
	"fmt"

	"github.com/nextconv/nextconv/cuda"
)

// bf16Cost is the cost of the bf16 kernels of a training step other than
// the depthwise convolution's (docs/BF16.md §7): the
// float32 kernels' traffic with 2 bytes per bf16 element (activations, bf16
// patches, the bf16 weight copy) and 4 per float32 one (statistics,
// parameters, gradients, moments, float32 patch gradients), and their
// FLOPs. ok is false for a kernel it does not know.
func bf16Cost(l launch, a args, uploads map[cuda.DevicePtr][]byte) (c cost, ok bool, err error) {
	switch l.Kernel {
	case "im2col_bf16": // cols, x, H, W, CIn, K, S, P, OH, OW, r0, pixels
		cin, k, s, pix := a.i(4), a.i(5), a.i(6), a.i(11)
		side := min(k, s)
		return cost{Bytes: 2 * (pix*cin*k*k + pix*cin*side*side),
			Shape: fmt.Sprintf("%d px × %d, K%d S%d", pix, cin*k*k, k, s)}, true, nil
	case "col2im_bf16": // dx, dcols (float32), H, W, CIn, K, S, P, OH, OW, r0, r1, q0, count, accumulate
		cin, k, ow, r0, r1, count := a.i(4), a.i(5), a.i(9), a.i(10), a.i(11), a.i(13)
		read := (r1 - r0) * ow * cin * k * k
		dx := count
		if a.i(14) != 0 {
			dx *= 2
		}
		return cost{Bytes: 4*read + 2*dx, FLOPs: read,
			Shape: fmt.Sprintf("%d px × %d, K%d", (r1-r0)*ow, cin*k*k, k)}, true, nil
	case "column_sum_bf16": // out (float32), in, rows, cols, ld, rowsPerChunk, accumulate
		rows, cols, chunks := a.i(2), a.i(3), int64(l.Grid.Y)
		out := chunks * cols
		if a.i(6) != 0 {
			out *= 2
		}
		return cost{Bytes: 2*rows*cols + 4*out, FLOPs: rows * cols,
			Shape: fmt.Sprintf("%s → %s", rc(rows, cols), plural(chunks, "row"))}, true, nil
	case "cross_entropy_fwd_bf16": // loss, prob, logits (bf16), target, K; grid N
		n, k := int64(l.Grid.X), a.i(4)
		return cost{Bytes: 10*n*k + 4*n, FLOPs: 6 * n * k, Shape: rc(n, k)}, true, nil
	case "cross_entropy_bwd_bf16": // dlogits (bf16), prob, target, scale, n
		n := a.i(4)
		return cost{Bytes: 10 * n, FLOPs: 2 * n, Shape: elems(n)}, true, nil
	case "gelu_fwd_bf16": // y, x, n, approx
		n := a.i(2)
		return cost{Bytes: 4 * n, FLOPs: 20 * n, Shape: elems(n)}, true, nil
	case "gelu_bwd_bf16": // dx, dy, x, n, approx
		n := a.i(3)
		return cost{Bytes: 6 * n, FLOPs: 30 * n, Shape: elems(n)}, true, nil
	case "add_bf16": // y, a, b, n
		n := a.i(3)
		return cost{Bytes: 6 * n, FLOPs: n, Shape: elems(n)}, true, nil
	case "scale_samples_bf16": // y, x, scale, per, samples
		n := a.i(3) * a.i(4)
		return cost{Bytes: 4*n + 4*a.i(4), FLOPs: n, Shape: elems(n)}, true, nil
	case "channel_scale_bf16": // y, x, gamma, n, C
		n := a.i(3)
		return cost{Bytes: 4*n + 4*a.i(4), FLOPs: n, Shape: elems(n)}, true, nil
	case "channel_scale_bwd_bf16": // dx, partial, dy, x, gamma, rows, C, width, perChunk
		rows, c := a.i(5), a.i(6)
		return cost{Bytes: 6*rows*c + 8*int64(l.Grid.Y)*c, FLOPs: 3 * rows * c, Shape: rc(rows, c)}, true, nil
	case "convert_f32_bf16", "convert_bf16_f32": // y, x, n
		n := a.i(2)
		return cost{Bytes: 6 * n, Shape: elems(n)}, true, nil
	// The bf16 twins of the LayerNorm, GRN, pooling, GELU and elementwise
	// kernels costed in streamCost: the same formulas with 2-byte
	// activations. (A streamCost case naming a _bf16 kernel takes
	// precedence over these.)
	case "layernorm_fwd_bf16", "layernorm_gelu_fwd_bf16": // y, mean, rstd, x, w, b, rows, C, eps[, approx]
		rows, c := a.i(6), a.i(7)
		flops := int64(7)
		if l.Kernel == "layernorm_gelu_fwd_bf16" {
			flops += 20
		}
		return cost{Bytes: 4*rows*c + 4*(2*rows+2*c), FLOPs: flops * rows * c, Shape: rc(rows, c)}, true, nil
	case "layernorm_bwd_bf16", "layernorm_gelu_bwd_bf16": // dx, part, slabs, dy, x, mean, rstd, w, [b,] rows, C, rowsPerBlock
		i, flops := 8, int64(15)
		if l.Kernel == "layernorm_gelu_bwd_bf16" {
			i, flops = 9, 45
		}
		rows, c, blocks := a.i(i), a.i(i+1), int64(l.Grid.X)
		bytes := 6*rows*c + 4*(2*rows+2*c+blocks*2*c)
		if a.ptr(2) != 0 {
			bytes += 2 * 4 * blocks * int64(l.Block.X/32) * 2 * c
		}
		return cost{Bytes: bytes, FLOPs: flops * rows * c, Shape: fmt.Sprintf("%s → %s", rc(rows, c), plural(blocks, "partial row"))}, true, nil
	case "grn_sumsq_bf16": // part, x, HW, C, chunk; grid (C/32, chunks, N)
		n, hw, c, chunks := int64(l.Grid.Z), a.i(2), a.i(3), int64(l.Grid.Y)
		return cost{Bytes: 2*n*hw*c + 4*n*chunks*c, FLOPs: 2 * n * hw * c, Shape: grnShape(n, hw, c)}, true, nil
	case "grn_apply_bf16": // y, x, coef, beta, HW, C; grid (HW·C/256, N)
		n, hw, c := int64(l.Grid.Y), a.i(4), a.i(5)
		return cost{Bytes: 4*n*hw*c + 4*(n*c+c), FLOPs: 2 * n * hw * c, Shape: grnShape(n, hw, c)}, true, nil
	case "grn_bwd_sums_bf16": // part, dy, x, HW, C, chunk
		n, hw, c, chunks := int64(l.Grid.Z), a.i(3), a.i(4), int64(l.Grid.Y)
		return cost{Bytes: 4*n*hw*c + 8*n*chunks*c, FLOPs: 3 * n * hw * c, Shape: grnShape(n, hw, c)}, true, nil
	case "grn_bwd_apply_bf16": // dx, dy, x, coef, HW, C
		n, hw, c := int64(l.Grid.Y), a.i(4), a.i(5)
		return cost{Bytes: 6*n*hw*c + 8*n*c, FLOPs: 3 * n * hw * c, Shape: grnShape(n, hw, c)}, true, nil
	case "avgpool_fwd_bf16", "avgpool_bwd_bf16": // y|dx, x|dy, N, HW, C
		n, hw, c := a.i(2), a.i(3), a.i(4)
		return cost{Bytes: 2 * (n*hw*c + n*c), FLOPs: n * hw * c, Shape: grnShape(n, hw, c)}, true, nil
	case "adamw_bf16": // p, g, m, v, p16, table, ...
		n, err := chunkElements(uploads[a.ptr(5)], l.Grid.X)
		if err != nil {
			return cost{}, true, fmt.Errorf("%s: %w", l.Kernel, err)
		}
		return cost{Bytes: 30 * n, FLOPs: 12 * n, Shape: fmt.Sprintf("%s params in %d chunks", millions(n), l.Grid.X)}, true, nil
	}
	return cost{}, false, nil
}
