package cpu

// Placeholders until the norm, activation, elementwise, loss and optimizer
// ops land; this file is deleted then.

import (
	"errors"

	"github.com/nextconv/nextconv/kernels"
)

var errTODO = errors.New("cpu: not implemented yet")

func (b *Backend) LayerNorm(y, mean, rstd, x, w, bias kernels.Tensor, s kernels.NormShape) error {
	return errTODO
}
func (b *Backend) LayerNormBackward(dx, dw, db, dy, x, mean, rstd, w kernels.Tensor, s kernels.NormShape) error {
	return errTODO
}
func (b *Backend) LayerNormGELU(y, mean, rstd, x, w, bias kernels.Tensor, s kernels.NormShape, a kernels.GELUApprox) error {
	return errTODO
}
func (b *Backend) LayerNormGELUBackward(dx, dw, db, dy, x, mean, rstd, w, bias kernels.Tensor, s kernels.NormShape, a kernels.GELUApprox) error {
	return errTODO
}
func (b *Backend) GRN(y, gnorm, x, gamma, beta kernels.Tensor, s kernels.GRNShape) error {
	return errTODO
}
func (b *Backend) GRNBackward(dx, dgamma, dbeta, dy, x, gnorm, gamma kernels.Tensor, s kernels.GRNShape) error {
	return errTODO
}
func (b *Backend) GELU(y, x kernels.Tensor, a kernels.GELUApprox) error              { return errTODO }
func (b *Backend) GELUBackward(dx, dy, x kernels.Tensor, a kernels.GELUApprox) error { return errTODO }
func (b *Backend) AvgPool(y, x kernels.Tensor, s kernels.PoolShape) error            { return errTODO }
func (b *Backend) AvgPoolBackward(dx, dy kernels.Tensor, s kernels.PoolShape) error  { return errTODO }
func (b *Backend) Add(y, a, c kernels.Tensor) error                                  { return errTODO }
func (b *Backend) Scale(y, x kernels.Tensor, alpha float64) error                    { return errTODO }
func (b *Backend) ScaleSamples(y, x, scale kernels.Tensor) error                     { return errTODO }
func (b *Backend) ChannelScale(y, x, gamma kernels.Tensor) error                     { return errTODO }
func (b *Backend) ChannelScaleBackward(dx, dgamma, dy, x, gamma kernels.Tensor) error {
	return errTODO
}
func (b *Backend) SumSquares(x kernels.Tensor) (float64, error) { return 0, errTODO }
func (b *Backend) CrossEntropy(loss, prob, logits, target kernels.Tensor, s kernels.LossShape) error {
	return errTODO
}
func (b *Backend) CrossEntropyBackward(dlogits, prob, target kernels.Tensor, scale float64, s kernels.LossShape) error {
	return errTODO
}
func (b *Backend) AdamW(p, g, m, v kernels.Tensor, groups []kernels.AdamWGroup, h kernels.AdamWHyper) error {
	return errTODO
}
func (b *Backend) EMA(avg, x kernels.Tensor, decay float64) error { return errTODO }
