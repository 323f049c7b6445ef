package gpu

import (
	"fmt"

	"github.com/nextconv/nextconv/kernels"
)

// errNotYet is returned by the ops whose CUDA kernels are not written yet.
var errNotYet = fmt.Errorf("not implemented on the CUDA backend yet")

// BatchNorm is not implemented yet on the CUDA backend.
func (b *Backend) BatchNorm(y, mean, rstd, x, w, bias, runMean, runVar kernels.Tensor, s kernels.BatchNormShape) error {
	return fmt.Errorf("gpu batchnorm: %w", errNotYet)
}

// BatchNormBackward is not implemented yet on the CUDA backend.
func (b *Backend) BatchNormBackward(dx, dw, db, dy, x, mean, rstd, w kernels.Tensor, s kernels.BatchNormShape) error {
	return fmt.Errorf("gpu batchnorm backward: %w", errNotYet)
}

// Activation is not implemented yet on the CUDA backend.
func (b *Backend) Activation(y, x kernels.Tensor, kind kernels.ActivationKind) error {
	return fmt.Errorf("gpu activation: %w", errNotYet)
}

// ActivationBackward is not implemented yet on the CUDA backend.
func (b *Backend) ActivationBackward(dx, dy, x kernels.Tensor, kind kernels.ActivationKind) error {
	return fmt.Errorf("gpu activation backward: %w", errNotYet)
}
