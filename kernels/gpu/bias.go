package gpu

import (
	"github.com/nextconv/nextconv/cuda"
	"github.com/nextconv/nextconv/kernels"
)

// Launch geometry of the bias kernels (kernels/src/bias.cu).
const (
	// columnSumWidth is the number of columns one column_sum_f32 block
	// owns (its blockDim.x).
	columnSumWidth = 32
	// columnSumLanes is blockDim.y of column_sum_f32 when a column's rows
	// are split over several threads; the kernel's shared buffer holds 8.
	columnSumLanes = 8
	// biasGradChunks bounds the number of partial-sum rows the first pass
	// of the bias gradient writes, so that the second pass reads at most
	// biasGradChunks/columnSumLanes values per thread.
	biasGradChunks = 256
)

// biasAdd adds b [cols] to every row of y [rows, cols] (bias_add_f32).
func (b *Backend) biasAdd(y, bias cuda.DevicePtr, rows, cols int) error {
	return b.launch("bias_add_f32", dim1(blocks(rows*cols, 256)), dim1(256), 0, b.args().Ptr(y).Ptr(bias).
		Int32(int32(rows)).Int32(int32(cols)))
}

// columnSum launches column_sum_f32: out[k, c] (+)= Σ in[r·ld + c] over the
// rows r of chunk k = [k·rowsPerChunk, (k+1)·rowsPerChunk) ∩ [0, rows).
// Chunks of more than 32 rows are split over columnSumLanes threads per
// column (one barrier); shorter ones are summed by one thread, barrier-free.
func (b *Backend) columnSum(out, in cuda.DevicePtr, rows, cols, ld, rowsPerChunk int, accumulate bool) error {
	return b.columnSumOf(kernels.Float32, out, in, rows, cols, ld, rowsPerChunk, accumulate)
}

// columnSumOf is columnSum over an in of dtype dt (column_sum_bf16 reads
// bf16); out is float32.
func (b *Backend) columnSumOf(dt kernels.DType, out, in cuda.DevicePtr, rows, cols, ld, rowsPerChunk int, accumulate bool) error {
	lanes := 1
	if rowsPerChunk > 32 {
		lanes = columnSumLanes
	}
	acc := int32(0)
	if accumulate {
		acc = 1
	}
	grid := cuda.Dim3{X: blocks(cols, columnSumWidth), Y: blocks(rows, rowsPerChunk), Z: 1}
	block := cuda.Dim3{X: columnSumWidth, Y: lanes, Z: 1}
	return b.launch(kernelFor("column_sum", dt), grid, block, 0, b.args().Ptr(out).Ptr(in).Int32(int32(rows)).
		Int32(int32(cols)).Int32(int32(ld)).Int32(int32(rowsPerChunk)).Int32(acc))
}

// biasGrad adds the column sums of dy [rows, cols] (float32 or bf16) to db
// [cols] (float32): the bias gradient of Linear and Conv2D. It is
// deterministic: one pass writes the
// sums of at most biasGradChunks chunks of rows into a scratch buffer of
// the pool, a second adds them into db in chunk order (one pass, straight
// into db, when the rows fit one chunk).
func (b *Backend) biasGrad(db, dy kernels.Tensor, rows, cols int) error {
	dt := dy.Data.DType()
	perChunk := max(64, blocks(rows, biasGradChunks))
	perChunk = blocks(perChunk, columnSumLanes) * columnSumLanes
	chunks := blocks(rows, perChunk)
	if chunks == 1 {
		return b.columnSumOf(dt, ptr(db), ptr(dy), rows, cols, cols, rows, true)
	}
	part, err := b.pool.get(4 * chunks * cols)
	if err != nil {
		return err
	}
	defer b.pool.put(part, 4*chunks*cols)
	if err := b.columnSumOf(dt, part, ptr(dy), rows, cols, cols, perChunk, false); err != nil {
		return err
	}
	return b.columnSum(ptr(db), part, chunks, cols, cols, chunks, true)
}
