package kernels

// LayerShapes are the tensor shapes of an op with a weight and an optional
// bias (Linear, Conv2D, DWConv): input X, output Y, weight W and bias B.
// Its methods list the forward's and the backward's arguments for
// [CheckArgs], so every backend checks the same tensors under the same
// names.
type LayerShapes struct {
	X, Y, W, B Shape
}

// Layer returns the shapes of the linear map s: x [Rows, In], y [Rows,
// Out], w [Out, In], b [Out].
func (s LinearShape) Layer() LayerShapes {
	return LayerShapes{X: Shape{s.Rows, s.In}, Y: Shape{s.Rows, s.Out}, W: Shape{s.Out, s.In}, B: Shape{s.Out}}
}

// Layer returns the shapes of the convolution s: XShape, YShape, WShape
// and b [COut].
func (s ConvShape) Layer() LayerShapes {
	return LayerShapes{X: s.XShape(), Y: s.YShape(), W: s.WShape(), B: Shape{s.COut}}
}

// Layer returns the shapes of the depthwise convolution s: XShape, YShape,
// WShape and b [C].
func (s DWConvShape) Layer() LayerShapes {
	return LayerShapes{X: s.XShape(), Y: s.YShape(), W: s.WShape(), B: Shape{s.C}}
}

// Forward returns the arguments of the forward y = f(x; w, b): y, x, w and
// b, which may be nil.
func (l LayerShapes) Forward(y, x, w, b Tensor) []Arg {
	return []Arg{
		{Name: "y", T: y, Want: l.Y},
		{Name: "x", T: x, Want: l.X},
		{Name: "w", T: w, Want: l.W},
		{Name: "b", T: b, Want: l.B, Optional: true},
	}
}

// Backward returns the arguments of the backward: dx and db, which may be
// nil, dw, dy, x and w.
func (l LayerShapes) Backward(dx, dw, db, dy, x, w Tensor) []Arg {
	return []Arg{
		{Name: "dx", T: dx, Want: l.X, Optional: true},
		{Name: "dw", T: dw, Want: l.W},
		{Name: "db", T: db, Want: l.B, Optional: true},
		{Name: "dy", T: dy, Want: l.Y},
		{Name: "x", T: x, Want: l.X},
		{Name: "w", T: w, Want: l.W},
	}
}

// NormArgs returns the arguments of the LayerNorm family at s (x, y [Rows,
// C]; mean, rstd [Rows]; w, b [C]) for [CheckArgs]: x, mean, rstd and w,
// then y and b in the forward (backward false) or dx, dw and db [C] in the
// backward. None may be nil.
func NormArgs(s NormShape, y, mean, rstd, x, w, b, dx, dw, db Tensor, backward bool) []Arg {
	rc, c, r := Shape{s.Rows, s.C}, Shape{s.C}, Shape{s.Rows}
	args := []Arg{
		{Name: "x", T: x, Want: rc},
		{Name: "mean", T: mean, Want: r},
		{Name: "rstd", T: rstd, Want: r},
		{Name: "w", T: w, Want: c},
	}
	if backward {
		return append(args, Arg{Name: "dx", T: dx, Want: rc}, Arg{Name: "dw", T: dw, Want: c}, Arg{Name: "db", T: db, Want: c})
	}
	return append(args, Arg{Name: "b", T: b, Want: c}, Arg{Name: "y", T: y, Want: rc})
}

// ForwardArgs returns the arguments of GRN's forward at s for [CheckArgs]:
// x and y [N, HW, C], gamma and beta [C], gnorm [N, C]. None may be nil.
func (s GRNShape) ForwardArgs(y, gnorm, x, gamma, beta Tensor) []Arg {
	xs, c, nc := Shape{s.N, s.HW, s.C}, Shape{s.C}, Shape{s.N, s.C}
	return []Arg{{Name: "x", T: x, Want: xs}, {Name: "gamma", T: gamma, Want: c},
		{Name: "beta", T: beta, Want: c}, {Name: "y", T: y, Want: xs}, {Name: "gnorm", T: gnorm, Want: nc}}
}

// BackwardArgs returns the arguments of GRN's backward at s: dy, x and dx
// [N, HW, C], gnorm [N, C], gamma, dgamma and dbeta [C]. None may be nil.
func (s GRNShape) BackwardArgs(dx, dgamma, dbeta, dy, x, gnorm, gamma Tensor) []Arg {
	xs, c, nc := Shape{s.N, s.HW, s.C}, Shape{s.C}, Shape{s.N, s.C}
	return []Arg{{Name: "dy", T: dy, Want: xs}, {Name: "x", T: x, Want: xs},
		{Name: "gnorm", T: gnorm, Want: nc}, {Name: "gamma", T: gamma, Want: c},
		{Name: "dx", T: dx, Want: xs}, {Name: "dgamma", T: dgamma, Want: c}, {Name: "dbeta", T: dbeta, Want: c}}
}
