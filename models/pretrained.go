package models

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/nextconv/nextconv/models/torchpt"
)

// PretrainedReport says what LoadPretrained did with a checkpoint.
type PretrainedReport struct {
	Path        string
	Loaded      int      // model tensors taken from the file
	HeadDropped bool     // the file's classifier had another class count; the model's own init was kept
	StemAdapted string   // how the stem was converted to the model's input channels ("" if not)
	NotLoaded   []string // model tensors left at their initialisation
	Unused      []string // file tensors the model did not take (FCMAE decoder, dropped head, …)
}

// String is the report in one line.
func (r PretrainedReport) String() string {
	s := fmt.Sprintf("pretrained %s: %d tensors loaded", r.Path, r.Loaded)
	if r.HeadDropped {
		s += "; head re-initialised (class count differs)"
	}
	if r.StemAdapted != "" {
		s += "; stem " + r.StemAdapted
	}
	s += fmt.Sprintf("; not loaded (%d): %s", len(r.NotLoaded), listOrNone(r.NotLoaded))
	s += fmt.Sprintf("; unused (%d): %s", len(r.Unused), listOrNone(r.Unused))
	return s
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// zipMagic starts every zip file ("PK\x03\x04"), so every torch.save file.
const zipMagic = 0x04034b50

// ReadTensors reads every tensor of a checkpoint as float32: a safetensors
// file (ReadSafetensors) or a PyTorch zip checkpoint written by torch.save
// (.pt/.pth; torchpt.Read with its default limits), told apart by the
// file's first bytes, not its name.
func ReadTensors(path string) ([]Tensor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("models: read checkpoint: %w", err)
	}
	magic := make([]byte, 4)
	_, err = io.ReadFull(f, magic)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("models: checkpoint %s is too short to be one: %w", path, err)
	}
	if binary.LittleEndian.Uint32(magic) != zipMagic {
		ts, _, err := ReadSafetensors(path)
		return ts, err
	}
	pt, err := torchpt.Read(path, torchpt.DefaultLimits())
	if err != nil {
		return nil, err
	}
	out := make([]Tensor, len(pt))
	for i, t := range pt {
		out[i] = Tensor(t)
	}
	return out, nil
}

// LoadPretrained initialises the model from a checkpoint for fine-tuning,
// as timm's load_pretrained and the official main_finetune.py do:
//
//   - names may be nextconv's/timm's or the official ones (OfficialToTimm);
//     a "module." prefix (DistributedDataParallel) is dropped;
//   - an FCMAE pre-training checkpoint (official models/fcmae.py) loads its
//     encoder ("encoder." prefix); the decoder, mask_token, proj and pred
//     tensors are not used;
//   - a classifier (head.fc) whose class count differs from the model's is
//     dropped, keeping the model's own head initialisation (scaled by
//     HeadInitScale);
//   - a stem with 3 input channels is converted to the model's InChans with
//     timm's adapt_input_conv (timm/models/_manipulate.py): summed over RGB
//     for 1 channel, otherwise repeated to InChans and scaled by 3/InChans.
//
// A tensor whose shape differs (beyond size-1 axes), or a backbone tensor
// the file lacks, is an error naming the first such tensors (a checkpoint of
// another architecture); nothing is changed then. Tensors the model keeps at
// its initialisation and file tensors it did not use are in the report.
func (m *Model) LoadPretrained(path string) (PretrainedReport, error) {
	ts, err := ReadTensors(path)
	if err != nil {
		return PretrainedReport{Path: path}, err
	}
	return m.LoadPretrainedTensors(path, ts)
}

// decoderPrefixes are the FCMAE decoder's tensors (official fcmae.py), which
// main_finetune.py deletes before loading the encoder.
var decoderPrefixes = []string{"decoder", "mask_token", "proj.", "pred."}

// LoadPretrainedTensors is LoadPretrained for tensors already read; path
// only names the source in messages.
func (m *Model) LoadPretrainedTensors(path string, tensors []Tensor) (PretrainedReport, error) {
	rep := PretrainedReport{Path: path}
	official, fcmae := false, false
	for _, t := range tensors {
		name := strings.TrimPrefix(t.Name, "module.")
		official = official || strings.HasPrefix(strings.TrimPrefix(name, "encoder."), "downsample_layers.")
		fcmae = fcmae || strings.HasPrefix(name, "encoder.")
		if strings.HasSuffix(name, ".kernel") {
			return rep, fmt.Errorf("models: pretrained %s: tensor %s is a sparse (MinkowskiEngine) kernel; convert the checkpoint to dense weights first (official utils.remap_checkpoint_keys)", path, t.Name)
		}
	}
	byName := make(map[string]Tensor, len(tensors))
	for _, t := range tensors {
		name := strings.TrimPrefix(t.Name, "module.")
		if fcmae {
			var enc bool
			if name, enc = strings.CutPrefix(name, "encoder."); !enc {
				rep.Unused = append(rep.Unused, t.Name)
				continue
			}
		} else if slices.ContainsFunc(decoderPrefixes, func(p string) bool { return strings.HasPrefix(name, p) }) {
			rep.Unused = append(rep.Unused, t.Name)
			continue
		}
		if official {
			name = OfficialToTimm(name)
		}
		byName[name] = t
	}
	if head, ok := byName["head.fc.weight"]; ok && len(head.Shape) == 2 && head.Shape[0] != m.Config.NumClasses {
		rep.HeadDropped = true
		for _, n := range []string{"head.fc.weight", "head.fc.bias"} {
			if t, ok := byName[n]; ok {
				rep.Unused = append(rep.Unused, t.Name)
				delete(byName, n)
			}
		}
	}
	if stem, ok := byName["stem.0.weight"]; ok && len(stem.Shape) == 4 && stem.Shape[1] != m.Config.InChans {
		adapted, how, err := adaptInputConv(stem, m.Config.InChans)
		if err != nil {
			return rep, fmt.Errorf("models: pretrained %s: %w", path, err)
		}
		byName["stem.0.weight"], rep.StemAdapted = adapted, how
	}

	var mismatched, missing []string
	used := map[string]bool{}
	for _, p := range m.Params() {
		t, ok := byName[p.Name]
		switch {
		case !ok && strings.HasPrefix(p.Name, "head."):
			rep.NotLoaded = append(rep.NotLoaded, p.Name)
		case !ok:
			missing = append(missing, p.Name)
		case !sameSqueezed(t.Shape, p.Shape()) || len(t.Data) != p.Value.Len():
			mismatched = append(mismatched, fmt.Sprintf("%s (file %v, model %v)", t.Name, t.Shape, []int(p.Shape())))
		default:
			used[p.Name] = true
		}
	}
	for name, t := range byName {
		if !used[name] {
			rep.Unused = append(rep.Unused, t.Name)
		}
	}
	sort.Strings(rep.Unused)
	if len(mismatched)+len(missing) > 0 {
		return rep, fmt.Errorf("models: pretrained %s does not fit model %s (a checkpoint of another architecture?): %d tensors of another shape, %d missing; first: %s",
			path, m.Config.Name, len(mismatched), len(missing), strings.Join(append(first(mismatched, 5), first(missing, 5)...), "; "))
	}
	for _, p := range m.Params() {
		if !used[p.Name] {
			continue
		}
		if err := m.Backend.Upload(p.Value, byName[p.Name].Data); err != nil {
			return rep, fmt.Errorf("models: load %s: %w", p.Name, err)
		}
		rep.Loaded++
	}
	return rep, m.Arena.SyncLow()
}

// first returns at most n leading names, noting how many were left out.
func first(names []string, n int) []string {
	if len(names) <= n {
		return names
	}
	return append(slices.Clone(names[:n]), fmt.Sprintf("… %d more", len(names)-n))
}

// adaptInputConv converts a stem weight [O, 3, K, K] pretrained on RGB to
// in input channels with timm's adapt_input_conv rule
// (timm/models/_manipulate.py): for one channel the RGB weights are summed;
// otherwise the RGB weights are repeated until in channels and multiplied by
// 3/in, keeping the response to a grey image. Other source channel counts
// are an error, as in timm.
func adaptInputConv(w Tensor, in int) (Tensor, string, error) {
	o, src, kh, kw := w.Shape[0], w.Shape[1], w.Shape[2], w.Shape[3]
	if src != 3 {
		return Tensor{}, "", fmt.Errorf("tensor %s has %d input channels and the model %d: timm's adapt_input_conv converts only from 3 (RGB)", w.Name, src, in)
	}
	k := kh * kw
	out := make([]float32, o*in*k)
	scale := float32(3 / float64(in))
	for oc := range o {
		for c := range in {
			dst := out[(oc*in+c)*k : (oc*in+c+1)*k]
			for j := range dst {
				if in == 1 {
					dst[j] = w.Data[(oc*3+0)*k+j] + w.Data[(oc*3+1)*k+j] + w.Data[(oc*3+2)*k+j]
				} else {
					dst[j] = w.Data[(oc*3+c%3)*k+j] * scale
				}
			}
		}
	}
	how := fmt.Sprintf("adapted from 3 to %d input channels (RGB repeated and scaled by 3/%d, timm adapt_input_conv)", in, in)
	if in == 1 {
		how = "adapted from 3 to 1 input channel (RGB summed, timm adapt_input_conv)"
	}
	return Tensor{Name: w.Name, Shape: []int{o, in, kh, kw}, Data: out}, how, nil
}
