package models

import (
	"fmt"
	"math"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/layers"
)

// The "roadmap" block: the intermediate blocks of the ConvNeXt paper's
// modernization roadmap (Liu et al. 2022, §2 and Fig. 2–4;
// docs/ROADMAP.md), between ResNet-50's bottleneck and ConvNeXt's block.
// It is three convolutions, each optionally followed by a normalisation
// and an activation, a residual sum and optionally an activation after it:
//
//	dw_first = false: conv1 1×1 (in → hidden) → conv2 k×k depthwise
//	                  (hidden, the block's stride) → conv3 1×1 (hidden → dim)
//	dw_first = true:  conv1 k×k depthwise (in, the block's stride) →
//	                  conv2 1×1 (in → hidden) → conv3 1×1 (hidden → dim)
//
// hidden = floor(ratio·dim) (ratio ¼: ResNeXt's bottleneck; 4: the inverted
// bottleneck) unless the key hidden gives it. normI follows convI for
// every conv (norms = "all") or only for the depthwise one (norms = "one");
// actI follows normI for conv1 and conv2 and act follows the sum
// (activations = "all", ResNet's placement), or the only activation sits
// between the two 1×1 convs (activations = "one", which needs dw_first).
// As in ResNet the first block of a stage downsamples itself: the stride
// sits on the depthwise conv, and a shortcut that changes resolution or
// width is downsample.0 (1×1 conv with the stride) → downsample.1 (norm).
// A conv a BatchNorm follows has no bias; every other conv has one.
//
// Keys (defaults): dw_first (false), ratio (0.25), hidden (0), kernel (3),
// act ("relu" or "gelu"), activations ("all" or "one"), norms ("all" or
// "one"), norm ("batchnorm" or "layernorm"; BatchNorm with PyTorch's eps
// 1e-5 and momentum 0.1, LayerNorm over channels with Config.Eps).
func init() {
	RegisterBlock("roadmap", BlockKind{
		Keys: []string{"dw_first", "ratio", "hidden", "kernel", "act", "activations", "norms", "norm"},
		Check: func(a BlockArgs) error {
			_, err := readRoadmap(a)
			return err
		},
		Cost:  roadmapCost,
		Build: buildRoadmap,
	})
}

// roadmapBlock is a roadmap block's configuration (see the kind's doc).
type roadmapBlock struct {
	dwFirst, oneAct, oneNorm bool
	hidden, kernel           int
	gelu                     bool
	norm                     normType
}

// readRoadmap reads a roadmap block's keys; its errors name the field.
func readRoadmap(a BlockArgs) (roadmapBlock, error) {
	var r roadmapBlock
	p := a.Params
	var err error
	if r.dwFirst, err = p.Bool("dw_first", false); err != nil {
		return r, err
	}
	ratio, err := p.Float("ratio", 0.25)
	if err != nil {
		return r, err
	}
	if r.hidden, err = p.Int("hidden", 0); err != nil {
		return r, err
	}
	if r.kernel, err = p.Int("kernel", 3); err != nil {
		return r, err
	}
	// choice reads key, one of def (its default) and other.
	choice := func(key, def, other string) (string, error) {
		v, err := p.String(key, def)
		if err == nil && v != def && v != other {
			err = fmt.Errorf("field %s: %q is neither %q nor %q: %w", key, v, def, other, ErrSpec)
		}
		return v, err
	}
	act, err := choice("act", "relu", "gelu")
	if err != nil {
		return r, err
	}
	acts, err := choice("activations", "all", "one")
	if err != nil {
		return r, err
	}
	norms, err := choice("norms", "all", "one")
	if err != nil {
		return r, err
	}
	if r.norm, err = normKindDefault(p, "norm", batchNorm); err != nil {
		return r, err
	}
	r.gelu, r.oneAct, r.oneNorm = act == "gelu", acts == "one", norms == "one"
	switch {
	case !(ratio > 0 && ratio <= MaxMLPRatio):
		return r, fmt.Errorf("field ratio: %v outside (0, %d]: %w", ratio, MaxMLPRatio, ErrSpec)
	case r.hidden < 0 || r.hidden > MaxMLPRatio*MaxDim:
		return r, fmt.Errorf("field hidden: %d outside [1, %d]: %w", r.hidden, MaxMLPRatio*MaxDim, ErrSpec)
	case r.kernel <= 0 || r.kernel%2 == 0 || r.kernel > MaxKernel:
		return r, fmt.Errorf("field kernel: %d must be odd and in [1, %d]: %w", r.kernel, MaxKernel, ErrSpec)
	case (r.oneAct || r.oneNorm) && !r.dwFirst:
		return r, fmt.Errorf("field dw_first: activations = \"one\" and norms = \"one\" place them around the two adjacent 1×1 convs, which need dw_first = true: %w", ErrSpec)
	}
	if r.hidden == 0 {
		r.hidden = int(math.Floor(ratio*float64(a.Out) + 1e-9))
	}
	if r.hidden < 1 {
		return r, fmt.Errorf("field ratio: %v leaves dim %d no hidden channel: %w", ratio, a.Out, ErrSpec)
	}
	return r, nil
}

// roadmapConv is one of a roadmap block's three convolutions and what
// follows it.
type roadmapConv struct {
	dw                bool // depthwise k×k (else 1×1)
	in, out, stride   int
	norm, act         bool
	atInputResolution bool // runs before the stride
}

// convs lists the block's convolutions in order for widths in → out and
// stride s.
func (r roadmapBlock) convs(in, out, s int) [3]roadmapConv {
	var c [3]roadmapConv
	if r.dwFirst {
		c = [3]roadmapConv{{dw: true, in: in, out: in, stride: s}, {in: in, out: r.hidden, stride: 1}, {in: r.hidden, out: out, stride: 1}}
	} else {
		c = [3]roadmapConv{{in: in, out: r.hidden, stride: 1, atInputResolution: true}, {dw: true, in: r.hidden, out: r.hidden, stride: s}, {in: r.hidden, out: out, stride: 1}}
	}
	for i := range c {
		c[i].norm = !r.oneNorm || c[i].dw
		c[i].act = i < 2 && (!r.oneAct || (r.dwFirst && i == 1))
	}
	return c
}

// roadmapCost counts the block as Describe lists it: each conv's output,
// each norm's output and statistics, each activation's output, the
// shortcut's conv and norm, drop path (output and mask when its rate is
// positive), the sum and the activation after it.
func roadmapCost(a BlockArgs, n, h, w int) Cost {
	r, _ := readRoadmap(a)
	oh, ow := (h+a.Stride-1)/a.Stride, (w+a.Stride-1)/a.Stride
	in, out := float64(n*h*w), float64(n*oh*ow)
	var params, saved float64
	conv := func(p float64, dw bool, cin, cout int, norm bool, k int) {
		ci, co := float64(cin), float64(cout)
		if dw {
			params += float64(k*k) * co
		} else {
			params += ci * co
		}
		saved += p * co
		if norm {
			params += 2*co + r.norm.biasParams(co)
			saved += r.norm.saved(p, co)
		} else {
			params += co
		}
	}
	for _, c := range r.convs(a.In, a.Out, a.Stride) {
		p := out
		if c.atInputResolution {
			p = in
		}
		conv(p, c.dw, c.in, c.out, c.norm, r.kernel)
		if c.act {
			saved += p * float64(c.out)
		}
	}
	if projects(a) {
		conv(out, false, a.In, a.Out, true, 1)
	}
	d := float64(a.Out)
	if a.DropPath > 0 {
		saved += out*d + float64(n)
	}
	saved += out * d
	if !r.oneAct {
		saved += out * d
	}
	return Cost{Params: params, Saved: saved, OutH: oh, OutW: ow}
}

func buildRoadmap(a BlockArgs) (layers.Layer, error) {
	r, err := readRoadmap(a)
	if err != nil {
		return nil, err
	}
	be := a.Backend
	var body []layers.Layer
	add := func(l layers.Layer, err error) error {
		if err == nil {
			body = append(body, l)
		}
		return err
	}
	act := func(name string) (layers.Layer, error) {
		if r.gelu {
			return layers.NewGELU(be, layers.Join(a.Name, name), kernels.GELUErf), nil
		}
		return layers.NewActivation(be, layers.Join(a.Name, name), kernels.ReLU)
	}
	for i, c := range r.convs(a.In, a.Out, a.Stride) {
		name := func(s string) string { return layers.Join(a.Name, fmt.Sprintf("%s%d", s, i+1)) }
		bias := !c.norm || r.norm.bias()
		if c.dw {
			err = add(layers.NewDWConv(be, name("conv"), c.out, r.kernel, c.stride, bias, a.Init))
		} else {
			err = add(layers.NewLinear(be, name("conv"), c.in, c.out, bias, a.Init))
		}
		if err == nil && c.norm {
			err = add(r.norm.build(a, name("norm"), c.out))
		}
		if err == nil && c.act {
			err = add(act(fmt.Sprintf("act%d", i+1)))
		}
		if err != nil {
			return nil, err
		}
	}
	if err := add(layers.NewDropPath(be, layers.Join(a.Name, "drop_path"), a.DropPath, a.DropRNG)); err != nil {
		return nil, err
	}
	res := layers.NewResidual(be, a.Name, layers.NewSequential(layers.Join(a.Name, "body"), body...))
	if projects(a) {
		conv, err := layers.NewConv2D(be, layers.Join(a.Name, "downsample.0"), a.In, a.Out, 1, a.Stride, 0, r.norm.bias(), a.Init)
		if err != nil {
			return nil, err
		}
		norm, err := r.norm.build(a, layers.Join(a.Name, "downsample.1"), a.Out)
		if err != nil {
			return nil, err
		}
		res.Shortcut = layers.NewSequential(layers.Join(a.Name, "downsample"), conv, norm)
	}
	if r.oneAct {
		return res, nil
	}
	post, err := act("act")
	if err != nil {
		return nil, err
	}
	return layers.NewSequential(a.Name, res, post), nil
}

// normType is the normalisation a roadmap block or the patchify stem
// uses: BatchNorm2d over (N, H, W) per channel, or LayerNorm over the
// channels of each pixel.
type normType string

const (
	batchNorm normType = "batchnorm"
	layerNorm normType = "layernorm"
)

// normKind reads key as a normType, LayerNorm when absent.
func normKind(p Params, key string) (normType, error) { return normKindDefault(p, key, layerNorm) }

// normKindDefault reads key as a normType, def when absent; its error
// names the field.
func normKindDefault(p Params, key string, def normType) (normType, error) {
	v, err := p.String(key, string(def))
	if err != nil {
		return "", err
	}
	if n := normType(v); n == batchNorm || n == layerNorm {
		return n, nil
	}
	return "", fmt.Errorf("field %s: %q is neither %q nor %q: %w", key, v, batchNorm, layerNorm, ErrSpec)
}

// bias reports whether a conv this norm follows has a bias (not under
// BatchNorm, whose shift makes it redundant).
func (t normType) bias() bool { return t != batchNorm }

// biasParams is the bias of a conv of c outputs this norm follows.
func (t normType) biasParams(c float64) float64 {
	if t.bias() {
		return c
	}
	return 0
}

// saved is what the norm holds for backward on p pixels of c channels:
// its output and two statistics per channel (BatchNorm) or per pixel
// (LayerNorm).
func (t normType) saved(p, c float64) float64 {
	if t == batchNorm {
		return p*c + 2*c
	}
	return p*c + 2*p
}

// build returns the norm layer over c channels named name.
func (t normType) build(a BlockArgs, name string, c int) (layers.Layer, error) {
	if t == batchNorm {
		return layers.NewBatchNorm2d(a.Backend, name, c, layers.DefaultBNEps, layers.DefaultBNMomentum)
	}
	return layers.NewLayerNorm(a.Backend, name, c, a.Eps)
}
