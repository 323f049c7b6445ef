package gpu

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/nextconv/nextconv/cuda/sim"
	"github.com/nextconv/nextconv/datasets"
	"github.com/nextconv/nextconv/internal/philox"
	"github.com/nextconv/nextconv/kernels"
)

// TestPhiloxMatchesGo checks random.cu's Philox4x32-10 word for word against
// internal/philox (itself checked against Random123's known answers) for a
// seed and counter with both 32-bit halves set, across the counter's
// low-word carry.
func TestPhiloxMatchesGo(t *testing.T) {
	b := openBackend(t)
	const n = 37
	seed, counter := uint64(0x299f31d0a4093822), uint64(0x13198a2effffffeb)
	out, err := b.pool.get(16 * n)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.launch("philox_block_u32", dim1(2), dim1(16), 0, b.args().Ptr(out).Int32(int32(n)).Uint32(uint32(seed)).Uint32(uint32(seed>>32)).Uint32(uint32(counter)).Uint32(uint32(counter>>32))); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 16*n)
	if err := b.drv.CopyDtoH(got, out); err != nil {
		t.Fatal(err)
	}
	g := philox.Generator{Seed: seed, Counter: counter}
	for i := range n {
		want := g.Next()
		for k, w := range want {
			o := 16*i + 4*k
			if v := uint32(got[o]) | uint32(got[o+1])<<8 | uint32(got[o+2])<<16 | uint32(got[o+3])<<24; v != w {
				t.Fatalf("block %d word %d: device %08x, Go %08x", i, k, v, w)
			}
		}
	}
}

func TestDropMaskMatchesCPU(t *testing.T) {
	p := newPair(t, 3)
	for _, c := range []struct {
		n             int
		keep          float64
		seed, counter uint64
	}{{1, 0.9, 0, 0}, {37, 0.7, 1 << 40, 0xfffffff0}, {streamThreads + 3, 0.5, 12345, 99}, {5, 1, 7, 7}} {
		mc, mg := p.out(kernels.Shape{c.n})
		p.ok(p.cpu.DropMask(mc, c.keep, c.seed, c.counter))
		p.ok(p.gpu.DropMask(mg, c.keep, c.seed, c.counter))
		p.same(fmt.Sprintf("drop mask %+v", c), mc, mg, 0, 0)
	}
	_, mg := p.out(kernels.Shape{3})
	for _, keep := range []float64{0, -0.5, 1.5} {
		if err := p.gpu.DropMask(mg, keep, 1, 1); err == nil {
			t.Errorf("keep %v accepted", keep)
		}
	}
}

// TestStagerMatchesCPU runs three batches through each backend's stager
// (so the CUDA one reuses both slots, its copies on the side stream) and
// compares with the CPU's and with datasets.Normalize's table; then three
// more into a bf16 batch (normalize_u8_bf16), bit for bit the CPU
// emulation's.
func TestStagerMatchesCPU(t *testing.T) {
	p := newPair(t, 4)
	mean, std := []float64{0.485, 0.456, 0.406}, []float64{0.229, 0.224, 0.225}
	norm, err := datasets.NewNormalize(mean, std)
	p.ok(err)
	const max = 5 * 7 * 9 * 3
	sc, err := p.cpu.NewStager(max, mean, std)
	p.ok(err)
	sg, err := p.gpu.NewStager(max, mean, std)
	p.ok(err)
	for step, s := range []kernels.Shape{{5, 7, 9, 3}, {3, 7, 9, 3}, {1, 1, 1, 3}, {5, 7, 9, 3}, {1, 1, 1, 3}, {3, 1, 5, 3}} {
		dt := kernels.Float32
		if step >= 3 {
			dt = kernels.BFloat16
		}
		n := s.Len()
		pix := make([]byte, n)
		for i := range pix {
			pix[i] = byte(p.rng.IntN(256))
		}
		for _, st := range []kernels.Stager{sc, sg} {
			buf, err := st.Host(n)
			p.ok(err)
			copy(buf, pix)
		}
		yc, yg := p.outAs(dt, s)
		p.ok(sc.Normalize(yc))
		p.ok(sg.Normalize(yg))
		p.exact(fmt.Sprintf("batch %d %v", step, s), yc, yg)
		if dt == kernels.BFloat16 {
			continue
		}
		for i, v := range pix {
			if want := norm.Value(i%3, v); yc.Host32()[i] != want {
				t.Fatalf("batch %d element %d: %v, datasets.Normalize %v", step, i, yc.Host32()[i], want)
			}
		}
	}
	if _, err := sg.Host(max + 1); err == nil {
		t.Error("a batch larger than the stage was accepted")
	}
	p.ok(sc.Close())
	p.ok(sg.Close())
}

// TestMixMatchesCPU compares mixup and CutMix on float32 and on bf16
// batches (mix_blend_bf16, mix_cut_bf16: float32 arithmetic rounded once,
// as the CPU emulation) bit for bit, on odd shapes (one channel, an odd
// batch with a middle sample), and the soft targets.
func TestMixMatchesCPU(t *testing.T) {
	p := newPair(t, 5)
	for _, dt := range []kernels.DType{kernels.Float32, kernels.BFloat16} {
		for _, s := range []kernels.Shape{{5, 3, 7, 3}, {4, 6, 5, 1}, {1, 2, 3, 2}} {
			for _, lam := range []float64{0.3141, 1, 0} {
				xc, xg := p.inAs(dt, s, 2)
				p.ok(p.cpu.MixBlend(xc, lam))
				p.ok(p.gpu.MixBlend(xg, lam))
				p.exact(fmt.Sprintf("blend %v %v λ %v", dt, s, lam), xc, xg)
			}
			for _, box := range [][4]int{{0, s[1], 0, s[2]}, {1, s[1] - 1, 1, 2}, {1, 1, 0, s[2]}} {
				xc, xg := p.inAs(dt, s, 2)
				p.ok(p.cpu.MixCut(xc, box))
				p.ok(p.gpu.MixCut(xg, box))
				p.exact(fmt.Sprintf("cut %v %v box %v", dt, s, box), xc, xg)
			}
		}
	}
	_, xg := p.in(kernels.Shape{2, 3, 3, 1}, 1)
	if err := p.gpu.MixCut(xg, [4]int{0, 4, 0, 1}); err == nil {
		t.Error("a box below the image was accepted")
	}
	for _, k := range []int{7, 1} {
		for _, n := range []int{5, 2, 1} {
			labels := make([]float32, n)
			for i := range labels {
				labels[i] = float32(p.rng.IntN(k))
			}
			lc, lg := p.from(kernels.Shape{n}, labels)
			for _, c := range []struct {
				lam, eps float64
				mixed    bool
			}{{1, 0.1, false}, {0.62, 0.1, true}, {1, 0, true}, {0.25, 0, true}} {
				tc, tg := p.out(kernels.Shape{n, k})
				p.ok(p.cpu.MixTargets(tc, lc, c.lam, c.eps, c.mixed))
				p.ok(p.gpu.MixTargets(tg, lg, c.lam, c.eps, c.mixed))
				p.same(fmt.Sprintf("targets N %d K %d %+v", n, k, c), tc, tg, 0, 0)
			}
		}
	}
}

// TestPoolIsStreamAware hands a buffer between the main stream and a side
// stream through the scratch pool. On the simulator a copy or launch that
// no event orders against the other stream's use of the buffer fails with
// sim.ErrMissingWait, so the plain get/put below must fail and getOn and
// putAfter must not.
func TestPoolIsStreamAware(t *testing.T) {
	b := openBackend(t)
	if _, ok := b.drv.(*sim.Driver); !ok {
		t.Skip("the missing-wait check is the simulator's")
	}
	s, err := b.drv.NewStream()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	x, err := b.Alloc(kernels.Shape{64})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Scale(x, x, 2); err != nil { // main-stream work reads x
		t.Fatal(err)
	}
	host, _ := b.drv.HostAlloc(256)
	p := x.Data.(Buffer).Ptr
	b.Free(x)
	if q, _ := b.pool.get(256); q != p || !errors.Is(b.drv.CopyHtoDAsync(q, host, s), sim.ErrMissingWait) {
		t.Fatal("a side-stream copy into a buffer a queued kernel reads was not reported")
	}
	b.pool.put(p, 256)
	q, err := b.pool.getOn(256, s)
	if err != nil || q != p {
		t.Fatalf("getOn: %#x, %v", q, err)
	}
	if err := b.drv.CopyHtoDAsync(q, host, s); err != nil {
		t.Fatalf("side-stream copy after getOn: %v", err)
	}
	ev, _ := b.drv.NewEvent()
	if err := b.drv.RecordEvent(ev, s); err != nil {
		t.Fatal(err)
	}
	b.pool.putAfter(q, 256, ev)
	y, err := b.Alloc(kernels.Shape{64}) // the main stream waits for the copy
	if err != nil || y.Data.(Buffer).Ptr != p {
		t.Fatalf("main-stream reuse: %v", err)
	}
	if err := b.Scale(y, y, 2); err != nil {
		t.Fatalf("main-stream launch after putAfter: %v", err)
	}
	b.Free(y)
	q, _ = b.pool.getOn(256, s)
	if err := b.drv.CopyHtoDAsync(q, host, s); err != nil {
		t.Fatal(err)
	}
	b.pool.put(q, 256) // wrong: freed by side-stream work without its event
	z, _ := b.Alloc(kernels.Shape{64})
	if err := b.Scale(z, z, 2); !errors.Is(err, sim.ErrMissingWait) {
		t.Fatalf("main-stream launch over an unfinished side-stream copy: %v, want ErrMissingWait", err)
	}
}

// exact checks that the device tensor g equals the CPU's c bit for bit,
// in c's dtype (float32, or bf16 against the CPU emulation).
func (p *pair) exact(what string, c, g kernels.Tensor) {
	p.t.Helper()
	if dt, want := g.Data.DType(), c.Data.DType(); dt != want {
		p.t.Fatalf("%s is %v on the device, want %v", what, dt, want)
	}
	got := make([]float32, g.Len())
	p.ok(p.gpu.Download(got, g))
	for i, w := range hostValues(c) {
		if math.Float32bits(got[i]) != math.Float32bits(w) {
			p.t.Fatalf("%s[%d] = %v, emulation %v", what, i, got[i], w)
		}
	}
}
