package cpu

import (
	"fmt"
	"math"
	"testing"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
)

func TestGRNHandValues(t *testing.T) {
	for _, b := range backends() {
		// One sample, HW = 2, C = 2: x[0] = (3, 0), x[1] = (4, 1), so
		// g = (5, 1), mean_c g = 3, Nx = g/(3 + eps).
		s := kernels.GRNShape{N: 1, HW: 2, C: 2, Eps: 1e-6}
		x := newT(t, b, kernels.Shape{1, 2, 2}, []float64{3, 0, 4, 1})
		gamma := newT(t, b, kernels.Shape{2}, []float64{1, 2})
		beta := newT(t, b, kernels.Shape{2}, []float64{0.5, -1})
		y, g := newT(t, b, kernels.Shape{1, 2, 2}, nil), newT(t, b, kernels.Shape{1, 2}, nil)
		must(t, b.GRN(y, g, x, gamma, beta, s))
		d := 3 + 1e-6
		n0, n1 := 5/d, 1/d
		want := []float64{3*(1+n0) + 0.5, 0*(1+2*n1) - 1, 4*(1+n0) + 0.5, 1*(1+2*n1) - 1}
		testutil.AllClose(t, b.Name()+" grn y", vals(y), want, 1e-7, 1e-7)
		testutil.AllClose(t, b.Name()+" grn gnorm", vals(g), []float64{5, 1}, 1e-7, 0)
	}
}

func TestGRNZeroParamsIsIdentity(t *testing.T) {
	// gamma = beta = 0 (the official initialization): y = x exactly.
	for _, b := range backends() {
		s := kernels.GRNShape{N: 3, HW: 10, C: 7, Eps: 1e-6}
		xv := randVals(91, 3*10*7, 3)
		x := newT(t, b, kernels.Shape{3, 10, 7}, xv)
		y, g := newT(t, b, kernels.Shape{3, 10, 7}, nil), newT(t, b, kernels.Shape{3, 7}, nil)
		zero := newT(t, b, kernels.Shape{7}, nil)
		must(t, b.GRN(y, g, x, zero, zero, s))
		testutil.AllClose(t, b.Name()+" grn identity", vals(y), xv, 0, 0)
	}
}

// grnSetup returns random GRN inputs; zeroSample (if >= 0) is set to all
// zeros and zeroChannel (if >= 0) is zeroed in sample 0 only.
func grnSetup(t testing.TB, b *Backend, s kernels.GRNShape, seed uint64, zeroSample, zeroChannel int) (x, gamma, beta kernels.Tensor) {
	xv := randVals(seed, s.N*s.HW*s.C, 2)
	for n := range s.N {
		for h := range s.HW {
			for c := range s.C {
				if n == zeroSample || (n == 0 && c == zeroChannel) {
					xv[(n*s.HW+h)*s.C+c] = 0
				}
			}
		}
	}
	return newT(t, b, kernels.Shape{s.N, s.HW, s.C}, xv), newT(t, b, kernels.Shape{s.C}, randVals(seed+1, s.C, 1.5)),
		newT(t, b, kernels.Shape{s.C}, randVals(seed+2, s.C, 1))
}

func TestGRNGradient(t *testing.T) {
	b := New64()
	for _, tc := range []struct {
		s                       kernels.GRNShape
		zeroSample, zeroChannel int
	}{
		{kernels.GRNShape{N: 2, HW: 35, C: 3, Eps: 1e-6}, -1, -1},
		{kernels.GRNShape{N: 3, HW: 1, C: 5, Eps: 1e-6}, -1, -1}, // 1×1 spatial: g = |x|
		{kernels.GRNShape{N: 3, HW: 6, C: 4, Eps: 1e-6}, 1, -1},  // an all-zero sample
		{kernels.GRNShape{N: 2, HW: 5, C: 4, Eps: 1e-6}, -1, 2},  // an all-zero channel
	} {
		s := tc.s
		x, gamma, beta := grnSetup(t, b, s, 101, tc.zeroSample, tc.zeroChannel)
		sh := kernels.Shape{s.N, s.HW, s.C}
		y, gn := newT(t, b, sh, nil), newT(t, b, kernels.Shape{s.N, s.C}, nil)
		r := randVals(102, sh.Len(), 1)
		loss := func() float64 {
			must(t, b.GRN(y, gn, x, gamma, beta, s))
			return dot(vals(y), r)
		}
		loss()
		xv := vals(x)
		pre := randVals(103, 2*s.C, 1)
		dy, dx := newT(t, b, sh, r), newT(t, b, sh, nil)
		dgamma, dbeta := newT(t, b, kernels.Shape{s.C}, pre[:s.C]), newT(t, b, kernels.Shape{s.C}, pre[s.C:])
		must(t, b.GRNBackward(dx, dgamma, dbeta, dy, x, gn, gamma, s))
		dxv := vals(dx)
		if !allFinite(dxv) || !allFinite(vals(dgamma)) || !allFinite(vals(dbeta)) {
			t.Fatalf("grn %+v: non-finite gradients", s)
		}
		checkGrad(t, "grn dgamma", gamma, sub(vals(dgamma), pre[:s.C]), loss)
		checkGrad(t, "grn dbeta", beta, sub(vals(dbeta), pre[s.C:]), loss)

		// dx: central differences wherever the norm is differentiable. At
		// a zero norm (a zero sample or channel) the gradient follows
		// PyTorch's torch.norm: the norm passes no gradient and Nx = 0
		// there, so dx = dy exactly (a finite difference would see the
		// kink of |h|).
		for i := range xv {
			n, c := i/(s.HW*s.C), i%s.C
			if n == tc.zeroSample || (n == 0 && c == tc.zeroChannel) {
				if dxv[i] != r[i] {
					t.Errorf("grn %+v: dx[%d] = %v at a zero norm, want dy = %v", s, i, dxv[i], r[i])
				}
				continue
			}
			num := testutil.NumGrad(x.Host64()[i:i+1], gradStep, loss)
			testutil.AllClose(t, "grn dx", dxv[i:i+1], num, 1e-6, 1e-8)
		}
		if tc.zeroSample >= 0 {
			// Forward of an all-zero sample: y = beta + x = beta.
			off := tc.zeroSample * s.HW * s.C
			yv, bv := vals(y), vals(beta)
			for h := range s.HW {
				testutil.AllClose(t, "grn zero sample y", yv[off+h*s.C:off+(h+1)*s.C], bv, 0, 0)
			}
		}
		// dx may alias dy.
		must(t, b.GRN(y, gn, x, gamma, beta, s))
		must(t, b.GRNBackward(dy, newT(t, b, kernels.Shape{s.C}, nil), newT(t, b, kernels.Shape{s.C}, nil), dy, x, gn, gamma, s))
		testutil.AllClose(t, "grn dx aliasing dy", vals(dy), dxv, 0, 0)
	}
}

func TestGRNAllZeroSampleFloat32(t *testing.T) {
	// The float32 backend: no NaN or Inf anywhere for an all-zero input.
	b := New()
	s := kernels.GRNShape{N: 2, HW: 9, C: 8, Eps: 1e-6}
	sh := kernels.Shape{2, 9, 8}
	x := newT(t, b, sh, nil)
	gamma, beta := newT(t, b, kernels.Shape{8}, randVals(111, 8, 1)), newT(t, b, kernels.Shape{8}, randVals(112, 8, 1))
	y, gn := newT(t, b, sh, nil), newT(t, b, kernels.Shape{2, 8}, nil)
	must(t, b.GRN(y, gn, x, gamma, beta, s))
	dy, dx := newT(t, b, sh, randVals(113, sh.Len(), 1)), newT(t, b, sh, nil)
	dg, db := newT(t, b, kernels.Shape{8}, nil), newT(t, b, kernels.Shape{8}, nil)
	must(t, b.GRNBackward(dx, dg, db, dy, x, gn, gamma, s))
	if !allFinite(vals(y)) || !allFinite(vals(dx)) || !allFinite(vals(dg)) || !allFinite(vals(db)) {
		t.Error("grn: non-finite values for an all-zero input")
	}
	testutil.AllClose(t, "grn zero input dx", vals(dx), vals(dy), 0, 0)
	testutil.AllClose(t, "grn zero input dgamma", vals(dg), make([]float64, 8), 0, 0)
}

func TestGRNFloat32MatchesFloat64(t *testing.T) {
	s := kernels.GRNShape{N: 4, HW: 64, C: 32, Eps: 1e-6} // large enough to run on several workers
	sh := kernels.Shape{s.N, s.HW, s.C}
	agree(t, "grn f32 vs f64", 1e-5, 1e-6, func(b *Backend) ([]kernels.Tensor, func() error) {
		x, gamma, beta := grnSetup(t, b, s, 121, -1, -1)
		y, gn := newT(t, b, sh, nil), newT(t, b, kernels.Shape{s.N, s.C}, nil)
		return []kernels.Tensor{y, gn}, func() error { return b.GRN(y, gn, x, gamma, beta, s) }
	})
	agree(t, "grn backward f32 vs f64", 1e-4, 1e-5, func(b *Backend) ([]kernels.Tensor, func() error) {
		x, gamma, beta := grnSetup(t, b, s, 122, -1, -1)
		y, gn := newT(t, b, sh, nil), newT(t, b, kernels.Shape{s.N, s.C}, nil)
		dy, dx := newT(t, b, sh, randVals(123, sh.Len(), 1)), newT(t, b, sh, nil)
		dg, db := newT(t, b, kernels.Shape{s.C}, nil), newT(t, b, kernels.Shape{s.C}, nil)
		return []kernels.Tensor{dx, dg, db}, func() error {
			if err := b.GRN(y, gn, x, gamma, beta, s); err != nil {
				return err
			}
			return b.GRNBackward(dx, dg, db, dy, x, gn, gamma, s)
		}
	})
}

func TestGRNErrors(t *testing.T) {
	b := New()
	s := kernels.GRNShape{N: 2, HW: 4, C: 3, Eps: 1e-6}
	x, gamma, beta := grnSetup(t, b, s, 131, -1, -1)
	y, gn := newT(t, b, kernels.Shape{2, 4, 3}, nil), newT(t, b, kernels.Shape{2, 3}, nil)
	wantErr(t, "bad HW", b.GRN(y, gn, x, gamma, beta, kernels.GRNShape{N: 2, HW: 0, C: 3}), kernels.ErrShape, "cpu grn", "HW")
	wantErr(t, "NaN eps", b.GRN(y, gn, x, gamma, beta, kernels.GRNShape{N: 2, HW: 4, C: 3, Eps: math.NaN()}), kernels.ErrShape, "eps")
	wantErr(t, "wrong gnorm", b.GRN(y, newT(t, b, kernels.Shape{3}, nil), x, gamma, beta, s), kernels.ErrShape, "gnorm", "[3]", "[2 3]")
	wantErr(t, "nil beta", b.GRN(y, gn, x, gamma, kernels.Tensor{}, s), kernels.ErrShape, "beta is missing")
	wantErr(t, "backward wrong dgamma", b.GRNBackward(y, gn, beta, y, x, gn, gamma, s), kernels.ErrShape, "grn backward", "dgamma")
	wantErr(t, "backward float64 x", b.GRNBackward(y, gamma, beta, y, newT(t, New64(), kernels.Shape{2, 4, 3}, nil), gn, gamma, s), kernels.ErrDType, "x")
}

func TestGRNMatchesPyTorch(t *testing.T) {
	// Golden values from PyTorch 1.13 autograd on the official GRN, float64
	// (testdata/grn_golden.py); sample 1 is all zeros.
	x := []float64{-2.310411800234176, -0.3732508612577643, -1.0608166785462863, 0.9995093547811761, -0.8840250045832653, -1.2755469302148053, -0.623224579866079, -0.8664416019125772, -1.2956271403277857, 1.52363162310635, 0.3236605664983738, 2.0177260314861085, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.7970100169250297, 0.21166418145300325, 0.13557114260567418, -0.033892918655373555, -0.30991497424174674, 0.24018023403782535, -1.3487610270963772, 0.2443990933828689, -0.013720701456433322, -0.19960822763281003, -1.6564246944540333, 0.9138982512742285}
	gamma := []float64{1.0992505253519338, 2.756538312872294, 0.17528332277766262, -0.9315210999725619}
	beta := []float64{-1.5054896709281742, -0.6609825228054504, 1.3232016725000837, 0.03711430465974608}
	r := []float64{0.9945529251118752, 0.11494420795897257, 0.1446690147604332, 1.0741717182580683, -1.1287986397999445, -0.09376858138313218, 0.998343579451126, -0.08262167465143246, 0.8351475727042365, -0.29286146627375376, -0.5787436085078369, -3.4796352415709877, 0.7494883300195011, -0.560555214098722, 0.07424681473465156, 1.9936457271364452, -0.5225708759493426, -0.5919985649213804, -0.8913456059944439, -0.4465437323135269, -0.5918823592164963, 0.6195092629710962, -1.4872950971304264, 1.3626823808042956, 0.4188191254194787, 0.34341487809757076, -0.34859980650048067, -1.2090699446332276, 0.20710026569896173, -0.11727393443191467, -0.017436740784596904, -0.24317130976865137, -0.43942236360685477, 2.7144660166018406, -1.4631736798004056, 0.4357325629861231}
	wantY := []float64{-7.153722093462703, -2.013250234771903, 0.15105352275628725, -0.020578054861451478, -3.666653621316733, -5.282220161789, 0.6345704010103176, 0.08712590301302658, -4.672891785466094, 4.859052560073804, 1.6808300373613783, -0.07935021372313722, -1.5054896709281742, -0.6609825228054504, 1.3232016725000837, 0.03711430465974608, -1.5054896709281742, -0.6609825228054504, 1.3232016725000837, 0.03711430465974608, -1.5054896709281742, -0.6609825228054504, 1.3232016725000837, 0.03711430465974608, -0.014609147981748394, -0.24548052051575586, 1.5058731210208602, 0.03089716927679448, -2.085214127402509, -0.1895028068324297, -0.49414769693536686, 0.08194556473746215, -1.5311555046418843, -1.0528183907619035, -0.9087002830775827, 0.20475490275010177}
	wantDx := []float64{3.616738833436107, 0.5419325500018608, 0.3932083500159824, 0.9221175259734528, -2.3060051199493348, 0.08915096731929645, 1.2402143624137292, -0.8483316213878539, 2.7064021882044376, -1.5733027733908131, -0.7106803270144946, 2.1875050843437727, 0.7494883300195011, -0.560555214098722, 0.07424681473465156, 1.9936457271364452, -0.5225708759493426, -0.5919985649213804, -0.8913456059944439, -0.4465437323135269, -0.5918823592164963, 0.6195092629710962, -1.4872950971304264, 1.3626823808042956, 0.983494886076646, -0.0750611710294713, -0.4492125378300448, -0.20769620029962882, 0.30960922039497213, -1.080338259475362, -0.22742649154349115, -0.14620148509994663, -0.8254239306468755, 6.03508420942153, -2.221961833907072, -0.29997434478242113}
	wantDgamma := []float64{-2.9121999305884874, -0.5253415387908303, 4.180155048622725, -6.338845167733149}
	wantDbeta := []float64{0.5224339803814149, 2.1358766045205773, -3.56933512977198, -0.5948095137528937}
	b := New64()
	s := kernels.GRNShape{N: 3, HW: 3, C: 4, Eps: 1e-6}
	sh := kernels.Shape{3, 3, 4}
	xt, g, bt := newT(t, b, sh, x), newT(t, b, kernels.Shape{4}, gamma), newT(t, b, kernels.Shape{4}, beta)
	y, gn := newT(t, b, sh, nil), newT(t, b, kernels.Shape{3, 4}, nil)
	must(t, b.GRN(y, gn, xt, g, bt, s))
	testutil.AllClose(t, "grn y vs PyTorch", vals(y), wantY, 1e-12, 1e-14)
	dx, dg, db := newT(t, b, sh, nil), newT(t, b, kernels.Shape{4}, nil), newT(t, b, kernels.Shape{4}, nil)
	must(t, b.GRNBackward(dx, dg, db, newT(t, b, sh, r), xt, gn, g, s))
	testutil.AllClose(t, "grn dx vs PyTorch", vals(dx), wantDx, 1e-12, 1e-14)
	testutil.AllClose(t, "grn dgamma vs PyTorch", vals(dg), wantDgamma, 1e-12, 1e-14)
	testutil.AllClose(t, "grn dbeta vs PyTorch", vals(db), wantDbeta, 1e-12, 1e-14)
}

func TestGRNWorkersBitIdentical(t *testing.T) {
	// Whole samples per worker or samples split into channel blocks, on any
	// number of workers: the same bits everywhere, dgamma and dbeta
	// included. The shapes are large enough to run in parallel; C = 1300
	// leaves a block narrower than the others.
	for _, s := range []kernels.GRNShape{
		{N: 1, HW: 49, C: 1280, Eps: 1e-6},
		{N: 3, HW: 9, C: 1300, Eps: 1e-6},
		{N: 4, HW: 9, C: 1300, Eps: 1e-6},
	} {
		sh := kernels.Shape{s.N, s.HW, s.C}
		var ref [][]float64
		for _, workers := range []int{1, 2, 3} {
			b := New()
			b.workers = workers
			if workers == 2 && s.N < 4 && !b.grnPlanFor(s).split {
				t.Fatalf("grn %+v: expected channel blocks on 2 workers", s)
			}
			x, gamma, beta := grnSetup(t, b, s, 141, -1, -1)
			y, gn := newT(t, b, sh, nil), newT(t, b, kernels.Shape{s.N, s.C}, nil)
			must(t, b.GRN(y, gn, x, gamma, beta, s))
			dy, dx := newT(t, b, sh, randVals(142, sh.Len(), 1)), newT(t, b, sh, nil)
			dg, db := newT(t, b, kernels.Shape{s.C}, nil), newT(t, b, kernels.Shape{s.C}, nil)
			must(t, b.GRNBackward(dx, dg, db, dy, x, gn, gamma, s))
			got := [][]float64{vals(y), vals(gn), vals(dx), vals(dg), vals(db)}
			if ref == nil {
				ref = got
				continue
			}
			for i, what := range []string{"y", "gnorm", "dx", "dgamma", "dbeta"} {
				testutil.AllClose(t, fmt.Sprintf("grn %+v %s on %d workers", s, what, workers), got[i], ref[i], 0, 0)
			}
		}
	}
}
