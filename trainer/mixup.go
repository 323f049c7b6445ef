package trainer

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/nextconv/nextconv/internal/philox"
)

// MixupConfig holds timm's Mixup settings (Zhang et al. 2018 mixup, Yun et
// al. 2019 CutMix), mode "batch": one λ and one box per batch.
type MixupConfig struct {
	MixupAlpha  float64 `toml:"mixup_alpha" json:"mixup_alpha"`   // Beta(α, α) for mixup; 0 disables mixup
	CutmixAlpha float64 `toml:"cutmix_alpha" json:"cutmix_alpha"` // Beta(α, α) for CutMix; 0 disables CutMix
	Prob        float64 `toml:"prob" json:"prob"`                 // probability of mixing a batch at all (timm mix_prob, 1)
	SwitchProb  float64 `toml:"switch_prob" json:"switch_prob"`   // probability of CutMix instead of mixup when both are on (0.5)
}

// Enabled reports whether either mixup or CutMix is on.
func (c MixupConfig) Enabled() bool { return c.MixupAlpha > 0 || c.CutmixAlpha > 0 }

// Validate returns an error for negative alphas or probabilities outside [0, 1].
func (c MixupConfig) Validate() error {
	for _, a := range []struct {
		key string
		v   float64
		ok  bool
	}{
		{"mixup_alpha", c.MixupAlpha, c.MixupAlpha >= 0 && !math.IsInf(c.MixupAlpha, 0)},
		{"cutmix_alpha", c.CutmixAlpha, c.CutmixAlpha >= 0 && !math.IsInf(c.CutmixAlpha, 0)},
		{"prob", c.Prob, c.Prob >= 0 && c.Prob <= 1},
		{"switch_prob", c.SwitchProb, c.SwitchProb >= 0 && c.SwitchProb <= 1},
	} {
		if !a.ok {
			return fmt.Errorf("config: mixup.%s %v must be finite and >= 0 (probabilities at most 1)", a.key, a.v)
		}
	}
	return nil
}

// Mix is one batch's mixing decision.
type Mix struct {
	Lam    float64 // weight of each sample's own label (after CutMix's area correction)
	Cutmix bool
	Box    [4]int // CutMix box rows [Box[0], Box[1]) × columns [Box[2], Box[3])
}

// Mixup draws per-batch mixing decisions from its own Philox stream (the
// same on every backend), whose (seed, counter) state a checkpoint saves.
type Mixup struct {
	Config MixupConfig
	RNG    *philox.Generator
	rng    *rand.Rand
}

// NewMixup returns a Mixup on the mixup stream of seed
// (philox.Derive(seed, philox.StreamMixup)).
func NewMixup(c MixupConfig, seed uint64) (*Mixup, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	g := philox.New(philox.Derive(seed, philox.StreamMixup))
	return &Mixup{Config: c, RNG: g, rng: rand.New(g)}, nil
}

// Draw decides how to mix an h×w batch, in timm's order (Mixup
// ._params_per_batch then cutmix_bbox_and_lam): with probability Prob mix at
// all; when both are enabled choose CutMix with probability SwitchProb; draw
// λ ~ Beta(α, α); for CutMix draw a box of side sqrt(1−λ) of the image
// centred uniformly and clipped, then correct λ to 1 − box area / image area.
// Without mixing λ = 1.
func (m *Mixup) Draw(h, w int) Mix {
	c := m.Config
	mix := Mix{Lam: 1}
	if !c.Enabled() || m.rng.Float64() >= c.Prob {
		return mix
	}
	alpha := c.MixupAlpha
	switch {
	case c.MixupAlpha > 0 && c.CutmixAlpha > 0:
		mix.Cutmix = m.rng.Float64() < c.SwitchProb
		if mix.Cutmix {
			alpha = c.CutmixAlpha
		}
	case c.CutmixAlpha > 0:
		mix.Cutmix, alpha = true, c.CutmixAlpha
	}
	lam := distuv.Beta{Alpha: alpha, Beta: alpha, Src: m.rng}.Rand()
	if !mix.Cutmix {
		mix.Lam = lam
		return mix
	}
	mix.Box = cutmixBox(h, w, lam, m.rng.IntN(h), m.rng.IntN(w))
	mix.Lam = 1 - float64((mix.Box[1]-mix.Box[0])*(mix.Box[3]-mix.Box[2]))/float64(h*w)
	return mix
}

// cutmixBox is timm's rand_bbox with margin 0 for a given centre (cy, cx):
// cut sides int(h·sqrt(1−λ)), int(w·sqrt(1−λ)), edges centre ∓ side//2
// clipped to the image.
func cutmixBox(h, w int, lam float64, cy, cx int) [4]int {
	r := math.Sqrt(1 - lam)
	ch, cw := int(float64(h)*r), int(float64(w)*r)
	clip := func(v, hi int) int { return max(0, min(v, hi)) }
	return [4]int{clip(cy-ch/2, h), clip(cy+ch/2, h), clip(cx-cw/2, w), clip(cx+cw/2, w)}
}

// Apply mixes the NHWC batch x [n, h, w, c] in place with its reverse
// (sample i with sample n−1−i, timm's x.flip(0)) and returns the soft
// targets [n, k]: λ·y_i + (1−λ)·y_{n−1−i} with y = (1−ε)·onehot + ε/k
// (timm's mixup_target). It returns an error for a label outside [0, k).
func (mix Mix) Apply(x []float32, n, h, w, c int, labels []int, k int, smoothing float64) ([]float32, error) {
	if len(x) != n*h*w*c || len(labels) != n {
		return nil, fmt.Errorf("mixup: batch of %d values and %d labels for %d×%d×%d×%d", len(x), len(labels), n, h, w, c)
	}
	off := smoothing / float64(k)
	on := 1 - smoothing + off
	for i, y := range labels { // all first: sample i also takes its partner's label
		if y < 0 || y >= k {
			return nil, fmt.Errorf("mixup: label %d of sample %d outside [0, %d)", y, i, k)
		}
	}
	t := make([]float32, n*k)
	for i, y := range labels {
		j := labels[n-1-i]
		row := t[i*k : (i+1)*k]
		for q := range row {
			row[q] = float32(off)
		}
		row[y] += float32(mix.Lam * (on - off))
		row[j] += float32((1 - mix.Lam) * (on - off))
	}
	if mix.Lam == 1 {
		return t, nil
	}
	img := h * w * c
	if mix.Cutmix {
		// Copying inside the box from the flipped batch: pairs (i, n−1−i)
		// swap their boxes, and the middle sample of an odd batch keeps its own.
		y0, y1, x0, x1 := mix.Box[0], mix.Box[1], mix.Box[2], mix.Box[3]
		for i := 0; i < n/2; i++ {
			a, b := x[i*img:(i+1)*img], x[(n-1-i)*img:(n-i)*img]
			for r := y0; r < y1; r++ {
				lo, hi := (r*w+x0)*c, (r*w+x1)*c
				for q := lo; q < hi; q++ {
					a[q], b[q] = b[q], a[q]
				}
			}
		}
		return t, nil
	}
	lam := float32(mix.Lam)
	for i := 0; i < (n+1)/2; i++ {
		a, b := x[i*img:(i+1)*img], x[(n-1-i)*img:(n-i)*img]
		for q := range a {
			a[q], b[q] = lam*a[q]+(1-lam)*b[q], lam*b[q]+(1-lam)*a[q]
		}
	}
	return t, nil
}
