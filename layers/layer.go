// Package layers is nextconv's layer library: explicit Forward and Backward
// over a [kernels.Backend], no tape and no autograd.
//
// A [Layer]'s Forward caches what its Backward needs and returns an output
// the layer owns (valid until its next Forward). Backward takes dL/dy and
// returns dL/dx (owned by the layer, valid until its next Backward) while
// accumulating dL/dθ into every [Param]'s Grad. Parameter gradients
// accumulate (+=), so a training step zeroes them once ([Arena.ZeroGrad]);
// activation gradients are overwritten, except where two branches meet
// ([Residual] adds them).
//
// Activations are NHWC (see package kernels), float32, or bfloat16 when the
// backend is in bf16 precision (docs/BF16.md): outputs and activation
// gradients come from [Buffer.GetAct], statistics from [Buffer.Get], and
// matrix products read [Param.Operand]. Parameter names follow
// timm's ConvNeXt state dict ("stages.1.blocks.0.conv_dw.weight"), so
// checkpoints load by name.
package layers

import (
	"errors"
	"fmt"
	"sync"

	"github.com/nextconv/nextconv/kernels"
)

// Layer is one differentiable step of a model.
type Layer interface {
	// Name returns the layer's dotted path in the model ("stem.0",
	// "stages.2.blocks.1"), used in errors and profiler ranges.
	Name() string
	// Forward computes the output for input x and caches what Backward
	// needs. The output belongs to the layer until its next Forward.
	Forward(x kernels.Tensor) (kernels.Tensor, error)
	// Backward returns dL/dx for the upstream gradient dy = dL/dy of the
	// last Forward and accumulates the parameter gradients. It returns an
	// error wrapping [ErrNoForward] if Forward has not run.
	Backward(dy kernels.Tensor) (kernels.Tensor, error)
	// Params returns the layer's parameters, including those of its
	// children, in state-dict order.
	Params() []*Param
}

// Container is a layer made of other layers (Sequential, Residual, Block).
type Container interface {
	Layer
	// Children returns the direct sub-layers in execution order.
	Children() []Layer
}

// Trainer is implemented by layers whose forward differs between training
// and evaluation (drop path).
type Trainer interface {
	// SetTraining switches training behaviour on or off.
	SetTraining(on bool)
}

// SetTraining switches l and every layer below it between training and
// evaluation behaviour.
func SetTraining(l Layer, on bool) {
	if t, ok := l.(Trainer); ok {
		t.SetTraining(on)
	}
	if c, ok := l.(Container); ok {
		for _, ch := range c.Children() {
			SetTraining(ch, on)
		}
	}
}

// Walk calls fn for l and every layer below it, parents before children.
func Walk(l Layer, fn func(Layer)) {
	fn(l)
	if c, ok := l.(Container); ok {
		for _, ch := range c.Children() {
			Walk(ch, fn)
		}
	}
}

// ErrNoForward is wrapped by the error Backward returns when no Forward
// preceded it.
var ErrNoForward = errors.New("Backward called before Forward")

// Param is one named parameter tensor with its gradient. Value and Grad have
// the same shape and live on the layer's backend; after [NewArena] they are
// views into the arena's two buffers.
type Param struct {
	Name  string         // state-dict name, e.g. "stages.0.blocks.1.norm.weight"
	Value kernels.Tensor // the parameter
	Grad  kernels.Tensor // dL/dValue, accumulated by Backward
	Decay bool           // whether AdamW's weight decay applies (false for biases, norms, GRN, layer scale)
	// Low is the bf16 copy of Value that matrix products read in
	// kernels.BF16 precision (master weights, docs/BF16.md): a BFloat16 view
	// into the arena's Low buffer, refreshed by the optimizer step
	// (kernels.OptimOps.AdamWBF16) and by [Arena.SyncLow]. It is the zero
	// Tensor in FP32 and TF32 precision and before [NewArena].
	Low kernels.Tensor
}

// Operand returns the tensor a matrix product reads for p: Low in bf16
// precision, else Value.
func (p *Param) Operand() kernels.Tensor {
	if !p.Low.Nil() {
		return p.Low
	}
	return p.Value
}

// Shape returns the parameter's shape.
func (p *Param) Shape() kernels.Shape { return p.Value.Shape }

// NewParam allocates a zero parameter of shape s and its gradient (same
// shape) on be; decay says whether AdamW's weight decay applies. It returns
// be's allocation error, naming the parameter.
func NewParam(be kernels.Backend, name string, s kernels.Shape, decay bool) (*Param, error) {
	v, err := be.Alloc(s)
	if err != nil {
		return nil, fmt.Errorf("layers: param %s %v: %w", name, s, err)
	}
	g, err := be.Alloc(s)
	if err != nil {
		return nil, fmt.Errorf("layers: param %s grad %v: %w", name, s, err)
	}
	return &Param{Name: name, Value: v, Grad: g, Decay: decay}, nil
}

// Join builds the dotted name prefix.name that parameters, layers and
// checkpoint tensors use, skipping an empty prefix.
func Join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// LayerError wraps err as "layer <name> (<kind>) <phase>: err", the form
// every layer's errors take; phase is "forward", "backward" or the like.
func LayerError(name, kind, phase string, err error) error {
	return fmt.Errorf("layer %s (%s) %s: %w", name, kind, phase, err)
}

// ShapeError reports an input of shape got where want (in words) was
// expected, in LayerError's form, wrapping kernels.ErrShape.
func ShapeError(name, kind, phase string, got kernels.Shape, want string) error {
	return fmt.Errorf("layer %s (%s) %s: input shape %v, want %s: %w", name, kind, phase, got, want, kernels.ErrShape)
}

// Buffer is an output or gradient tensor a layer reuses across calls while
// the shape stays the same. The zero value is empty.
type Buffer struct{ t kernels.Tensor }

// Get returns a tensor of shape s in be's compute type (for statistics,
// losses and other float32 state), reusing the previous one when shape and
// dtype match. The contents are stale, not zeroed.
func (b *Buffer) Get(be kernels.Backend, s kernels.Shape) (kernels.Tensor, error) {
	return b.get(be, s, be.DType())
}

// GetAct is Get for an activation or activation gradient: the tensor is in
// be's activation dtype (kernels.ActivationDType), bfloat16 in bf16
// precision.
func (b *Buffer) GetAct(be kernels.Backend, s kernels.Shape) (kernels.Tensor, error) {
	return b.get(be, s, kernels.ActivationDType(be))
}

// GEMMInput returns x as a matrix product reads it: x itself, or, in bf16
// precision when x is not bf16 (the input batch, a float32 tensor a caller
// allocated), x rounded to bf16 into b, as autocast casts the inputs of its
// matrix products.
func (b *Buffer) GEMMInput(be kernels.Backend, x kernels.Tensor) (kernels.Tensor, error) {
	dt := kernels.ActivationDType(be)
	if x.Nil() || x.Data.DType() == dt {
		return x, nil
	}
	t, err := b.get(be, x.Shape, dt)
	if err == nil {
		err = be.Copy(t, x)
	}
	return t, err
}

func (b *Buffer) get(be kernels.Backend, s kernels.Shape, dt kernels.DType) (kernels.Tensor, error) {
	if !b.t.Nil() && b.t.Shape.Equal(s) && b.t.Data.DType() == dt {
		return b.t, nil
	}
	be.Free(b.t)
	t, err := be.AllocDType(s, dt)
	if err != nil {
		return kernels.Tensor{}, err
	}
	b.t = t
	return t, nil
}

// PushRange opens a profiler range (NVTX on the CUDA backend) named name on
// be if it supports them and returns the Ranger to close it with PopRange
// (nil if none):
//
//	defer PopRange(PushRange(l.be, l.name))
//
// Neither allocates, so ranges cost nothing on the Go heap per call.
func PushRange(be kernels.Backend, name string) kernels.Ranger {
	r, ok := be.(kernels.Ranger)
	if ok {
		r.RangePush(name)
	}
	return r
}

// PopRange closes the range PushRange opened on r; a nil r does nothing.
func PopRange(r kernels.Ranger) {
	if r != nil {
		r.RangePop()
	}
}

// backwardNames caches the backward ranges' names, name + ".backward", so
// that a backward pass does not build them again.
var backwardNames struct {
	sync.Mutex
	m map[string]string
}

// BackwardName returns name + ".backward", the profiler range of a layer's
// backward, built once per name so that a backward pass does not allocate.
func BackwardName(name string) string {
	backwardNames.Lock()
	defer backwardNames.Unlock()
	s, ok := backwardNames.m[name]
	if !ok {
		if backwardNames.m == nil {
			backwardNames.m = map[string]string{}
		}
		s = name + ".backward"
		backwardNames.m[name] = s
	}
	return s
}
