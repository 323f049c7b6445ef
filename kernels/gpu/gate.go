package gpu

import (
	"fmt"

	"github.com/nextconv/nextconv/cuda"
	"github.com/nextconv/nextconv/kernels"
)

// ChannelGate computes y[n,hw,c] = x[n,hw,c]·gate(g[n,c]) for
// [kernels.GateShape] s (channel_gate_fwd_f32): x, y [N, HW, C], g [N, C],
// the gate in float64 rounded once like the CPU backend. y may alias x, not
// g. It returns an error wrapping kernels.ErrShape for an invalid s or a
// missing, mis-sized or oversized tensor, kernels.ErrDType for a tensor that
// is not this backend's device memory.
func (b *Backend) ChannelGate(y, x, g kernels.Tensor, s kernels.GateShape) error {
	const op = "gpu channel gate"
	if err := s.Validate(); err != nil {
		return fmt.Errorf("%s %+v: %w", op, s, err)
	}
	if err := checkArgs(op, s.Args(y, x, g, kernels.Tensor{}, kernels.Tensor{}, false)...); err != nil {
		return err
	}
	if err := fits32(op, x.Len()); err != nil {
		return err
	}
	return b.launch("channel_gate_fwd_f32", streamGrid(x.Len()), dim1(streamThreads), 0, b.args().Ptr(ptr(y)).Ptr(ptr(x)).
		Ptr(ptr(g)).Int32(int32(s.N)).Int32(int32(s.HW)).Int32(int32(s.C)).Int32(int32(s.Gate)))
}

// gateThreads is the number of threads the backward aims for when it
// splits the spatial positions into chunks: two full H100s' worth
// (132 SMs × 2048), so that SE on an early feature map with few
// channels still fills the GPU.
const gateThreads = 132 * 2048

// ChannelGateBackward overwrites dx [N, HW, C] = dy·gate(g) (nil skips it)
// and dg [N, C] = gate'(g)·Σ_hw dy·x, summed in float64
// (channel_gate_bwd_f32 over chunks of hw positions, each summing in hw
// order into a float64 scratch row, then channel_gate_dg_f32 adding the
// chunks in order; deterministic). Errors as for ChannelGate, or the
// scratch allocation's.
func (b *Backend) ChannelGateBackward(dx, dg, dy, x, g kernels.Tensor, s kernels.GateShape) error {
	const op = "gpu channel gate backward"
	if err := s.Validate(); err != nil {
		return fmt.Errorf("%s %+v: %w", op, s, err)
	}
	if err := checkArgs(op, s.Args(dy, x, g, dx, dg, true)...); err != nil {
		return err
	}
	if err := fits32(op, x.Len()); err != nil {
		return err
	}
	nc := s.N * s.C
	chunks := gateChunks(nc, s.HW)
	hwPer := blocks(s.HW, chunks)
	chunks = blocks(s.HW, hwPer)
	partBytes := 8 * chunks * nc
	part, err := b.pool.get(partBytes)
	if err != nil {
		return err
	}
	defer b.pool.put(part, partBytes)
	grid := cuda.Dim3{X: blocks(nc, streamThreads), Y: chunks, Z: 1}
	if err := b.launch("channel_gate_bwd_f32", grid, dim1(streamThreads), 0, b.args().Ptr(ptr(dx)).Ptr(part).Ptr(ptr(dy)).
		Ptr(ptr(x)).Ptr(ptr(g)).Int32(int32(s.N)).Int32(int32(s.HW)).Int32(int32(s.C)).Int32(int32(s.Gate)).Int32(int32(hwPer))); err != nil {
		return err
	}
	return b.launch("channel_gate_dg_f32", dim1(blocks(nc, streamThreads)), dim1(streamThreads), 0, b.args().Ptr(ptr(dg)).Ptr(part).
		Ptr(ptr(g)).Int32(int32(s.N)).Int32(int32(s.C)).Int32(int32(s.Gate)).Int32(int32(chunks)))
}

// gateChunks returns how many chunks of the hw positions the backward
// splits the sum into: enough for nc·chunks to reach gateThreads, at most
// hw and 65535 (gridDim.y), and none that would leave a chunk shorter than
// 16 positions, below which the partial sums cost more than they save.
func gateChunks(nc, hw int) int {
	return max(1, min(blocks(gateThreads, nc), hw/16, 65535))
}
