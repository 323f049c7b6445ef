package main

import (
	"strings"
	"testing"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/gpu"
)

// TestDWConvBF16Costs records the depthwise convolution, forward and
// backward, on float32 and on bf16 activations (a tiled shape, which takes
// the bf16 vector kernels, and a generic one) and checks that every launch
// has a cost model, that each bf16 kernel ran where its float32 twin did
// (a _vec_bf16 kernel's twin is the scalar tiled one), with the same
// FLOPs, and that it
// moves exactly 2 bytes less per element of its two activation tensors
// (x and y in the forward, dy and dx or x in the backward).
func TestDWConvBF16Costs(t *testing.T) {
	for _, s := range []kernels.DWConvShape{
		{N: 2, H: 14, W: 13, C: 40, K: 7, Stride: 1},
		{N: 1, H: 9, W: 8, C: 24, K: 11, Stride: 2},
	} {
		bytes, flops := map[string]int64{}, map[string]int64{}
		for _, dt := range []kernels.DType{kernels.Float32, kernels.BFloat16} {
			r := newRecorder()
			be, err := gpu.New(r)
			if err != nil {
				t.Fatal(err)
			}
			alloc := func(s kernels.Shape, dt kernels.DType) kernels.Tensor {
				x, err := be.AllocDType(s, dt)
				if err != nil {
					t.Fatal(err)
				}
				return x
			}
			x, y, dx, dy := alloc(s.XShape(), dt), alloc(s.YShape(), dt), alloc(s.XShape(), dt), alloc(s.YShape(), dt)
			w, b, dw, db := alloc(s.WShape(), kernels.Float32), alloc(kernels.Shape{s.C}, kernels.Float32), alloc(s.WShape(), kernels.Float32), alloc(kernels.Shape{s.C}, kernels.Float32)
			r.on = true
			if err := be.DWConv(y, x, w, b, s); err != nil {
				t.Fatal(err)
			}
			if err := be.DWConvBackward(dx, dw, db, dy, x, w, s); err != nil {
				t.Fatal(err)
			}
			for _, l := range r.launches {
				c, err := costOf(l, r.uploads)
				if err != nil {
					t.Fatal(err)
				}
				bytes[l.Kernel], flops[l.Kernel] = c.Bytes, c.FLOPs
			}
			be.Close()
		}
		act := int64(s.XShape().Len() + s.YShape().Len())
		n, vec := 0, 0
		for name, b16 := range bytes {
			base, ok := strings.CutSuffix(strings.Replace(name, "_vec_", "_", 1), "_bf16")
			if !ok {
				continue
			}
			n++
			if strings.Contains(name, "_vec_") {
				vec++
			}
			f32, ok := bytes[base+"_f32"]
			switch {
			case !ok:
				t.Errorf("%+v: %s ran without its float32 twin", s, name)
			case f32-b16 != 2*act:
				t.Errorf("%+v: %s %d B, %s_f32 %d B; want %d B less (2 per activation element)", s, name, b16, base, f32, 2*act)
			case flops[name] != flops[base+"_f32"]:
				t.Errorf("%+v: %s %d FLOPs, %s_f32 %d", s, name, flops[name], base, flops[base+"_f32"])
			}
		}
		if n != 3 {
			t.Errorf("%+v: %d bf16 depthwise kernels ran, want 3 (forward, input and weight gradient)", s, n)
		}
		want := 0
		if s.K == 7 { // tiled, C % 8 == 0
			want = 3
		}
		if vec != want {
			t.Errorf("%+v: %d bf16 vector kernels ran, want %d", s, vec, want)
		}
	}
}
