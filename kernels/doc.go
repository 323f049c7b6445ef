// Package kernels defines what every numerical backend of nextconv provides:
// tensor handles, shape structs and the [Backend] interface with the forward
// and backward ops the layers need, nothing more.
//
// # Layout
//
// Activations are NHWC (channels last), row-major, contiguous. Element
// (n, h, w, c) of an N×H×W×C tensor lives at index
//
//	((n*H + h)*W + w)*C + c
//
// Many ops see an NHWC tensor as a matrix of Rows = N·H·W rows of C channels;
// element (r, c) is then at r*C + c. Parameters keep PyTorch's layouts so that
// checkpoints load by name without transposes: Linear and 1×1 convolution
// weights are (out, in), convolution weights (out, in, kh, kw), depthwise
// weights (C, 1, k, k).
//
// # Conventions
//
// Outputs are overwritten. Parameter gradients (dw, db, dgamma, ...) are
// accumulated (+=), so a training step zeroes them once and every layer adds
// its share. Activation gradients (dx) are overwritten. A zero [Tensor] (one
// whose Data is nil) passed as an optional argument — a bias, or a dx nobody
// needs — means "absent" and the op skips that part of its work.
//
// Ops check every tensor's shape against the shape struct they are given and
// return an error wrapping [ErrShape] that names the op, the tensor and both
// shapes. They never panic on bad input.
//
// # Precision
//
// Parameters, gradients, optimizer state and statistics are in the
// backend's compute type (float32). In bf16 mixed precision ([BF16],
// [PrecisionSetter]) activations are [BFloat16] tensors and every op rounds
// what it stores into them to nearest even; docs/BF16.md is the contract
// between the CPU emulation and the CUDA kernels.
//
// # Backends
//
// kernels/cpu is the pure-Go reference (float32 for training, float64 for
// gradient checks); kernels/gpu runs the CUDA sources in kernels/src through a
// cuda.Driver, either a real GPU or the simulator in cuda/sim.
package kernels
