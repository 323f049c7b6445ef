package datasets

import (
	"fmt"
	"math"
)

// Dataset is an indexed collection of labelled images. Implementations must
// be safe for concurrent use by the loader's workers.
type Dataset interface {
	// Len returns the number of samples.
	Len() int
	// Info returns the dataset's metadata.
	Info() Info
	// Label returns the class index of sample i, in [0, Info().NumClasses()).
	Label(i int) int
	// Image returns sample i as an 8-bit HWC image. A dataset that decodes
	// may store the pixels in buf (reusing its storage); an in-memory dataset
	// returns a view of its own storage. Either way the caller must not
	// modify the returned pixels. Errors name the sample and its file.
	Image(i int, buf *Image) (Image, error)
}

// Split selects the training or test part of a dataset.
type Split int

const (
	// Train is the training split (Fashion-MNIST/MNIST: 60,000 images,
	// CIFAR: 50,000).
	Train Split = iota
	// Test is the test split (10,000 images for all four).
	Test
)

// String returns "train" or "test".
func (s Split) String() string {
	if s == Test {
		return "test"
	}
	return "train"
}

// Memory is a dataset whose images all have one size and live in memory as
// 8-bit HWC: image i is Pix[i*H*W*C : (i+1)*H*W*C]. The readers of IDX and
// CIFAR files return one.
type Memory struct {
	info   Info
	pix    []uint8
	labels []uint8
}

// NewMemory wraps pixels and labels into a Memory dataset described by info
// (which must give H, W and C). It returns an error wrapping [ErrFormat] if
// len(pix) is not len(labels)·H·W·C, or [ErrLabel] naming the first label
// outside [0, len(info.Classes)).
func NewMemory(info Info, pix []uint8, labels []uint8) (*Memory, error) {
	if err := info.check(); err != nil {
		return nil, err
	}
	if info.H <= 0 || info.W <= 0 {
		return nil, fmt.Errorf("datasets: %s: in-memory images need a fixed size, got %dx%d", info.Name, info.H, info.W)
	}
	if len(info.Classes) == 0 || len(info.Classes) > math.MaxUint8+1 {
		return nil, fmt.Errorf("datasets: %s: %d classes, want 1..256", info.Name, len(info.Classes))
	}
	hwc := info.H * info.W * info.C
	if len(pix) != len(labels)*hwc {
		return nil, fmt.Errorf("datasets: %s: %d pixel bytes for %d labels of %dx%dx%d images: %w",
			info.Name, len(pix), len(labels), info.H, info.W, info.C, ErrFormat)
	}
	for i, l := range labels {
		if int(l) >= len(info.Classes) {
			return nil, fmt.Errorf("datasets: %s: sample %d has label %d, want < %d: %w",
				info.Name, i, l, len(info.Classes), ErrLabel)
		}
	}
	return &Memory{info: info, pix: pix, labels: labels}, nil
}

// Len returns the number of samples.
func (m *Memory) Len() int { return len(m.labels) }

// Info returns the dataset's metadata.
func (m *Memory) Info() Info { return m.info }

// Label returns the label of sample i.
func (m *Memory) Label(i int) int { return int(m.labels[i]) }

// Labels returns all labels, index = sample. The slice is the dataset's
// own; do not modify it.
func (m *Memory) Labels() []uint8 { return m.labels }

// Image returns a view of sample i; buf is not used. It returns an error if
// i is out of range.
func (m *Memory) Image(i int, _ *Image) (Image, error) {
	if i < 0 || i >= len(m.labels) {
		return Image{}, fmt.Errorf("datasets: %s: sample %d out of range [0, %d)", m.info.Name, i, len(m.labels))
	}
	hwc := m.info.H * m.info.W * m.info.C
	return Image{H: m.info.H, W: m.info.W, C: m.info.C, Pix: m.pix[i*hwc : (i+1)*hwc : (i+1)*hwc]}, nil
}

// Histogram returns the number of samples of each class of d.
func Histogram(d Dataset) []int {
	h := make([]int, d.Info().NumClasses())
	for i := range d.Len() {
		if l := d.Label(i); l >= 0 && l < len(h) {
			h[l]++
		}
	}
	return h
}
