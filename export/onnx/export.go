package onnx

import (
	"encoding/json"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"

	"github.com/nextconv/nextconv/export/onnx/onnxpb"
	"github.com/nextconv/nextconv/internal/fsutil"
	"github.com/nextconv/nextconv/models"
)

// Opset is the ONNX operator set the exporter writes: 17, the first with
// LayerNormalization.
const Opset = 17

// irVersion is the ONNX IR version that goes with opset 17 (IR 8, ONNX 1.12).
const irVersion = 8

// Metadata describes what a model expects and predicts; Export writes it
// into the model's metadata_props: "classes" (JSON array of strings),
// "mean" and "std" (JSON arrays, one value per channel, applied to pixels
// scaled to [0, 1]: x = (p/255 − mean)/std), "input_size" (the side H = W
// in pixels), "layout" ("NCHW"), and "nextconv.config" (the model
// configuration as JSON).
type Metadata struct {
	Classes   []string  // one name per logit; empty: none written
	Mean, Std []float64 // per input channel
	InputSize int       // H = W of the input, pixels
}

// Options choose between equivalent spellings of a QDQ graph.
type Options struct {
	// UInt8Activations stores int8 activation grids as uint8 with zero
	// points moved by 128 (the same quantized values): ONNX Runtime then
	// runs uint8 × int8 products, its fast path on x86 CPUs without VNNI,
	// where int8 × int8 is several times slower. TensorRT wants the default
	// int8 with zero point 0.
	UInt8Activations bool
}

// Export returns model m as an ONNX ModelProto for inputs of
// meta.InputSize² pixels (see the package doc for the graph). A model
// wrapped by qat.QuantizeModel gives a QDQ graph. It returns an error
// wrapping ErrUnsupported for a layer the exporter cannot spell, an error
// if the input size is below m.MinInput or the metadata does not match the
// model (class or channel counts), and errors from reading parameters or
// quantizer state.
func Export(m *models.Model, meta Metadata, opt Options) (*onnxpb.ModelProto, error) {
	mc := m.Config
	if meta.InputSize < m.MinInput() {
		return nil, fmt.Errorf("onnx: input size %d is below the %d pixels model %s needs", meta.InputSize, m.MinInput(), mc.Name)
	}
	if len(meta.Classes) != 0 && len(meta.Classes) != mc.NumClasses {
		return nil, fmt.Errorf("onnx: %d class names for a model with %d classes", len(meta.Classes), mc.NumClasses)
	}
	if len(meta.Mean) != mc.InChans || len(meta.Std) != mc.InChans {
		return nil, fmt.Errorf("onnx: mean/std have %d/%d values for a model with %d input channels", len(meta.Mean), len(meta.Std), mc.InChans)
	}
	e := &emitter{g: newGraph(), be: m.Backend, uint8: opt.UInt8Activations}
	x := e.g.node("Transpose", "input/ToNHWC", []string{"input"}, attrInts("perm", 0, 2, 3, 1))
	y, err := e.emit(m.Net, x)
	if err != nil {
		return nil, err
	}
	// Name the last value "logits" by renaming the node output that
	// produced it.
	last := e.g.nodes[len(e.g.nodes)-1]
	if last.Output[0] != y {
		return nil, fmt.Errorf("onnx: the graph's last node does not produce its output %s", y)
	}
	last.Output[0] = "logits"

	props, err := meta.props(mc)
	if err != nil {
		return nil, err
	}
	return &onnxpb.ModelProto{
		IrVersion:       proto.Int64(irVersion),
		OpsetImport:     []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(Opset)}},
		ProducerName:    proto.String("nextconv"),
		ProducerVersion: proto.String("1"),
		DocString:       proto.String(fmt.Sprintf("%s, %d classes, NCHW float32 input %d×%d×%d", mc.Name, mc.NumClasses, mc.InChans, meta.InputSize, meta.InputSize)),
		MetadataProps:   props,
		Graph: &onnxpb.GraphProto{
			Name:        proto.String(mc.Name),
			Node:        e.g.nodes,
			Initializer: e.g.inits,
			Input:       []*onnxpb.ValueInfoProto{valueInfo("input", mc.InChans, meta.InputSize, meta.InputSize)},
			Output:      []*onnxpb.ValueInfoProto{valueInfo("logits", mc.NumClasses)},
		},
	}, nil
}

// props returns meta as metadata_props entries.
func (meta Metadata) props(mc models.Config) ([]*onnxpb.StringStringEntryProto, error) {
	kv := [][2]string{{"input_size", fmt.Sprint(meta.InputSize)}, {"layout", "NCHW"}}
	for _, en := range []struct {
		k string
		v any
	}{{"classes", meta.Classes}, {"mean", meta.Mean}, {"std", meta.Std}, {models.MetaConfig, mc}} {
		if en.k == "classes" && len(meta.Classes) == 0 {
			continue
		}
		b, err := json.Marshal(en.v)
		if err != nil {
			return nil, fmt.Errorf("onnx: metadata %s: %w", en.k, err)
		}
		kv = append(kv, [2]string{en.k, string(b)})
	}
	props := make([]*onnxpb.StringStringEntryProto, len(kv))
	for i, p := range kv {
		props[i] = &onnxpb.StringStringEntryProto{Key: proto.String(p[0]), Value: proto.String(p[1])}
	}
	return props, nil
}

// Write exports m (see [Export]) to path through a temporary file and a
// rename, so a failed export never leaves a partial file.
func Write(path string, m *models.Model, meta Metadata, opt Options) error {
	mp, err := Export(m, meta, opt)
	if err != nil {
		return err
	}
	b, err := proto.Marshal(mp)
	if err != nil {
		return fmt.Errorf("onnx: encoding %s: %w", path, err)
	}
	return fsutil.WriteAtomic(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}
