// Package onnx writes nextconv models as ONNX files (opset 17) that ONNX
// Runtime, TensorRT and the mobile runtimes load.
//
// The graph takes input "input" [batch, C, H, W] (NCHW float32, batch
// dynamic, H = W = the export's input size, normalized exactly as the
// model's evaluation pipeline normalizes) and returns "logits"
// [batch, classes]. Inside, activations are NHWC like nextconv's: the input
// is transposed once, and each convolution (ONNX Conv is NCHW-only) sits
// between a pair of Transposes that ONNX Runtime's transpose optimizer
// cancels. LayerNorm is LayerNormalization over the channel axis, GELU is
// spelled 0.5·x·(1 + Erf(x/√2)) (ONNX Runtime fuses it into its Gelu
// kernel), GRN is ReduceL2 / ReduceMean / Div / Mul / Add (ConvNeXt V2,
// Woo et al. 2023, §3), the block's 1×1 convolutions are MatMul + Add on
// the channel axis, and every parameter is an initializer under its
// state-dict name. The model's metadata_props carry the class names and the
// preprocessing (see [Metadata]).
//
// A model wrapped for quantization-aware training (qat.Quantized) is
// written as a QDQ graph: each quantized layer's weight is an int8
// initializer with a DequantizeLinear (per output channel, axis set, zero
// point 0 for the symmetric weight scheme), and its input goes through a
// QuantizeLinear/DequantizeLinear pair with the fake quantizer's per-tensor
// scale and zero point, exactly the qparams training used
// (qat.FakeQuant.QParams). ONNX Runtime fuses DequantizeLinear →
// MatMul into integer matrix products (MatMulIntegerToFloat); the
// depthwise and downsampling convolutions, whose outputs the fake-quantized
// model leaves in float, stay DequantizeLinear → Conv.
//
// The ONNX protobuf types come from ONNX v1.16.2's onnx.proto through
// protoc-gen-go (package onnxpb).
package onnx
