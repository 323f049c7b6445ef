package models

// RoadmapStep is one step of the ConvNeXt paper's modernization roadmap
// (Liu et al., "A ConvNet for the 2020s", CVPR 2022, Fig. 2;
// docs/ROADMAP.md): the preset that builds it and the paper's ImageNet-1K
// numbers for it at 224².
type RoadmapStep struct {
	Preset      string  // the registered preset, e.g. "roadmap_07_kernel7"
	Change      string  // the design change from the step before, in the paper's terms
	PaperGFLOPs float64 // the paper's GFLOPs (one multiply-add counted as one FLOP, i.e. GMACs)
	PaperTop1   float64 // the paper's ImageNet-1K top-1 (%), modern training recipe
}

// Roadmap returns the roadmap's thirteen steps in order, from ResNet-50
// (timm's resnet50 architecture, trained with the paper's modern recipe)
// to ConvNeXt-T (the convnext_tiny preset exactly). Each preset differs
// from the one before by the change Change names; every preset's stem
// stride is Config.StemPatch (4, the paper's; 2 shrinks the network for
// 28² inputs, the resnet stem then dropping its max pool), and its
// widths and depths scale uniformly with Config.Scale because every
// block width is a ratio of its stage's dim.
func Roadmap() []RoadmapStep {
	steps := make([]RoadmapStep, len(roadmap))
	for i, s := range roadmap {
		steps[i] = s.RoadmapStep
	}
	return steps
}

type roadmapPreset struct {
	RoadmapStep
	edit func(c *Config) // turns the previous step's config into this one
}

// roadmapBlockParams returns the roadmap block keys of step 03 (ResNeXt's
// depthwise bottleneck), which later steps change one at a time.
func roadmapBlockParams() Params {
	return Params{"dw_first": false, "ratio": 0.25, "kernel": 3, "act": "relu", "activations": "all", "norms": "all", "norm": "batchnorm"}
}

// setBlocks sets key to v in every stage's block parameters.
func setBlocks(c *Config, key string, v any) {
	for i := range c.Stages {
		c.Stages[i].Params = c.Stages[i].Params.Merge(Params{key: v})
	}
}

// setWidths sets the stem's and the stages' widths.
func setWidths(c *Config, stem int, dims ...int) {
	c.Stem.Dim = stem
	for i := range c.Stages {
		c.Stages[i].Dim = dims[i]
	}
}

var roadmap = []roadmapPreset{
	{RoadmapStep{"roadmap_00_resnet50", "ResNet-50 (timm's resnet50) with the modern training recipe", 4.1, 78.8}, func(c *Config) {
		*c = resnetPreset([]int{3, 4, 6, 3}, Params{})
		c.Stem.Stride = 0 // Config.StemPatch
	}},
	{RoadmapStep{"roadmap_01_stage_ratio", "blocks per stage (3, 4, 6, 3) → (3, 3, 9, 3)", 4.5, 79.4}, func(c *Config) {
		for i, d := range []int{3, 3, 9, 3} {
			c.Stages[i].Depth = d
		}
	}},
	{RoadmapStep{"roadmap_02_patchify_stem", "stem 7×7/2 conv + max pool → 4×4/4 patchify conv (BatchNorm)", 4.4, 79.5}, func(c *Config) {
		c.Stem = &PartSpec{Kind: "patchify", Dim: 64, Params: Params{"norm": "batchnorm"}}
		c.Names = "" // ConvNeXt's names from here on: stem.*, stages.i.blocks.j.*
	}},
	{RoadmapStep{"roadmap_03_depthwise", "3×3 conv → 3×3 depthwise conv (ResNeXt, one channel per group)", 2.4, 78.3}, func(c *Config) {
		for i := range c.Stages {
			c.Stages[i].Kind, c.Stages[i].Params = "roadmap", roadmapBlockParams()
		}
	}},
	{RoadmapStep{"roadmap_04_width", "width 64 → 96 (stem 96, stage dims 384 … 3072)", 5.3, 80.5}, func(c *Config) {
		setWidths(c, 96, 384, 768, 1536, 3072)
	}},
	{RoadmapStep{"roadmap_05_inverted_bottleneck", "inverted bottleneck: dims 96 … 768, hidden 4× dim", 4.6, 80.6}, func(c *Config) {
		setWidths(c, 96, 96, 192, 384, 768)
		setBlocks(c, "ratio", 4.0)
	}},
	{RoadmapStep{"roadmap_06_dw_first", "depthwise conv moved up, before the 1×1 expansion", 4.1, 79.9}, func(c *Config) {
		setBlocks(c, "dw_first", true)
	}},
	{RoadmapStep{"roadmap_07_kernel7", "depthwise kernel 3 → 7", 4.2, 80.6}, func(c *Config) {
		setBlocks(c, "kernel", 7)
	}},
	{RoadmapStep{"roadmap_08_gelu", "ReLU → GELU", 4.2, 80.6}, func(c *Config) {
		setBlocks(c, "act", "gelu")
	}},
	{RoadmapStep{"roadmap_09_fewer_activations", "one activation per block, between the 1×1 convs", 4.2, 81.3}, func(c *Config) {
		setBlocks(c, "activations", "one")
	}},
	{RoadmapStep{"roadmap_10_fewer_norms", "one norm per block, after the depthwise conv", 4.2, 81.4}, func(c *Config) {
		setBlocks(c, "norms", "one")
	}},
	{RoadmapStep{"roadmap_11_layernorm", "BatchNorm → LayerNorm (blocks, shortcuts, stem)", 4.2, 81.5}, func(c *Config) {
		setBlocks(c, "norm", "layernorm")
		c.Stem.Params = Params{"norm": "layernorm"}
	}},
	{RoadmapStep{"roadmap_12_convnext_tiny", "separate downsampling (LayerNorm + 2×2/2 conv), LayerNorm before the head; = convnext_tiny", 4.5, 82.0}, func(c *Config) {
		*c, _ = Variant("convnext_tiny")
	}},
}

func init() {
	var c Config
	for _, s := range roadmap {
		s.edit(&c)
		RegisterPreset(s.Preset, c.Resolved()) // a copy: the next edit changes c only
	}
}
