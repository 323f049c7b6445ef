package gpu

// Placeholders until the norm and activation ops land; this file is deleted then.

import (
	"errors"

	"github.com/nextconv/nextconv/kernels"
)

var errTODONorm = errors.New("gpu: not implemented yet")

func (b *Backend) LayerNorm(y, mean, rstd, x, w, bias kernels.Tensor, s kernels.NormShape) error {
	return errTODONorm
}
func (b *Backend) LayerNormBackward(dx, dw, db, dy, x, mean, rstd, w kernels.Tensor, s kernels.NormShape) error {
	return errTODONorm
}
func (b *Backend) LayerNormGELU(y, mean, rstd, x, w, bias kernels.Tensor, s kernels.NormShape, a kernels.GELUApprox) error {
	return errTODONorm
}
func (b *Backend) LayerNormGELUBackward(dx, dw, db, dy, x, mean, rstd, w, bias kernels.Tensor, s kernels.NormShape, a kernels.GELUApprox) error {
	return errTODONorm
}
func (b *Backend) GRN(y, gnorm, x, gamma, beta kernels.Tensor, s kernels.GRNShape) error {
	return errTODONorm
}
func (b *Backend) GRNBackward(dx, dgamma, dbeta, dy, x, gnorm, gamma kernels.Tensor, s kernels.GRNShape) error {
	return errTODONorm
}
func (b *Backend) GELU(y, x kernels.Tensor, a kernels.GELUApprox) error { return errTODONorm }
func (b *Backend) GELUBackward(dx, dy, x kernels.Tensor, a kernels.GELUApprox) error {
	return errTODONorm
}
