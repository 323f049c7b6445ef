package datasets

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkLoaderFashionMNIST measures the training input pipeline on the
// real Fashion-MNIST: DefaultTrainConfig (RandomCrop 28 pad 4, flip,
// rand-m9-mstd0.5-inc1, normalise, random erasing 0.25), batch 128,
// shuffled, drop last. Reports images/s.
func BenchmarkLoaderFashionMNIST(b *testing.B) {
	d := loadRealFashion(b, Train)
	p := trainPipeline(b, d.Info())
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			l, err := NewLoader(context.Background(), LoaderConfig{Dataset: d, Pipeline: p, BatchSize: 128,
				Shuffle: true, DropLast: true, Seed: 1, Workers: workers})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			b.ResetTimer()
			for range b.N {
				if _, err := l.Next(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*128)/b.Elapsed().Seconds(), "images/s")
		})
	}
}

// BenchmarkPipelineFashionMNIST is the per-image cost of the training
// transform on one goroutine, without the loader.
func BenchmarkPipelineFashionMNIST(b *testing.B) {
	d := loadRealFashion(b, Train)
	p := trainPipeline(b, d.Info())
	var (
		s   Scratch
		r   RNG
		dst = make([]float32, 28*28)
	)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		idx := i % d.Len()
		r.Reseed(1, 0, idx)
		img, _ := d.Image(idx, nil)
		if _, _, _, err := p.Run(dst, img, &r, &s); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
}
