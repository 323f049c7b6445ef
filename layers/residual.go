package layers

import (
	"github.com/nextconv/nextconv/kernels"
)

// Residual computes y = x + Body(x) (He et al. 2016). Body must keep x's
// shape. Backward adds the shortcut's gradient dy to Body's dx: the one place
// activation gradients accumulate.
type Residual struct {
	name    string
	be      kernels.Backend
	Body    Layer
	x       kernels.Tensor
	out, dx Buffer
}

// NewResidual returns x + body(x).
func NewResidual(be kernels.Backend, name string, body Layer) *Residual {
	return &Residual{name: name, be: be, Body: body}
}

// Name returns the layer's dotted path.
func (r *Residual) Name() string { return r.name }

// Children returns the body.
func (r *Residual) Children() []Layer { return []Layer{r.Body} }

// Params returns the body's parameters.
func (r *Residual) Params() []*Param { return r.Body.Params() }

// Forward computes x + Body(x).
func (r *Residual) Forward(x kernels.Tensor) (kernels.Tensor, error) {
	defer PopRange(PushRange(r.be, r.name))
	b, err := r.Body.Forward(x)
	if err != nil {
		return kernels.Tensor{}, err
	}
	if !b.Shape.Equal(x.Shape) {
		return kernels.Tensor{}, ShapeError(r.name, "Residual", "forward", b.Shape, "the body's input shape "+x.Shape.String())
	}
	y, err := r.out.GetAct(r.be, x.Shape)
	if err == nil {
		err = r.be.Add(y, x, b)
	}
	if err != nil {
		return kernels.Tensor{}, LayerError(r.name, "Residual", "forward", err)
	}
	r.x = x
	return y, nil
}

// Backward returns dy + Body.Backward(dy).
func (r *Residual) Backward(dy kernels.Tensor) (kernels.Tensor, error) {
	defer PopRange(PushRange(r.be, BackwardName(r.name)))
	if r.x.Nil() {
		return kernels.Tensor{}, LayerError(r.name, "Residual", "backward", ErrNoForward)
	}
	db, err := r.Body.Backward(dy)
	if err != nil {
		return kernels.Tensor{}, err
	}
	return sameShapeBackward(r.be, r.name, "Residual", r.x, dy, &r.dx, func(dx kernels.Tensor) error {
		return r.be.Add(dx, dy, db)
	})
}
