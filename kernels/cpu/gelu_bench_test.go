package cpu

import (
	"fmt"
	"testing"

	"github.com/nextconv/nextconv/kernels"
)

// BenchmarkGELUSlice measures the float32 GELU kernels on one goroutine over
// an L1-resident slice (compute cost, not memory bandwidth), reporting
// ns/element for the dispatching path (assembly where available) and the
// pure-Go path.
func BenchmarkGELUSlice(b *testing.B) {
	const n = 4096
	x, y, dy := make([]float32, n), make([]float32, n), make([]float32, n)
	v := uint32(7)
	for i := range x {
		v = v*1664525 + 1013904223
		x[i] = float32(int32(v>>8)-(1<<23)) / (1 << 21) // about [−4, 4)
		dy[i] = float32(i%7) - 3
	}
	for _, a := range []kernels.GELUApprox{kernels.GELUErf, kernels.GELUTanh} {
		for _, impl := range []string{"dispatch", "go"} {
			fwd, bwd := geluSlice[float32], geluGradSlice[float32]
			if impl == "go" {
				fwd, bwd = geluSliceGo[float32], geluGradSliceGo[float32]
			}
			b.Run(fmt.Sprintf("%s/%s/fwd", a, impl), func(b *testing.B) {
				for range b.N {
					fwd(y, x, a, true)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/elem")
			})
			b.Run(fmt.Sprintf("%s/%s/bwd", a, impl), func(b *testing.B) {
				for range b.N {
					bwd(y, dy, x, a, true)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/elem")
			})
		}
	}
}
