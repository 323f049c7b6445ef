package gpu

// Placeholders until the fake quantization kernels land; this file is
// deleted then.

import (
	"errors"

	"github.com/nextconv/nextconv/kernels"
)

var errTODOQuant = errors.New("gpu: not implemented yet")

func (b *Backend) FakeQuant(y, x, scale, zeroPoint kernels.Tensor, s kernels.QuantShape) error {
	return errTODOQuant
}
func (b *Backend) FakeQuantBackward(dx, dscale, dzeroPoint, dy, x, scale, zeroPoint kernels.Tensor, s kernels.QuantShape, gradFactor float64) error {
	return errTODOQuant
}
func (b *Backend) MinMax(min, max, x kernels.Tensor, s kernels.QuantShape) error { return errTODOQuant }
