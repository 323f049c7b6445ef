package gpu

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/nextconv/nextconv/cuda"
	"github.com/nextconv/nextconv/kernels"
)

// Launch geometry of the streaming kernels (kernels/src/elementwise.cu):
// 256-thread blocks in a grid-stride loop over at most streamMaxBlocks
// blocks, enough to fill an H100 (132 SMs × 8 resident blocks) several
// times over while keeping the per-thread loop short.
const (
	streamThreads   = 256
	streamMaxBlocks = 4096
)

// streamGrid returns the 1-D grid for a grid-stride kernel over n elements.
func streamGrid(n int) cuda.Dim3 { return dim1(max(1, min(blocks(n, streamThreads), streamMaxBlocks))) }

// streamGridFor is streamGrid for activations of dtype dt: the bf16
// kernels take 8 elements a thread (map_bf16, kernels/src/bf16.cuh).
func streamGridFor(n int, dt kernels.DType) cuda.Dim3 {
	if dt == kernels.BFloat16 {
		return streamGrid(blocks(n, 8))
	}
	return streamGrid(n)
}

// fits32 returns an error wrapping kernels.ErrShape if a kernel indexing n
// elements with 32-bit integers cannot cover them.
func fits32(op string, n int) error {
	if n > math.MaxInt32 {
		return fmt.Errorf("%s: %d elements exceed the kernels' 32-bit indexing (%d): %w", op, n, math.MaxInt32, kernels.ErrShape)
	}
	return nil
}

// checkStream checks the tensors of a streaming op (checkArgs), whose Want
// is the first one's shape, and that their element count fits the kernels'
// 32-bit indexing (fits32); it returns that count.
func checkStream(op string, args ...kernels.Arg) (int, error) {
	if err := checkArgs(op, args...); err != nil {
		return 0, err
	}
	n := args[0].T.Len()
	return n, fits32(op, n)
}

// scratch returns a device allocation of bytes from the backend's cache for
// the duration of one op; give it back with b.pool.put(ptr, bytes) once the
// kernels that use it are queued (launches are stream-ordered, so a later
// op reusing it runs after them).
func (b *Backend) scratch(op string, bytes int) (cuda.DevicePtr, error) {
	p, err := b.pool.get(bytes)
	if err != nil {
		return 0, fmt.Errorf("%s: scratch of %d bytes: %w", op, bytes, err)
	}
	return p, nil
}

// Add computes y = a + b elementwise (add_f32, or add_bf16 on bf16
// activations); y, a and b have the same number of elements (any shapes)
// and dtype, and y may alias a or b. It returns an error wrapping
// kernels.ErrShape for a missing or mis-sized tensor or one of 2^31 or more
// elements, kernels.ErrDType for a tensor that is not this backend's device
// memory or whose dtype differs from a's.
func (b *Backend) Add(y, a, c kernels.Tensor) error {
	const op = "gpu add"
	dt, err := checkActs(op, []kernels.Arg{{Name: "a", T: a, Want: a.Shape}, {Name: "b", T: c, Want: a.Shape},
		{Name: "y", T: y, Want: a.Shape}})
	n := a.Len()
	if err != nil || n == 0 {
		return err
	}
	if err := fits32(op, n); err != nil {
		return err
	}
	return b.launch(kernelFor("add", dt), streamGridFor(n, dt), dim1(streamThreads), 0, b.args().Ptr(ptr(y)).Ptr(ptr(a)).
		Ptr(ptr(c)).Int32(int32(n)))
}

// Scale computes y = alpha·x elementwise in float64, rounded once
// (scale_f32, as the CPU backend); y may alias x. Errors as for Add.
func (b *Backend) Scale(y, x kernels.Tensor, alpha float64) error {
	const op = "gpu scale"
	n, err := checkStream(op, kernels.Arg{Name: "x", T: x, Want: x.Shape}, kernels.Arg{Name: "y", T: y, Want: x.Shape})
	if err != nil || n == 0 {
		return err
	}
	return b.launch("scale_f32", streamGrid(n), dim1(streamThreads), 0, b.args().Ptr(ptr(y)).Ptr(ptr(x)).
		Float64(alpha).Int32(int32(n)))
}

// ScaleSamples computes y[n, ...] = scale[n]·x[n, ...] (scale_samples_f32,
// or scale_samples_bf16 on bf16 x and y): scale (float32) has N elements, x
// and y the same number of elements, a multiple of N. Drop path (timm
// DropPath, scale 0 or 1/keep_prob) uses it forward and backward; y may
// alias x. It returns an error wrapping kernels.ErrShape if x.Len() is not
// a multiple of scale.Len(), otherwise errors as for Add.
func (b *Backend) ScaleSamples(y, x, scale kernels.Tensor) error {
	const op = "gpu scale-samples"
	dt, err := checkActs(op, []kernels.Arg{{Name: "x", T: x, Want: x.Shape}, {Name: "y", T: y, Want: x.Shape}},
		kernels.Arg{Name: "scale", T: scale, Want: scale.Shape})
	if err != nil {
		return err
	}
	samples := scale.Len()
	if samples == 0 || x.Len()%samples != 0 {
		return fmt.Errorf("%s: x %v does not split into %d samples (scale %v): %w", op, x.Shape, samples, scale.Shape, kernels.ErrShape)
	}
	per := x.Len() / samples
	if err := fits32(op, x.Len()); err != nil || per == 0 {
		return err
	}
	gy := min(samples, 65535)
	gx := max(1, min(streamGridFor(per, dt).X, streamMaxBlocks/gy))
	return b.launch(kernelFor("scale_samples", dt), cuda.Dim3{X: gx, Y: gy, Z: 1}, dim1(streamThreads), 0, b.args().Ptr(ptr(y)).
		Ptr(ptr(x)).Ptr(ptr(scale)).Int32(int32(per)).Int32(int32(samples)))
}

// ChannelScale computes y[r, c] = gamma[c]·x[r, c] (channel_scale_f32, or
// channel_scale_bf16 on bf16 x and y) for gamma [C] (float32) and x, y of
// Rows·C elements (ConvNeXt V1's layer scale on NHWC); y may alias x. It
// returns an error wrapping kernels.ErrShape if x.Len() is not a multiple
// of gamma.Len(), otherwise errors as for Add.
func (b *Backend) ChannelScale(y, x, gamma kernels.Tensor) error {
	const op = "gpu channel-scale"
	dt, err := checkChannel(op, x, gamma, kernels.Arg{Name: "y", T: y, Want: x.Shape})
	if err != nil {
		return err
	}
	n := x.Len()
	if err := fits32(op, n); err != nil || n == 0 {
		return err
	}
	return b.launch(kernelFor("channel_scale", dt), streamGridFor(n, dt), dim1(streamThreads), 0, b.args().Ptr(ptr(y)).
		Ptr(ptr(x)).Ptr(ptr(gamma)).Int32(int32(n)).Int32(int32(gamma.Len())))
}

// channelBwdTarget is the number of elements one channel_scale_bwd_f32
// block reduces (64 per thread), which sets the number of row chunks.
const channelBwdTarget = 16384

// channelTile returns the channel tile width of channel_scale_bwd_f32: all
// C channels when C <= 256, else C split into equal tiles of at most 256,
// rounded up to a multiple of 32.
func channelTile(C int) int {
	if C <= streamThreads {
		return C
	}
	tiles := blocks(C, streamThreads)
	return min(streamThreads, (blocks(C, tiles)+31)/32*32)
}

// ChannelScaleBackward overwrites dx = gamma·dy and accumulates
// dgamma[c] += Σ_r dy[r, c]·x[r, c] for gamma, dgamma [C] and dx, dy, x of
// Rows·C elements; dx may alias dy or x. The sum is deterministic: a first
// kernel (channel_scale_bwd_f32) writes float64 partial sums per chunk of
// rows to a scratch buffer, a second (channel_scale_dgamma_f32) adds them in
// chunk order. dx, dy and x are float32 or all bf16
// (channel_scale_bwd_bf16: float32 arithmetic, dx rounded once); gamma and
// dgamma float32. Errors as for ChannelScale.
func (b *Backend) ChannelScaleBackward(dx, dgamma, dy, x, gamma kernels.Tensor) error {
	const op = "gpu channel-scale backward"
	dt, err := checkChannel(op, x, gamma, kernels.Arg{Name: "dy", T: dy, Want: x.Shape},
		kernels.Arg{Name: "dx", T: dx, Want: x.Shape})
	if err != nil {
		return err
	}
	if err := checkArgs(op, kernels.Arg{Name: "dgamma", T: dgamma, Want: gamma.Shape}); err != nil {
		return err
	}
	if err := fits32(op, x.Len()); err != nil || x.Len() == 0 {
		return err
	}
	C := gamma.Len()
	rows := x.Len() / C
	width := channelTile(C)
	perChunk := max(1, blocks(channelBwdTarget, width))
	if blocks(rows, perChunk) > 65535 {
		perChunk = blocks(rows, 65535)
	}
	chunks := blocks(rows, perChunk)
	bytes := 8 * chunks * C
	partial, err := b.scratch(op, bytes)
	if err != nil {
		return err
	}
	defer b.pool.put(partial, bytes)
	grid := cuda.Dim3{X: blocks(C, width), Y: chunks, Z: 1}
	if err := b.launch(kernelFor("channel_scale_bwd", dt), grid, dim1(streamThreads), 0, b.args().Ptr(ptr(dx)).
		Ptr(partial).Ptr(ptr(dy)).Ptr(ptr(x)).Ptr(ptr(gamma)).Int32(int32(rows)).Int32(int32(C)).
		Int32(int32(width)).Int32(int32(perChunk))); err != nil {
		return err
	}
	return b.launch("channel_scale_dgamma_f32", dim1(blocks(C, streamThreads)), dim1(streamThreads), 0, b.args().Ptr(ptr(dgamma)).
		Ptr(partial).Int32(int32(chunks)).Int32(int32(C)))
}

// checkChannel checks gamma (float32), x, that x.Len() is a multiple of
// gamma.Len(), and the further activations (checkActs); it returns the
// activations' dtype.
func checkChannel(op string, x, gamma kernels.Tensor, more ...kernels.Arg) (kernels.DType, error) {
	if err := checkArgs(op, kernels.Arg{Name: "gamma", T: gamma, Want: gamma.Shape}); err != nil {
		return 0, err
	}
	if err := checkDevice(op, kernels.Arg{Name: "x", T: x, Want: x.Shape}); err != nil {
		return 0, err
	}
	if gamma.Len() == 0 || x.Len()%gamma.Len() != 0 {
		return 0, fmt.Errorf("%s: x %v is not rows of gamma's %d channels (gamma %v): %w", op, x.Shape, gamma.Len(), gamma.Shape, kernels.ErrShape)
	}
	return checkActs(op, append([]kernels.Arg{{Name: "x", T: x, Want: x.Shape}}, more...))
}

// SumSquares geometry: 256-thread blocks, at least sumSquaresPerBlock
// elements per block and at most sumSquaresMaxBlocks blocks, both functions
// of the element count only, so the float64 result is reproducible.
const (
	sumSquaresPerBlock  = 4096
	sumSquaresMaxBlocks = 1024
)

// SumSquares returns Σ x² over every element of x, accumulated in float64
// and deterministically: sum_squares_partial_f32 writes one float64 partial
// per block (per-thread sums, then a fixed-order block reduction) and
// sum_squares_final_f64 adds the partials in one block; the 8-byte result is
// copied back, which waits for all queued work (a sync point). Gradient-norm
// clipping uses it. It returns an error wrapping kernels.ErrShape or
// kernels.ErrDType for a missing, oversized or foreign tensor, and the first
// asynchronous error of the queued work.
func (b *Backend) SumSquares(x kernels.Tensor) (float64, error) {
	const op = "gpu sum-squares"
	n, err := checkStream(op, kernels.Arg{Name: "x", T: x, Want: x.Shape})
	if err != nil || n == 0 {
		return 0, err
	}
	nb := max(1, min(blocks(n, sumSquaresPerBlock), sumSquaresMaxBlocks))
	bytes := 8 * (nb + 1)
	partial, err := b.scratch(op, bytes)
	if err != nil {
		return 0, err
	}
	defer b.pool.put(partial, bytes)
	out := partial + cuda.DevicePtr(8*nb)
	if err := b.launch("sum_squares_partial_f32", dim1(nb), dim1(streamThreads), 0, b.args().Ptr(partial).
		Ptr(ptr(x)).Int32(int32(n))); err != nil {
		return 0, err
	}
	if err := b.launch("sum_squares_final_f64", dim1(1), dim1(streamThreads), 0, b.args().Ptr(out).
		Ptr(partial).Int32(int32(nb))); err != nil {
		return 0, err
	}
	var res [8]byte
	if err := b.checked(b.drv.CopyDtoH(res[:], out)); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(res[:])), nil
}

// EMA updates avg = decay·avg + (1 − decay)·x elementwise (ema_f32; timm's
// ModelEma), computed in float64 and rounded once like the CPU backend. avg
// and x have the same number of elements; decay must lie in [0, 1]. It
// returns an error wrapping kernels.ErrShape or kernels.ErrDType for a bad
// tensor, and an error for a decay outside [0, 1] (kernels.ErrNaN if NaN).
func (b *Backend) EMA(avg, x kernels.Tensor, decay float64) error {
	const op = "gpu ema"
	if err := kernels.CheckEMADecay(op, decay); err != nil {
		return err
	}
	n, err := checkStream(op, kernels.Arg{Name: "avg", T: avg, Want: avg.Shape}, kernels.Arg{Name: "x", T: x, Want: avg.Shape})
	if err != nil || n == 0 {
		return err
	}
	return b.launch("ema_f32", streamGrid(n), dim1(streamThreads), 0, b.args().Ptr(ptr(avg)).Ptr(ptr(x)).
		Float64(decay).Float64(1-decay).Int32(int32(n)))
}
