package layers

import (
	"github.com/nextconv/nextconv/kernels"
)

// Residual computes y = Shortcut(x) + Body(x) (He et al. 2016), the
// shortcut the identity when Shortcut is nil (then Body must keep x's
// shape) or a projection (ResNet's 1×1 conv + BatchNorm "downsample" when
// the block strides or changes width; Body and Shortcut must then give the
// same shape). Backward adds the two branches' gradients: the one place
// activation gradients accumulate.
type Residual struct {
	name     string
	be       kernels.Backend
	Body     Layer
	Shortcut Layer // nil: the identity
	x        kernels.Tensor
	out, dx  Buffer
}

// NewResidual returns x + body(x).
func NewResidual(be kernels.Backend, name string, body Layer) *Residual {
	return &Residual{name: name, be: be, Body: body}
}

// Name returns the layer's dotted path.
func (r *Residual) Name() string { return r.name }

// Children returns the body, then the shortcut when it has one.
func (r *Residual) Children() []Layer {
	if r.Shortcut != nil {
		return []Layer{r.Body, r.Shortcut}
	}
	return []Layer{r.Body}
}

// ParallelChildren reports whether the children each read the residual's
// input (a projection shortcut beside the body) rather than running in
// sequence; Describe walks them so.
func (r *Residual) ParallelChildren() bool { return r.Shortcut != nil }

// Params returns the body's parameters, then the shortcut's.
func (r *Residual) Params() []*Param {
	if r.Shortcut != nil {
		return append(r.Body.Params(), r.Shortcut.Params()...)
	}
	return r.Body.Params()
}

// Forward computes Shortcut(x) + Body(x).
func (r *Residual) Forward(x kernels.Tensor) (kernels.Tensor, error) {
	defer PopRange(PushRange(r.be, r.name))
	b, err := r.Body.Forward(x)
	if err != nil {
		return kernels.Tensor{}, err
	}
	s := x
	if r.Shortcut != nil {
		if s, err = r.Shortcut.Forward(x); err != nil {
			return kernels.Tensor{}, err
		}
	}
	if !b.Shape.Equal(s.Shape) {
		return kernels.Tensor{}, ShapeError(r.name, "Residual", "forward", b.Shape, "the shortcut's shape "+s.Shape.String())
	}
	y, err := r.out.GetAct(r.be, s.Shape)
	if err == nil {
		err = r.be.Add(y, s, b)
	}
	if err != nil {
		return kernels.Tensor{}, LayerError(r.name, "Residual", "forward", err)
	}
	r.x = x
	return y, nil
}

// Backward returns Shortcut.Backward(dy) + Body.Backward(dy) (dy itself for
// the identity shortcut).
func (r *Residual) Backward(dy kernels.Tensor) (kernels.Tensor, error) {
	defer PopRange(PushRange(r.be, BackwardName(r.name)))
	if r.x.Nil() {
		return kernels.Tensor{}, LayerError(r.name, "Residual", "backward", ErrNoForward)
	}
	db, err := r.Body.Backward(dy)
	if err != nil {
		return kernels.Tensor{}, err
	}
	if r.Shortcut == nil {
		return sameShapeBackward(r.be, r.name, "Residual", r.x, dy, &r.dx, func(dx kernels.Tensor) error {
			return r.be.Add(dx, dy, db)
		})
	}
	ds, err := r.Shortcut.Backward(dy)
	if err != nil {
		return kernels.Tensor{}, err
	}
	return sameShapeBackward(r.be, r.name, "Residual", r.x, ds, &r.dx, func(dx kernels.Tensor) error {
		return r.be.Add(dx, ds, db)
	})
}
