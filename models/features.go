package models

import (
	"slices"

	"github.com/nextconv/nextconv/kernels"
)

// FeatureInfo describes one stage's output as a backbone feature, as timm's
// feature_info does: its channels and its reduction (the input side over
// the feature's side, the product of the stem's and the stages' strides up
// to it).
type FeatureInfo struct {
	Stage     int // stage index, 0-based (−1: an EfficientNet's stem)
	Channels  int // C of the feature [N, H', W', C]
	Reduction int // H' = ⌈H/Reduction⌉ for ResNet's padded convolutions, ⌊H/Reduction⌋ for ConvNeXt's patchify and downsamples (equal when Reduction divides H)
}

// FeatureInfo returns every stage's [FeatureInfo], in stage order: for
// convnext_tiny channels 96, 192, 384, 768 at reductions 4, 8, 16, 32; for
// resnet50 256, 512, 1024, 2048 at 4, 8, 16, 32.
func (m *Model) FeatureInfo() []FeatureInfo {
	sp := m.Config.Spec()
	red := sp.Stem.Stride
	out := make([]FeatureInfo, len(sp.Stages))
	for i, st := range sp.Stages {
		red *= st.Stride
		dim := st.Dim
		if st.Blocks != nil {
			if _, _, d, err := st.block(st.Depth - 1); err == nil {
				dim = d
			}
		}
		out[i] = FeatureInfo{Stage: i, Channels: dim, Reduction: red}
	}
	return out
}

// Features runs the stem and the stages up to the last of stages on NHWC
// images x [N, H, W, InChans] and returns the outputs of the chosen stages
// (0-based, strictly increasing), each NHWC [N, H', W', C] as FeatureInfo
// describes it: timm's features_only=True model with out_indices = stages
// for ConvNeXt, and out_indices = stages + 1 for ResNet (whose timm index 0
// is the stem's stride-2 activation before the max pool). The head does not
// run. The tensors belong to the model until its next Forward or Features.
// It returns Forward's errors for a bad input, and an error naming the
// stage list when it is empty, out of range or not increasing.
func (m *Model) Features(x kernels.Tensor, stages []int) ([]kernels.Tensor, error) {
	if err := checkFeatureIndices(m.Config.Name, stages, len(m.Stages)); err != nil {
		return nil, err
	}
	if err := m.checkInput(x); err != nil {
		return nil, err
	}
	last := stages[len(stages)-1]
	out := make([]kernels.Tensor, 0, len(stages))
	y := x
	for k, p := range m.parts {
		if p.pos.Part == "head" || p.pos.Stage > last {
			break
		}
		var err error
		if y, err = p.layer.Forward(y); err != nil {
			return nil, err
		}
		endOfStage := p.pos.Part == "block" && (k+1 == len(m.parts) || m.parts[k+1].pos.Part == "head" || m.parts[k+1].pos.Stage != p.pos.Stage)
		if endOfStage && slices.Contains(stages, p.pos.Stage) {
			out = append(out, y)
		}
	}
	return out, nil
}
