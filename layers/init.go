package layers

import (
	"math/rand/v2"

	"github.com/nextconv/nextconv/kernels"
)

// InitStd is the standard deviation of the truncated normal that ConvNeXt
// (official models/convnextv2.py _init_weights, and timm) draws every conv
// and linear weight from.
const InitStd = 0.02

// TruncNormal fills p with draws from N(0, std²) truncated to [a, b]
// (resampled outside), timm's trunc_normal_ with absolute bounds. ConvNeXt
// calls it with std 0.02 and a, b = −2, 2, which is effectively untruncated.
func TruncNormal(be kernels.Backend, p *Param, rng *rand.Rand, std, a, b float64) error {
	v := make([]float32, p.Value.Len())
	for i := range v {
		for {
			x := rng.NormFloat64() * std
			if x >= a && x <= b {
				v[i] = float32(x)
				break
			}
		}
	}
	return be.Upload(p.Value, v)
}

// Fill sets every element of p to c.
func Fill(be kernels.Backend, p *Param, c float32) error {
	v := make([]float32, p.Value.Len())
	for i := range v {
		v[i] = c
	}
	return be.Upload(p.Value, v)
}

// initWeight draws a conv or linear weight with ConvNeXt's init, or leaves it
// zero when rng is nil.
func initWeight(be kernels.Backend, p *Param, rng *rand.Rand) error {
	if rng == nil {
		return nil
	}
	return TruncNormal(be, p, rng, InitStd, -2, 2)
}
