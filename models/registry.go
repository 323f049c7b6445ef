package models

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/nextconv/nextconv/internal/philox"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/layers"
)

// BlockArgs is what a registered kind's functions receive for one part of
// a network: where it sits, its widths, stride and parameters, and (for
// Build) the backend and generators.
type BlockArgs struct {
	Stage, Block int     // stage and block index (Block −1 for a stage's downsample; Stage −1 for the stem, len(stages) for the head)
	Name         string  // parameter name prefix, e.g. "stages.1.blocks.0"
	In, Out      int     // input and output channels (the head's Out is NumClasses, Dim its pre-classifier width)
	Dim          int     // the part's own width where it has one (the head's PartSpec.Dim)
	Stride       int     // spatial downsampling factor (1: none)
	Index, Total int     // the block's position among all blocks of the network and their number (0, 0 for the other parts)
	DropPath     float64 // stochastic depth rate, ConvNeXt's linspace MaxDropPath·Index/(Total−1)
	MaxDropPath  float64 // Config.DropPath: a kind with another rule (timm's EfficientNet: MaxDropPath·Index/Total) computes its own
	Eps          float64 // LayerNorm and GRN epsilon (Config.Eps)
	Params       Params  // the kind's keys (stage keys merged with the block's overrides)

	Backend kernels.Backend
	Init    *rand.Rand        // weight generator; nil leaves weights at zero
	DropRNG *philox.Generator // drop path masks
}

// Cost is a part's analytic size for one pass over n images (no tensor is
// allocated to compute it).
type Cost struct {
	Params float64 // parameter elements
	Saved  float64 // activation elements held from forward to backward (Describe's SavedBytes / element size)
	OutH   int     // output height
	OutW   int     // output width
}

// BlockKind is one registered kind of stem, block, downsample or head.
type BlockKind struct {
	// Keys lists the kind-specific parameters it accepts; any other key is
	// an error naming it.
	Keys []string
	// Downsample is the downsample kind a stage of these blocks gets when
	// it changes resolution or width and names none ("" if the block can
	// stride and change width itself).
	Downsample string
	// Check validates a's parameters, widths and stride without
	// allocating; its error names the field ("field kernel: ...").
	Check func(a BlockArgs) error
	// Cost returns the part's parameters and held activations for n images
	// of h×w pixels; Check has passed.
	Cost func(a BlockArgs, n, h, w int) Cost
	// Build returns the part as a layer whose parameters are named under
	// a.Name; Check has passed.
	Build func(a BlockArgs) (layers.Layer, error)
}

type role int

const (
	roleStem role = iota
	roleBlock
	roleDownsample
	roleHead
)

func (r role) String() string {
	return [...]string{"stem", "block", "downsample", "head"}[r]
}

var registry struct {
	sync.RWMutex
	kinds [4]map[string]BlockKind
}

func register(r role, kind string, k BlockKind) {
	if kind == "" || k.Check == nil || k.Cost == nil || k.Build == nil {
		panic(fmt.Sprintf("models: register %s kind %q: need a name and Check, Cost and Build", r, kind))
	}
	registry.Lock()
	defer registry.Unlock()
	if registry.kinds[r] == nil {
		registry.kinds[r] = map[string]BlockKind{}
	}
	if _, dup := registry.kinds[r][kind]; dup {
		panic(fmt.Sprintf("models: %s kind %q registered twice", r, kind))
	}
	registry.kinds[r][kind] = k
}

// RegisterBlock adds a block kind (the name a stage's kind field gives).
// It panics if the name is empty or taken or a function is missing.
func RegisterBlock(kind string, k BlockKind) { register(roleBlock, kind, k) }

// RegisterDownsample adds a downsample kind (a stage's downsample field).
func RegisterDownsample(kind string, k BlockKind) { register(roleDownsample, kind, k) }

// RegisterStem adds a stem kind ([model.stem] kind).
func RegisterStem(kind string, k BlockKind) { register(roleStem, kind, k) }

// RegisterHead adds a head kind ([model.head] kind). Its layer must end in
// the classifier, a [layers.Linear] to Out channels.
func RegisterHead(kind string, k BlockKind) { register(roleHead, kind, k) }

func lookup(r role, kind string) (BlockKind, bool) {
	registry.RLock()
	defer registry.RUnlock()
	k, ok := registry.kinds[r][kind]
	return k, ok
}

// Kinds returns the registered kinds of blocks ("block"), stems ("stem"),
// downsamples ("downsample") or heads ("head"), sorted.
func Kinds(what string) []string {
	registry.RLock()
	defer registry.RUnlock()
	for r := roleStem; r <= roleHead; r++ {
		if r.String() == what {
			names := make([]string, 0, len(registry.kinds[r]))
			for n := range registry.kinds[r] {
				names = append(names, n)
			}
			sort.Strings(names)
			return names
		}
	}
	return nil
}

// SpecError is an invalid part of a Spec: which stage and block (or stem,
// downsample, head) and which field.
type SpecError struct {
	Where string // "stem", "stage 2 block 1", "stage 1 downsample", "head", "stage 3"
	Err   error  // names the field
}

// Error returns "models: spec stage 2 block 1: field kernel: ...".
func (e *SpecError) Error() string { return "models: spec " + e.Where + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *SpecError) Unwrap() error { return e.Err }

// ErrSpec is wrapped by every SpecError's field error that has no more
// specific cause.
var ErrSpec = errors.New("invalid model spec")

// where names a part in errors: "stem", "stage 1 downsample", "stage 2
// block 0", "head".
func where(a BlockArgs, r role) string {
	switch {
	case r == roleStem:
		return "stem"
	case r == roleHead:
		return "head"
	case r == roleDownsample:
		return fmt.Sprintf("stage %d downsample", a.Stage)
	}
	return fmt.Sprintf("stage %d block %d", a.Stage, a.Block)
}

// checkPart looks kind up in role r and runs its key and Check validation,
// returning the kind or a SpecError.
func checkPart(r role, kind string, a BlockArgs) (BlockKind, error) {
	fail := func(err error) (BlockKind, error) { return BlockKind{}, &SpecError{Where: where(a, r), Err: err} }
	k, ok := lookup(r, kind)
	if !ok {
		return fail(fmt.Errorf("field kind: unknown %s kind %q (known: %s): %w", r, kind, strings.Join(Kinds(r.String()), ", "), ErrSpec))
	}
	for _, key := range a.Params.Keys() {
		if !slices.Contains(k.Keys, key) {
			return fail(fmt.Errorf("field %s: not a parameter of %s kind %q (it takes: %s): %w", key, r, kind, strings.Join(k.Keys, ", "), ErrSpec))
		}
	}
	if a.In <= 0 || a.In > MaxDim || a.Out <= 0 || (a.Out > MaxDim && r != roleHead) {
		return fail(fmt.Errorf("field dim: widths %d → %d outside [1, %d]: %w", a.In, a.Out, MaxDim, ErrSpec))
	}
	if a.Stride <= 0 || a.Stride > MaxStemPatch {
		return fail(fmt.Errorf("field stride: %d outside [1, %d]: %w", a.Stride, MaxStemPatch, ErrSpec))
	}
	if err := k.Check(a); err != nil {
		return fail(err)
	}
	return k, nil
}

// BuildBlock builds one block of the registered block kind (a stage's kind
// field, e.g. "bottleneck") from a alone, outside a model: the kind's key
// and Check validation as a model's plan runs them, then its Build. a.Params
// nil means no keys. It returns a *SpecError naming the field for an
// unknown kind or invalid arguments. Golden tests use it to run a single
// block against PyTorch's module.
func BuildBlock(kind string, a BlockArgs) (layers.Layer, error) {
	if a.Params == nil {
		a.Params = Params{}
	}
	k, err := checkPart(roleBlock, kind, a)
	if err != nil {
		return nil, err
	}
	l, err := k.Build(a)
	if err != nil {
		return nil, &SpecError{Where: where(a, roleBlock), Err: err}
	}
	return l, nil
}
