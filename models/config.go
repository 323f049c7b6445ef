// Package models builds the ConvNeXt V2 and V1 families from layers, with the
// efficient-variant knobs (depthwise kernel, MLP ratio, GRN, compound
// scaling), timm- and official-named checkpoints (safetensors, and torch.save
// .pt files through models/torchpt), initialisation from pretrained weights
// for fine-tuning (LoadPretrained), and a per-layer profiler of parameters,
// MACs, activation memory and time.
//
// Architectures follow the official repositories (facebookresearch/ConvNeXt-V2
// models/convnextv2.py, facebookresearch/ConvNeXt models/convnext.py) as
// summarised in docs/CONVNEXTV2.md; parameter names follow timm's
// state dict.
package models

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Config describes one ConvNeXt network. Inputs are NHWC images [N, H, W,
// InChans]; outputs logits [N, NumClasses].
type Config struct {
	Name          string  `json:"name"`            // variant name, e.g. "convnextv2_atto"
	Depths        []int   `json:"depths"`          // blocks per stage
	Dims          []int   `json:"dims"`            // channels per stage
	InChans       int     `json:"in_chans"`        // input channels (3 for RGB, 1 for Fashion-MNIST)
	NumClasses    int     `json:"num_classes"`     // classifier outputs
	StemPatch     int     `json:"stem_patch"`      // stem conv kernel = stride (4; 2 or 1 for 28–64 px inputs)
	Kernel        int     `json:"kernel"`          // depthwise kernel size (7; the efficient knob allows 3 or 5)
	MLPRatio      float64 `json:"mlp_ratio"`       // block MLP expansion (4)
	GRN           bool    `json:"grn"`             // ConvNeXt V2's GRN in every block
	LayerScale    float64 `json:"layer_scale"`     // V1's layer-scale init (1e-6); 0 for V2
	DropPath      float64 `json:"drop_path"`       // stochastic depth rate of the last block (linspace from 0)
	HeadInitScale float64 `json:"head_init_scale"` // head weight and bias are multiplied by this after init (1)
	Eps           float64 `json:"eps"`             // every LayerNorm's and GRN's epsilon (1e-6)
	InputSize     int     `json:"input_size"`      // nominal input resolution in pixels (224); only profiles and scaling read it
	ConvMLP       bool    `json:"conv_mlp"`        // timm stores the block MLP as 1×1 convs, weights (E, C, 1, 1) (V2 atto–nano)

	// Stem, Stages and Head make the network a specification (see Spec).
	// With Stages set, Depths and Dims follow them and Kernel, MLPRatio,
	// GRN and LayerScale are unused (the stages' block keys say them); a
	// nil Stem or Head is ConvNeXt's.
	Stem   *PartSpec   `json:"stem,omitempty"`
	Stages []StageSpec `json:"stages,omitempty"`
	Head   *PartSpec   `json:"head,omitempty"`
	// Names selects the parameter naming: "" is ConvNeXt's (stem.*,
	// stages.i.downsample.*, stages.i.blocks.j.*, head.*), "blocks" timm's
	// EfficientNet and MobileNet (blocks.i.j.*; the stem's and head's kinds
	// name their own tensors), "resnet" timm's ResNet (conv1, bn1,
	// layerI.j.*, fc).
	Names string `json:"names,omitempty"`
}

// variant is a published depth/width pair.
type variant struct {
	depths, dims []int
	v1           bool
}

// variants lists the published ConvNeXt V2 (Woo et al. 2023, Table/README;
// official models/convnextv2.py) and V1 (Liu et al. 2022; official
// models/convnext.py) sizes.
var variants = map[string]variant{
	"convnextv2_atto":  {[]int{2, 2, 6, 2}, []int{40, 80, 160, 320}, false},
	"convnextv2_femto": {[]int{2, 2, 6, 2}, []int{48, 96, 192, 384}, false},
	"convnextv2_pico":  {[]int{2, 2, 6, 2}, []int{64, 128, 256, 512}, false},
	"convnextv2_nano":  {[]int{2, 2, 8, 2}, []int{80, 160, 320, 640}, false},
	"convnextv2_tiny":  {[]int{3, 3, 9, 3}, []int{96, 192, 384, 768}, false},
	"convnextv2_base":  {[]int{3, 3, 27, 3}, []int{128, 256, 512, 1024}, false},
	"convnextv2_large": {[]int{3, 3, 27, 3}, []int{192, 384, 768, 1536}, false},
	"convnextv2_huge":  {[]int{3, 3, 27, 3}, []int{352, 704, 1408, 2816}, false},
	// timm's small V1 models (Wightman; the V2 paper's V1 baselines, §3.4).
	"convnext_atto":   {[]int{2, 2, 6, 2}, []int{40, 80, 160, 320}, true},
	"convnext_femto":  {[]int{2, 2, 6, 2}, []int{48, 96, 192, 384}, true},
	"convnext_pico":   {[]int{2, 2, 6, 2}, []int{64, 128, 256, 512}, true},
	"convnext_nano":   {[]int{2, 2, 8, 2}, []int{80, 160, 320, 640}, true},
	"convnext_tiny":   {[]int{3, 3, 9, 3}, []int{96, 192, 384, 768}, true},
	"convnext_small":  {[]int{3, 3, 27, 3}, []int{96, 192, 384, 768}, true},
	"convnext_base":   {[]int{3, 3, 27, 3}, []int{128, 256, 512, 1024}, true},
	"convnext_large":  {[]int{3, 3, 27, 3}, []int{192, 384, 768, 1536}, true},
	"convnext_xlarge": {[]int{3, 3, 27, 3}, []int{256, 512, 1024, 2048}, true},
}

// Variants returns the names Variant accepts, sorted: the ConvNeXt
// variants and every RegisterPreset name.
func Variants() []string {
	names := make([]string, 0, len(variants))
	for n := range variants {
		names = append(names, n)
	}
	presets.RLock()
	for n := range presets.m {
		names = append(names, n)
	}
	presets.RUnlock()
	sort.Strings(names)
	return names
}

var presets struct {
	sync.RWMutex
	m map[string]Config
}

// RegisterPreset adds a named network that Variant returns (a Config with
// Stages, normally 3 input channels and 1000 classes, as published). It
// panics if the name is empty or already a variant or preset. The Config
// is validated when a model is built from it, so presets may be
// registered before the kinds they use.
func RegisterPreset(name string, c Config) {
	presets.Lock()
	defer presets.Unlock()
	if _, dup := variants[name]; dup || name == "" {
		panic(fmt.Sprintf("models: preset %q: the name is taken or empty", name))
	}
	if _, dup := presets.m[name]; dup {
		panic(fmt.Sprintf("models: preset %q registered twice", name))
	}
	if presets.m == nil {
		presets.m = map[string]Config{}
	}
	c.Name = name
	presets.m[name] = c.clone()
}

// clone returns c with its slices, spec parts and parameter maps copied.
func (c Config) clone() Config {
	c.Depths, c.Dims = slices.Clone(c.Depths), slices.Clone(c.Dims)
	if c.Stem != nil {
		stem := *c.Stem
		stem.Params = maps.Clone(stem.Params)
		c.Stem = &stem
	}
	if c.Head != nil {
		head := *c.Head
		head.Params = maps.Clone(head.Params)
		c.Head = &head
	}
	c.Stages = slices.Clone(c.Stages)
	for i, st := range c.Stages {
		c.Stages[i].Params = maps.Clone(st.Params)
		if st.Blocks != nil {
			c.Stages[i].Blocks = make([]Params, len(st.Blocks))
			for j, b := range st.Blocks {
				c.Stages[i].Blocks[j] = maps.Clone(b)
			}
		}
	}
	return c
}

// Variant returns the published configuration of a ConvNeXt V2 ("atto" …
// "huge", with or without the "convnextv2_" prefix) or V1 ("convnext_atto" …
// "convnext_nano" as timm defines them, "convnext_tiny" … "convnext_xlarge")
// model with 3 input channels, 1000 classes, the 4×4
// stem, a 7×7 depthwise kernel, MLP ratio 4, no drop path and head init
// scale 1, or a copy of the preset RegisterPreset added under name. It
// returns an error listing the known names for anything else.
func Variant(name string) (Config, error) {
	presets.RLock()
	p, ok := presets.m[name]
	presets.RUnlock()
	if ok {
		return p.clone(), nil
	}
	key := name
	if _, ok := variants[key]; !ok {
		key = "convnextv2_" + name
	}
	v, ok := variants[key]
	if !ok {
		return Config{}, fmt.Errorf("models: unknown variant %q (known: %s)", name, strings.Join(Variants(), ", "))
	}
	c := Config{
		Name: key, Depths: slices.Clone(v.depths), Dims: slices.Clone(v.dims),
		InChans: 3, NumClasses: 1000, StemPatch: 4, Kernel: 7, MLPRatio: 4,
		GRN: !v.v1, HeadInitScale: 1, Eps: 1e-6, InputSize: 224,
	}
	if v.v1 {
		c.LayerScale = 1e-6
	}
	// timm builds the small models (atto–nano, V1 and V2) with conv_mlp=True.
	c.ConvMLP = v.dims[0] <= 80
	return c, nil
}

// Validate returns an error naming the first invalid field (by its JSON
// and TOML name), including a size beyond the structural bounds (MaxDim,
// MaxDepth, ...); for a spec, a *SpecError naming the stage, block and
// field. It does not check Limits; CheckLimits does.
func (c Config) Validate() error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case len(c.Stages) == 0 && (len(c.Depths) == 0 || len(c.Depths) != len(c.Dims)):
		return fmt.Errorf("models: %d depths and %d dims: need one of each per stage", len(c.Depths), len(c.Dims))
	case len(c.Depths) > MaxStages || len(c.Stages) > MaxStages:
		return fmt.Errorf("models: %d stages, at most %d", max(len(c.Depths), len(c.Stages)), MaxStages)
	case c.InChans <= 0 || c.InChans > MaxInChans:
		return fmt.Errorf("models: in_chans %d outside [1, %d]", c.InChans, MaxInChans)
	case c.NumClasses <= 0 || c.NumClasses > MaxNumClasses:
		return fmt.Errorf("models: num_classes %d outside [1, %d]", c.NumClasses, MaxNumClasses)
	case c.StemPatch <= 0 || c.StemPatch > MaxStemPatch:
		return fmt.Errorf("models: stem_patch %d outside [1, %d]", c.StemPatch, MaxStemPatch)
	case !(c.DropPath >= 0 && c.DropPath < 1):
		return fmt.Errorf("models: drop_path %v outside [0, 1)", c.DropPath)
	case !(c.HeadInitScale > 0) || !finite(c.HeadInitScale):
		return fmt.Errorf("models: head_init_scale %v must be finite and positive", c.HeadInitScale)
	case !(c.Eps >= 0) || !finite(c.Eps):
		return fmt.Errorf("models: eps %v must be finite and >= 0", c.Eps)
	case c.InputSize < 0 || c.InputSize > MaxInputSize:
		return fmt.Errorf("models: input_size %d outside [0, %d]", c.InputSize, MaxInputSize)
	}
	if len(c.Stages) == 0 {
		// The ConvNeXt skeleton's knobs, checked with their config names.
		switch {
		case c.Kernel <= 0 || c.Kernel%2 == 0 || c.Kernel > MaxKernel:
			return fmt.Errorf("models: depthwise kernel %d must be odd and in [1, %d]", c.Kernel, MaxKernel)
		case !(c.MLPRatio > 0 && c.MLPRatio <= MaxMLPRatio):
			return fmt.Errorf("models: mlp_ratio %v outside (0, %d]", c.MLPRatio, MaxMLPRatio)
		case !(c.LayerScale >= 0) || !finite(c.LayerScale):
			return fmt.Errorf("models: layer_scale %v must be finite and >= 0", c.LayerScale)
		}
		for i := range c.Depths {
			if c.Depths[i] <= 0 || c.Depths[i] > MaxDepth || c.Dims[i] <= 0 || c.Dims[i] > MaxDim {
				return fmt.Errorf("models: stage %d has depth %d and dim %d; depths must lie in [1, %d], dims in [1, %d]",
					i, c.Depths[i], c.Dims[i], MaxDepth, MaxDim)
			}
			if math.Floor(c.MLPRatio*float64(c.Dims[i])+1e-9) < 1 {
				return fmt.Errorf("models: mlp_ratio %v leaves stage %d (dim %d) no hidden channel", c.MLPRatio, i, c.Dims[i])
			}
		}
	}
	_, err := c.plan()
	return err
}

// DropPathRates returns the per-block stochastic depth rates, a linspace
// from 0 to DropPath over all blocks in order (official dp_rates; timm's
// calculate_drop_path_rates).
func (c Config) DropPathRates() []float64 {
	total := 0
	for _, st := range c.Spec().Stages {
		total += st.Depth
	}
	return c.dropPathRates(total)
}

// Compound holds EfficientNet's compound-scaling bases (Tan & Le 2019, eq. 3):
// depth × Alpha^φ, width × Beta^φ, resolution × Gamma^φ.
type Compound struct {
	Alpha, Beta, Gamma float64
}

// EfficientNetCompound returns EfficientNet-B0's grid-searched bases α = 1.2,
// β = 1.1, γ = 1.15.
func EfficientNetCompound() Compound { return Compound{1.2, 1.1, 1.15} }

// Scale returns c scaled by compound coefficient phi: each stage's depth is
// ceil(depth·α^φ) (EfficientNet's round_repeats), each width β^φ·dim rounded
// to a multiple of 8 (round_filters: nearest multiple, never below 90% of
// the scaled width, at least 8) and InputSize round(size·γ^φ), at least 1
// when it was set. φ = 0 returns c; φ < 0 scales below the base model
// (every stage keeps at least one block of 8 channels).
func (c Config) Scale(phi float64, k Compound) (Config, error) {
	if !(k.Alpha >= 1 && k.Beta >= 1 && k.Gamma >= 1) || math.IsNaN(phi) || math.IsInf(phi, 0) || math.IsInf(k.Alpha+k.Beta+k.Gamma, 0) {
		return Config{}, fmt.Errorf("models: compound scaling needs a finite φ and α, β, γ >= 1, got φ=%v %+v", phi, k)
	}
	c = c.Resolved()
	s := c
	s.Depths, s.Dims, s.Stages = slices.Clone(c.Depths), slices.Clone(c.Dims), slices.Clone(c.Stages)
	if phi == 0 {
		return s, nil
	}
	d, w, r := math.Pow(k.Alpha, phi), math.Pow(k.Beta, phi), math.Pow(k.Gamma, phi)
	for i := range s.Depths {
		depth, dim := max(math.Ceil(float64(c.Depths[i])*d), 1), float64(c.Dims[i])*w
		if depth > MaxDepth || dim > MaxDim {
			return Config{}, fmt.Errorf("models: compound scaling by φ=%v makes stage %d %.3g blocks of %.3g channels (at most %d and %d)",
				phi, i, depth, dim, MaxDepth, MaxDim)
		}
		s.Depths[i], s.Dims[i] = int(depth), roundFilters(dim, 8)
		if s.Stages != nil {
			if s.Stages[i].Blocks != nil {
				return Config{}, fmt.Errorf("models: compound scaling cannot rescale stage %d: its blocks list sets each block (drop it or scale by hand)", i)
			}
			s.Stages[i].Depth, s.Stages[i].Dim = s.Depths[i], s.Dims[i]
		}
	}
	if s.Stem != nil && s.Stem.Dim > 0 {
		stem := *s.Stem
		stem.Dim = roundFilters(float64(stem.Dim)*w, 8)
		s.Stem = &stem
	}
	size := math.Round(float64(c.InputSize) * r)
	if size > MaxInputSize {
		return Config{}, fmt.Errorf("models: compound scaling by φ=%v makes the input %.3g px (at most %d)", phi, size, MaxInputSize)
	}
	s.InputSize = int(size)
	if c.InputSize > 0 {
		s.InputSize = max(s.InputSize, 1)
	}
	s.Name = fmt.Sprintf("%s_phi%g", c.Name, phi)
	return s, nil
}

// roundFilters rounds a scaled channel count to a multiple of divisor the
// way EfficientNet's round_filters does.
func roundFilters(c float64, divisor int) int {
	n := max(divisor, int(c+float64(divisor)/2)/divisor*divisor)
	if float64(n) < 0.9*c {
		n += divisor
	}
	return n
}
