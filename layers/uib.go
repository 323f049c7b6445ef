package layers

// uib builds MobileNetV4's universal inverted bottleneck (Qin et al. 2024
// §3.1; timm UniversalInvertedResidual): dw_start (StartKernel depthwise,
// BatchNorm without activation) → pw_exp (1×1 to Mid, BN + act) → dw_mid
// (Kernel depthwise, BN + act) → se → pw_proj (1×1 to Out, BN) →
// layer_scale. Absent kernels (0) leave their convolution out, giving the
// ExtraDW (both), IB (middle only), ConvNext-like (start only) and FFN
// (neither) forms; the stride goes to dw_mid if present, else to dw_start.
func (b *blockBuilder) uib() {
	c := b.cfg
	if c.StartKernel > 0 {
		stride := c.Stride
		if c.Kernel > 0 {
			stride = 1
		}
		b.conv("dw_start.conv", "dw_start.bn", c.In, c.In, c.StartKernel, stride, true, false)
	}
	b.conv("pw_exp.conv", "pw_exp.bn", c.In, c.Mid, 1, 1, false, true)
	if c.Kernel > 0 {
		b.conv("dw_mid.conv", "dw_mid.bn", c.Mid, c.Mid, c.Kernel, c.Stride, true, true)
	}
	b.se(c.Mid)
	b.conv("pw_proj.conv", "pw_proj.bn", c.Mid, c.Out, 1, 1, false, false)
	if c.LayerScale > 0 && b.err == nil {
		b.add(NewLayerScale(b.be, Join(b.name, "layer_scale"), Join(b.name, "layer_scale.gamma"), c.Out, float32(c.LayerScale)))
	}
}
