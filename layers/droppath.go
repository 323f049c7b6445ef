package layers

import (
	"fmt"

	"github.com/nextconv/nextconv/internal/philox"
	"github.com/nextconv/nextconv/kernels"
)

// DropPath is per-sample stochastic depth (Huang et al. 2016) as timm's
// DropPath(p, scale_by_keep=True) defines it: in training each sample's
// branch is kept with probability keep = 1 − Rate and then scaled by 1/keep,
// or zeroed; in evaluation, and when Rate is 0, it is the identity. x, y
// [N, ...]. Masks are Philox draws (philox.KeepMask): on the device when
// the backend implements kernels.InputOps, so CPU and CUDA runs of one
// seed drop the same samples.
type DropPath struct {
	name     string
	be       kernels.Backend
	Rate     float64
	rng      *philox.Generator
	training bool
	// FixedMask, when non-nil, replaces the random draw with these
	// per-sample factors (0 or 1/keep), for tests and reproductions.
	FixedMask []float32
	mask      []float32 // host copy of the last mask, filled by Mask
	active    bool      // the last Forward applied a mask
	n         int
	scale     Buffer
	out, dx   Buffer
	x         kernels.Tensor
}

// NewDropPath returns a DropPath with drop probability rate in [0, 1) that
// draws its masks from rng (shared with the model so a checkpoint can save
// its state; each Forward advances its counter by N). It starts in training
// mode.
func NewDropPath(be kernels.Backend, name string, rate float64, rng *philox.Generator) (*DropPath, error) {
	if !(rate >= 0 && rate < 1) {
		return nil, fmt.Errorf("layer %s (DropPath): rate %v outside [0, 1)", name, rate)
	}
	if rate > 0 && rng == nil {
		return nil, fmt.Errorf("layer %s (DropPath): rate %v needs a random source", name, rate)
	}
	return &DropPath{name: name, be: be, Rate: rate, rng: rng, training: true}, nil
}

// Name returns the layer's dotted path.
func (l *DropPath) Name() string { return l.name }

// Params returns nil.
func (l *DropPath) Params() []*Param { return nil }

// SetTraining switches between drawing masks (training) and identity.
func (l *DropPath) SetTraining(on bool) { l.training = on }

// Mask returns the per-sample factors of the last Forward (downloaded, a
// sync point on a device backend), or nil if it was the identity.
func (l *DropPath) Mask() ([]float32, error) {
	if !l.active {
		return nil, nil
	}
	l.mask = append(l.mask[:0], make([]float32, l.n)...)
	if err := l.be.Download(l.mask, l.scale.t); err != nil {
		return nil, LayerError(l.name, "DropPath", "mask", err)
	}
	return l.mask, nil
}

// Forward scales each sample of x by its mask factor.
func (l *DropPath) Forward(x kernels.Tensor) (kernels.Tensor, error) {
	defer PopRange(PushRange(l.be, l.name))
	if len(x.Shape) == 0 {
		return kernels.Tensor{}, ShapeError(l.name, "DropPath", "forward", x.Shape, "[N ...]")
	}
	l.x, l.n = x, x.Shape[0]
	l.active = l.training && (l.Rate > 0 || l.FixedMask != nil)
	if !l.active {
		return x, nil
	}
	scale, err := l.scale.Get(l.be, kernels.Shape{l.n})
	if err == nil {
		err = l.drawMask(scale)
	}
	var y kernels.Tensor
	if err == nil {
		y, err = l.out.GetAct(l.be, x.Shape)
	}
	if err == nil {
		err = l.be.ScaleSamples(y, x, scale)
	}
	if err != nil {
		return kernels.Tensor{}, LayerError(l.name, "DropPath", "forward", err)
	}
	return y, nil
}

// drawMask writes the factors of l.n samples into scale: FixedMask, or a
// Philox draw on the backend (kernels.InputOps), else on the host.
func (l *DropPath) drawMask(scale kernels.Tensor) error {
	if l.FixedMask != nil {
		if len(l.FixedMask) != l.n {
			return fmt.Errorf("fixed mask has %d factors for %d samples: %w", len(l.FixedMask), l.n, kernels.ErrShape)
		}
		return l.be.Upload(scale, l.FixedMask)
	}
	keep := 1 - l.Rate
	seed, counter := l.rng.Seed, l.rng.Counter
	l.rng.Counter += uint64(l.n)
	if in, ok := l.be.(kernels.InputOps); ok {
		return in.DropMask(scale, keep, seed, counter)
	}
	mask := make([]float32, l.n)
	philox.KeepMask(mask, seed, counter, keep)
	return l.be.Upload(scale, mask)
}

// Backward scales dy by the same per-sample factors.
func (l *DropPath) Backward(dy kernels.Tensor) (kernels.Tensor, error) {
	defer PopRange(PushRange(l.be, BackwardName(l.name)))
	if l.x.Nil() {
		return kernels.Tensor{}, LayerError(l.name, "DropPath", "backward", ErrNoForward)
	}
	if !dy.Shape.Equal(l.x.Shape) {
		return kernels.Tensor{}, ShapeError(l.name, "DropPath", "backward", dy.Shape, l.x.Shape.String())
	}
	if !l.active {
		return dy, nil
	}
	return sameShapeBackward(l.be, l.name, "DropPath", l.x, dy, &l.dx, func(dx kernels.Tensor) error {
		return l.be.ScaleSamples(dx, dy, l.scale.t)
	})
}
