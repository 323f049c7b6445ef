// Package qat is nextconv's quantization-aware training: integer grids and
// the qparams a range maps to ([QScheme], [QParams]), range observers
// ([Observer]), the fake quantizer layer ([FakeQuant]: PyTorch's
// FakeQuantize and, with LSQ, _LearnableFakeQuantize), the wrapper that
// fake-quantizes a conv or linear layer's weight and input ([Quantized]),
// and [QuantizeModel], which wraps a float model from package layers in
// place. The quantizers' state travels in checkpoints as [StateTensor]s
// ([State], [LoadState]) under PyTorch's FakeQuantize buffer names.
//
// Package layers stays the float layer library; this package builds on its
// [layers.Layer], [layers.Param] and [layers.Container] and runs the
// backend's fake-quant ops (kernels.QuantOps). Formulas and defaults follow
// PyTorch's torch.ao.quantization and TensorRT's int8 conventions.
package qat
