package cpu

import "github.com/nextconv/nextconv/kernels"

// DWConv computes the depthwise convolution of [kernels.DWConvShape] s,
// PyTorch's nn.Conv2d(C, C, K, stride, padding=K/2, groups=C):
//
//	y[n,oh,ow,c] = b[c] + Σ_{kh,kw} x[n, oh·S+kh−P, ow·S+kw−P, c]·w[c,0,kh,kw]
//
// with zero padding P = K/2; x [N, H, W, C], w [C, 1, K, K], b [C] (nil for
// none), y [N, OH, OW, C] overwritten; y must not share memory with x.
// Output rows (n, oh) are split over
// the workers; for each of the K² taps a whole run of output pixels is
// updated with the tap's per-channel weights (contiguous C innermost). It
// returns an error wrapping kernels.ErrShape or kernels.ErrDType naming the
// tensor and its shape if s is invalid or a tensor does not match it.
func (b *Backend) DWConv(y, x, w, bias kernels.Tensor, s kernels.DWConvShape) error {
	const op = "dwconv"
	if err := s.Validate(); err != nil {
		return err
	}
	if err := b.checkArgs(op, s.Layer().Forward(y, x, w, bias)...); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		dwconvForward(b, host[float64](y), host[float64](x), host[float64](w), host[float64](bias), s)
	} else {
		dwconvForward(b, host[float32](y), host[float32](x), host[float32](w), host[float32](bias), s)
	}
	b.roundBF16(y)
	return nil
}

// DWConvBackward computes the gradients of [Backend.DWConv] from dy [N, OH,
// OW, C]: dx [N, H, W, C] is overwritten (nil skips it), dw [C, 1, K, K] and
// db [C] (nil skips it) are accumulated; no output may share memory with an
// input. dx is gathered per input row, so
// each element is written by one worker. The weight and bias sums are taken
// per worker over a fixed block of output rows (float32 runs of at most a
// few dozen pixels flushed into float64), then the blocks are added in
// order: the result depends only on the shape and GOMAXPROCS. Errors are
// those of DWConv.
func (b *Backend) DWConvBackward(dx, dw, db, dy, x, w kernels.Tensor, s kernels.DWConvShape) error {
	const op = "dwconv backward"
	if err := s.Validate(); err != nil {
		return err
	}
	if err := b.checkArgs(op, s.Layer().Backward(dx, dw, db, dy, x, w)...); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		dwconvBackward(b, host[float64](dx), host[float64](dw), host[float64](db), host[float64](dy), host[float64](x), host[float64](w), s)
	} else {
		dwconvBackward(b, host[float32](dx), host[float32](dw), host[float32](db), host[float32](dy), host[float32](x), host[float32](w), s)
	}
	b.roundBF16(dx)
	return nil
}

// dwPlan holds what every row of a depthwise pass shares: the weights
// transposed to tap-major wt [K·K, C], and for each kernel column kw the
// output columns [lo[kw], hi[kw]) whose input column ow·S+kw−P is inside
// the image.
type dwPlan[T Float] struct {
	s              kernels.DWConvShape
	oh, ow, pad    int
	wt             []T
	wtBuf          *[]T
	colLo, colHi   []int
	rowStride      int // elements per input row, W·C
	outRowStride   int // elements per output row, OW·C
	inPixelStride  int // S·C
	tapsPerChannel int
}

func newDWPlan[T Float](w []T, s kernels.DWConvShape) *dwPlan[T] {
	p := &dwPlan[T]{s: s, oh: s.OutH(), ow: s.OutW(), pad: s.Pad(),
		rowStride: s.W * s.C, inPixelStride: s.Stride * s.C, tapsPerChannel: s.K * s.K}
	p.outRowStride = p.ow * s.C
	kk, c := p.tapsPerChannel, s.C
	p.wtBuf = getScratch[T](kk * c)
	p.wt = *p.wtBuf
	for ch := range c {
		for t, v := range w[ch*kk : (ch+1)*kk] {
			p.wt[t*c+ch] = v
		}
	}
	p.colLo, p.colHi = make([]int, s.K), make([]int, s.K)
	for kw := range s.K {
		p.colLo[kw], p.colHi[kw] = tapRange(kw, s.Stride, p.pad, s.W, p.ow)
	}
	return p
}

func (p *dwPlan[T]) release() { putScratch(p.wtBuf) }

// tapRange returns the output positions [lo, hi) along one axis, out of
// outLen, whose input position o·stride + k − pad lies in [0, inLen).
func tapRange(k, stride, pad, inLen, outLen int) (lo, hi int) {
	if d := pad - k; d > 0 {
		lo = (d + stride - 1) / stride
	}
	last := inLen - 1 + pad - k
	if last < 0 {
		return 0, 0
	}
	hi = min(outLen, last/stride+1)
	return lo, max(lo, hi)
}

// rowTaps calls fn for every tap (kh, kw) through which output row oh of
// sample n reads input from x [N, H, W, C]: the input row oh·S + kh − P
// lies inside the image and the output columns [lo, hi) that reach inside
// it through kw are not empty. xs is x from the input pixel of output
// column lo on; taps come in (kh, kw) order, the summation order of the
// forward and the weight gradient.
func (p *dwPlan[T]) rowTaps(x []T, n, oh int, fn func(kh, kw int, xs []T, lo, hi int)) {
	s, c := p.s, p.s.C
	for kh := range s.K {
		ih := oh*s.Stride + kh - p.pad
		if ih < 0 || ih >= s.H {
			continue
		}
		xrow := x[(n*s.H+ih)*p.rowStride : (n*s.H+ih+1)*p.rowStride]
		for kw := range s.K {
			lo, hi := p.colLo[kw], p.colHi[kw]
			if lo < hi {
				fn(kh, kw, xrow[(lo*s.Stride+kw-p.pad)*c:], lo, hi)
			}
		}
	}
}

// tap returns the transposed weights of tap (kh, kw), one per channel.
func (p *dwPlan[T]) tap(kh, kw int) []T {
	t := (kh*p.s.K + kw) * p.s.C
	return p.wt[t : t+p.s.C]
}

func dwconvForward[T Float](b *Backend, y, x, w, bias []T, s kernels.DWConvShape) {
	p := newDWPlan(w, s)
	defer p.release()
	c := s.C
	b.parallelFor(s.N*p.oh, p.outRowStride*p.tapsPerChannel, func(r0, r1 int) {
		for r := r0; r < r1; r++ {
			n, oh := r/p.oh, r%p.oh
			yrow := y[r*p.outRowStride : (r+1)*p.outRowStride]
			if bias == nil {
				clear(yrow)
			} else {
				for o := 0; o < len(yrow); o += c {
					copy(yrow[o:o+c], bias)
				}
			}
			p.rowTaps(x, n, oh, func(kh, kw int, xs []T, lo, hi int) {
				mulAddRows(yrow[lo*c:], c, xs, p.inPixelStride, p.tap(kh, kw), hi-lo)
			})
		}
	})
}

// dwFlushPixels is how many output pixels a worker sums in T before adding
// its weight-gradient partials into float64.
const dwFlushPixels = 32

func dwconvBackward[T Float](b *Backend, dx, dw, db, dy, x, w []T, s kernels.DWConvShape) {
	p := newDWPlan(w, s)
	defer p.release()
	c, k, kk := s.C, s.K, p.tapsPerChannel
	if dx != nil {
		// Gather: input row (n, ih) receives from output row oh = (ih+P−kh)/S
		// through tap kh, and input column ow·S+kw−P from output column ow
		// through tap kw, the forward's index map read backwards.
		b.parallelFor(s.N*s.H, p.rowStride*kk/s.Stride, func(q0, q1 int) {
			for q := q0; q < q1; q++ {
				n, ih := q/s.H, q%s.H
				dxrow := dx[q*p.rowStride : (q+1)*p.rowStride]
				clear(dxrow)
				for kh := range k {
					t := ih + p.pad - kh
					if t < 0 || t%s.Stride != 0 || t/s.Stride >= p.oh {
						continue
					}
					r := n*p.oh + t/s.Stride
					dyrow := dy[r*p.outRowStride : (r+1)*p.outRowStride]
					for kw := range k {
						lo, hi := p.colLo[kw], p.colHi[kw]
						if lo >= hi {
							continue
						}
						iw := lo*s.Stride + kw - p.pad
						mulAddRows(dxrow[iw*c:], p.inPixelStride, dyrow[lo*c:], c, p.tap(kh, kw), hi-lo)
					}
				}
			}
		})
	}

	rows := s.N * p.oh
	chunks := min(b.workers, rows, max(1, rows*p.outRowStride*kk/minGrain))
	per := (rows + chunks - 1) / chunks
	dwPart := make([]float64, chunks*kk*c)
	var dbPart []float64
	if db != nil {
		dbPart = make([]float64, chunks*c)
	}
	b.parallelFor(chunks, minGrain, func(lo, hi int) {
		accBuf := getScratch[T](kk * c)
		defer putScratch(accBuf)
		acc := *accBuf
		for ch := lo; ch < hi; ch++ {
			part := dwPart[ch*kk*c : (ch+1)*kk*c]
			clear(acc)
			pending := 0
			for r := ch * per; r < min(rows, (ch+1)*per); r++ {
				n, oh := r/p.oh, r%p.oh
				dyrow := dy[r*p.outRowStride : (r+1)*p.outRowStride]
				p.rowTaps(x, n, oh, func(kh, kw int, xs []T, lo, hi int) {
					t := (kh*k + kw) * c
					dotAddRows(acc[t:t+c], dyrow[lo*c:], c, xs, p.inPixelStride, hi-lo)
				})
				if dbPart != nil {
					dbp := dbPart[ch*c : (ch+1)*c]
					for o := 0; o < len(dyrow); o += c {
						for i, v := range dyrow[o : o+c] {
							dbp[i] += float64(v)
						}
					}
				}
				if pending += p.ow; pending >= dwFlushPixels {
					flushAdd(part, acc)
					pending = 0
				}
			}
			flushAdd(part, acc)
		}
	})
	for ch := 0; ch < c; ch++ {
		for t := range kk {
			sum := 0.0
			for part := range chunks {
				sum += dwPart[(part*kk+t)*c+ch]
			}
			dw[ch*kk+t] += T(sum)
		}
		if db != nil {
			sum := 0.0
			for part := range chunks {
				sum += dbPart[part*c+ch]
			}
			db[ch] += T(sum)
		}
	}
}

// flushAdd adds acc into the float64 partial sums and clears acc.
func flushAdd[T Float](part []float64, acc []T) {
	part = part[:len(acc)]
	for i, v := range acc {
		part[i] += float64(v)
	}
	clear(acc)
}
