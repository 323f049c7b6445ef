package models

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/maruel/safetensors"

	"github.com/nextconv/nextconv/internal/float16"
	"github.com/nextconv/nextconv/internal/fsutil"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/layers"
)

// Metadata keys nextconv writes into a checkpoint's safetensors header.
const (
	MetaFormat = "format"          // "nextconv"
	MetaConfig = "nextconv.config" // the model Config as JSON
	MetaNaming = "nextconv.naming" // "timm" or "official"
)

// CheckpointError lists every way a checkpoint's tensors failed to match a
// model: missing, unexpected, and mis-shaped names.
type CheckpointError struct {
	Path       string
	Missing    []string // model tensors absent from the file
	Unexpected []string // file tensors the model does not have
	Mismatched []string // "name: file [a b], model [c d]"
}

// Error lists the problems, one kind per line.
func (e *CheckpointError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "checkpoint %s does not match the model:", e.Path)
	for _, g := range []struct {
		what  string
		names []string
	}{{"missing", e.Missing}, {"unexpected", e.Unexpected}, {"wrong shape", e.Mismatched}} {
		if len(g.names) > 0 {
			fmt.Fprintf(&b, "\n  %s (%d): %s", g.what, len(g.names), strings.Join(g.names, ", "))
		}
	}
	return b.String()
}

// Tensor is one named float32 tensor of a checkpoint, in PyTorch layout.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// StateDict returns the model's parameters as named float32 tensors in
// state-dict order, with names and shapes in the given naming. timm stores
// the block MLP of models with ConvMLP as 1×1 convolutions (E, C, 1, 1); the
// official code stores GRN parameters as (1, 1, 1, E).
func (m *Model) StateDict(naming Naming) ([]Tensor, error) {
	return m.stateDict(m.Params(), naming)
}

// stateDict is StateDict for the parameters ps of a network built from m's
// Config.
func (m *Model) stateDict(ps []*layers.Param, naming Naming) ([]Tensor, error) {
	out := make([]Tensor, 0, len(ps))
	for _, p := range ps {
		data := make([]float32, p.Value.Len())
		if err := m.Backend.Download(data, p.Value); err != nil {
			return nil, fmt.Errorf("models: state dict %s: %w", p.Name, err)
		}
		name, shape := p.Name, []int(p.Shape().Clone())
		isMLP := strings.Contains(name, ".mlp.fc") && strings.HasSuffix(name, ".weight")
		switch {
		case naming == Official:
			name = TimmToOfficial(name)
			if strings.Contains(name, ".grn.") {
				shape = []int{1, 1, 1, shape[0]}
			}
		case m.Config.ConvMLP && isMLP:
			shape = append(shape, 1, 1)
		}
		out = append(out, Tensor{Name: name, Shape: shape, Data: data})
	}
	return out, nil
}

// Save writes the model's parameters to a safetensors file at path in the
// given naming, with its Config in the metadata (so `train forward` can
// rebuild it) plus extra metadata entries. The write is atomic: a temporary
// file is renamed over path only when complete.
func (m *Model) Save(path string, naming Naming, extra map[string]string) error {
	sd, err := m.StateDict(naming)
	if err != nil {
		return err
	}
	return m.save(path, sd, naming, extra)
}

// save writes the tensors sd with m's Config and naming in the metadata.
func (m *Model) save(path string, sd []Tensor, naming Naming, extra map[string]string) error {
	cfg, err := json.Marshal(m.Config)
	if err != nil {
		return err
	}
	meta := map[string]string{MetaFormat: "nextconv", MetaConfig: string(cfg), MetaNaming: naming.String()}
	for k, v := range extra {
		meta[k] = v
	}
	return WriteSafetensors(path, sd, meta)
}

// WriteSafetensors writes float32 tensors and metadata to path atomically
// (temporary file, then rename).
func WriteSafetensors(path string, tensors []Tensor, meta map[string]string) error {
	f := safetensors.File{Metadata: meta}
	for _, t := range tensors {
		shape := make([]uint64, len(t.Shape))
		for i, d := range t.Shape {
			shape[i] = uint64(d)
		}
		data := make([]byte, 4*len(t.Data))
		for i, v := range t.Data {
			binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(v))
		}
		f.Tensors = append(f.Tensors, safetensors.Tensor{Name: t.Name, DType: safetensors.F32, Shape: shape, Data: data})
	}
	return fsutil.WriteAtomic(path, f.Serialize)
}

// ReadSafetensors reads every tensor of a safetensors file as float32
// (converting F16, BF16 and F64) and its metadata. A truncated or corrupt
// file gives an error naming the path and the defect. Memory stays within
// about three times the file's size whatever its header announces.
func ReadSafetensors(path string) ([]Tensor, map[string]string, error) {
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("models: read checkpoint: %w", err)
	}
	return parseSafetensors(path, buf)
}

// parseSafetensors is ReadSafetensors for a file already in memory; name
// only labels errors. Every tensor's shape is checked against its bytes (by
// the safetensors package, overflow-safe) before anything is converted.
func parseSafetensors(name string, buf []byte) ([]Tensor, map[string]string, error) {
	f, err := safetensors.Parse(buf)
	if err != nil {
		return nil, nil, fmt.Errorf("models: checkpoint %s is not a valid safetensors file (corrupt or truncated?): %w", name, err)
	}
	out := make([]Tensor, 0, len(f.Tensors))
	for _, t := range f.Tensors {
		data, err := toFloat32(t)
		if err != nil {
			return nil, nil, fmt.Errorf("models: checkpoint %s: tensor %s: %w", name, t.Name, err)
		}
		shape := make([]int, len(t.Shape))
		for i, d := range t.Shape {
			if d > math.MaxInt32 {
				return nil, nil, fmt.Errorf("models: checkpoint %s: tensor %s: dimension %d of shape %v is too large", name, t.Name, i, t.Shape)
			}
			shape[i] = int(d)
		}
		out = append(out, Tensor{Name: t.Name, Shape: shape, Data: data})
	}
	return out, f.Metadata, nil
}

// toFloat32 decodes little-endian F32, F64, F16 or BF16 data.
// The element count comes from the data's length, which safetensors.Parse
// has checked against the shape.
func toFloat32(t safetensors.Tensor) ([]float32, error) {
	switch t.DType {
	case safetensors.F32, safetensors.F64, safetensors.BF16, safetensors.F16:
	default:
		return nil, fmt.Errorf("dtype %s is not a float type", t.DType)
	}
	out := make([]float32, len(t.Data)/int(t.DType.WordSize()))
	switch t.DType {
	case safetensors.F32:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
		}
	case safetensors.F64:
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(t.Data[8*i:])))
		}
	case safetensors.BF16:
		for i := range out {
			out[i] = float16.BFloat16ToFloat32(binary.LittleEndian.Uint16(t.Data[2*i:]))
		}
	case safetensors.F16:
		for i := range out {
			out[i] = float16.HalfToFloat32(binary.LittleEndian.Uint16(t.Data[2*i:]))
		}
	}
	return out, nil
}

// Load reads the model's parameters from a checkpoint (safetensors, or a
// torch.save .pt file: ReadTensors) in timm or official naming (detected
// from the names), matching tensors by name, never by position. Shapes may
// differ only in size-1 axes (timm's (E,C,1,1) MLP weights, the official
// (1,1,1,E) GRN). It returns a *CheckpointError
// listing every missing, unexpected and mis-shaped tensor, and changes no
// parameter unless all match.
func (m *Model) Load(path string) error {
	tensors, err := ReadTensors(path)
	if err != nil {
		return err
	}
	return m.LoadTensors(path, tensors)
}

// LoadTensors is Load for tensors already read; path only names the source
// in errors.
func (m *Model) LoadTensors(path string, tensors []Tensor) error {
	byName := make(map[string]Tensor, len(tensors))
	official := false
	for _, t := range tensors {
		if strings.HasPrefix(t.Name, "downsample_layers.") {
			official = true
		}
	}
	for _, t := range tensors {
		name := t.Name
		if official {
			name = OfficialToTimm(name)
		}
		byName[name] = t
	}
	ce := &CheckpointError{Path: path}
	used := make(map[string]bool, len(byName))
	for _, p := range m.Params() {
		t, ok := byName[p.Name]
		if !ok {
			ce.Missing = append(ce.Missing, p.Name)
			continue
		}
		used[p.Name] = true
		if !sameSqueezed(t.Shape, p.Shape()) || len(t.Data) != p.Value.Len() {
			ce.Mismatched = append(ce.Mismatched, fmt.Sprintf("%s: file %v, model %v", t.Name, kernels.Shape(t.Shape), p.Shape()))
		}
	}
	for name, t := range byName {
		if !used[name] {
			ce.Unexpected = append(ce.Unexpected, t.Name)
		}
	}
	if len(ce.Missing)+len(ce.Unexpected)+len(ce.Mismatched) > 0 {
		sort.Strings(ce.Unexpected)
		return ce
	}
	for _, p := range m.Params() {
		if err := m.Backend.Upload(p.Value, byName[p.Name].Data); err != nil {
			return fmt.Errorf("models: load %s: %w", p.Name, err)
		}
	}
	return m.Arena.SyncLow()
}

// sameSqueezed reports whether two shapes are equal once size-1 axes are
// dropped, i.e. describe the same memory layout.
func sameSqueezed(a []int, b kernels.Shape) bool {
	sq := func(s []int) []int {
		return slices.DeleteFunc(slices.Clone(s), func(d int) bool { return d == 1 })
	}
	return slices.Equal(sq(a), sq(b))
}

// Bounds on what ReadMetadata and ConfigFromCheckpoint read from a file's
// header: nextconv's own headers are tens of KiB and a model config a few
// hundred bytes.
const (
	maxHeaderBytes = 16 << 20
	maxConfigBytes = 64 << 10
)

// ReadMetadata returns the __metadata__ of a safetensors file, reading only
// its header. A header longer than the file or than 16 MiB is an error; a
// torch.save .pt file has no metadata (nil, no error).
func ReadMetadata(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("models: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("models: %w", err)
	}
	return parseMetadata(path, f, st.Size())
}

// parseMetadata reads a safetensors header from r, a file of size bytes.
func parseMetadata(path string, r io.Reader, size int64) (map[string]string, error) {
	var n uint64
	if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
		return nil, fmt.Errorf("models: checkpoint %s: no valid safetensors header (file of %d bytes)", path, size)
	}
	if uint32(n) == zipMagic {
		return nil, nil // a torch.save .pt file: tensors, no metadata
	}
	if n > maxHeaderBytes || n > uint64(size-8) {
		return nil, fmt.Errorf("models: checkpoint %s: header of %d bytes in a file of %d (at most %d): corrupt or not safetensors", path, n, size, maxHeaderBytes)
	}
	hdr := make([]byte, n)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("models: checkpoint %s: header truncated: %w", path, err)
	}
	var h struct {
		Meta map[string]string `json:"__metadata__"`
	}
	if err := json.Unmarshal(hdr, &h); err != nil {
		return nil, fmt.Errorf("models: checkpoint %s: header is not JSON: %w", path, err)
	}
	return h.Meta, nil
}

// ConfigFromCheckpoint returns the model Config stored in a checkpoint
// nextconv wrote, validated (Validate) and within the process's Limits
// (CheckLimits), so that building it allocates nothing unbounded. It
// returns an error wrapping ErrNoConfig for files from other tools (timm,
// official), which need the variant named explicitly.
func ConfigFromCheckpoint(path string) (Config, error) {
	meta, err := ReadMetadata(path)
	if err != nil {
		return Config{}, err
	}
	return configFromMetadata(path, meta)
}

// configFromMetadata decodes and checks the model config in a header's
// metadata.
func configFromMetadata(path string, meta map[string]string) (Config, error) {
	js, ok := meta[MetaConfig]
	if !ok {
		return Config{}, fmt.Errorf("models: checkpoint %s: %w", path, ErrNoConfig)
	}
	if len(js) > maxConfigBytes {
		return Config{}, fmt.Errorf("models: checkpoint %s: stored config of %d bytes (at most %d)", path, len(js), maxConfigBytes)
	}
	var c Config
	if err := json.Unmarshal([]byte(js), &c); err != nil {
		return Config{}, fmt.Errorf("models: checkpoint %s: stored config: %w", path, err)
	}
	if err := c.CheckLimits(); err != nil {
		return Config{}, fmt.Errorf("models: checkpoint %s: stored config: %w", path, err)
	}
	return c, nil
}

// ErrNoConfig is wrapped when a checkpoint carries no nextconv model
// configuration.
var ErrNoConfig = errors.New("no nextconv model config in metadata (not written by nextconv; name the variant)")
