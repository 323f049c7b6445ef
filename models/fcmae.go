package models

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/layers"
)

// FCMAEConfig is the pre-training head of FCMAE (Woo et al. 2023, ConvNeXt
// V2 §3; official models/fcmae.py): the mask ratio, the light decoder and
// the loss's normalisation.
type FCMAEConfig struct {
	MaskRatio    float64 `toml:"mask_ratio" json:"mask_ratio"`       // share of patches masked (0.6)
	DecoderDim   int     `toml:"decoder_dim" json:"decoder_dim"`     // decoder width (512)
	DecoderDepth int     `toml:"decoder_depth" json:"decoder_depth"` // decoder ConvNeXt V2 blocks (1)
	NormPix      bool    `toml:"norm_pix_loss" json:"norm_pix_loss"` // normalise each target patch by its mean and variance
}

// DefaultFCMAE returns the paper's settings: ratio 0.6, one block of width
// 512, normalised pixel targets.
func DefaultFCMAE() FCMAEConfig {
	return FCMAEConfig{MaskRatio: 0.6, DecoderDim: 512, DecoderDepth: 1, NormPix: true}
}

// Validate returns an error naming the first invalid field.
func (c FCMAEConfig) Validate() error {
	switch {
	case !(c.MaskRatio > 0 && c.MaskRatio < 1):
		return fmt.Errorf("fcmae: mask_ratio %v outside (0, 1)", c.MaskRatio)
	case c.DecoderDim <= 0 || c.DecoderDim > maxDecoderDim:
		return fmt.Errorf("fcmae: decoder_dim %d outside [1, %d]", c.DecoderDim, maxDecoderDim)
	case c.DecoderDepth <= 0 || c.DecoderDepth > maxDecoderDepth:
		return fmt.Errorf("fcmae: decoder_depth %d outside [1, %d]", c.DecoderDepth, maxDecoderDepth)
	}
	return nil
}

// Bounds that keep decoderParams from overflowing; the parameter budget
// (CurrentLimits) is the real limit.
const (
	maxDecoderDim   = 1 << 16
	maxDecoderDepth = 1 << 10
)

// decoderParams returns the parameter count of the decoder for an encoder
// of last width last and patches of patch² pixels of inChans channels:
// proj, token, depth V2 blocks (8D² + 65D each with a 7×7 depthwise
// kernel) and pred.
func (c FCMAEConfig) decoderParams(last, patch, inChans int) int64 {
	d, out := int64(c.DecoderDim), int64(patch)*int64(patch)*int64(inChans)
	return int64(last)*d + d + d + int64(c.DecoderDepth)*(8*d*d+65*d) + d*out + out
}

// FCMAE is a ConvNeXt encoder with FCMAE's decoder, for masked-autoencoder
// pre-training on NHWC images x [N, GH·Patch, GW·Patch, InChans] with a
// patch mask [N, GH, GW] (1 = masked):
//
//	encoder (sparse convolution emulated densely: masked pixels are zeroed
//	  after the stem, after every downsampling, before GRN — so its
//	  statistics cover visible pixels only — and after each block, so they
//	  are zero between layers as in the densified sparse tensor)
//	                                → [N, GH, GW, C_last]
//	proj (1×1, C_last → DecoderDim) → mask token at masked patches
//	  → DecoderDepth ConvNeXt V2 blocks → pred (1×1, → Patch²·InChans)
//	  → pred [N, GH, GW, Patch²·InChans]
//
// Patch is the encoder's total stride, StemPatch·2^(stages−1) (32 for the
// published 4×4 stem; 16 for a 2×2 stem on small images), so a patch is one
// pixel of the last stage and every 2×2 downsampling stays inside a patch.
// The paper states that this dense masking computes what the sparse
// convolution over the visible patches computes. Only the depthwise
// convolution and GRN mix pixels (LayerNorm, the 1×1 layers and GELU act per
// pixel; a 2×2 downsampling stays inside a patch), so it suffices that their
// inputs are zero at masked pixels: the block's input is (it is the previous
// block's masked output, or the masked stem or downsampling), and GRN's is
// masked explicitly. The paper's JAX code also masks right after the
// depthwise convolution; here that would only zero values that are masked
// again before anything mixes them, so it is left out (the tests check that
// each remaining mask matters). GRN's statistics are per sample over the
// visible pixels, as in the JAX code (the official PyTorch sparse GRN pools
// them over the whole batch).
//
// Parameter names: the encoder's are the classification model's (timm
// naming, no head); the decoder's are fcmae.py's top-level names, proj.*,
// mask_token, decoder.i.* and pred.*, so that a fine-tuning run drops them
// by prefix as the official main_finetune.py does.
type FCMAE struct {
	Config  FCMAEConfig
	Encoder *Model // stem and stages; its head is unused and its Arena nil
	Patch   int
	Mask    *layers.PatchMask  // the current batch's mask, read by every Mask layer
	Masked  *layers.Sequential // the masked encoder
	Proj    *layers.Linear
	Token   *layers.Mask
	Decoder []*layers.Block
	Pred    *layers.Linear
	Net     *layers.Sequential // Masked, Proj, Token, Decoder, Pred
	Loss    *layers.PatchLoss
	Arena   *layers.Arena // encoder parameters (no head) then the decoder's
}

// NewFCMAE builds FCMAE for the encoder enc on be, weights drawn as [New]
// draws them (decoder convolutions trunc normal std 0.02 with zero biases,
// mask token N(0, 0.02²), fcmae.py _init_weights) from a generator seeded by
// seed. It returns an error if a config is invalid.
func NewFCMAE(be kernels.Backend, enc Config, fc FCMAEConfig, seed uint64) (*FCMAE, error) {
	if err := fc.Validate(); err != nil {
		return nil, err
	}
	enc = enc.Resolved()
	if err := enc.Validate(); err != nil {
		return nil, err
	}
	patch := enc.MinInput()
	if n, max := fc.decoderParams(enc.Dims[len(enc.Dims)-1], patch, enc.InChans), CurrentLimits().MaxParams; n > max {
		return nil, fmt.Errorf("fcmae: the decoder has %d parameters, over the budget of %d (-max-params)", n, max)
	}
	init := rand.New(rand.NewPCG(seed, 1))
	m, err := buildLayers(be, enc, seed, init)
	if err != nil {
		return nil, err
	}
	f := &FCMAE{Config: fc, Encoder: m, Patch: m.MinInput(), Mask: &layers.PatchMask{}, Loss: layers.NewPatchLoss(be, m.MinInput(), fc.NormPix)}
	if f.Masked, err = f.maskedEncoder(); err != nil {
		return nil, err
	}
	last := enc.Dims[len(enc.Dims)-1]
	if f.Proj, err = layers.NewLinear(be, "proj", last, fc.DecoderDim, true, init); err != nil {
		return nil, err
	}
	if f.Token, err = layers.NewMaskToken(be, "decoder.mask", "mask_token", fc.DecoderDim, f.Mask, init); err != nil {
		return nil, err
	}
	net := []layers.Layer{f.Masked, f.Proj, f.Token}
	for i := range fc.DecoderDepth {
		bc := layers.V2Block(fc.DecoderDim, 0)
		bc.Eps = enc.Eps
		b, err := layers.NewBlock(be, fmt.Sprintf("decoder.%d", i), bc, init, nil)
		if err != nil {
			return nil, err
		}
		f.Decoder = append(f.Decoder, b)
		net = append(net, b)
	}
	if f.Pred, err = layers.NewLinear(be, "pred", fc.DecoderDim, f.Patch*f.Patch*enc.InChans, true, init); err != nil {
		return nil, err
	}
	f.Net = layers.NewSequential("fcmae", append(net, f.Pred)...)
	if f.Arena, err = layers.NewArena(be, f.Net.Params()); err != nil {
		return nil, err
	}
	return f, nil
}

// maskedEncoder returns the encoder's stem and stages with Mask layers at
// the places NewFCMAE's doc lists; the layers are the encoder's own. It
// returns an error for a block that is not a ConvNeXt block (sparse
// pre-training masks inside ConvNeXt's block only).
func (f *FCMAE) maskedEncoder() (*layers.Sequential, error) {
	m := f.Encoder
	mask := func(name string) layers.Layer { return layers.NewMask(m.Backend, name, f.Mask) }
	net := []layers.Layer{m.Stem, mask("stem.mask")}
	for i, st := range m.Stages {
		if st.Downsample != nil {
			net = append(net, st.Downsample, mask(fmt.Sprintf("stages.%d.downsample.mask", i)))
		}
		for _, l := range st.Blocks {
			b, ok := l.(*layers.Block)
			if !ok {
				return nil, fmt.Errorf("fcmae: block %s (%T) is not a ConvNeXt block; FCMAE masks ConvNeXt blocks only", l.Name(), l)
			}
			name := b.Name()
			body := []layers.Layer{b.DWConv, b.Norm, b.FC1, b.Act} // the block input is masked already
			if b.GRN != nil {
				body = append(body, mask(name+".mlp.grn.mask"), b.GRN)
			}
			body = append(body, b.FC2)
			if b.Scale != nil {
				body = append(body, b.Scale)
			}
			body = append(body, b.DropPath)
			res := layers.NewResidual(m.Backend, name, layers.NewSequential(name+".body", body...))
			net = append(net, res, mask(name+".mask"))
		}
	}
	return layers.NewSequential("encoder", net...), nil
}

// Forward predicts the pixels of every patch, pred [N, GH, GW, Patch²·InChans]
// (channel (i·Patch + j)·InChans + c for pixel (i, j), channel c), for images
// x [N, GH·Patch, GW·Patch, InChans] under mask [N, GH, GW]. Only the masked
// patches' predictions enter the loss. The result belongs to f until the
// next Forward. It returns an error wrapping kernels.ErrShape if x is not
// made of whole patches or mask does not match.
func (f *FCMAE) Forward(x, mask kernels.Tensor) (kernels.Tensor, error) {
	c := f.Encoder.Config.InChans
	if len(x.Shape) != 4 || x.Shape[3] != c || x.Shape[1]%f.Patch != 0 || x.Shape[2]%f.Patch != 0 || x.Shape[1] == 0 || x.Shape[2] == 0 {
		return kernels.Tensor{}, fmt.Errorf("fcmae: input %v, want [N H W %d] with H and W multiples of the %d-pixel patch: %w", x.Shape, c, f.Patch, kernels.ErrShape)
	}
	if want := (kernels.Shape{x.Shape[0], x.Shape[1] / f.Patch, x.Shape[2] / f.Patch}); !mask.Shape.Equal(want) {
		return kernels.Tensor{}, fmt.Errorf("fcmae: mask %v, want %v for input %v: %w", mask.Shape, want, x.Shape, kernels.ErrShape)
	}
	f.Mask.T = mask
	return f.Net.Forward(x)
}

// Backward propagates dpred through decoder and encoder, accumulating every
// gradient in the arena (zero it first).
func (f *FCMAE) Backward(dpred kernels.Tensor) error {
	_, err := f.Net.Backward(dpred)
	return err
}

// SetTraining switches drop path on or off.
func (f *FCMAE) SetTraining(on bool) { layers.SetTraining(f.Net, on) }

// StateDict returns the encoder's parameters in naming (no head) followed by
// the decoder's (proj, mask_token, decoder.i, pred), as float32 tensors.
func (f *FCMAE) StateDict(naming Naming) ([]Tensor, error) {
	return f.Encoder.stateDict(f.Arena.Params, naming)
}

// MetaFCMAE is the metadata key of an FCMAE checkpoint's FCMAEConfig (JSON).
const MetaFCMAE = "nextconv.fcmae"

// Save writes the encoder and decoder parameters to a safetensors file at
// path atomically, with the encoder's Config and the FCMAEConfig in the
// metadata plus extra entries.
func (f *FCMAE) Save(path string, naming Naming, extra map[string]string) error {
	sd, err := f.StateDict(naming)
	if err != nil {
		return err
	}
	fc, err := json.Marshal(f.Config)
	if err != nil {
		return err
	}
	meta := map[string]string{MetaFCMAE: string(fc)}
	for k, v := range extra {
		meta[k] = v
	}
	return f.Encoder.save(path, sd, naming, meta)
}

// IsDecoderKey reports whether a checkpoint key belongs to FCMAE's decoder
// (the names official main_finetune.py deletes before fine-tuning).
func IsDecoderKey(name string) bool {
	for _, p := range []string{"decoder.", "mask_token", "proj.", "pred."} {
		if len(name) >= len(p) && name[:len(p)] == p {
			return true
		}
	}
	return false
}

// MaskFromNoise returns the patch masks [N, L] (1 = masked) that fcmae.py's
// gen_random_mask draws from noise [N, L]: in each row the
// int(L·(1 − ratio)) patches with the smallest noise stay visible (ties go
// to the lower index, as a stable argsort does).
func MaskFromNoise(noise []float64, n, l int, ratio float64) []float32 {
	keep := int(float64(l) * (1 - ratio))
	mask := make([]float32, n*l)
	idx := make([]int, l)
	for s := range n {
		row := noise[s*l : (s+1)*l]
		for i := range idx {
			idx[i] = i
		}
		slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(row[a], row[b]) })
		for r, i := range idx {
			if r >= keep {
				mask[s*l+i] = 1
			}
		}
	}
	return mask
}

// RandomMask draws patch masks [N, L] with MaskFromNoise from standard
// normal noise of rng.
func RandomMask(rng *rand.Rand, n, l int, ratio float64) []float32 {
	noise := make([]float64, n*l)
	for i := range noise {
		noise[i] = rng.NormFloat64()
	}
	return MaskFromNoise(noise, n, l, ratio)
}
