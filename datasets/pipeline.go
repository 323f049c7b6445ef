package datasets

import "fmt"

// ImageOp is one 8-bit stage of a [Pipeline]: a crop, flip, resize or
// RandAugment. Implementations are stateless values, safe for concurrent
// use; per-worker storage comes in through buf.
type ImageOp interface {
	// Apply transforms src, drawing every random decision from r, and
	// returns the result. It must not modify src. It may return src itself
	// (when it changes nothing) or an image stored in buf's slots, and
	// returns an error when src does not suit it (a crop larger than the
	// padded image, a channel count it cannot handle).
	Apply(src Image, r *RNG, buf *Buffers) (Image, error)
}

// TensorOp is one float32 stage of a [Pipeline], run in place on one
// normalised HWC image x of h×w×c values (random erasing).
type TensorOp interface {
	ApplyTensor(x []float32, h, w, c int, r *RNG)
}

// Buffers is the scratch storage one worker keeps for one op of a
// pipeline: three reusable images, so that an op made of steps
// (RandAugment) can move between them without allocating.
type Buffers struct {
	img [3]Image
}

// Image returns slot k (0, 1 or 2) reshaped to h×w×c. Its pixels are
// unspecified; the caller overwrites them.
func (b *Buffers) Image(k, h, w, c int) *Image {
	m := &b.img[k]
	m.resize(h, w, c)
	return m
}

// free returns a slot that neither holds the pixels of img nor is one of
// the excluded slots, so that an op can write into it while reading img.
func (b *Buffers) free(img Image, exclude ...int) *Image {
next:
	for k := range b.img {
		for _, e := range exclude {
			if e == k {
				continue next
			}
		}
		if p := b.img[k].Pix; len(p) > 0 && len(img.Pix) > 0 && &p[:1][0] == &img.Pix[:1][0] {
			continue
		}
		return &b.img[k]
	}
	panic("datasets: no free buffer") // unreachable: 3 slots, at most 2 excluded or aliased
}

// slot returns the index of m in b, or -1.
func (b *Buffers) slot(m *Image) int {
	for k := range b.img {
		if &b.img[k] == m {
			return k
		}
	}
	return -1
}

// Pipeline is a composed transform from a dataset image to one normalised
// float32 HWC sample: the 8-bit Ops in order, then Normalize (ToTensor +
// Normalize), then the float Tensor ops in order. It is safe for
// concurrent use; each worker passes its own [Scratch].
type Pipeline struct {
	Ops       []ImageOp
	Normalize *Normalize
	Tensor    []TensorOp
}

// Scratch is one worker's storage for running a [Pipeline]; the zero value
// is ready to use. Reusing it across samples avoids allocation.
type Scratch struct {
	bufs []Buffers
}

// Image runs the 8-bit stage on src and returns the transformed image,
// which may live in s and stays valid until s is used again.
func (p *Pipeline) Image(src Image, r *RNG, s *Scratch) (Image, error) {
	if err := src.Check(); err != nil {
		return Image{}, err
	}
	if len(s.bufs) < len(p.Ops) {
		s.bufs = make([]Buffers, len(p.Ops))
	}
	img := src
	for i, op := range p.Ops {
		out, err := op.Apply(img, r, &s.bufs[i])
		if err != nil {
			return Image{}, fmt.Errorf("datasets: pipeline op %d (%T) on a %v image: %w", i, op, img, err)
		}
		img = out
	}
	return img, nil
}

// Finish normalises img into dst[:H·W·C] and runs the Tensor ops on it.
// It returns an error if dst is too short, Normalize is nil or its channel
// count differs from img's.
func (p *Pipeline) Finish(dst []float32, img Image, r *RNG) error {
	if p.Normalize == nil {
		return fmt.Errorf("datasets: pipeline has no Normalize stage")
	}
	n := img.Len()
	if len(dst) < n {
		return fmt.Errorf("datasets: pipeline output %v needs %d floats, destination has %d", img, n, len(dst))
	}
	if err := p.Normalize.Apply(dst[:n], img); err != nil {
		return err
	}
	for _, t := range p.Tensor {
		t.ApplyTensor(dst[:n], img.H, img.W, img.C, r)
	}
	return nil
}

// Run is Image followed by Finish: it writes the normalised, augmented
// sample into dst and returns its shape.
func (p *Pipeline) Run(dst []float32, src Image, r *RNG, s *Scratch) (h, w, c int, err error) {
	img, err := p.Image(src, r, s)
	if err != nil {
		return 0, 0, 0, err
	}
	if err := p.Finish(dst, img, r); err != nil {
		return 0, 0, 0, err
	}
	return img.H, img.W, img.C, nil
}
