package models

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// Spec is a network as a specification: a stem, stages of blocks and a
// head, each part a named kind from the registry (RegisterStem,
// RegisterBlock, RegisterDownsample, RegisterHead) with its parameters.
//
//	x [N, H, W, InChans] → Stem (stride Stem.Stride, Stem.Dim channels)
//	  → for each stage: [Downsample to Dim, stride Stride] then Depth blocks
//	  → Head → logits [N, NumClasses]
//
// Config.Spec resolves a Config into one; a Config with no Stages is the
// ConvNeXt skeleton its Depths, Dims and knobs describe.
type Spec struct {
	Stem   PartSpec
	Stages []StageSpec
	Head   PartSpec
}

// PartSpec is a stem or head: its kind, output width (the stem's channels;
// the head's pre-classifier width, 0 for none), stride (the stem's; 0 for
// the head) and kind-specific parameters.
type PartSpec struct {
	Kind   string
	Dim    int
	Stride int
	Params Params
}

// StageSpec is one stage: an optional downsampling layer then Depth blocks
// of one kind, Dim channels wide. Stride is the stage's total downsampling
// factor, applied by the Downsample layer when there is one and by the
// first block otherwise. Params apply to every block; Blocks, when not
// nil, holds one map per block whose keys override Params for that block
// (a pruned model's per-block "hidden" width, say), and whose "kind" and
// "dim" keys override the stage's kind and output width for that block
// (timm's MobileNetV4 mixes both within a stage); the stage's output is its
// last block's width.
type StageSpec struct {
	Kind       string   // block kind, e.g. "convnext"
	Depth      int      // number of blocks
	Dim        int      // output channels of its blocks (a block table's "dim" overrides)
	Stride     int      // downsampling factor of the stage (1 or 2 in every published model)
	Downsample string   // downsample kind ("convnext": LayerNorm + k=s=Stride conv); "" for none
	Params     Params   // kind-specific keys for every block
	Blocks     []Params // per-block overrides, nil or Depth entries
}

// Params holds a part's kind-specific keys with the value types TOML and
// JSON decode them to (int64 or float64 numbers, bool, string). The
// accessors convert and name the key in their errors.
type Params map[string]any

// Int returns key as an integer, def if absent; a non-integral or
// non-numeric value is an error naming the key.
func (p Params) Int(key string, def int) (int, error) {
	v, ok := p[key]
	if !ok {
		return def, nil
	}
	f, ok := number(v)
	if !ok || f != math.Trunc(f) || math.Abs(f) > 1<<40 {
		return 0, fmt.Errorf("field %s: %v is not an integer", key, v)
	}
	return int(f), nil
}

// Float returns key as a float64, def if absent; a non-numeric or
// non-finite value is an error naming the key.
func (p Params) Float(key string, def float64) (float64, error) {
	v, ok := p[key]
	if !ok {
		return def, nil
	}
	f, ok := number(v)
	if !ok || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("field %s: %v is not a finite number", key, v)
	}
	return f, nil
}

// Bool returns key as a bool, def if absent.
func (p Params) Bool(key string, def bool) (bool, error) {
	v, ok := p[key]
	if !ok {
		return def, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("field %s: %v is not true or false", key, v)
	}
	return b, nil
}

// String returns key as a string, def if absent.
func (p Params) String(key, def string) (string, error) {
	v, ok := p[key]
	if !ok {
		return def, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("field %s: %v is not a string", key, v)
	}
	return s, nil
}

// Merge returns p with the keys of o replacing p's (a new map; neither is
// changed).
func (p Params) Merge(o Params) Params {
	out := maps.Clone(p)
	if out == nil {
		out = Params{}
	}
	maps.Copy(out, o)
	return out
}

// Keys returns p's keys, sorted.
func (p Params) Keys() []string {
	ks := slices.Collect(maps.Keys(p))
	sort.Strings(ks)
	return ks
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case float64:
		return n, true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// stageKeys are the keys StageSpec reads itself; every other key of a
// stage table is a block parameter.
var stageKeys = []string{"kind", "depth", "dim", "stride", "downsample", "blocks"}

// partKeys are PartSpec's own keys.
var partKeys = []string{"kind", "dim", "stride"}

// flat returns the stage as one table: its own keys beside the block
// parameters, the form TOML and JSON use.
func (s StageSpec) flat() map[string]any {
	m := map[string]any{"kind": s.Kind, "depth": s.Depth, "dim": s.Dim}
	if s.Stride != 0 {
		m["stride"] = s.Stride
	}
	if s.Downsample != "" {
		m["downsample"] = s.Downsample
	}
	for k, v := range s.Params {
		m[k] = v
	}
	if s.Blocks != nil {
		bs := make([]map[string]any, len(s.Blocks))
		for i, b := range s.Blocks {
			bs[i] = maps.Clone(map[string]any(b))
			if bs[i] == nil {
				bs[i] = map[string]any{}
			}
		}
		m["blocks"] = bs
	}
	return m
}

// fromFlat fills s from a decoded table; keys other than stageKeys become
// block parameters.
func (s *StageSpec) fromFlat(m map[string]any) error {
	*s = StageSpec{Params: Params{}}
	p := Params(m)
	if err := readPart(p, &s.Kind, &s.Dim, &s.Stride); err != nil {
		return err
	}
	var err error
	if s.Depth, err = p.Int("depth", 0); err != nil {
		return err
	}
	if s.Downsample, err = p.String("downsample", ""); err != nil {
		return err
	}
	if bs, ok := m["blocks"]; ok {
		list, ok := asList(bs)
		if !ok {
			return fmt.Errorf("field blocks: want a list of tables, one per block")
		}
		s.Blocks = make([]Params, len(list))
		for i, b := range list {
			t, ok := b.(map[string]any)
			if !ok {
				return fmt.Errorf("field blocks[%d]: want a table of block parameters", i)
			}
			s.Blocks[i] = Params(t)
		}
	}
	for k, v := range m {
		if !slices.Contains(stageKeys, k) {
			s.Params[k] = v
		}
	}
	return nil
}

func asList(v any) ([]any, bool) {
	switch l := v.(type) {
	case []any:
		return l, true
	case []map[string]any:
		out := make([]any, len(l))
		for i, t := range l {
			out[i] = t
		}
		return out, true
	}
	return nil, false
}

// MarshalJSON writes the stage as one flat object (see fromFlat).
func (s StageSpec) MarshalJSON() ([]byte, error) { return json.Marshal(s.flat()) }

// UnmarshalJSON reads the flat object MarshalJSON writes.
func (s *StageSpec) UnmarshalJSON(b []byte) error { return flatJSON(b, s.fromFlat) }

// UnmarshalTOML reads a [[model.stages]] table: kind, depth, dim, stride,
// downsample, an optional blocks list of per-block tables, and the kind's
// own keys.
func (s *StageSpec) UnmarshalTOML(v any) error { return flatTOML(v, s.fromFlat) }

// flatJSON decodes a JSON object and hands it to fromFlat.
func flatJSON(b []byte, fromFlat func(map[string]any) error) error {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	return fromFlat(m)
}

// flatTOML hands a decoded TOML table to fromFlat.
func flatTOML(v any, fromFlat func(map[string]any) error) error {
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("want a table, got %v", v)
	}
	return fromFlat(m)
}

// readPart reads the kind, dim and stride keys every part has.
func readPart(p Params, kind *string, dim, stride *int) error {
	var err error
	if *kind, err = p.String("kind", ""); err != nil {
		return err
	}
	if *dim, err = p.Int("dim", 0); err != nil {
		return err
	}
	*stride, err = p.Int("stride", 0)
	return err
}

func (p PartSpec) flat() map[string]any {
	m := map[string]any{"kind": p.Kind}
	if p.Dim != 0 {
		m["dim"] = p.Dim
	}
	if p.Stride != 0 {
		m["stride"] = p.Stride
	}
	for k, v := range p.Params {
		m[k] = v
	}
	return m
}

func (p *PartSpec) fromFlat(m map[string]any) error {
	*p = PartSpec{Params: Params{}}
	if err := readPart(m, &p.Kind, &p.Dim, &p.Stride); err != nil {
		return err
	}
	for k, v := range m {
		if !slices.Contains(partKeys, k) {
			p.Params[k] = v
		}
	}
	return nil
}

// MarshalJSON writes the part as one flat object.
func (p PartSpec) MarshalJSON() ([]byte, error) { return json.Marshal(p.flat()) }

// UnmarshalJSON reads the flat object MarshalJSON writes.
func (p *PartSpec) UnmarshalJSON(b []byte) error { return flatJSON(b, p.fromFlat) }

// UnmarshalTOML reads a [model.stem] or [model.head] table: kind, dim,
// stride and the kind's own keys.
func (p *PartSpec) UnmarshalTOML(v any) error { return flatTOML(v, p.fromFlat) }

// Spec returns the network c describes. With no Stages it is the ConvNeXt
// skeleton: the "patchify" stem (StemPatch, Dims[0]), one "convnext" stage
// per depth with the "convnext" downsample (stride 2) before every stage
// but the first, and the "norm_linear" head; Kernel, MLPRatio, GRN and
// LayerScale become the blocks' kernel, mlp_ratio, grn and layer_scale.
// With Stages, the stem defaults to patchify (StemPatch, Stages[0].Dim) and
// the head to norm_linear unless Stem or Head name others, and a stage's
// stride defaults to 1 for the first and 2 for the others, its downsample
// to the kind's default when the stage changes resolution or width.
func (c Config) Spec() Spec {
	sp := Spec{Stem: PartSpec{Kind: "patchify", Stride: c.StemPatch}, Head: PartSpec{Kind: "norm_linear"}}
	if c.Stem != nil {
		sp.Stem = *c.Stem
		sp.Stem.Params = maps.Clone(c.Stem.Params)
		if sp.Stem.Stride == 0 {
			sp.Stem.Stride = c.StemPatch
		}
	}
	if c.Head != nil {
		sp.Head = *c.Head
		sp.Head.Params = maps.Clone(c.Head.Params)
	}
	if len(c.Stages) == 0 {
		if len(c.Dims) > 0 && sp.Stem.Dim == 0 {
			sp.Stem.Dim = c.Dims[0]
		}
		for i := range c.Depths {
			st := StageSpec{Kind: "convnext", Depth: c.Depths[i], Stride: 1,
				Params: Params{"kernel": c.Kernel, "mlp_ratio": c.MLPRatio, "grn": c.GRN, "layer_scale": c.LayerScale}}
			if i < len(c.Dims) {
				st.Dim = c.Dims[i]
			}
			if i > 0 {
				st.Stride, st.Downsample = 2, "convnext"
			}
			sp.Stages = append(sp.Stages, st)
		}
		return sp
	}
	prev := sp.Stem.Dim
	if prev == 0 {
		prev = c.Stages[0].Dim
		sp.Stem.Dim = prev
	}
	for i, s := range c.Stages {
		st := s
		st.Params = maps.Clone(s.Params)
		st.Blocks = slices.Clone(s.Blocks)
		if st.Stride == 0 {
			st.Stride = 1
			if i > 0 {
				st.Stride = 2
			}
		}
		if st.Downsample == "" && (st.Stride > 1 || st.Dim != prev) {
			if k, ok := lookup(roleBlock, st.Kind); ok {
				st.Downsample = k.Downsample
			}
		}
		if st.Downsample == "none" {
			st.Downsample = ""
		}
		prev = st.Dim
		if len(st.Blocks) > 0 && len(st.Blocks) == st.Depth {
			if _, _, dim, err := st.block(st.Depth - 1); err == nil {
				prev = dim
			}
		}
		sp.Stages = append(sp.Stages, st)
	}
	return sp
}

// Explicit returns c with its Spec spelled out in Stem, Stages and Head,
// the form a `stages` configuration writes; it builds the same network as
// c (same parameter names, shapes and, for the same seed, weights).
func (c Config) Explicit() Config {
	sp := c.Spec()
	c.Stem, c.Head = &sp.Stem, &sp.Head
	c.Stages = sp.Stages
	return c.Resolved()
}

// MarshalTOML writes the stage as one inline table, the form
// UnmarshalTOML reads (keys sorted; blocks as a list of inline tables).
func (s StageSpec) MarshalTOML() ([]byte, error) { return inlineTOML(s.flat()) }

// MarshalTOML writes the part as one inline table.
func (p PartSpec) MarshalTOML() ([]byte, error) { return inlineTOML(p.flat()) }

// inlineTOML writes m as a TOML inline table, each value as the TOML
// encoder writes it and lists of tables as lists of inline tables.
func inlineTOML(m map[string]any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("{")
	for i, k := range Params(m).Keys() {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s = ", k)
		if list, ok := asList(m[k]); ok && k == "blocks" {
			b.WriteString("[")
			for j, t := range list {
				tm, _ := t.(map[string]any)
				if tm == nil {
					if p, ok := t.(Params); ok {
						tm = p
					}
				}
				v, err := inlineTOML(tm)
				if err != nil {
					return nil, err
				}
				if j > 0 {
					b.WriteString(", ")
				}
				b.Write(v)
			}
			b.WriteString("]")
			continue
		}
		var e bytes.Buffer
		if err := toml.NewEncoder(&e).Encode(map[string]any{"v": m[k]}); err != nil {
			return nil, fmt.Errorf("field %s: %w", k, err)
		}
		b.WriteString(strings.TrimSuffix(strings.TrimPrefix(e.String(), "v = "), "\n"))
	}
	b.WriteString("}")
	return b.Bytes(), nil
}

// ConvNeXtOnly reports whether every part of c's Spec is ConvNeXt's (the
// patchify stem with its LayerNorm, convnext blocks and downsamples, the
// norm_linear head): the networks the official repositories' checkpoint
// naming can name.
func (c Config) ConvNeXtOnly() bool {
	sp := c.Spec()
	if sp.Stem.Kind != "patchify" || sp.Head.Kind != "norm_linear" || c.Names != "" {
		return false
	}
	if nk, err := normKind(sp.Stem.Params, "norm"); err != nil || nk != layerNorm {
		return false // the roadmap's BatchNorm patchify stem
	}
	for _, st := range sp.Stages {
		if st.Kind != "convnext" || (st.Downsample != "" && st.Downsample != "convnext") {
			return false
		}
		for _, b := range st.Blocks {
			if k, ok := b["kind"]; ok && k != "convnext" {
				return false
			}
		}
	}
	return true
}
