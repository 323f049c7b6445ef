package gpu

// Placeholders until the convolution ops land; this file is deleted then.

import (
	"errors"

	"github.com/nextconv/nextconv/kernels"
)

var errTODOConv = errors.New("gpu: not implemented yet")

func (b *Backend) Conv2D(y, x, w, bias kernels.Tensor, s kernels.ConvShape) error { return errTODOConv }
func (b *Backend) Conv2DBackward(dx, dw, db, dy, x, w kernels.Tensor, s kernels.ConvShape) error {
	return errTODOConv
}
func (b *Backend) DWConv(y, x, w, bias kernels.Tensor, s kernels.DWConvShape) error {
	return errTODOConv
}
func (b *Backend) DWConvBackward(dx, dw, db, dy, x, w kernels.Tensor, s kernels.DWConvShape) error {
	return errTODOConv
}
func (b *Backend) Linear(y, x, w, bias kernels.Tensor, s kernels.LinearShape) error {
	return errTODOConv
}
func (b *Backend) LinearBackward(dx, dw, db, dy, x, w kernels.Tensor, s kernels.LinearShape) error {
	return errTODOConv
}
