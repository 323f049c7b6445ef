package trainer

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/maruel/safetensors"

	"github.com/nextconv/nextconv/internal/fsutil"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/models"
	"github.com/nextconv/nextconv/qat"
)

// Int8Format is the format metadata of an integer export ("intN": every
// weight grid of up to 8 bits is stored as int8; the name predates low-bit
// QAT and stays for the files already written).
const Int8Format = "nextconv-int8"

// Metadata keys of an integer export: the bit widths of [qat], so that a
// reader knows the grid without parsing the stored run configuration
// (weights −(2^(b−1)−1)..2^(b−1)−1, inputs −2^(b−1)..2^(b−1)−1).
const (
	MetaWeightBits     = "weight_bits"
	MetaActivationBits = "activation_bits"
)

// ExportInt8 writes the integer form of a fake-quantized model to path
// (safetensors, atomically): for every quantized layer its weight as I8
// (integers of run.QAT.WeightBits bits, at most 8, stored one per byte)
// (<layer>.weight, PyTorch layout) with per-output-channel F32 scales and
// I32 zero points (<layer>.weight_scale, <layer>.weight_zero_point), and,
// when its input is quantized, the activation scale and zero point
// (<layer>.input_scale, <layer>.input_zero_point); every other parameter
// (biases, norms, GRN, the float stem and head) as F32 under its timm name;
// and the quantizers' full state (quant:<name>) so that LoadInt8 rebuilds
// exactly the evaluated model. Weights are the integers the fake-quant
// forward uses: dequantized (q − zp)·s they equal its output bit for bit.
func ExportInt8(path string, m *models.Model, qs []*qat.Quantized, run Config) error {
	be := m.Backend
	quantized := map[string]*qat.Quantized{}
	for _, q := range qs {
		quantized[q.Name()+".weight"] = q
	}
	f := safetensors.File{}
	add := func(name string, dt safetensors.DType, shape []int, data []byte) {
		s := make([]uint64, len(shape))
		for i, d := range shape {
			s[i] = uint64(d)
		}
		f.Tensors = append(f.Tensors, safetensors.Tensor{Name: name, DType: dt, Shape: s, Data: data})
	}
	for _, p := range m.Params() {
		v := make([]float32, p.Value.Len())
		if err := be.Download(v, p.Value); err != nil {
			return err
		}
		q, ok := quantized[p.Name]
		if !ok {
			add(p.Name, safetensors.F32, p.Shape(), f32LE(v))
			continue
		}
		ints, err := q.Weight.Quantize(v, p.Shape())
		if err != nil {
			return fmt.Errorf("export %s: %w", p.Name, err)
		}
		i8 := make([]byte, len(ints))
		for i, x := range ints {
			if x < math.MinInt8 || x > math.MaxInt8 {
				return fmt.Errorf("export %s: quantized value %d does not fit int8", p.Name, x)
			}
			i8[i] = byte(int8(x))
		}
		add(p.Name, safetensors.I8, p.Shape(), i8)
		scale, zp, err := q.Weight.QParams()
		if err != nil {
			return fmt.Errorf("export %s: %w", p.Name, err)
		}
		add(q.Name()+".weight_scale", safetensors.F32, []int{len(scale)}, f32LE(scale))
		add(q.Name()+".weight_zero_point", safetensors.I32, []int{len(zp)}, i32LE(zp))
		if q.Input != nil {
			scale, zp, err := q.Input.QParams()
			if err != nil {
				return fmt.Errorf("export %s input: %w", q.Name(), err)
			}
			add(q.Name()+".input_scale", safetensors.F32, []int{len(scale)}, f32LE(scale))
			add(q.Name()+".input_zero_point", safetensors.I32, []int{len(zp)}, i32LE(zp))
		}
	}
	for _, t := range quantTensors(qs) {
		add(t.Name, safetensors.F32, t.Shape, f32LE(t.Data))
	}
	cfgJSON, _ := json.Marshal(m.Config)
	f.Metadata = map[string]string{models.MetaFormat: Int8Format, models.MetaConfig: string(cfgJSON), metaRun: run.TOML(),
		MetaWeightBits: strconv.Itoa(run.QAT.WeightBits), MetaActivationBits: strconv.Itoa(run.QAT.ActivationBits)}
	return fsutil.WriteAtomic(path, f.Serialize)
}

// LoadInt8 rebuilds the quantized model an int8 export describes on be: the
// float architecture wrapped with the same quantizers, every quantized
// weight set to its dequantized integers (q − zp)·s, the float parameters and
// the quantizer state restored, observers frozen. Evaluating it reproduces
// the accuracy of the model that was exported exactly. It returns an error
// for a file that is not an int8 export or does not match its own config.
func LoadInt8(be kernels.Backend, path string) (*models.Model, []*qat.Quantized, Config, error) {
	meta, err := models.ReadMetadata(path)
	if err != nil {
		return nil, nil, Config{}, err
	}
	if meta[models.MetaFormat] != Int8Format {
		return nil, nil, Config{}, fmt.Errorf("%s is not an int8 export (format %q)", path, meta[models.MetaFormat])
	}
	run, err := RunConfigFromCheckpoint(path)
	if err != nil {
		return nil, nil, run, err
	}
	m, qs, err := newCheckpointModel(be, path, run, true)
	if err != nil {
		return nil, nil, run, err
	}
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, run, err
	}
	file, err := safetensors.Parse(buf)
	if err != nil {
		return nil, nil, run, fmt.Errorf("%s: corrupt or truncated safetensors: %w", path, err)
	}
	raw := map[string]safetensors.Tensor{}
	var state []qat.StateTensor
	for _, t := range file.Tensors {
		if n, ok := strings.CutPrefix(t.Name, quantTensorPrefix); ok {
			state = append(state, qat.StateTensor{Name: n, Shape: intShape(t.Shape), Data: leF32(t.Data)})
			continue
		}
		raw[t.Name] = t
	}
	if err := qat.LoadState(qs, state); err != nil {
		return nil, nil, run, fmt.Errorf("%s: %w", path, err)
	}
	qat.FreezeObservers(qs)
	for _, p := range m.Params() {
		t, ok := raw[p.Name]
		if !ok {
			return nil, nil, run, fmt.Errorf("%s: tensor %s missing", path, p.Name)
		}
		var v []float32
		switch t.DType {
		case safetensors.F32:
			v = leF32(t.Data)
		case safetensors.I8:
			scale, okS := raw[strings.TrimSuffix(p.Name, ".weight")+".weight_scale"]
			zp, okZ := raw[strings.TrimSuffix(p.Name, ".weight")+".weight_zero_point"]
			if !okS || !okZ {
				return nil, nil, run, fmt.Errorf("%s: int8 tensor %s has no scale or zero point", path, p.Name)
			}
			v, err = dequantize(t.Data, leF32(scale.Data), leI32(zp.Data))
			if err != nil {
				return nil, nil, run, fmt.Errorf("%s: %s: %w", path, p.Name, err)
			}
		default:
			return nil, nil, run, fmt.Errorf("%s: tensor %s has dtype %s", path, p.Name, t.DType)
		}
		if len(v) != p.Value.Len() {
			return nil, nil, run, fmt.Errorf("%s: tensor %s has %d elements, the model %d", path, p.Name, len(v), p.Value.Len())
		}
		if err := be.Upload(p.Value, v); err != nil {
			return nil, nil, run, err
		}
	}
	return m, qs, run, nil
}

// dequantize returns (q − zp[c])·s[c] for int8 values laid out with the
// output channel outermost, rejecting zero or non-finite scales.
func dequantize(q []byte, s []float32, zp []int32) ([]float32, error) {
	if len(s) == 0 || len(s) != len(zp) || len(q)%len(s) != 0 {
		return nil, fmt.Errorf("%d int8 values for %d scales and %d zero points", len(q), len(s), len(zp))
	}
	inner := len(q) / len(s)
	out := make([]float32, len(q))
	for c, sc := range s {
		if !(sc > 0) || math.IsInf(float64(sc), 0) {
			return nil, fmt.Errorf("scale %v of channel %d must be positive and finite", sc, c)
		}
		for i := c * inner; i < (c+1)*inner; i++ {
			out[i] = float32(int32(int8(q[i]))-zp[c]) * sc
		}
	}
	return out, nil
}

func f32LE(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func i32LE(v []int32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
	}
	return b
}

func leF32(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

func leI32(b []byte) []int32 {
	v := make([]int32, len(b)/4)
	for i := range v {
		v[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

func intShape(s []uint64) []int {
	out := make([]int, len(s))
	for i, d := range s {
		out[i] = int(d)
	}
	return out
}
