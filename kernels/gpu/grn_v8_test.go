package gpu

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/kernels"
)

// launchedSince returns the kernels the backend queued after the launch
// count total (b.recent.total), oldest first; the test fails if the ring
// no longer holds them all.
func (p *pair) launchedSince(total int) []string {
	p.t.Helper()
	k := p.gpu.recent.total - total
	if k > recentLaunches {
		p.t.Fatalf("%d launches since the mark, the ring holds %d", k, recentLaunches)
	}
	q := make([]queued, k)
	q = q[:p.gpu.recent.last(q, k)]
	names := make([]string, len(q))
	for i, e := range q {
		names[i] = e.kernel
	}
	return names
}

// statsKernels keeps the launches of the chunked bf16 statistics kernels
// (grn_sumsq, grn_bwd_sums, mlp_fwd, mlp_bwd; scalar or _v8) from names.
func statsKernels(names []string) []string {
	var out []string
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimSuffix(n, "_bf16"), "_v8")
		if base != n && slices.Contains([]string{"grn_sumsq", "grn_bwd_sums", "mlp_fwd", "mlp_bwd"}, base) {
			out = append(out, n)
		}
	}
	return out
}

// TestBF16GRNMLPVector checks the choice between the 8-channel statistics
// kernels (grn_sumsq, grn_bwd_sums, mlp_fwd and mlp_bwd _v8_bf16, 16-byte
// loads) and the scalar ones, and that the two agree bit for bit. GRN,
// GRNBackward, BiasGELUSumSq, GRNApply and GRNGELUBackward run in a chain
// (each backward on its own forward's outputs) over bf16 activations that
// start 16-byte aligned, then over the same values through views one
// element off the alignment: the aligned run must launch the _v8 kernels
// when C is a multiple of 8 and the scalar ones for odd C, the unaligned
// run the scalar ones, and every output (bf16 and float32, parameter
// gradients accumulated onto the same starting values) must have the same
// bits in both runs. Shapes: HW = 1, HW over three chunks of 64 rows, N >
// 1, C = 8 (one thread), C not a multiple of 64 (a partial block), odd C;
// with and without the MLP bias. The comparison of the _v8 results with the
// CPU emulation is in TestBF16GRN and TestBF16MLPFused (their C = 24, 40,
// 320 cases).
func TestBF16GRNMLPVector(t *testing.T) {
	p := newPair(t, 79)
	cases := []struct {
		N, HW, C int
		bias     bool
	}{{2, 1, 40, true}, {1, 1, 8, false}, {3, 150, 24, true}, {3, 150, 24, false}, {2, 70, 136, false}, {2, 35, 37, true}}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("N%d_HW%d_C%d_bias%t", tc.N, tc.HW, tc.C, tc.bias), func(t *testing.T) {
			p.t = t
			s := kernels.GRNShape{N: tc.N, HW: tc.HW, C: tc.C, Eps: 1e-6}
			xs, cs, ns := kernels.Shape{tc.N, tc.HW, tc.C}, kernels.Shape{tc.C}, kernels.Shape{tc.N, tc.C}
			x, dy, a := p.randVals(xs.Len(), 1), p.randVals(xs.Len(), 1), p.randVals(xs.Len(), 2)
			gamma, beta, bias, acc := p.randVals(tc.C, 1), p.randVals(tc.C, 1), p.randVals(tc.C, 0.5), p.randVals(tc.C, 1)
			nan := make([]float32, xs.Len())
			for i := range nan {
				nan[i] = float32(math.NaN())
			}
			run := func(off int) (map[string]kernels.Tensor, []string) {
				act := func(v []float32) kernels.Tensor {
					_, g := p.view16(xs, v, off)
					return g
				}
				f32 := func(s kernels.Shape, v []float32) kernels.Tensor {
					_, g := p.from(s, v)
					return g
				}
				o := map[string]kernels.Tensor{
					"y": act(nan), "dx": act(nan), "h": act(nan), "mlp y": act(nan), "da": act(nan),
					"gnorm": f32(ns, nan[:ns.Len()]), "sumSq": f32(ns, nan[:ns.Len()]), "mlp gnorm": f32(ns, nan[:ns.Len()]),
					"dgamma": f32(cs, acc), "dbeta": f32(cs, acc), "mlp dgamma": f32(cs, acc), "mlp dbeta": f32(cs, acc), "dbias": f32(cs, acc),
				}
				xg, dyg, ag, gg, bg := act(x), act(dy), act(a), f32(cs, gamma), f32(cs, beta)
				var biasg kernels.Tensor
				if tc.bias {
					biasg = f32(cs, bias)
				}
				mark := p.gpu.recent.total
				p.ok(p.gpu.GRN(o["y"], o["gnorm"], xg, gg, bg, s))
				p.ok(p.gpu.GRNBackward(o["dx"], o["dgamma"], o["dbeta"], dyg, xg, o["gnorm"], gg, s))
				names := p.launchedSince(mark)
				mark = p.gpu.recent.total
				p.ok(p.gpu.BiasGELUSumSq(o["h"], o["sumSq"], ag, biasg, s))
				p.ok(p.gpu.GRNApply(o["mlp y"], o["mlp gnorm"], o["h"], o["sumSq"], gg, bg, s))
				p.ok(p.gpu.GRNGELUBackward(o["da"], o["dbias"], o["mlp dgamma"], o["mlp dbeta"], dyg, o["h"], ag, biasg, o["mlp gnorm"], gg, s))
				return o, statsKernels(append(names, p.launchedSince(mark)...))
			}
			vec, vecNames := run(0)
			sca, scaNames := run(1)

			suffix := "_bf16"
			if tc.C%8 == 0 {
				suffix = "_v8_bf16"
			}
			for _, k := range []struct {
				names  []string
				suffix string
			}{{vecNames, suffix}, {scaNames, "_bf16"}} {
				want := []string{"grn_sumsq", "grn_bwd_sums", "mlp_fwd", "grn_bwd_sums", "mlp_bwd"}
				for i := range want {
					want[i] += k.suffix
				}
				if !slices.Equal(k.names, want) {
					t.Errorf("statistics kernels launched: %v, want %v", k.names, want)
				}
			}
			for name, g := range vec {
				got, want := make([]float32, g.Len()), make([]float32, g.Len())
				p.ok(p.gpu.Download(got, g))
				p.ok(p.gpu.Download(want, sca[name]))
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) || math.IsNaN(float64(got[i])) {
						t.Fatalf("%s[%d]: aligned %g (%#08x), unaligned %g (%#08x)", name, i, got[i],
							math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
					}
				}
			}
		})
	}
}
