package datasets

import "fmt"

// Normalize converts 8-bit pixels to float32 exactly as torchvision's
// ToTensor followed by Normalize(mean, std) does in float32:
// y = (float32(v)/255 − mean[c]) / std[c], each operation rounded to
// float32. The 256 possible values per channel are tabulated once.
type Normalize struct {
	mean, std []float64
	lut       [][256]float32
}

// NewNormalize returns the normalisation for len(mean) channels. It returns
// an error if mean and std differ in length or a std is not positive.
func NewNormalize(mean, std []float64) (*Normalize, error) {
	if len(mean) == 0 || len(mean) != len(std) {
		return nil, fmt.Errorf("datasets: normalize: %d means and %d stds", len(mean), len(std))
	}
	n := &Normalize{mean: mean, std: std, lut: make([][256]float32, len(mean))}
	for c := range mean {
		if !(std[c] > 0) {
			return nil, fmt.Errorf("datasets: normalize: std[%d] = %g, want > 0", c, std[c])
		}
		m, s := float32(mean[c]), float32(std[c])
		for v := range 256 {
			x := float32(v) / 255
			n.lut[c][v] = (x - m) / s
		}
	}
	return n, nil
}

// Mean returns the per-channel means (of values scaled to [0, 1]).
func (n *Normalize) Mean() []float64 { return append([]float64(nil), n.mean...) }

// Std returns the per-channel standard deviations.
func (n *Normalize) Std() []float64 { return append([]float64(nil), n.std...) }

// Channels returns the number of channels n normalises.
func (n *Normalize) Channels() int { return len(n.mean) }

// Value returns the normalised value of byte v in channel c.
func (n *Normalize) Value(c int, v uint8) float32 { return n.lut[c][v] }

// Apply writes the normalised pixels of img into dst (HWC, len(dst) =
// img.Len()). It returns an error if img's channel count differs from n's.
func (n *Normalize) Apply(dst []float32, img Image) error {
	if img.C != len(n.lut) {
		return fmt.Errorf("datasets: normalize: %v image, normalisation has %d channels", img, len(n.lut))
	}
	src := img.Pix[:img.Len()]
	dst = dst[:len(src)]
	if img.C == 1 {
		lut := &n.lut[0]
		for i, v := range src {
			dst[i] = lut[v]
		}
		return nil
	}
	l0, l1, l2 := &n.lut[0], &n.lut[1], &n.lut[2]
	for i := 0; i+2 < len(src); i += 3 {
		dst[i] = l0[src[i]]
		dst[i+1] = l1[src[i+1]]
		dst[i+2] = l2[src[i+2]]
	}
	return nil
}
