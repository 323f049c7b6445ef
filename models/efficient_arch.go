package models

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/nextconv/nextconv/layers"
)

// EfficientArch is a MobileNet/EfficientNet network as timm builds it
// (docs/EFFICIENT.md): a 3×3 stride-2 stem convolution to StemWidth with
// BatchNorm and Act, the stages of blocks, and a head. With Head
// HeadEfficientNet the head is conv_head (1×1 to Features) → bn2 (BN + Act)
// → global average pool → classifier; with HeadMobileNetV4 the pool comes
// first: pool → conv_head → norm_head (BN + Act) → classifier.
type EfficientArch struct {
	Name       string
	InChans    int
	StemWidth  int
	Act        string // "silu" or "relu"
	Stages     [][]layers.EfficientConfig
	Features   int    // conv_head width
	Head       string // HeadEfficientNet or HeadMobileNetV4
	NumClasses int
}

// Head forms of an [EfficientArch].
const (
	HeadEfficientNet = "efficientnet" // conv_head, bn2, pool, classifier
	HeadMobileNetV4  = "mobilenetv4"  // pool, conv_head, norm_head, classifier
)

// NumParams returns the network's parameter count (BatchNorm running
// statistics excluded), from the blocks' formulas.
func (a EfficientArch) NumParams() int {
	n := a.StemWidth*a.InChans*9 + 2*a.StemWidth
	last := a.StemWidth
	for _, st := range a.Stages {
		for _, b := range st {
			n += b.NumParams()
			last = b.Out
		}
	}
	return n + a.Features*last + 2*a.Features + a.NumClasses*a.Features + a.NumClasses
}

// archBuilder decodes timm's architecture strings ("ir_r2_k3_s2_e6_c24_se0.25",
// timm/models/_efficientnet_builder.py _decode_block_str) with a width and a
// depth multiplier, as timm's EfficientNetBuilder does: widths through
// round_channels (roundFilters(c·width, 8)), repeats per stage scaled with
// ceil and spread back over the stage's strings, the stride on a stage's
// first block only, expanded widths roundFilters(in·e, 8), SE widths
// round(mid·se/e) (from the block's input width, docs/EFFICIENT.md §2).
type archBuilder struct {
	width, depth float64
	act          string
}

// decode returns the stages of blocks of def starting from in channels.
func (b archBuilder) decode(def [][]string, in int) ([][]layers.EfficientConfig, error) {
	var stages [][]layers.EfficientConfig
	for si, stage := range def {
		opts := make([]map[string]string, len(stage))
		repeats := make([]int, len(stage))
		for i, s := range stage {
			o, err := parseBlockString(s)
			if err != nil {
				return nil, fmt.Errorf("stage %d: %w", si, err)
			}
			opts[i] = o
			if repeats[i], err = strconv.Atoi(o["r"]); err != nil || repeats[i] <= 0 {
				return nil, fmt.Errorf("stage %d: block %q: repeats %q must be a positive integer", si, s, o["r"])
			}
		}
		repeats = scaleDepth(repeats, b.depth)
		var blocks []layers.EfficientConfig
		for i, o := range opts {
			for range repeats[i] {
				c, err := b.block(o, in, len(blocks) == 0)
				if err != nil {
					return nil, fmt.Errorf("stage %d: block %q: %w", si, stage[i], err)
				}
				blocks = append(blocks, c)
				in = c.Out
			}
		}
		stages = append(stages, blocks)
	}
	return stages, nil
}

// block builds one block from its decoded options; first says whether it
// opens its stage (and so keeps the stride).
func (b archBuilder) block(o map[string]string, in int, first bool) (layers.EfficientConfig, error) {
	num := func(key string, def float64) (float64, error) {
		s, ok := o[key]
		if !ok {
			return def, nil
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, fmt.Errorf("option %s%s is not a number", key, s)
		}
		return v, nil
	}
	var v [6]float64
	var err error
	for i, k := range []struct {
		key string
		def float64
	}{{"k", 0}, {"a", 0}, {"s", 1}, {"e", 1}, {"c", 0}, {"se", 0}} {
		if v[i], err = num(k.key, k.def); err != nil {
			return layers.EfficientConfig{}, err
		}
	}
	k, a, stride, exp, ch, se := int(v[0]), int(v[1]), int(v[2]), v[3], v[4], v[5]
	if !first {
		stride = 1
	}
	c := layers.EfficientConfig{
		Kind: o["kind"], In: in, Out: roundFilters(ch*b.width, 8), Kernel: k, Stride: stride,
		Act: b.act, BNEps: 1e-5, BNMomentum: 0.1, Skip: o["skip"] == "1",
	}
	switch c.Kind {
	case layers.KindIR, layers.KindER, layers.KindUIB:
		c.Mid = roundFilters(float64(in)*exp, 8)
	}
	if c.Kind == layers.KindUIB {
		c.StartKernel = a
	}
	if se > 0 {
		w := c.Mid
		if c.Kind == layers.KindDS {
			w = in
		}
		c.SE = int(math.RoundToEven(float64(w) * (se / exp)))
	}
	return c, c.Validate()
}

// parseBlockString splits "ir_r2_k3_s2_e6_c24_se0.25" into its kind and
// options (r, k, a, s, e, c, se; "skip" as "1").
func parseBlockString(s string) (map[string]string, error) {
	parts := strings.Split(s, "_")
	o := map[string]string{"kind": parts[0]}
	for _, p := range parts[1:] {
		switch {
		case p == "skip":
			o["skip"] = "1"
		case strings.HasPrefix(p, "se"):
			o["se"] = p[2:]
		case p != "" && strings.ContainsRune("rkasec", rune(p[0])):
			o[p[:1]] = p[1:]
		default:
			return nil, fmt.Errorf("block %q: unknown option %q", s, p)
		}
	}
	return o, nil
}

// scaleDepth scales a stage's repeats by m with timm's 'ceil' rule
// (_scale_stage_depth): the stage total becomes ceil(total·m), handed back
// to the strings from the last one, each getting max(1, round(r/left·scaledLeft)).
func scaleDepth(repeats []int, m float64) []int {
	total := 0
	for _, r := range repeats {
		total += r
	}
	scaled := int(math.Ceil(float64(total) * m))
	out := make([]int, len(repeats))
	for i := len(repeats) - 1; i >= 0; i-- {
		r := repeats[i]
		rs := max(1, int(math.RoundToEven(float64(r)/float64(total)*float64(scaled))))
		out[i] = rs
		total -= r
		scaled -= rs
	}
	return out
}

// efficientArchs are timm's definitions of the four baselines at commit
// aa4b5850 (timm/models/efficientnet.py _gen_efficientnet and
// _gen_efficientnetv2_s, mobilenetv3.py _gen_mobilenet_v4).
var efficientArchs = map[string]struct {
	width, depth float64
	stem         int
	act          string
	features     int // before width rounding
	head         string
	def          [][]string
}{
	"efficientnet_b0": {1, 1, 32, "silu", 1280, HeadEfficientNet, [][]string{
		{"ds_r1_k3_s1_e1_c16_se0.25"},
		{"ir_r2_k3_s2_e6_c24_se0.25"},
		{"ir_r2_k5_s2_e6_c40_se0.25"},
		{"ir_r3_k3_s2_e6_c80_se0.25"},
		{"ir_r3_k5_s1_e6_c112_se0.25"},
		{"ir_r4_k5_s2_e6_c192_se0.25"},
		{"ir_r1_k3_s1_e6_c320_se0.25"},
	}},
	"efficientnetv2_rw_t": {0.8, 0.9, 24, "silu", 1280, HeadEfficientNet, [][]string{
		{"cn_r2_k3_s1_e1_c24_skip"},
		{"er_r4_k3_s2_e4_c48"},
		{"er_r4_k3_s2_e4_c64"},
		{"ir_r6_k3_s2_e4_c128_se0.25"},
		{"ir_r9_k3_s1_e6_c160_se0.25"},
		{"ir_r15_k3_s2_e6_c256_se0.25"},
	}},
	"mobilenetv4_conv_small": {1, 1, 32, "relu", 1280, HeadMobileNetV4, [][]string{
		{"cn_r1_k3_s2_e1_c32", "cn_r1_k1_s1_e1_c32"},
		{"cn_r1_k3_s2_e1_c96", "cn_r1_k1_s1_e1_c64"},
		{"uir_r1_a5_k5_s2_e3_c96", "uir_r4_a0_k3_s1_e2_c96", "uir_r1_a3_k0_s1_e4_c96"},
		{"uir_r1_a3_k3_s2_e6_c128", "uir_r1_a5_k5_s1_e4_c128", "uir_r1_a0_k5_s1_e4_c128", "uir_r1_a0_k5_s1_e3_c128", "uir_r2_a0_k3_s1_e4_c128"},
		{"cn_r1_k1_s1_c960"},
	}},
	"mobilenetv4_conv_medium": {1, 1, 32, "relu", 1280, HeadMobileNetV4, [][]string{
		{"er_r1_k3_s2_e4_c48"},
		{"uir_r1_a3_k5_s2_e4_c80", "uir_r1_a3_k3_s1_e2_c80"},
		{"uir_r1_a3_k5_s2_e6_c160", "uir_r2_a3_k3_s1_e4_c160", "uir_r1_a3_k5_s1_e4_c160", "uir_r1_a3_k3_s1_e4_c160", "uir_r1_a3_k0_s1_e4_c160", "uir_r1_a0_k0_s1_e2_c160", "uir_r1_a3_k0_s1_e4_c160"},
		{"uir_r1_a5_k5_s2_e6_c256", "uir_r1_a5_k5_s1_e4_c256", "uir_r2_a3_k5_s1_e4_c256", "uir_r1_a0_k0_s1_e4_c256", "uir_r1_a3_k0_s1_e4_c256", "uir_r1_a3_k5_s1_e2_c256", "uir_r1_a5_k5_s1_e4_c256", "uir_r2_a0_k0_s1_e4_c256", "uir_r1_a5_k0_s1_e2_c256"},
		{"cn_r1_k1_s1_c960"},
	}},
}

// EfficientPreset returns the architecture of one of timm's efficient
// baselines (efficientnet_b0, efficientnetv2_rw_t, mobilenetv4_conv_small,
// mobilenetv4_conv_medium) for numClasses classes and RGB input, with drop
// path rate dropPath spread linearly over the blocks as timm does
// (block i of B gets dropPath·i/B). It returns an error naming the
// preset if it is unknown.
func EfficientPreset(name string, numClasses int, dropPath float64) (EfficientArch, error) {
	p, ok := efficientArchs[name]
	if !ok {
		return EfficientArch{}, fmt.Errorf("models: unknown efficient preset %q (want efficientnet_b0, efficientnetv2_rw_t, mobilenetv4_conv_small or mobilenetv4_conv_medium)", name)
	}
	b := archBuilder{width: p.width, depth: p.depth, act: p.act}
	a := EfficientArch{
		Name: name, InChans: 3, StemWidth: roundFilters(float64(p.stem)*p.width, 8), Act: p.act,
		Head: p.head, NumClasses: numClasses,
	}
	a.Features = roundFilters(float64(p.features)*p.width, 8)
	if p.head == HeadMobileNetV4 {
		a.Features = p.features // timm's head_hidden_size is not rounded
	}
	var err error
	if a.Stages, err = b.decode(p.def, a.StemWidth); err != nil {
		return EfficientArch{}, fmt.Errorf("models: preset %s: %w", name, err)
	}
	total, i := 0, 0
	for _, st := range a.Stages {
		total += len(st)
	}
	for _, st := range a.Stages {
		for j := range st {
			st[j].DropPath = dropPath * float64(i) / float64(total)
			i++
		}
	}
	return a, nil
}
