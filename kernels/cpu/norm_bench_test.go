package cpu

import "testing"

// fashionStages are the four stages of ConvNeXt V2-Atto in the shipped
// Fashion-MNIST run (configs/fashion_mnist.toml: 28×28 input, 2×2 stem,
// batch 64): H·W and C. Small samples that stay in cache, unlike the 224×224
// shapes of attoStages, so these measure the kernels' arithmetic rather
// than memory bandwidth.
var fashionStages = []benchStage{
	{14 * 14, 40, "s0_14x14x40"},
	{7 * 7, 80, "s1_7x7x80"},
	{3 * 3, 160, "s2_3x3x160"},
	{1, 320, "s3_1x1x320"},
}

const fashionBatch = 64

func BenchmarkLayerNormFashion(b *testing.B) { benchLayerNorm(b, fashionStages, fashionBatch, false) }
func BenchmarkGRNFashion(b *testing.B)       { benchGRN(b, fashionStages, fashionBatch) }
