package kernels

// Backend executes the numerical ops of nextconv's layers. Implementations:
// kernels/cpu (pure Go, the reference) and kernels/gpu (CUDA, on a real GPU or
// the simulator). Every op follows the package conventions: NHWC layout,
// outputs overwritten, parameter gradients accumulated, optional tensors nil,
// shape errors wrapping [ErrShape].
//
// Mixed precision (docs/BF16.md): in [BF16] mode, activation arguments (x,
// y, dx, dy, logits, dlogits, pred, dpred and the like) may be [BFloat16]
// tensors; parameters and their gradients, optimizer moments, statistics
// (mean, rstd, gnorm, min, max), loss, prob, targets, masks and scales stay
// in the compute type. Every op reads its inputs as float32 and computes in
// float32 (matrix products: bf16 inputs, float32 accumulation), and rounds
// each element of a BFloat16 output once, to nearest even, when it stores
// its final value; no intermediate value is rounded. An op's output may
// alias an input only when both have the same dtype.
//
// A Backend is not safe for concurrent use; one training loop drives it.
type Backend interface {
	Memory
	ConvOps
	NormOps
	ActivationOps
	PointwiseOps
	BatchNormOps
	AttentionOps
	ElementwiseOps
	LossOps
	OptimOps
	QuantOps
	MaskOps
}

// Memory allocates tensors and moves data between host and backend.
type Memory interface {
	// Name identifies the backend in logs and errors: "cpu", "cpu-float64",
	// "cuda", "cudasim".
	Name() string
	// DType returns the compute type: the element type of parameters,
	// gradients, optimizer state and statistics, and of every tensor [Alloc]
	// returns. Activations may also be [BFloat16] (see [Precision]).
	DType() DType
	// Alloc returns a zero-filled tensor of shape s in the compute type. It
	// returns an error wrapping ErrShape if a dimension is not positive, or
	// the backend's out-of-memory error.
	Alloc(s Shape) (Tensor, error)
	// AllocDType is Alloc for element type dt: the compute type, or
	// BFloat16 for an activation stored in bf16. A dtype the backend does
	// not store is an error wrapping ErrDType that names the backend and
	// the dtype.
	AllocDType(s Shape, dt DType) (Tensor, error)
	// Free releases t's memory; t and every view of it must not be used
	// afterwards. Freeing the nil tensor does nothing.
	Free(t Tensor)
	// Upload copies len(src) == dst.Len() host values into dst, converting
	// to dst's dtype (rounding to nearest even for BFloat16).
	Upload(dst Tensor, src []float32) error
	// Download copies src into dst (len(dst) == src.Len()), converting to
	// float32.
	Download(dst []float32, src Tensor) error
	// Zero sets every element of t to 0.
	Zero(t Tensor) error
	// Copy copies src into dst; both have the same number of elements.
	// Between dtypes it converts, rounding to nearest even into BFloat16.
	Copy(dst, src Tensor) error
	// Sync blocks until all queued work is done and returns the first
	// asynchronous error. It is a no-op on the CPU.
	Sync() error
}

// ConvOps are the dense, depthwise and pointwise (Linear) convolutions.
type ConvOps interface {
	// Conv2D computes y = conv(x, w) + b for [ConvShape] s; b may be nil.
	Conv2D(y, x, w, b Tensor, s ConvShape) error
	// Conv2DBackward overwrites dx (may be nil: the stem needs none) and
	// accumulates dw and db (db may be nil) from dy [N, OH, OW, COut].
	Conv2DBackward(dx, dw, db, dy, x, w Tensor, s ConvShape) error

	// DWConv computes the depthwise convolution y = dwconv(x, w) + b for
	// [DWConvShape] s; b may be nil.
	DWConv(y, x, w, b Tensor, s DWConvShape) error
	// DWConvBackward overwrites dx (may be nil) and accumulates dw and db
	// (db may be nil) from dy [N, OH, OW, C].
	DWConvBackward(dx, dw, db, dy, x, w Tensor, s DWConvShape) error

	// Linear computes y = x·wᵀ + b for [LinearShape] s; b may be nil.
	Linear(y, x, w, b Tensor, s LinearShape) error
	// LinearBackward overwrites dx = dy·w (dx may be nil) and accumulates
	// dw += dyᵀ·x and db += Σ_rows dy (db may be nil).
	LinearBackward(dx, dw, db, dy, x, w Tensor, s LinearShape) error
}

// NormOps are LayerNorm, fused LayerNorm+GELU and GRN.
type NormOps interface {
	// LayerNorm normalizes each row of x [Rows, C] over its C values with
	// biased variance, y = (x − mean)·rstd·w + b, rstd = 1/sqrt(var + Eps),
	// and writes the per-row mean and rstd [Rows] that LayerNormBackward
	// reads. (PyTorch F.layer_norm; ConvNeXt's channels_first LayerNorm is
	// the same op on NHWC.)
	LayerNorm(y, mean, rstd, x, w, b Tensor, s NormShape) error
	// LayerNormBackward overwrites dx and accumulates dw and db from dy,
	// using the forward's x, mean and rstd.
	LayerNormBackward(dx, dw, db, dy, x, mean, rstd, w Tensor, s NormShape) error

	// LayerNormGELU computes y = GELU(LayerNorm(x)) in one pass and writes
	// mean and rstd [Rows]; the pre-activation is not stored.
	LayerNormGELU(y, mean, rstd, x, w, b Tensor, s NormShape, approx GELUApprox) error
	// LayerNormGELUBackward overwrites dx and accumulates dw and db,
	// recomputing the pre-activation from x, mean, rstd, w and b.
	LayerNormGELUBackward(dx, dw, db, dy, x, mean, rstd, w, b Tensor, s NormShape, approx GELUApprox) error

	// GRN computes Global Response Normalization for [GRNShape] s and
	// writes the per-sample, per-channel L2 norms gnorm [N, C] that
	// GRNBackward reads. An all-zero sample gives y = beta + x.
	GRN(y, gnorm, x, gamma, beta Tensor, s GRNShape) error
	// GRNBackward overwrites dx and accumulates dgamma and dbeta. Where a
	// norm g[n,c] is 0 its gradient is taken as 0, as PyTorch's torch.norm
	// backward does.
	GRNBackward(dx, dgamma, dbeta, dy, x, gnorm, gamma Tensor, s GRNShape) error
}

// ActivationOps are GELU, global average pooling and max pooling.
type ActivationOps interface {
	// GELU computes y = GELU(x) elementwise; y may alias x.
	GELU(y, x Tensor, approx GELUApprox) error
	// GELUBackward overwrites dx = dy·GELU'(x); dx may alias dy.
	GELUBackward(dx, dy, x Tensor, approx GELUApprox) error

	// AvgPool averages x [N, HW, C] over HW into y [N, C].
	AvgPool(y, x Tensor, s PoolShape) error
	// AvgPoolBackward overwrites dx [N, HW, C] = dy[n, c]/HW.
	AvgPoolBackward(dx, dy Tensor, s PoolShape) error

	// MaxPool writes the maxima of each window of x [N, H, W, C] into y
	// [N, OH, OW, C] for [MaxPoolShape] s: padding never wins, the first
	// maximum in row-major window order wins a tie and a NaN wins over
	// numbers (PyTorch's nn.MaxPool2d).
	MaxPool(y, x Tensor, s MaxPoolShape) error
	// MaxPoolBackward overwrites dx [N, H, W, C] with dy [N, OH, OW, C]
	// routed to each window's winner in x (as MaxPool picks it), summed
	// in row-major output order where windows overlap.
	MaxPoolBackward(dx, dy, x Tensor, s MaxPoolShape) error
}

// ElementwiseOps are the adds and scalings that residuals, drop path, layer
// scale, gradient clipping and EMA need. Outputs may alias inputs.
type ElementwiseOps interface {
	// Add computes y = a + b; all three have the same number of elements.
	Add(y, a, b Tensor) error
	// Scale computes y = alpha·x.
	Scale(y, x Tensor, alpha float64) error
	// ScaleSamples computes y[n, ...] = scale[n]·x[n, ...] where scale has
	// N elements and each sample x.Len()/N. Drop path uses it with scale
	// 0 or 1/keep_prob, forward and backward.
	ScaleSamples(y, x, scale Tensor) error
	// ChannelScale computes y[r, c] = gamma[c]·x[r, c] for gamma [C]
	// (ConvNeXt V1's layer scale).
	ChannelScale(y, x, gamma Tensor) error
	// ChannelScaleBackward overwrites dx = gamma·dy and accumulates
	// dgamma[c] += Σ_r dy[r, c]·x[r, c].
	ChannelScaleBackward(dx, dgamma, dy, x, gamma Tensor) error
	// SumSquares returns Σ x² accumulated in float64; it waits for queued
	// work (a sync point on device backends).
	SumSquares(x Tensor) (float64, error)
}

// LossOps are the classification losses.
type LossOps interface {
	// CrossEntropy computes, per sample, the softmax cross-entropy of
	// logits against a target distribution, loss[n] = −Σ_k target[n,k]·
	// log softmax(logits[n])_k, and writes the softmax probabilities prob
	// for the backward. One-hot, label-smoothed ((1−ε)·onehot + ε/K, timm's
	// LabelSmoothingCrossEntropy) and mixup/cutmix targets are all rows of
	// target [N, K]; loss is [N].
	CrossEntropy(loss, prob, logits, target Tensor, s LossShape) error
	// CrossEntropyBackward overwrites dlogits = scale·(prob − target);
	// scale = 1/N gives the gradient of the batch mean.
	CrossEntropyBackward(dlogits, prob, target Tensor, scale float64, s LossShape) error
}

// OptimOps update parameters in place.
type OptimOps interface {
	// AdamW applies one step of AdamW (Loshchilov & Hutter 2019, with
	// PyTorch's torch.optim.AdamW arithmetic) to the parameter arena p with
	// gradients g and moments m, v, all of the same length. Each group
	// covers a contiguous range of the arena with its own learning rate and
	// weight decay; elements outside every group are left alone.
	AdamW(p, g, m, v Tensor, groups []AdamWGroup, h AdamWHyper) error
	// AdamWBF16 is AdamW that also refreshes the bf16 copy of the weights
	// the matrix products read (master weights, docs/BF16.md): in the same
	// pass, for every element i inside a group, p16[i] = bf16(p[i]) of the
	// updated p, rounded to nearest even. p16 is a BFloat16 tensor with
	// p's number of elements; outside every group it is left alone. Errors
	// as for AdamW, and ErrDType if p16 is not BFloat16.
	AdamWBF16(p, g, m, v, p16 Tensor, groups []AdamWGroup, h AdamWHyper) error
	// SGD applies one step of SGD with momentum (Sutskever et al. 2013;
	// torch.optim.SGD arithmetic) over the same groups: g' = g + wd·p;
	// buf = momentum·buf + (1 − dampening)·g' (buf = g' on the first step);
	// p −= lr·(g' + momentum·buf) with Nesterov, else lr·buf. With momentum
	// 0, buf may be nil.
	SGD(p, g, buf Tensor, groups []AdamWGroup, h SGDHyper) error
	// EMA updates avg = decay·avg + (1 − decay)·x (timm's ModelEma).
	EMA(avg, x Tensor, decay float64) error
}

// QuantOps are the fake quantization ops of quantization-aware training and
// the range reduction its observers read. Tensors are seen through a
// [QuantShape] as [Outer, Channels, Inner] with per-channel scale and zero
// point [Channels] (one channel: per tensor).
type QuantOps interface {
	// FakeQuant computes, per element of channel c, PyTorch's float32
	// arithmetic (aten FakeQuantizeCore.cu, fake_quantize_per_channel_affine;
	// docs/QAT.md A1.4):
	//
	//	s    = max(scale[c], MinScale)          (no floor when MinScale = 0)
	//	z    = clamp(nearbyint(zeroPoint[c]), QMin, QMax)
	//	q    = nearbyint(x·(1/s)) + z           1/s and the product in float32, ties to even
	//	y    = (clamp(q, QMin, QMax) − z)·s
	//
	// y may alias x. Zero points are stored as floats; integral values in
	// range (all that observers produce) are used as they are. A NaN x gives
	// NaN, so a diverged activation stays visible (PyTorch's result depends
	// on its platform's int64 cast of NaN); ±Inf saturates. Scales must be
	// positive and finite: the CPU backend returns an error wrapping ErrNaN
	// otherwise; the CUDA backend, which cannot read device values without
	// a sync, computes zeros and NaN for them.
	FakeQuant(y, x, scale, zeroPoint Tensor, s QuantShape) error
	// FakeQuantBackward overwrites dx = dy·mask, the straight-through
	// estimator with clipping, where mask = QMin ≤ q ≤ QMax on the
	// unclamped integer q of FakeQuant (dx may alias dy; nil skips it).
	// dscale and dzeroPoint [Channels] (each optional) accumulate the
	// learnable-quantizer gradients of PyTorch's
	// _fake_quantize_learnable_per_channel_affine_backward (LSQ, Esser et
	// al. 2020, eq. 3, with a zero point; docs/QAT.md A1.5), summed
	// over the channel's elements in float64 in a fixed order and scaled by
	// gradFactor:
	//
	//	q < QMin:  dscale += g·dy·(QMin − z)   dzeroPoint += −g·dy·s
	//	q > QMax:  dscale += g·dy·(QMax − z)   dzeroPoint += −g·dy·s
	//	otherwise: dscale += g·dy·(y − x)/s    (as y − x times 1/s in float32)
	//
	// with s, z, q and y as in FakeQuant; a NaN x has mask 0 and makes its
	// channel's dscale and dzeroPoint NaN. PyTorch's CPU backward rounds
	// nearbyint(z + x·(1/s)) (one fused multiply-add) instead, which
	// differs from its own forward near ties when z ≠ 0; this follows the
	// forward, as PyTorch's CUDA kernel does. The LSQ gradient scale 1/sqrt(N·QMax) is the caller's
	// gradFactor. Errors as for FakeQuant.
	FakeQuantBackward(dx, dscale, dzeroPoint, dy, x, scale, zeroPoint Tensor, s QuantShape, gradFactor float64) error
	// MinMax overwrites min[c] and max[c] with the smallest and largest
	// element of channel c of x (only s's sizes are read), the statistics
	// of PyTorch's MinMaxObserver. A channel holding a NaN gets NaN in both,
	// so observers can refuse it. The result stays on the backend: reading
	// it back (Download) is the caller's sync point.
	MinMax(min, max, x Tensor, s QuantShape) error
}

// SGDHyper holds SGD's momentum coefficients; First marks the first step,
// on which PyTorch initialises the momentum buffer to the gradient.
type SGDHyper struct {
	Momentum, Dampening float64
	Nesterov, First     bool
}

// AdamWGroup is a contiguous range [Offset, Offset+Len) of a parameter arena
// sharing one learning rate and weight decay (decoupled for AdamW, L2 for
// SGD).
type AdamWGroup struct {
	Offset, Len     int
	LR, WeightDecay float64
}

// AdamWHyper holds AdamW's coefficients and the 1-based step number t used
// for bias correction.
type AdamWHyper struct {
	Beta1, Beta2, Eps float64
	Step              int
}

// OptimPreparer is implemented by backends whose AdamW and SGD read the
// values that change from step to step (the learning rates, AdamW's bias
// corrections, SGD's first-step flag) from device memory, the CUDA
// backend: PrepareAdamW and PrepareSGD upload those of the AdamW or SGD
// call with the same arguments (n is the arena's length in elements), so
// that a step captured in a CUDA graph replays with each step's values.
// Call them before capturing the step and before every replay. Errors as
// for AdamW and SGD.
type OptimPreparer interface {
	PrepareAdamW(n int, groups []AdamWGroup, h AdamWHyper) error
	PrepareSGD(n int, groups []AdamWGroup, h SGDHyper) error
}

// Ranger is implemented by backends that can mark named ranges on a
// profiler timeline (NVTX on CUDA, shown by nsys). Layers open a range
// around each forward and backward when their backend is a Ranger.
type Ranger interface {
	// RangePush opens a range named name.
	RangePush(name string)
	// RangePop closes the innermost open range.
	RangePop()
}
