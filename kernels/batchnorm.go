package kernels

import (
	"fmt"
	"math"
)

// BatchNormOps are 2-D batch normalization (Ioffe & Szegedy 2015, eq. in
// Algorithm 1; PyTorch's nn.BatchNorm2d) over NHWC activations seen as
// x [Rows, C], Rows = N·H·W.
type BatchNormOps interface {
	// BatchNorm computes y = (x − mean)·rstd·w + b per channel and writes
	// the mean and rstd [C] it used, which BatchNormBackward reads.
	//
	// Training (s.Training): mean and the biased variance var are the
	// batch's, over the Rows values of each channel, rstd = 1/sqrt(var +
	// Eps); the running estimates [C] are then updated in place with
	// PyTorch's momentum semantics (torch.nn.functional.batch_norm):
	//
	//	runMean = (1 − Momentum)·runMean + Momentum·mean
	//	runVar  = (1 − Momentum)·runVar  + Momentum·var·Rows/(Rows − 1)
	//
	// Evaluation: mean = runMean, rstd = 1/sqrt(runVar + Eps), running
	// estimates unchanged. y may alias x. Statistics are two-pass (mean,
	// then Σ(x − mean)²) in a fixed order, deterministic. A NaN in a channel
	// makes that channel's output and statistics NaN.
	BatchNorm(y, mean, rstd, x, w, b, runMean, runVar Tensor, s BatchNormShape) error
	// BatchNormBackward overwrites dx [Rows, C] and accumulates dw and db
	// [C] from dy [Rows, C], using the forward's x, mean, rstd and w. With
	// x̂ = (x − mean)·rstd:
	//
	//	db += Σ_rows dy     dw += Σ_rows dy·x̂
	//	dx  = w·rstd·(dy − Σdy/Rows − x̂·Σ(dy·x̂)/Rows)   training
	//	dx  = w·rstd·dy                                  evaluation
	//
	// (the training form is the gradient through the batch statistics,
	// PyTorch's native_batch_norm_backward). dx may alias dy.
	BatchNormBackward(dx, dw, db, dy, x, mean, rstd, w Tensor, s BatchNormShape) error
}

// BatchNormShape describes a BatchNorm over the channels of Rows rows:
//
//	x, y, dy, dx [Rows, C]   w, b, mean, rstd, runMean, runVar, dw, db [C]
//
// PyTorch's defaults are Eps = 1e-5 and Momentum = 0.1. Training selects
// batch statistics (and the running-estimate update) over the running ones.
type BatchNormShape struct {
	Rows, C       int
	Eps, Momentum float64
	Training      bool
}

// Validate returns an error wrapping [ErrShape] unless Rows and C are
// positive, Eps >= 0 and 0 <= Momentum <= 1 (all finite), and, in
// training, Rows > 1: the unbiased variance of the running estimate needs
// two values per channel (PyTorch refuses one too).
func (s BatchNormShape) Validate() error {
	if err := positive("batchnorm", "Rows", s.Rows, "C", s.C); err != nil {
		return err
	}
	if !(s.Eps >= 0) || math.IsInf(s.Eps, 0) || !(s.Momentum >= 0 && s.Momentum <= 1) {
		return fmt.Errorf("batchnorm: eps %v must be finite and >= 0, momentum %v in [0, 1]: %w", s.Eps, s.Momentum, ErrShape)
	}
	if s.Training && s.Rows < 2 {
		return fmt.Errorf("batchnorm: training needs more than one value per channel, got Rows = %d: %w", s.Rows, ErrShape)
	}
	return nil
}

// ForwardArgs returns BatchNorm's arguments at s for [CheckArgs]: x and y
// [Rows, C]; w, b, mean, rstd, runMean and runVar [C]. None may be nil.
func (s BatchNormShape) ForwardArgs(y, mean, rstd, x, w, b, runMean, runVar Tensor) []Arg {
	rc, c := Shape{s.Rows, s.C}, Shape{s.C}
	return []Arg{{Name: "x", T: x, Want: rc}, {Name: "w", T: w, Want: c}, {Name: "b", T: b, Want: c},
		{Name: "runMean", T: runMean, Want: c}, {Name: "runVar", T: runVar, Want: c},
		{Name: "y", T: y, Want: rc}, {Name: "mean", T: mean, Want: c}, {Name: "rstd", T: rstd, Want: c}}
}

// BackwardArgs returns BatchNormBackward's arguments at s: dy, x and dx
// [Rows, C]; mean, rstd, w, dw and db [C]. None may be nil.
func (s BatchNormShape) BackwardArgs(dx, dw, db, dy, x, mean, rstd, w Tensor) []Arg {
	rc, c := Shape{s.Rows, s.C}, Shape{s.C}
	return []Arg{{Name: "dy", T: dy, Want: rc}, {Name: "x", T: x, Want: rc}, {Name: "mean", T: mean, Want: c},
		{Name: "rstd", T: rstd, Want: c}, {Name: "w", T: w, Want: c},
		{Name: "dx", T: dx, Want: rc}, {Name: "dw", T: dw, Want: c}, {Name: "db", T: db, Want: c}}
}
