//go:build cgo && !cuda

package trainer

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/nextconv/nextconv/cuda/sim"
	"github.com/nextconv/nextconv/kernels/gpu"
)

// TestGraphReplayMatchesEager trains ConvNeXt V2-Atto (32×32, 4×4 stem, batch 2)
// for 4 steps on the simulated CUDA backend twice, eagerly and with
// train.cuda_graphs (step 1 eager, step 2 captured, steps 3 and 4 replayed
// with a learning rate that changes every step, mixup and EMA on): the
// logged losses and every saved tensor (weights, AdamW moments, EMA) must
// agree bit for bit, and the graph run must really have replayed.
func TestGraphReplayMatchesEager(t *testing.T) {
	type result struct {
		state  map[string][]float32
		losses []float64
	}
	train := func(graphs bool) result {
		c := quickConfig(t, 4)
		c.Model.StemPatch, c.Model.DropPath = 4, 0 // drop-path masks are drawn on the host: no graph
		c.Data.RandAugment, c.Data.EvalImages, c.Data.InputSize = "", 2, 32
		c.Train.Backend, c.Train.CUDAGraphs, c.Train.BatchSize, c.Train.EvalBatchSize = "cudasim", graphs, 2, 2
		be, closeBE, err := OpenBackend("cudasim")
		if err != nil {
			t.Fatal(err)
		}
		defer closeBE()
		tr, err := New(context.Background(), c, be, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		if _, err := tr.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		replays := be.(*gpu.Backend).Driver().(*sim.Driver).Replays()
		if want := map[bool]int{false: 0, true: 3}[graphs]; replays != want {
			t.Fatalf("cuda_graphs = %v: %d graph launches, want %d", graphs, replays, want)
		}
		return result{readState(t, filepath.Join(c.Train.OutDir, "last.safetensors")), trainLosses(t, c.Train.OutDir)}
	}
	eager, graph := train(false), train(true)
	if len(eager.losses) != 2 || len(graph.losses) != len(eager.losses) {
		t.Fatalf("logged losses: %v eager, %v with graphs", eager.losses, graph.losses)
	}
	for i, l := range eager.losses {
		if math.Float64bits(graph.losses[i]) != math.Float64bits(l) {
			t.Errorf("logged loss %d: %v with graphs, %v eager", i, graph.losses[i], l)
		}
	}
	if len(graph.state) != len(eager.state) || len(eager.state) < 100 {
		t.Fatalf("%d tensors with graphs, %d eager", len(graph.state), len(eager.state))
	}
	for name, w := range eager.state {
		g := graph.state[name]
		for i := range w {
			if math.Float32bits(g[i]) != math.Float32bits(w[i]) {
				t.Fatalf("%s[%d] = %v with graphs, %v eager", name, i, g[i], w[i])
			}
		}
	}
}

// trainLosses returns the losses of the "train" records of dir's
// metrics.jsonl.
func trainLosses(t *testing.T, dir string) []float64 {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var losses []float64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec struct {
			Kind string  `json:"kind"`
			Loss float64 `json:"loss"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Kind == "train" {
			losses = append(losses, rec.Loss)
		}
	}
	return losses
}
