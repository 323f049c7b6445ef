package models

import (
	"fmt"

	"github.com/nextconv/nextconv/kernels"
)

// efficientStemLayers is the number of layers of an EfficientNet's stem in
// Net: conv_stem, bn1 and its activation.
const efficientStemLayers = 3

// FeatureInfo returns the backbone features of the network in timm's
// out_indices order, as timm's EfficientNetBuilder lists them for its
// features_only models (feature_location "bottleneck",
// timm/models/_efficientnet_builder.py): the stem's activation when the
// first block strides (Stage −1, Reduction 2), then the output of every
// stage followed by a strided stage, and of the last stage. For
// efficientnet_b0: 16, 24, 40, 112, 320 channels at reductions 2, 4, 8,
// 16, 32 (stages 0, 1, 2, 4, 6); for mobilenetv4_conv_small: 32 (stem),
// 32, 64, 96, 960 at 2, 4, 8, 16, 32 (stages −1, 0, 1, 2, 4). conv_head is
// not a feature.
func (m *EfficientNet) FeatureInfo() []FeatureInfo {
	a := m.Arch
	var out []FeatureInfo
	red := 2
	if len(a.Stages) > 0 && len(a.Stages[0]) > 0 && a.Stages[0][0].Stride > 1 {
		out = append(out, FeatureInfo{Stage: -1, Channels: a.StemWidth, Reduction: red})
	}
	for i, st := range a.Stages {
		if len(st) == 0 {
			continue
		}
		red *= st[0].Stride
		last := i+1 == len(a.Stages) || len(a.Stages[i+1]) == 0 || a.Stages[i+1][0].Stride > 1
		if last {
			out = append(out, FeatureInfo{Stage: i, Channels: st[len(st)-1].Out, Reduction: red})
		}
	}
	return out
}

// Features runs the stem and the blocks up to the last feature asked for
// on NHWC images x [N, H, W, InChans] (H, W >= 32, as for Forward) and
// returns the features of FeatureInfo at indices (timm's out_indices,
// strictly increasing), each NHWC [N, ⌈H/Reduction⌉, ⌈W/Reduction⌉,
// Channels]: timm's features_only=True model with out_indices = indices.
// The head does not run. The tensors belong to the model until its next
// Forward or Features. It returns Forward's errors for a bad input and an
// error naming the index list when it is empty, out of range or not
// increasing.
func (m *EfficientNet) Features(x kernels.Tensor, indices []int) ([]kernels.Tensor, error) {
	info := m.FeatureInfo()
	if err := checkFeatureIndices(m.Arch.Name, indices, len(info)); err != nil {
		return nil, err
	}
	if err := m.checkInput(x); err != nil {
		return nil, err
	}
	// ends[k]: the index in Net of the layer whose output is feature k.
	ends := make([]int, len(info))
	for k, f := range info {
		ends[k] = efficientStemLayers - 1
		for _, st := range m.Arch.Stages[:f.Stage+1] {
			ends[k] += len(st)
		}
	}
	out := make([]kernels.Tensor, 0, len(indices))
	y, next := x, 0
	for i, l := range m.Net.Layers[:ends[indices[len(indices)-1]]+1] {
		var err error
		if y, err = l.Forward(y); err != nil {
			return nil, err
		}
		if i == ends[indices[next]] {
			out = append(out, y)
			next++
		}
	}
	return out, nil
}

// checkFeatureIndices returns an error naming the model and the list
// unless indices is a non-empty, strictly increasing list in [0, n).
func checkFeatureIndices(model string, indices []int, n int) error {
	ok := len(indices) > 0 && indices[0] >= 0 && indices[len(indices)-1] < n
	for i := 1; ok && i < len(indices); i++ {
		ok = indices[i] > indices[i-1]
	}
	if !ok {
		return fmt.Errorf("model %s: features %v: want strictly increasing indices in [0, %d]", model, indices, n-1)
	}
	return nil
}
