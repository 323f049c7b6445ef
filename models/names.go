package models

import (
	"regexp"
	"strings"
)

// Naming is a state-dict naming convention for checkpoints.
type Naming int

const (
	// Timm is timm's naming (stem.0, stages.i.downsample.k,
	// stages.i.blocks.j.conv_dw, mlp.fc1, mlp.grn.weight, head.norm,
	// head.fc), nextconv's own and the default.
	Timm Naming = iota
	// Official is the facebookresearch/ConvNeXt-V2 (and V1) naming
	// (downsample_layers.i.k, stages.i.j.dwconv, pwconv1, grn.gamma, norm,
	// head).
	Official
)

// String returns "timm" or "official".
func (n Naming) String() string {
	if n == Official {
		return "official"
	}
	return "timm"
}

var (
	officialBlock      = regexp.MustCompile(`^stages\.(\d+)\.(\d+)\.`)
	officialDownsample = regexp.MustCompile(`^downsample_layers\.(\d+)\.(\d+)\.`)
	timmBlock          = regexp.MustCompile(`^stages\.(\d+)\.blocks\.(\d+)\.`)
	timmDownsample     = regexp.MustCompile(`^stages\.(\d+)\.downsample\.(\d+)\.`)
)

// OfficialToTimm maps an official ConvNeXt state-dict key to timm's, as
// timm's checkpoint_filter_fn does (docs/CONVNEXTV2.md §2.3): downsample_layers.0
// → stem, downsample_layers.i.k → stages.i.downsample.k, stages.i.j →
// stages.i.blocks.j, dwconv → conv_dw, pwconv → mlp.fc, grn.gamma/beta →
// mlp.grn.weight/bias, head → head.fc, norm → head.norm. Shapes differ only
// by size-1 axes ((1,1,1,E) GRN, (O,I) vs (O,I,1,1) MLP weights), which the
// loader reconciles without reordering memory.
func OfficialToTimm(k string) string {
	switch {
	case strings.HasPrefix(k, "downsample_layers.0."):
		k = "stem." + strings.TrimPrefix(k, "downsample_layers.0.")
	case officialDownsample.MatchString(k):
		k = officialDownsample.ReplaceAllString(k, "stages.$1.downsample.$2.")
	case officialBlock.MatchString(k):
		k = officialBlock.ReplaceAllString(k, "stages.$1.blocks.$2.")
		k = strings.Replace(k, ".dwconv.", ".conv_dw.", 1)
		k = strings.Replace(k, ".pwconv", ".mlp.fc", 1)
		k = strings.Replace(k, ".grn.gamma", ".mlp.grn.weight", 1)
		k = strings.Replace(k, ".grn.beta", ".mlp.grn.bias", 1)
	case strings.HasPrefix(k, "head."):
		k = "head.fc." + strings.TrimPrefix(k, "head.")
	case strings.HasPrefix(k, "norm."):
		k = "head." + k
	}
	return k
}

// TimmToOfficial is the inverse of OfficialToTimm.
func TimmToOfficial(k string) string {
	switch {
	case strings.HasPrefix(k, "stem."):
		k = "downsample_layers.0." + strings.TrimPrefix(k, "stem.")
	case timmDownsample.MatchString(k):
		k = timmDownsample.ReplaceAllString(k, "downsample_layers.$1.$2.")
	case timmBlock.MatchString(k):
		k = timmBlock.ReplaceAllString(k, "stages.$1.$2.")
		k = strings.Replace(k, ".conv_dw.", ".dwconv.", 1)
		k = strings.Replace(k, ".mlp.fc", ".pwconv", 1)
		k = strings.Replace(k, ".mlp.grn.weight", ".grn.gamma", 1)
		k = strings.Replace(k, ".mlp.grn.bias", ".grn.beta", 1)
	case strings.HasPrefix(k, "head.fc."):
		k = "head." + strings.TrimPrefix(k, "head.fc.")
	case strings.HasPrefix(k, "head.norm."):
		k = strings.TrimPrefix(k, "head.")
	}
	return k
}
