package cpu

import "github.com/nextconv/nextconv/kernels"

// convColBytes bounds the im2col buffer: the batch is processed in chunks of
// whole output rows whose patch matrix fits in this many bytes (one row at
// least).
var convColBytes = 16 << 20

// Conv2D computes the dense convolution of [kernels.ConvShape] s, PyTorch's
// nn.Conv2d(CIn, COut, K, stride=Stride, padding=Pad) on NHWC data:
//
//	y[n,oh,ow,co] = b[co] + Σ_{ci,kh,kw} x[n, oh·S+kh−P, ow·S+kw−P, ci]·w[co,ci,kh,kw]
//
// with zero padding; x [N, H, W, CIn], w [COut, CIn, K, K], b [COut] (nil for
// none), y [N, OH, OW, COut] overwritten (y must not share memory with x).
// It gathers the patches of a chunk
// of output rows into a matrix [pixels, CIn·K·K] whose columns are ordered
// (ci, kh, kw), the order of a weight row, and multiplies it by wᵀ with one
// GEMM (see [SGEMM]); chunks keep that matrix under 16 MiB. Non-overlapping
// patches (K == Stride, Pad == 0: the ConvNeXt stem and downsampling layers)
// are copied without bounds checks. It returns an error wrapping
// kernels.ErrShape or kernels.ErrDType naming the tensor and its shape if s
// is invalid or a tensor does not match it.
func (b *Backend) Conv2D(y, x, w, bias kernels.Tensor, s kernels.ConvShape) error {
	const op = "conv2d"
	if err := s.Validate(); err != nil {
		return err
	}
	if err := b.checkArgs(op, s.Layer().Forward(y, x, w, bias)...); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		conv2dForward(b, host[float64](y), host[float64](x), host[float64](w), host[float64](bias), s)
	} else {
		conv2dForward(b, host[float32](y), host[float32](x), host[float32](w), host[float32](bias), s)
	}
	b.roundBF16(y)
	return nil
}

// Conv2DBackward computes the gradients of [Backend.Conv2D] from dy [N, OH,
// OW, COut]: dx [N, H, W, CIn] is overwritten (nil skips it, as the stem
// needs), dw [COut, CIn, K, K] and db [COut] (nil skips it) are accumulated;
// no output may share memory with an input.
// Per chunk of output rows it re-gathers the patch matrix X, adds dyᵀ·X to
// dw, forms dX = dy·w and adds each patch entry back to the input pixel it
// came from (col2im, gathered per input row so that every element of dx is
// written by one worker; a plain copy for non-overlapping patches). Errors
// are those of Conv2D.
func (b *Backend) Conv2DBackward(dx, dw, db, dy, x, w kernels.Tensor, s kernels.ConvShape) error {
	const op = "conv2d backward"
	if err := s.Validate(); err != nil {
		return err
	}
	if err := b.checkArgs(op, s.Layer().Backward(dx, dw, db, dy, x, w)...); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		conv2dBackward(b, host[float64](dx), host[float64](dw), host[float64](db), host[float64](dy), host[float64](x), host[float64](w), s)
	} else {
		conv2dBackward(b, host[float32](dx), host[float32](dw), host[float32](db), host[float32](dy), host[float32](x), host[float32](w), s)
	}
	b.roundBF16(dx)
	return nil
}

// convPlan holds the sizes every pass of one convolution shares.
type convPlan struct {
	s       kernels.ConvShape
	oh, ow  int
	kk, ck  int  // K·K taps; CIn·K·K patch length
	patch   bool // K == Stride and Pad == 0: patches do not overlap
	rows    int  // output rows N·OH
	perStep int  // output rows per im2col chunk
}

func newConvPlan[T Float](s kernels.ConvShape) convPlan {
	p := convPlan{s: s, oh: s.OutH(), ow: s.OutW(), kk: s.K * s.K}
	p.ck = s.CIn * p.kk
	p.patch = s.K == s.Stride && s.Pad == 0
	p.rows = s.N * p.oh
	var zero T
	elem := 4
	if poolIndex(zero) == 1 {
		elem = 8
	}
	p.perStep = max(1, min(p.rows, convColBytes/(elem*p.ow*p.ck)))
	return p
}

func conv2dForward[T Float](b *Backend, y, x, w, bias []T, s kernels.ConvShape) {
	p := newConvPlan[T](s)
	colBuf := getScratch[T](p.perStep * p.ow * p.ck)
	defer putScratch(colBuf)
	for r0 := 0; r0 < p.rows; r0 += p.perStep {
		r1 := min(p.rows, r0+p.perStep)
		pix := (r1 - r0) * p.ow
		col := (*colBuf)[:pix*p.ck]
		im2col(b, col, x, p, r0, r1)
		yc := y[r0*p.ow*s.COut : r1*p.ow*s.COut]
		var beta T
		if bias != nil {
			fillRows(b, yc, bias, pix, s.COut)
			beta = 1
		}
		gemm(false, true, pix, s.COut, p.ck, 1, col, p.ck, w, p.ck, beta, yc, s.COut)
	}
}

func conv2dBackward[T Float](b *Backend, dx, dw, db, dy, x, w []T, s kernels.ConvShape) {
	p := newConvPlan[T](s)
	if db != nil {
		addColumnSums(b, db, dy, p.rows*p.ow, s.COut)
	}
	// Non-overlapping patches that tile the whole input write every element
	// of dx exactly once; otherwise dx starts at zero and collects sums.
	tiles := p.patch && s.H == p.oh*s.K && s.W == p.ow*s.K
	if dx != nil && !tiles {
		fillRows(b, dx, nil, s.N*s.H, s.W*s.CIn)
	}
	colBuf := getScratch[T](p.perStep * p.ow * p.ck)
	defer putScratch(colBuf)
	for r0 := 0; r0 < p.rows; r0 += p.perStep {
		r1 := min(p.rows, r0+p.perStep)
		pix := (r1 - r0) * p.ow
		col := (*colBuf)[:pix*p.ck]
		dyc := dy[r0*p.ow*s.COut : r1*p.ow*s.COut]
		im2col(b, col, x, p, r0, r1)
		gemm(true, false, s.COut, p.ck, pix, 1, dyc, s.COut, col, p.ck, 1, dw, p.ck)
		if dx == nil {
			continue
		}
		gemm(false, false, pix, p.ck, s.COut, 1, dyc, s.COut, w, p.ck, 0, col, p.ck)
		col2im(b, dx, col, p, r0, r1)
	}
}

// im2col fills col [(r1−r0)·OW, CIn·K·K] with the patches of output rows
// r0 ≤ r = n·OH + oh < r1; column ci·K·K + kh·K + kw of pixel (n, oh, ow)
// is x[n, oh·S+kh−P, ow·S+kw−P, ci], zero outside the image.
func im2col[T Float](b *Backend, col, x []T, p convPlan, r0, r1 int) {
	s := p.s
	cin, k, kk, ck := s.CIn, s.K, p.kk, p.ck
	b.parallelFor(r1-r0, p.ow*ck, func(lo, hi int) {
		for r := r0 + lo; r < r0+hi; r++ {
			n, oh := r/p.oh, r%p.oh
			rowCol := col[(r-r0)*p.ow*ck : (r-r0+1)*p.ow*ck]
			if p.patch {
				// Input row oh·K+kh holds the kh-th row of every patch of
				// this output row: K·CIn contiguous values (kw, ci) per ow.
				for kh := range k {
					ih := oh*k + kh
					xrow := x[(n*s.H+ih)*s.W*cin:]
					for ow := range p.ow {
						src := xrow[ow*k*cin : (ow+1)*k*cin]
						dst := rowCol[ow*ck : (ow+1)*ck]
						for kw := range k {
							seg := src[kw*cin : (kw+1)*cin]
							for ci, v := range seg {
								dst[ci*kk+kh*k+kw] = v
							}
						}
					}
				}
				continue
			}
			for ow := range p.ow {
				dst := rowCol[ow*ck : (ow+1)*ck]
				for kh := range k {
					ih := oh*s.Stride + kh - s.Pad
					for kw := range k {
						iw := ow*s.Stride + kw - s.Pad
						off := kh*k + kw
						if ih < 0 || ih >= s.H || iw < 0 || iw >= s.W {
							for ci := range cin {
								dst[ci*kk+off] = 0
							}
							continue
						}
						src := x[((n*s.H+ih)*s.W+iw)*cin : ((n*s.H+ih)*s.W+iw+1)*cin]
						for ci, v := range src {
							dst[ci*kk+off] = v
						}
					}
				}
			}
		}
	})
}

// col2im adds each entry of the patch gradient dcol [(r1−r0)·OW, CIn·K·K]
// of output rows [r0, r1) into the input pixel im2col read it from. For
// non-overlapping patches it stores instead of adding; otherwise dx must
// hold the sums of the earlier chunks (zeros at first).
func col2im[T Float](b *Backend, dx, dcol []T, p convPlan, r0, r1 int) {
	s := p.s
	cin, k, kk, ck := s.CIn, s.K, p.kk, p.ck
	if p.patch {
		b.parallelFor(r1-r0, p.ow*ck, func(lo, hi int) {
			for r := r0 + lo; r < r0+hi; r++ {
				n, oh := r/p.oh, r%p.oh
				rowCol := dcol[(r-r0)*p.ow*ck : (r-r0+1)*p.ow*ck]
				for kh := range k {
					dxrow := dx[(n*s.H+oh*k+kh)*s.W*cin:]
					for ow := range p.ow {
						dst := dxrow[ow*k*cin : (ow+1)*k*cin]
						src := rowCol[ow*ck : (ow+1)*ck]
						for kw := range k {
							seg := dst[kw*cin : (kw+1)*cin]
							for ci := range seg {
								seg[ci] = src[ci*kk+kh*k+kw]
							}
						}
					}
				}
			}
		})
		return
	}
	// Input rows that output rows [r0, r1) touch, as global indices n·H+ih.
	n0, oh0 := r0/p.oh, r0%p.oh
	n1, oh1 := (r1-1)/p.oh, (r1-1)%p.oh
	q0 := n0*s.H + min(s.H, max(0, oh0*s.Stride-s.Pad))
	q1 := n1*s.H + max(0, min(s.H, oh1*s.Stride-s.Pad+k))
	colLo, colHi := make([]int, k), make([]int, k)
	for kw := range k {
		colLo[kw], colHi[kw] = tapRange(kw, s.Stride, s.Pad, s.W, p.ow)
	}
	b.parallelFor(q1-q0, s.W*ck/(s.Stride*s.Stride)+1, func(lo, hi int) {
		for q := q0 + lo; q < q0+hi; q++ {
			n, ih := q/s.H, q%s.H
			dxrow := dx[q*s.W*cin : (q+1)*s.W*cin]
			for kh := range k {
				t := ih + s.Pad - kh
				if t < 0 || t%s.Stride != 0 || t/s.Stride >= p.oh {
					continue
				}
				r := n*p.oh + t/s.Stride
				if r < r0 || r >= r1 {
					continue
				}
				rowCol := dcol[(r-r0)*p.ow*ck : (r-r0+1)*p.ow*ck]
				for kw := range k {
					for ow := colLo[kw]; ow < colHi[kw]; ow++ {
						iw := ow*s.Stride + kw - s.Pad
						dst := dxrow[iw*cin : (iw+1)*cin]
						src := rowCol[ow*ck+kh*k+kw:]
						for ci := range dst {
							dst[ci] += src[ci*kk]
						}
					}
				}
			}
		}
	})
}
