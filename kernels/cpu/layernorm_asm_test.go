package cpu

import (
	"fmt"
	"slices"
	"testing"
)

func TestLayerNormAsmMatchesGo(t *testing.T) {
	requireAsm(t, hasLayerNormAsm)
	for i, c := range []int{1, 3, 4, 5, 7, 8, 40, 41, 80, 160, 320} {
		for _, rows := range []int{1, 3, 17} {
			name := fmt.Sprintf("c%d_rows%d", c, rows)
			seed := uint64(2000 + 10*i + rows)
			x, dy := rand32(seed, rows*c, 2), rand32(seed+1, rows*c, 1)
			for r := range rows { // rows with an offset and a scale of their own
				for j := range c {
					x[r*c+j] = x[r*c+j]*float32(r+1) + float32(r)
				}
			}
			wb := randVals(seed+2, 2*c, 1.5)
			w, bias := wb[:c], wb[c:]
			const eps = 1e-6

			y, mean, rstd := make([]float32, rows*c), make([]float32, rows), make([]float32, rows)
			yGo, meanGo, rstdGo := make([]float32, rows*c), make([]float32, rows), make([]float32, rows)
			layerNormRows(y, mean, rstd, x, w, bias, eps)
			layerNormRowsGo(yGo, meanGo, rstdGo, x, w, bias, eps)
			sameBits(t, name+" y", y, yGo)
			sameBits(t, name+" mean", mean, meanGo)
			sameBits(t, name+" rstd", rstd, rstdGo)
			inPlace := slices.Clone(x)
			layerNormRows(inPlace, mean, rstd, inPlace, w, bias, eps)
			sameBits(t, name+" y in place", inPlace, yGo)

			// The affine pass from the saved statistics (LayerNormGELU's
			// backward).
			u, uGo := make([]float32, rows*c), make([]float32, rows*c)
			normAffineRows(u, mean, rstd, x, w, bias)
			normAffineRowsGo(uGo, mean, rstd, x, w, bias)
			sameBits(t, name+" u", u, uGo)
			inPlace = slices.Clone(x)
			normAffineRows(inPlace, mean, rstd, inPlace, w, bias)
			sameBits(t, name+" u in place", inPlace, uGo)

			// The gradient sums add to what the accumulators held.
			acc := randVals(seed+3, 2*c, 3)
			accW, accB := slices.Clone(acc[:c]), slices.Clone(acc[c:])
			accWGo, accBGo := slices.Clone(acc[:c]), slices.Clone(acc[c:])
			dx, dxGo := make([]float32, rows*c), make([]float32, rows*c)
			layerNormGradRows(dx, dy, x, mean, rstd, w, accW, accB)
			layerNormGradRowsGo(dxGo, dy, x, mean, rstd, w, accWGo, accBGo)
			sameBits(t, name+" dx", dx, dxGo)
			sameBits(t, name+" Σ dy·x̂", accW, accWGo)
			sameBits(t, name+" Σ dy", accB, accBGo)
			inPlace = slices.Clone(dy)
			layerNormGradRows(inPlace, inPlace, x, mean, rstd, w, accW, accB)
			sameBits(t, name+" dx in place", inPlace, dxGo)
		}
	}
}
