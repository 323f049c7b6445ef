package gpu

// Placeholders until the pooling, elementwise, loss and optimizer ops land;
// this file is deleted then.

import (
	"errors"

	"github.com/nextconv/nextconv/kernels"
)

var errTODOMisc = errors.New("gpu: not implemented yet")

func (b *Backend) AvgPool(y, x kernels.Tensor, s kernels.PoolShape) error { return errTODOMisc }
func (b *Backend) AvgPoolBackward(dx, dy kernels.Tensor, s kernels.PoolShape) error {
	return errTODOMisc
}
func (b *Backend) Add(y, a, c kernels.Tensor) error               { return errTODOMisc }
func (b *Backend) Scale(y, x kernels.Tensor, alpha float64) error { return errTODOMisc }
func (b *Backend) ScaleSamples(y, x, scale kernels.Tensor) error  { return errTODOMisc }
func (b *Backend) ChannelScale(y, x, gamma kernels.Tensor) error  { return errTODOMisc }
func (b *Backend) ChannelScaleBackward(dx, dgamma, dy, x, gamma kernels.Tensor) error {
	return errTODOMisc
}
func (b *Backend) SumSquares(x kernels.Tensor) (float64, error) { return 0, errTODOMisc }
func (b *Backend) CrossEntropy(loss, prob, logits, target kernels.Tensor, s kernels.LossShape) error {
	return errTODOMisc
}
func (b *Backend) CrossEntropyBackward(dlogits, prob, target kernels.Tensor, scale float64, s kernels.LossShape) error {
	return errTODOMisc
}
func (b *Backend) AdamW(p, g, m, v kernels.Tensor, groups []kernels.AdamWGroup, h kernels.AdamWHyper) error {
	return errTODOMisc
}
func (b *Backend) SGD(p, g, buf kernels.Tensor, groups []kernels.AdamWGroup, h kernels.SGDHyper) error {
	return errTODOMisc
}
func (b *Backend) EMA(avg, x kernels.Tensor, decay float64) error { return errTODOMisc }
