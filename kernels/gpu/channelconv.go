package gpu

import (
	"fmt"

	"github.com/nextconv/nextconv/kernels"
)

// ChannelConv computes ECA's 1-D convolution across channels for
// [kernels.ChannelConvShape] s (channel_conv_f32): y[n,c] = Σ_j w[j]·x[n,
// c+j−P], x, y [N, C], w [1, 1, K], P = (K−1)/2, in float64 like the CPU
// backend. y must not alias x. It returns an error wrapping
// kernels.ErrShape for an invalid s or a missing, mis-sized or oversized
// tensor, kernels.ErrDType for a tensor that is not this backend's device
// memory.
func (b *Backend) ChannelConv(y, x, w kernels.Tensor, s kernels.ChannelConvShape) error {
	const op = "gpu channel conv"
	if err := s.Validate(); err != nil {
		return fmt.Errorf("%s %+v: %w", op, s, err)
	}
	if err := checkArgs(op, s.Args(y, x, w, kernels.Tensor{}, kernels.Tensor{}, false)...); err != nil {
		return err
	}
	if err := fits32(op, x.Len()); err != nil {
		return err
	}
	return b.channelConv(y, x, w, s, 0)
}

// ChannelConvBackward overwrites dx (nil skips it) with the convolution of
// dy by the flipped kernel (channel_conv_f32) and accumulates dw[j] +=
// Σ_{n,c} dy[n,c]·x[n, c+j−P] (channel_conv_bwd_w_f32, one block per tap,
// a fixed-order float64 reduction). Errors as for ChannelConv.
func (b *Backend) ChannelConvBackward(dx, dw, dy, x, w kernels.Tensor, s kernels.ChannelConvShape) error {
	const op = "gpu channel conv backward"
	if err := s.Validate(); err != nil {
		return fmt.Errorf("%s %+v: %w", op, s, err)
	}
	if err := checkArgs(op, s.Args(dy, x, w, dx, dw, true)...); err != nil {
		return err
	}
	if err := fits32(op, x.Len()); err != nil {
		return err
	}
	if err := b.launch("channel_conv_bwd_w_f32", dim1(s.K), dim1(streamThreads), 0, b.args().Ptr(ptr(dw)).Ptr(ptr(dy)).
		Ptr(ptr(x)).Int32(int32(s.N)).Int32(int32(s.C)).Int32(int32(s.K))); err != nil {
		return err
	}
	if dx.Nil() {
		return nil
	}
	return b.channelConv(dx, dy, w, s, 1)
}

// channelConv launches channel_conv_f32 over the N·C outputs.
func (b *Backend) channelConv(y, x, w kernels.Tensor, s kernels.ChannelConvShape, flip int32) error {
	return b.launch("channel_conv_f32", dim1(blocks(s.N*s.C, streamThreads)), dim1(streamThreads), 0, b.args().Ptr(ptr(y)).
		Ptr(ptr(x)).Ptr(ptr(w)).Int32(int32(s.N)).Int32(int32(s.C)).Int32(int32(s.K)).Int32(flip))
}
