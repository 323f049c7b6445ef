package models

import "sort"

// hybrids are the efficient-ConvNeXt study's presets (docs/EFFICIENT.md §7),
// all on ConvNeXt V2-Atto's widths (40, 80, 160, 320), depths (2, 2, 6, 2),
// 4×4 patchify stem and norm_linear head, so that each changes one thing:
//
//   - hybrid_mbconv_atto: MBConv (3×3 depthwise, expand 4, SE 0.25, SiLU)
//     in stages 0 and 1, ConvNeXt V2 blocks in stages 2 and 3;
//   - hybrid_fused_atto: Fused-MBConv (3×3, SiLU; expand 1 in stage 0 and 4
//     in stage 1, as EfficientNetV2-S's early stages) in stages 0 and 1,
//     ConvNeXt V2 in 2 and 3;
//   - convnextv2_atto_se, convnextv2_atto_eca: every ConvNeXt V2 block with
//     squeeze-and-excitation (ratio 0.25) or ECA on its residual branch;
//   - hybrid_uib_atto: every block a MobileNetV4 ExtraDW UIB (3×3 depthwise
//     before and after the expansion by 4, ReLU), striding itself.
//
// Compound scaling below Atto is Config.Scale with φ < 0 on any of them.
var hybrids = map[string]func() []StageSpec{
	"hybrid_mbconv_atto": func() []StageSpec {
		early := Params{"kernel": 3, "expand": 4, "se": 0.25, "act": "silu"}
		return []StageSpec{
			{Kind: "mbconv", Depth: 2, Dim: 40, Params: early},
			{Kind: "mbconv", Depth: 2, Dim: 80, Params: early},
			{Kind: "convnext", Depth: 6, Dim: 160},
			{Kind: "convnext", Depth: 2, Dim: 320},
		}
	},
	"hybrid_fused_atto": func() []StageSpec {
		return []StageSpec{
			{Kind: "fused_mbconv", Depth: 2, Dim: 40, Params: Params{"kernel": 3, "expand": 1, "act": "silu"}},
			{Kind: "fused_mbconv", Depth: 2, Dim: 80, Params: Params{"kernel": 3, "expand": 4, "act": "silu"}},
			{Kind: "convnext", Depth: 6, Dim: 160},
			{Kind: "convnext", Depth: 2, Dim: 320},
		}
	},
	"convnextv2_atto_se":  func() []StageSpec { return attoStages(Params{"se": 0.25}) },
	"convnextv2_atto_eca": func() []StageSpec { return attoStages(Params{"eca": true}) },
	"hybrid_uib_atto": func() []StageSpec {
		uib := Params{"start_kernel": 3, "kernel": 3, "expand": 4, "act": "relu"}
		return []StageSpec{
			{Kind: "uib", Depth: 2, Dim: 40, Params: uib},
			{Kind: "uib", Depth: 2, Dim: 80, Params: uib},
			{Kind: "uib", Depth: 6, Dim: 160, Params: uib},
			{Kind: "uib", Depth: 2, Dim: 320, Params: uib},
		}
	},
}

// attoStages returns ConvNeXt V2-Atto's stages with extra block keys.
func attoStages(extra Params) []StageSpec {
	var out []StageSpec
	for i, d := range []int{40, 80, 160, 320} {
		out = append(out, StageSpec{Kind: "convnext", Depth: []int{2, 2, 6, 2}[i], Dim: d, Params: Params{"kernel": 7, "mlp_ratio": 4, "grn": true}.Merge(extra)})
	}
	return out
}

// hybridNames returns the hybrid presets' names, sorted.
func hybridNames() []string {
	names := make([]string, 0, len(hybrids))
	for n := range hybrids {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// init registers every hybrid as a preset: ConvNeXt V2-Atto's Config with
// the hybrid's stages.
func init() {
	for name, stages := range hybrids {
		c, _ := Variant("convnextv2_atto")
		c.Stages = stages()
		RegisterPreset(name, c.Resolved())
	}
}
