package onnx

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nextconv/nextconv/internal/ort"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/qat"
)

// BenchmarkLatency times inference of ConvNeXt V2-Atto — the quick-start
// model at 28² (2×2 stem, 1 channel, 10 classes) and the published one at
// 224² (3 channels, 1000 classes) — at batch 1 and 64, three ways: nextconv's
// CPU forward pass, ONNX Runtime on the float export and ONNX Runtime on
// the int8 QDQ export (W8A8 calibrated on the batch; int8 activations, and
// the same stored as uint8, Options.UInt8Activations), each with 2 threads.
// Each sub-benchmark reports the median milliseconds per batch over its
// b.N timed runs (after one warm-up) as "ms-median/batch"; run with a fixed
// count, e.g.
//
//	GOMAXPROCS=2 OPENBLAS_NUM_THREADS=2 go test ./export/onnx -run '^$' -bench Latency -benchtime 10x
func BenchmarkLatency(b *testing.B) {
	r, err := ort.Find()
	if err != nil {
		b.Skipf("skipping: %v", err)
	}
	for _, tc := range []struct {
		size, stem, c, classes int
	}{{28, 2, 1, 10}, {224, 4, 3, 1000}} {
		for _, n := range []int{1, 64} {
			name := fmt.Sprintf("atto%d/batch%d", tc.size, n)
			x := randn(n*tc.c*tc.size*tc.size, 5)
			shape := []int{n, tc.c, tc.size, tc.size}
			dir := b.TempDir()
			m := newModel(b, "atto", tc.stem, tc.c, tc.classes, 1)
			float := filepath.Join(dir, "float.onnx")
			if err := Write(float, m, meta(m, tc.size), Options{}); err != nil {
				b.Fatal(err)
			}
			b.Run(name+"/nextconv", func(b *testing.B) {
				be := m.Backend
				xt, err := be.Alloc(kernels.Shape{n, tc.size, tc.size, tc.c})
				if err != nil {
					b.Fatal(err)
				}
				defer be.Free(xt)
				if err := be.Upload(xt, x); err != nil { // layout is irrelevant to timing
					b.Fatal(err)
				}
				if _, err := m.Forward(xt); err != nil {
					b.Fatal(err)
				}
				ms := make([]float64, 0, b.N)
				b.ResetTimer()
				for range b.N {
					t0 := time.Now()
					if _, err := m.Forward(xt); err != nil {
						b.Fatal(err)
					}
					ms = append(ms, float64(time.Since(t0).Microseconds())/1e3)
				}
				b.ReportMetric(median(ms), "ms-median/batch")
			})
			b.Run(name+"/ort-float", func(b *testing.B) { ortLatency(b, r, dir, float, x, shape) })
			quantize(b, m, qat.DefaultConfig(), x, n, tc.c, tc.size)
			for _, v := range []struct {
				name string
				opt  Options
			}{{"ort-int8", Options{}}, {"ort-int8-uint8act", Options{UInt8Activations: true}}} {
				int8 := filepath.Join(dir, v.name+".onnx")
				if err := Write(int8, m, meta(m, tc.size), v.opt); err != nil {
					b.Fatal(err)
				}
				b.Run(name+"/"+v.name, func(b *testing.B) { ortLatency(b, r, dir, int8, x, shape) })
			}
		}
	}
}

// ortLatency runs model in ONNX Runtime with 2 threads for b.N timed runs
// and reports their median.
func ortLatency(b *testing.B, r *ort.Runner, dir, model string, x []float32, shape []int) {
	_, res, err := r.Run(dir, model, x, shape, ort.Options{Threads: 2, Bench: b.N})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(res.MedianMS, "ms-median/batch")
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
