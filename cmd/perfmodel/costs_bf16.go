package main

import (
	"fmt"

	"github.com/nextconv/nextconv/cuda"
)

// bf16Cost is the cost of the bf16 kernels of a training step that
// streamCost and dwCost do not price along with their float32 twins
// (docs/BF16.md §7): the
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
	case "channel_scale_bwd_bf16": // dx, partial, dy, x, gamma, rows, C, width, perChunk
		rows, c := a.i(5), a.i(6)
		return cost{Bytes: 6*rows*c + 8*int64(l.Grid.Y)*c, FLOPs: 3 * rows * c, Shape: rc(rows, c)}, true, nil
	case "adamw_bf16": // p, g, m, v, p16, table, ...
		n, err := chunkElements(uploads[a.ptr(5)], l.Grid.X)
		if err != nil {
			return cost{}, true, fmt.Errorf("%s: %w", l.Kernel, err)
		}
		return cost{Bytes: 30 * n, FLOPs: 12 * n, Shape: fmt.Sprintf("%s params in %d chunks", millions(n), l.Grid.X)}, true, nil
	}
	return cost{}, false, nil
}
