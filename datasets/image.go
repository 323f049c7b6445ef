package datasets

import "fmt"

// Image is an 8-bit image in HWC layout (channels last, row-major): channel c
// of pixel (y, x) is Pix[(y*W+x)*C+c]. C is 1 (grayscale) or 3 (RGB). This is
// the layout of a PIL "L" or "RGB" image as numpy sees it, and of one sample
// of an NHWC batch.
type Image struct {
	H, W, C int
	Pix     []uint8
}

// NewImage returns a zeroed h×w×c image.
func NewImage(h, w, c int) Image {
	return Image{H: h, W: w, C: c, Pix: make([]uint8, h*w*c)}
}

// Len returns H·W·C, the number of bytes of Pix in use.
func (m Image) Len() int { return m.H * m.W * m.C }

// Check reports an error if the dimensions are not positive, C is not 1 or 3,
// or Pix is shorter than H·W·C.
func (m Image) Check() error {
	if m.H <= 0 || m.W <= 0 || (m.C != 1 && m.C != 3) {
		return fmt.Errorf("datasets: image %dx%dx%d: want positive H, W and C of 1 or 3", m.H, m.W, m.C)
	}
	if len(m.Pix) < m.Len() {
		return fmt.Errorf("datasets: image %dx%dx%d has %d bytes, want %d", m.H, m.W, m.C, len(m.Pix), m.Len())
	}
	return nil
}

// String returns "H×W×C".
func (m Image) String() string { return fmt.Sprintf("%d×%d×%d", m.H, m.W, m.C) }

// resize makes m an h×w×c image, reusing Pix's storage when it is large
// enough. The pixels are left as they were (garbage); callers overwrite them.
func (m *Image) resize(h, w, c int) {
	n := h * w * c
	if cap(m.Pix) < n {
		m.Pix = make([]uint8, n)
	}
	m.H, m.W, m.C, m.Pix = h, w, c, m.Pix[:n]
}

// copyFrom makes m an exact copy of src, reusing m's storage.
func (m *Image) copyFrom(src Image) {
	m.resize(src.H, src.W, src.C)
	copy(m.Pix, src.Pix[:src.Len()])
}
