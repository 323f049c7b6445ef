package layers

// fusedMBConv builds Fused-MBConv (EfficientNetV2, Tan & Le 2021 §3.2;
// MobileNetV4's FusedIB; timm EdgeResidual): conv_exp (k×k dense to Mid,
// stride) → bn1 + act → se → conv_pwl (1×1 to Out) → bn2.
func (b *blockBuilder) fusedMBConv() {
	c := b.cfg
	b.conv("conv_exp", "bn1", c.In, c.Mid, c.Kernel, c.Stride, false, true)
	b.se(c.Mid)
	b.conv("conv_pwl", "bn2", c.Mid, c.Out, 1, 1, false, false)
}
