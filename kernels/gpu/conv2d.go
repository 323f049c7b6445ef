package gpu

import (
	"github.com/nextconv/nextconv/cuda"
	"github.com/nextconv/nextconv/kernels"
)

// convColBytes bounds the im2col buffer of Conv2D: the batch is processed
// in chunks of whole output rows (n, oh) whose patch matrix fits in this
// many bytes (one output row at least). 64 MiB holds a whole batch-128
// ConvNeXt stem (224×224×3, K = 4) in one chunk, so the GEMMs stay large.
var convColBytes = 64 << 20

// convPlan holds the sizes every pass of one Conv2D shares.
type convPlan struct {
	s       kernels.ConvShape
	oh, ow  int
	ck      int  // CIn·K·K: patch length, columns of the patch matrix
	g       int  // groups
	cgk     int  // (CIn/G)·K·K: one group's columns, a weight row
	cog     int  // COut/G: output channels per group
	rows    int  // output rows N·OH
	perStep int  // output rows per im2col chunk
	direct  bool // 1×1, stride 1, no padding: x is the patch matrix
}

func newConvPlan(s kernels.ConvShape) convPlan {
	p := convPlan{s: s, oh: s.OutH(), ow: s.OutW(), ck: s.CIn * s.K * s.K}
	p.rows = s.N * p.oh
	p.g = s.G()
	p.cgk, p.cog = p.ck/p.g, s.COut/p.g
	p.perStep = max(1, min(p.rows, convColBytes/(4*p.ow*p.ck)))
	p.direct = s.K == 1 && s.Stride == 1 && s.Pad == 0
	return p
}

// shapes returns the tensor shapes of the convolution and its int32
// counts: x, y, w and one im2col chunk.
func (p convPlan) shapes() layerShapes {
	l := p.s.Layer()
	return layerShapes{l, []int{l.X.Len(), l.Y.Len(), l.W.Len(), p.perStep * p.ow * p.ck}, true}
}

// Conv2D computes the dense or grouped convolution of [kernels.ConvShape]
// s, PyTorch's nn.Conv2d(CIn, COut, K, stride=Stride, padding=Pad,
// groups=G) on NHWC data:
//
//	y[n,oh,ow,co] = b[co] + Σ_{j,kh,kw} x[n, oh·S+kh−P, ow·S+kw−P, g·CIn/G + j]·w[co,j,kh,kw]
//
// with g = co/(COut/G), j < CIn/G and zero padding; x [N, H, W, CIn], w
// [COut, CIn/G, K, K] (OIHW), b [COut] (nil for none), y [N, OH, OW, COut]
// overwritten. Per chunk of output rows (see convColBytes) im2col_f32
// gathers the patch matrix cols [pixels, CIn·K·K] with columns in (ci, kh,
// kw) order, so that group g's columns are one contiguous block in the
// order of a weight row, and one GEMM per group (gemm: SGEMM in fp32,
// cuBLASLt in tf32 and bf16) computes its block of y = cols·wᵀ with w used
// as stored (strided views, no copies); the bias is added as in Linear (the
// product's epilogue, else bias_add_f32). A 1×1 convolution with stride 1
// and no padding multiplies x directly. In bf16 precision x and w are bf16
// (im2col_bf16 gathers bf16 patches, exact copies) and y is bf16 or
// float32, rounded once by the product (docs/BF16.md). The ConvNeXt stem
// (K = Stride = 4) and downsampling layers (K = Stride = 2) take the
// im2col path. It returns an error wrapping kernels.ErrShape or
// kernels.ErrDType naming the tensor if s is invalid or a tensor does not
// match it or is not device memory of this backend, or if x and w differ
// in dtype.
func (b *Backend) Conv2D(y, x, w, bias kernels.Tensor, s kernels.ConvShape) error {
	const op = "conv2d"
	if err := s.Validate(); err != nil {
		return err
	}
	p := newConvPlan(s)
	if err := p.shapes().checkForward(op, y, x, w, bias); err != nil {
		return err
	}
	epi, bo := b.forwardEpilogue(y, bias)
	if p.direct {
		if err := b.forwardGEMM(op, p, operandOf(w), operandOf(x), operandOf(y), p.rows*p.ow, epi, bo); err != nil {
			return err
		}
	} else {
		colBytes := p.colBytes()
		buf, err := b.pool.get(colBytes)
		if err != nil {
			return err
		}
		defer b.pool.put(buf, colBytes)
		cols := operand{p: buf, t: operandOf(x).t}
		for r0 := 0; r0 < p.rows; r0 += p.perStep {
			r1 := min(p.rows, r0+p.perStep)
			pix := (r1 - r0) * p.ow
			if err := b.im2col(cols, x, p, r0, r1); err != nil {
				return err
			}
			yc := operandOf(y).at(r0 * p.ow * s.COut)
			if err := b.forwardGEMM(op, p, operandOf(w), cols, yc, pix, epi, bo); err != nil {
				return err
			}
		}
	}
	return b.addBias(op, y, bias, p.rows*p.ow, s.COut)
}

// Conv2DBackward computes the gradients of [Backend.Conv2D] from dy [N, OH,
// OW, COut]: dx [N, H, W, CIn] is overwritten (nil skips it, as the stem
// needs), dw [COut, CIn/G, K, K] and db [COut] (nil skips it) are
// accumulated. A dense 1×1 convolution goes through weightGrad (the bias
// gradient as in Linear); otherwise db is the deterministic two-pass
// column sum of dy (column_sum_f32 or _bf16), and per chunk of output rows
// it re-gathers the patch matrix cols, adds dyᵀ·cols to dw (one GEMM per
// group, beta = 1), forms the float32 dcols = dy·w (one GEMM per group, in
// the same buffer) and col2im gathers, for every element of dx, the
// entries of dcols that came from it (no atomics, deterministic). With
// several chunks dx is zeroed first and each chunk adds its share; a bf16
// dx whose elements several chunks share (K > Stride) is summed in a
// float32 scratch tensor and converted once at the end, so that every
// element is rounded once. In bf16 precision x, w and dy are bf16 and dw,
// db float32. Errors are those of Conv2D.
func (b *Backend) Conv2DBackward(dx, dw, db, dy, x, w kernels.Tensor, s kernels.ConvShape) error {
	const op = "conv2d backward"
	if err := s.Validate(); err != nil {
		return err
	}
	p := newConvPlan(s)
	if err := p.shapes().checkBackward(op, dx, dw, db, dy, x, w); err != nil {
		return err
	}
	if p.direct && p.g == 1 {
		if err := b.weightGrad(op, operandOf(x), p.ck, dy, s.COut, p.rows*p.ow, dw, db); err != nil {
			return err
		}
		if dx.Nil() {
			return nil
		}
		return b.gemm(op, false, false, p.ck, p.rows*p.ow, s.COut, operandOf(w), p.ck, operandOf(dy), s.COut, 0, operandOf(dx), p.ck, cuda.EpilogueDefault, operand{})
	}
	if !db.Nil() {
		if err := b.biasGrad(db, dy, p.rows*p.ow, s.COut); err != nil {
			return err
		}
	}
	xo, dyo, dwo := operandOf(x), operandOf(dy), operandOf(dw)
	if p.direct {
		if err := b.weightGradGEMM(op, p, xo, dyo, dwo, p.rows*p.ow); err != nil {
			return err
		}
		if dx.Nil() {
			return nil
		}
		return b.colGradGEMM(op, p, operandOf(w), dyo, operandOf(dx), p.rows*p.ow)
	}
	colBytes := p.colBytes()
	buf, err := b.pool.get(colBytes)
	if err != nil {
		return err
	}
	defer b.pool.put(buf, colBytes)
	cols, dcols := operand{p: buf, t: xo.t}, operand{p: buf}
	chunked := p.perStep < p.rows
	dxAcc, sum := dx, false // sum: dx is summed in a float32 scratch tensor
	if !dx.Nil() && chunked {
		if sum = dx.Data.DType() != kernels.Float32 && s.K > s.Stride; sum {
			if dxAcc, err = b.Alloc(dx.Shape); err != nil { // zero-filled
				return err
			}
			defer b.Free(dxAcc)
		} else if err := b.drv.Memset(ptr(dx), 0, dx.Data.DType().Size()*dx.Len()); err != nil {
			return err
		}
	}
	for r0 := 0; r0 < p.rows; r0 += p.perStep {
		r1 := min(p.rows, r0+p.perStep)
		pix := (r1 - r0) * p.ow
		dyc := dyo.at(r0 * p.ow * s.COut)
		if err := b.im2col(cols, x, p, r0, r1); err != nil {
			return err
		}
		if err := b.weightGradGEMM(op, p, cols, dyc, dwo, pix); err != nil {
			return err
		}
		if dx.Nil() {
			continue
		}
		if err := b.colGradGEMM(op, p, operandOf(w), dyc, dcols, pix); err != nil {
			return err
		}
		if err := b.col2im(dxAcc, dcols.p, p, r0, r1, chunked); err != nil {
			return err
		}
	}
	if sum {
		return b.convert(dx, dxAcc)
	}
	return nil
}

// colBytes is the size of the patch buffer: one chunk of float32 dcols
// (its bf16 patches take the first half).
func (p convPlan) colBytes() int { return 4 * p.perStep * p.ow * p.ck }

// forwardGEMM computes y [pix, COut] = cols·wᵀ for pix patch rows of cols
// [pix, CIn·K·K], one GEMM per group g over its column block, w's rows
// g·COut/G … and y's columns g·COut/G … (column-major: yᵀ = w·colsᵀ), with
// the epilogue epi adding group g's slice of the bias operand bo.
func (b *Backend) forwardGEMM(op string, p convPlan, w, cols, y operand, pix int, epi cuda.Epilogue, bo operand) error {
	for g := range p.g {
		bg := bo
		if bo.p != 0 {
			bg = bo.at(g * p.cog)
		}
		if err := b.gemm(op, true, false, p.cog, pix, p.cgk, w.at(g*p.cog*p.cgk), p.cgk, cols.at(g*p.cgk), p.ck, 0, y.at(g*p.cog), p.s.COut, epi, bg); err != nil {
			return err
		}
	}
	return nil
}

// weightGradGEMM adds dyᵀ·cols to dw [COut, CIn/G·K·K] per group
// (column-major: dwᵀ += colsᵀ·dy over each group's blocks, beta = 1); cols
// and dy of one type, dw float32.
func (b *Backend) weightGradGEMM(op string, p convPlan, cols, dy, dw operand, pix int) error {
	for g := range p.g {
		cg, dyg, dwg := cols.at(g*p.cgk), dy.at(g*p.cog), dw.at(g*p.cog*p.cgk)
		if err := b.gemm(op, false, true, p.cgk, p.cog, pix, cg, p.ck, dyg, p.s.COut, 1, dwg, p.cgk, cuda.EpilogueDefault, operand{}); err != nil {
			return err
		}
	}
	return nil
}

// colGradGEMM overwrites dcols [pix, CIn·K·K] with dy·w per group
// (column-major: dcolsᵀ = wᵀ·dyᵀ over each group's blocks); w and dy of
// one type, dcols float32 or bf16 (rounded once).
func (b *Backend) colGradGEMM(op string, p convPlan, w, dy, dcols operand, pix int) error {
	for g := range p.g {
		wg, dyg, cg := w.at(g*p.cog*p.cgk), dy.at(g*p.cog), dcols.at(g*p.cgk)
		if err := b.gemm(op, false, false, p.cgk, pix, p.cog, wg, p.cgk, dyg, p.s.COut, 0, cg, p.ck, cuda.EpilogueDefault, operand{}); err != nil {
			return err
		}
	}
	return nil
}

// off returns the byte offset of float32 element i.
func off(i int) cuda.DevicePtr { return cuda.DevicePtr(4 * i) }

// im2col launches im2col_f32 (im2col_bf16 for a bf16 x, into bf16 cols)
// for output rows [r0, r1) into cols.
func (b *Backend) im2col(cols operand, x kernels.Tensor, p convPlan, r0, r1 int) error {
	s := p.s
	pix := (r1 - r0) * p.ow
	return b.launch(kernelFor("im2col", x.Data.DType()), dim1(blocks(pix*p.ck, 256)), dim1(256), 0, b.args().Ptr(cols.p).Ptr(ptr(x)).
		Int32(int32(s.H)).Int32(int32(s.W)).Int32(int32(s.CIn)).Int32(int32(s.K)).Int32(int32(s.Stride)).
		Int32(int32(s.Pad)).Int32(int32(p.oh)).Int32(int32(p.ow)).Int32(int32(r0)).Int32(int32(pix)))
}

// col2im launches col2im_f32 (col2im_bf16 for a bf16 dx) for the float32
// patch gradient of output rows [r0, r1). Without accumulate it overwrites
// all of dx (one chunk covers the batch); with it, it adds into the input
// rows those output rows touch.
func (b *Backend) col2im(dx kernels.Tensor, dcols cuda.DevicePtr, p convPlan, r0, r1 int, accumulate bool) error {
	s := p.s
	q0, q1 := 0, s.N*s.H // input rows n·H + ih to visit
	acc := int32(0)
	if accumulate {
		acc = 1
		n0, oh0 := r0/p.oh, r0%p.oh
		n1, oh1 := (r1-1)/p.oh, (r1-1)%p.oh
		q0 = n0*s.H + min(s.H, max(0, oh0*s.Stride-s.Pad))
		q1 = n1*s.H + max(0, min(s.H, oh1*s.Stride-s.Pad+s.K))
	}
	count := (q1 - q0) * s.W * s.CIn
	if count <= 0 {
		return nil
	}
	return b.launch(kernelFor("col2im", dx.Data.DType()), dim1(blocks(count, 256)), dim1(256), 0, b.args().Ptr(ptr(dx)).Ptr(dcols).
		Int32(int32(s.H)).Int32(int32(s.W)).Int32(int32(s.CIn)).Int32(int32(s.K)).Int32(int32(s.Stride)).
		Int32(int32(s.Pad)).Int32(int32(p.oh)).Int32(int32(p.ow)).Int32(int32(r0)).Int32(int32(r1)).
		Int32(int32(q0)).Int32(int32(count)).Int32(acc))
}
