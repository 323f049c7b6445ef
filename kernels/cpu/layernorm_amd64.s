//go:build amd64 && !purego

#include "textflag.h"
#include "avx2_amd64.h"

// AVX2 kernels for the float32 backend's LayerNorm (layernorm_amd64.go):
// float32 rows converted to float64 lanes, four elements per YMM register,
// in the operations and order of layerNormRowsGo and layerNormGradRowsGo.
// A row's sums keep element j in lane j mod 4 over the first c&^3 elements
// and add the last c mod 4 to lane 0, then combine the lanes as
// (l0 + l1) + (l2 + l3), as sum64 does. Both kernels need c >= 1 and
// rows >= 1.

// AFFINE4 stores y = ((x − mean)·rstd)·w + b for the four elements at
// index AX: x float32 at SI, y float32 at DI, w and b float64 at R10 and
// R11, mean and rstd broadcast in Y10 and Y11. Clobbers Y1.
#define AFFINE4 \
	VCVTPS2PD  (SI)(AX*4), Y1 \
	VSUBPD     Y10, Y1, Y1 \
	VMULPD     Y11, Y1, Y1 \
	VMULPD     (R10)(AX*8), Y1, Y1 \
	VADDPD     (R11)(AX*8), Y1, Y1 \
	VCVTPD2PSY Y1, X1 \
	VMOVUPS    X1, (DI)(AX*4)

// AFFINE1 is AFFINE4 for the one element at index AX.
#define AFFINE1 \
	VCVTSS2SD (SI)(AX*4), X1, X1 \
	VSUBSD    X10, X1, X1 \
	VMULSD    X11, X1, X1 \
	VMULSD    (R10)(AX*8), X1, X1 \
	VADDSD    (R11)(AX*8), X1, X1 \
	VCVTSD2SS X1, X1, X1 \
	VMOVSS    X1, (DI)(AX*4)

// func layerNormRowsF32(y, x *float32, mean, rstd *float32, w, b *float64, c, rows int, eps float64)
//
// For each of rows rows of c elements: mean = Σx/c, rstd =
// 1/sqrt(Σ(x − mean)²/c + eps), y = ((x − mean)·rstd)·w + b, all in
// float64 (no fused multiply-adds), stored as float32. y may equal x.
//
// A row's statistics are two chains of dependent adds, a division and a
// square root: latency, not throughput. When c is a multiple of 4, blocks
// of four rows therefore compute their statistics together, four
// independent chains interleaved, and park them in the frame (row k of the
// block in slot 3−k) for the output pass, which then runs row by row.
TEXT ·layerNormRowsF32(SB), NOSPLIT, $64-72
	MOVQ       y+0(FP), DI
	MOVQ       x+8(FP), SI
	MOVQ       mean+16(FP), R8
	MOVQ       rstd+24(FP), R9
	MOVQ       w+32(FP), R10
	MOVQ       b+40(FP), R11
	MOVQ       c+48(FP), CX
	MOVQ       rows+56(FP), BX
	VMOVSD     eps+64(FP), X13
	VCVTSI2SDQ CX, X14, X14     // c as float64
	MOVQ       $0x3FF0000000000000, AX
	VMOVQ      AX, X12          // 1.0
	MOVQ       CX, R12
	ANDQ       $-4, R12         // end of the vector part
	MOVQ       CX, R13
	SHLQ       $2, R13          // row length in bytes
	XORQ       DX, DX           // rows of the current block still to output

ln_row:
	TESTQ        DX, DX
	JZ           ln_stats
	DECQ         DX
	VBROADCASTSD (SP)(DX*8), Y10
	VBROADCASTSD 32(SP)(DX*8), Y11
	JMP          ln_out

ln_stats:
	CMPQ BX, $4
	JLT  ln_single
	CMPQ R12, CX
	JEQ  ln_block4

ln_single:
	// mean = Σx / c
	VXORPD Y0, Y0, Y0
	XORQ   AX, AX

ln_sum4:
	CMPQ      AX, R12
	JGE       ln_sum_tail
	VCVTPS2PD (SI)(AX*4), Y1
	VADDPD    Y1, Y0, Y0
	ADDQ      $4, AX
	JMP       ln_sum4

ln_sum_tail:
	VEXTRACTF128 $1, Y0, X1

ln_sum1:
	CMPQ      AX, CX
	JGE       ln_sum_done
	VCVTSS2SD (SI)(AX*4), X2, X2
	VADDSD    X2, X0, X0
	INCQ      AX
	JMP       ln_sum1

ln_sum_done:
	HSUM(X0, X1, X2)
	VDIVSD       X14, X0, X10
	VBROADCASTSD X10, Y10      // mean

	// rstd = 1/sqrt(Σ(x − mean)²/c + eps)
	VXORPD Y0, Y0, Y0
	XORQ   AX, AX

ln_sq4:
	CMPQ      AX, R12
	JGE       ln_sq_tail
	VCVTPS2PD (SI)(AX*4), Y1
	VSUBPD    Y10, Y1, Y1
	VMULPD    Y1, Y1, Y1
	VADDPD    Y1, Y0, Y0
	ADDQ      $4, AX
	JMP       ln_sq4

ln_sq_tail:
	VEXTRACTF128 $1, Y0, X1

ln_sq1:
	CMPQ      AX, CX
	JGE       ln_sq_done
	VCVTSS2SD (SI)(AX*4), X2, X2
	VSUBSD    X10, X2, X2
	VMULSD    X2, X2, X2
	VADDSD    X2, X0, X0
	INCQ      AX
	JMP       ln_sq1

ln_sq_done:
	HSUM(X0, X1, X2)
	VDIVSD       X14, X0, X0
	VADDSD       X13, X0, X0
	VSQRTSD      X0, X0, X0
	VDIVSD       X0, X12, X11
	VCVTSD2SS    X10, X2, X2
	VMOVSS       X2, (R8)
	VCVTSD2SS    X11, X2, X2
	VMOVSS       X2, (R9)
	VBROADCASTSD X11, Y11      // rstd

ln_out:
	// y = ((x − mean)·rstd)·w + b
	XORQ AX, AX

ln_out4:
	CMPQ       AX, R12
	JGE        ln_out1
	AFFINE4
	ADDQ       $4, AX
	JMP        ln_out4

ln_out1:
	CMPQ      AX, CX
	JGE       ln_next
	AFFINE1
	INCQ      AX
	JMP       ln_out1

ln_next:
	ADDQ R13, SI
	ADDQ R13, DI
	ADDQ $4, R8
	ADDQ $4, R9
	DECQ BX
	JNZ  ln_row
	VZEROUPPER
	RET

ln_block4:
	// Statistics of rows SI, R10, R11, R12 (c a multiple of 4): sums in
	// Y0..Y3, means in Y8..Y11. w, b and the vector end are reloaded
	// afterwards.
	LEAQ   (SI)(R13*1), R10
	LEAQ   (R10)(R13*1), R11
	LEAQ   (R11)(R13*1), R12
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	XORQ   AX, AX

ln_b4_sum:
	VCVTPS2PD (SI)(AX*4), Y4
	VCVTPS2PD (R10)(AX*4), Y5
	VCVTPS2PD (R11)(AX*4), Y6
	VCVTPS2PD (R12)(AX*4), Y7
	VADDPD    Y4, Y0, Y0
	VADDPD    Y5, Y1, Y1
	VADDPD    Y6, Y2, Y2
	VADDPD    Y7, Y3, Y3
	ADDQ      $4, AX
	CMPQ      AX, CX
	JLT       ln_b4_sum
	VEXTRACTF128 $1, Y0, X4
	HSUM(X0, X4, X5)
	VDIVSD       X14, X0, X8
	VBROADCASTSD X8, Y8
	VMOVSD       X8, 24(SP)
	VEXTRACTF128 $1, Y1, X4
	HSUM(X1, X4, X5)
	VDIVSD       X14, X1, X9
	VBROADCASTSD X9, Y9
	VMOVSD       X9, 16(SP)
	VEXTRACTF128 $1, Y2, X4
	HSUM(X2, X4, X5)
	VDIVSD       X14, X2, X10
	VBROADCASTSD X10, Y10
	VMOVSD       X10, 8(SP)
	VEXTRACTF128 $1, Y3, X4
	HSUM(X3, X4, X5)
	VDIVSD       X14, X3, X11
	VBROADCASTSD X11, Y11
	VMOVSD       X11, 0(SP)
	VXORPD       Y0, Y0, Y0
	VXORPD       Y1, Y1, Y1
	VXORPD       Y2, Y2, Y2
	VXORPD       Y3, Y3, Y3
	XORQ         AX, AX

ln_b4_sq:
	VCVTPS2PD (SI)(AX*4), Y4
	VCVTPS2PD (R10)(AX*4), Y5
	VCVTPS2PD (R11)(AX*4), Y6
	VCVTPS2PD (R12)(AX*4), Y7
	VSUBPD    Y8, Y4, Y4
	VSUBPD    Y9, Y5, Y5
	VSUBPD    Y10, Y6, Y6
	VSUBPD    Y11, Y7, Y7
	VMULPD    Y4, Y4, Y4
	VMULPD    Y5, Y5, Y5
	VMULPD    Y6, Y6, Y6
	VMULPD    Y7, Y7, Y7
	VADDPD    Y4, Y0, Y0
	VADDPD    Y5, Y1, Y1
	VADDPD    Y6, Y2, Y2
	VADDPD    Y7, Y3, Y3
	ADDQ      $4, AX
	CMPQ      AX, CX
	JLT       ln_b4_sq
	VEXTRACTF128 $1, Y0, X4
	HSUM(X0, X4, X5)
	VEXTRACTF128 $1, Y1, X4
	HSUM(X1, X4, X5)
	VEXTRACTF128 $1, Y2, X4
	HSUM(X2, X4, X5)
	VEXTRACTF128 $1, Y3, X4
	HSUM(X3, X4, X5)
	VDIVSD       X14, X0, X0
	VDIVSD       X14, X1, X1
	VDIVSD       X14, X2, X2
	VDIVSD       X14, X3, X3
	VADDSD       X13, X0, X0
	VADDSD       X13, X1, X1
	VADDSD       X13, X2, X2
	VADDSD       X13, X3, X3
	VSQRTSD      X0, X0, X0
	VSQRTSD      X1, X1, X1
	VSQRTSD      X2, X2, X2
	VSQRTSD      X3, X3, X3
	VDIVSD       X0, X12, X0
	VDIVSD       X1, X12, X1
	VDIVSD       X2, X12, X2
	VDIVSD       X3, X12, X3
	VMOVSD       X0, 56(SP)
	VMOVSD       X1, 48(SP)
	VMOVSD       X2, 40(SP)
	VMOVSD       X3, 32(SP)
	VCVTSD2SS    X0, X4, X4
	VMOVSS       X4, (R9)
	VCVTSD2SS    X1, X4, X4
	VMOVSS       X4, 4(R9)
	VCVTSD2SS    X2, X4, X4
	VMOVSS       X4, 8(R9)
	VCVTSD2SS    X3, X4, X4
	VMOVSS       X4, 12(R9)
	VCVTSD2SS    X8, X4, X4
	VMOVSS       X4, (R8)
	VCVTSD2SS    X9, X4, X4
	VMOVSS       X4, 4(R8)
	VCVTSD2SS    X10, X4, X4
	VMOVSS       X4, 8(R8)
	VCVTSD2SS    X11, X4, X4
	VMOVSS       X4, 12(R8)
	MOVQ         w+32(FP), R10
	MOVQ         b+40(FP), R11
	MOVQ         CX, R12
	MOVQ         $4, DX
	JMP          ln_row

// func normAffineRowsF32(y, x *float32, mean, rstd *float32, w, b *float64, c, rows int)
//
// For each of rows rows of c elements: y = ((x − mean)·rstd)·w + b with
// the row's given mean and rstd (float32, converted to float64), in the
// operations of layerNormRowsF32's output pass, stored as float32. c >= 1,
// rows >= 1; y may equal x.
TEXT ·normAffineRowsF32(SB), NOSPLIT, $0-64
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ mean+16(FP), R8
	MOVQ rstd+24(FP), R9
	MOVQ w+32(FP), R10
	MOVQ b+40(FP), R11
	MOVQ c+48(FP), CX
	MOVQ rows+56(FP), BX
	MOVQ CX, R12
	ANDQ $-4, R12        // end of the vector part
	MOVQ CX, R13
	SHLQ $2, R13         // row length in bytes

af_row:
	VCVTSS2SD    (R8), X10, X10
	VBROADCASTSD X10, Y10          // mean
	VCVTSS2SD    (R9), X11, X11
	VBROADCASTSD X11, Y11          // rstd
	XORQ         AX, AX

af_out4:
	CMPQ       AX, R12
	JGE        af_out1
	AFFINE4
	ADDQ       $4, AX
	JMP        af_out4

af_out1:
	CMPQ      AX, CX
	JGE       af_next
	AFFINE1
	INCQ      AX
	JMP       af_out1

af_next:
	ADDQ R13, SI
	ADDQ R13, DI
	ADDQ $4, R8
	ADDQ $4, R9
	DECQ BX
	JNZ  af_row
	VZEROUPPER
	RET

// func layerNormGradRowsF32(dx, dy, x *float32, mean, rstd *float32, w, accW, accB *float64, c, rows int, invC float64)
//
// For each of rows rows of c elements, with x̂ = (x − mean)·rstd and
// g = dy·w: accW += dy·x̂, accB += dy, sg = Σg·invC, sgx = Σg·x̂·invC and
// dx = rstd·((g − sg) − x̂·sgx), all in float64 (no fused multiply-adds),
// dx stored as float32. dx may equal dy.
//
// When c is a multiple of 4, pairs of rows go together, their two sets of
// reductions interleaved (a row alone is a latency-bound chain of adds);
// the second row's x, dy and dx pointers borrow R8, R9 and R13, whose mean
// and rstd pointers wait in the frame.
TEXT ·layerNormGradRowsF32(SB), NOSPLIT, $16-88
	MOVQ   dx+0(FP), DI
	MOVQ   dy+8(FP), DX
	MOVQ   x+16(FP), SI
	MOVQ   mean+24(FP), R8
	MOVQ   rstd+32(FP), R9
	MOVQ   w+40(FP), R10
	MOVQ   accW+48(FP), R11
	MOVQ   accB+56(FP), R12
	MOVQ   c+64(FP), CX
	MOVQ   rows+72(FP), BX
	VMOVSD invC+80(FP), X15
	MOVQ   CX, R13
	ANDQ   $-4, R13            // end of the vector part
	MOVQ   CX, R14
	SHLQ   $2, R14             // row length in bytes

lg_row:
	CMPQ BX, $2
	JLT  lg_single
	CMPQ R13, CX
	JEQ  lg_pair

lg_single:
	VCVTSS2SD    (R8), X10, X10
	VBROADCASTSD X10, Y10      // mean
	VCVTSS2SD    (R9), X11, X11
	VBROADCASTSD X11, Y11      // rstd
	VXORPD       Y4, Y4, Y4    // Σg
	VXORPD       Y6, Y6, Y6    // Σg·x̂
	XORQ         AX, AX

lg_sum4:
	CMPQ      AX, R13
	JGE       lg_sum_tail
	VCVTPS2PD (SI)(AX*4), Y1
	VSUBPD    Y10, Y1, Y1
	VMULPD    Y11, Y1, Y1          // x̂
	VCVTPS2PD (DX)(AX*4), Y2       // dy
	VMULPD    (R10)(AX*8), Y2, Y3  // g
	VADDPD    Y3, Y4, Y4
	VMULPD    Y1, Y3, Y5
	VADDPD    Y5, Y6, Y6
	VMULPD    Y1, Y2, Y7
	VADDPD    (R11)(AX*8), Y7, Y7
	VMOVUPD   Y7, (R11)(AX*8)
	VADDPD    (R12)(AX*8), Y2, Y8
	VMOVUPD   Y8, (R12)(AX*8)
	ADDQ      $4, AX
	JMP       lg_sum4

lg_sum_tail:
	VEXTRACTF128 $1, Y4, X5
	VEXTRACTF128 $1, Y6, X7

lg_sum1:
	CMPQ      AX, CX
	JGE       lg_sum_done
	VCVTSS2SD (SI)(AX*4), X1, X1
	VSUBSD    X10, X1, X1
	VMULSD    X11, X1, X1
	VCVTSS2SD (DX)(AX*4), X2, X2
	VMULSD    (R10)(AX*8), X2, X3
	VADDSD    X3, X4, X4
	VMULSD    X1, X3, X3
	VADDSD    X3, X6, X6
	VMULSD    X1, X2, X8
	VADDSD    (R11)(AX*8), X8, X8
	VMOVSD    X8, (R11)(AX*8)
	VADDSD    (R12)(AX*8), X2, X8
	VMOVSD    X8, (R12)(AX*8)
	INCQ      AX
	JMP       lg_sum1

lg_sum_done:
	HSUM(X4, X5, X2)
	VMULSD       X15, X4, X4
	HSUM(X6, X7, X2)
	VMULSD       X15, X6, X6
	VBROADCASTSD X4, Y12       // sg
	VBROADCASTSD X6, Y13       // sgx
	XORQ         AX, AX

lg_out4:
	CMPQ       AX, R13
	JGE        lg_out1
	VCVTPS2PD  (SI)(AX*4), Y1
	VSUBPD     Y10, Y1, Y1
	VMULPD     Y11, Y1, Y1
	VCVTPS2PD  (DX)(AX*4), Y2
	VMULPD     (R10)(AX*8), Y2, Y2
	VSUBPD     Y12, Y2, Y2
	VMULPD     Y13, Y1, Y1
	VSUBPD     Y1, Y2, Y2
	VMULPD     Y11, Y2, Y2
	VCVTPD2PSY Y2, X2
	VMOVUPS    X2, (DI)(AX*4)
	ADDQ       $4, AX
	JMP        lg_out4

lg_out1:
	CMPQ      AX, CX
	JGE       lg_next
	VCVTSS2SD (SI)(AX*4), X1, X1
	VSUBSD    X10, X1, X1
	VMULSD    X11, X1, X1
	VCVTSS2SD (DX)(AX*4), X2, X2
	VMULSD    (R10)(AX*8), X2, X2
	VSUBSD    X12, X2, X2
	VMULSD    X13, X1, X1
	VSUBSD    X1, X2, X2
	VMULSD    X11, X2, X2
	VCVTSD2SS X2, X2, X2
	VMOVSS    X2, (DI)(AX*4)
	INCQ      AX
	JMP       lg_out1

lg_next:
	ADDQ R14, SI
	ADDQ R14, DX
	ADDQ R14, DI
	ADDQ $4, R8
	ADDQ $4, R9
	DECQ BX
	JNZ  lg_row

lg_done:
	VZEROUPPER
	RET

lg_pair:
	// Rows 0 and 1: mean in Y8, Y10, rstd in Y9, Y11, Σg in Y12, Y14,
	// Σg·x̂ in Y13, Y15; invC comes from the arguments (and goes back into
	// X15 at the end).
	VCVTSS2SD    (R8), X8, X8
	VBROADCASTSD X8, Y8
	VCVTSS2SD    4(R8), X10, X10
	VBROADCASTSD X10, Y10
	VCVTSS2SD    (R9), X9, X9
	VBROADCASTSD X9, Y9
	VCVTSS2SD    4(R9), X11, X11
	VBROADCASTSD X11, Y11
	ADDQ         $8, R8
	ADDQ         $8, R9
	MOVQ         R8, 0(SP)
	MOVQ         R9, 8(SP)
	LEAQ         (SI)(R14*1), R8   // x of row 1
	LEAQ         (DX)(R14*1), R9   // dy of row 1
	LEAQ         (DI)(R14*1), R13  // dx of row 1
	VXORPD       Y12, Y12, Y12
	VXORPD       Y13, Y13, Y13
	VXORPD       Y14, Y14, Y14
	VXORPD       Y15, Y15, Y15
	XORQ         AX, AX

lg_pair_sum:
	VCVTPS2PD (SI)(AX*4), Y0
	VSUBPD    Y8, Y0, Y0
	VMULPD    Y9, Y0, Y0           // x̂ of row 0
	VCVTPS2PD (DX)(AX*4), Y1       // dy of row 0
	VMULPD    (R10)(AX*8), Y1, Y2  // g of row 0
	VADDPD    Y2, Y12, Y12
	VMULPD    Y0, Y2, Y2
	VADDPD    Y2, Y13, Y13
	VCVTPS2PD (R8)(AX*4), Y3
	VSUBPD    Y10, Y3, Y3
	VMULPD    Y11, Y3, Y3          // x̂ of row 1
	VCVTPS2PD (R9)(AX*4), Y4       // dy of row 1
	VMULPD    (R10)(AX*8), Y4, Y5  // g of row 1
	VADDPD    Y5, Y14, Y14
	VMULPD    Y3, Y5, Y5
	VADDPD    Y5, Y15, Y15
	VMULPD    Y0, Y1, Y6
	VADDPD    (R11)(AX*8), Y6, Y6
	VMULPD    Y3, Y4, Y7
	VADDPD    Y7, Y6, Y6
	VMOVUPD   Y6, (R11)(AX*8)
	VADDPD    (R12)(AX*8), Y1, Y6
	VADDPD    Y4, Y6, Y6
	VMOVUPD   Y6, (R12)(AX*8)
	ADDQ      $4, AX
	CMPQ      AX, CX
	JLT       lg_pair_sum
	VEXTRACTF128 $1, Y12, X0
	HSUM(X12, X0, X1)
	VMULSD       invC+80(FP), X12, X12
	VEXTRACTF128 $1, Y13, X0
	HSUM(X13, X0, X1)
	VMULSD       invC+80(FP), X13, X13
	VEXTRACTF128 $1, Y14, X0
	HSUM(X14, X0, X1)
	VMULSD       invC+80(FP), X14, X14
	VEXTRACTF128 $1, Y15, X0
	HSUM(X15, X0, X1)
	VMULSD       invC+80(FP), X15, X15
	VBROADCASTSD X12, Y12
	VBROADCASTSD X13, Y13
	VBROADCASTSD X14, Y14
	VBROADCASTSD X15, Y15
	XORQ         AX, AX

lg_pair_out:
	VCVTPS2PD  (SI)(AX*4), Y0
	VSUBPD     Y8, Y0, Y0
	VMULPD     Y9, Y0, Y0
	VCVTPS2PD  (DX)(AX*4), Y1
	VMULPD     (R10)(AX*8), Y1, Y1
	VSUBPD     Y12, Y1, Y1
	VMULPD     Y13, Y0, Y0
	VSUBPD     Y0, Y1, Y1
	VMULPD     Y9, Y1, Y1
	VCVTPD2PSY Y1, X1
	VMOVUPS    X1, (DI)(AX*4)
	VCVTPS2PD  (R8)(AX*4), Y2
	VSUBPD     Y10, Y2, Y2
	VMULPD     Y11, Y2, Y2
	VCVTPS2PD  (R9)(AX*4), Y3
	VMULPD     (R10)(AX*8), Y3, Y3
	VSUBPD     Y14, Y3, Y3
	VMULPD     Y15, Y2, Y2
	VSUBPD     Y2, Y3, Y3
	VMULPD     Y11, Y3, Y3
	VCVTPD2PSY Y3, X3
	VMOVUPS    X3, (R13)(AX*4)
	ADDQ       $4, AX
	CMPQ       AX, CX
	JLT        lg_pair_out
	MOVQ       0(SP), R8
	MOVQ       8(SP), R9
	MOVQ       CX, R13
	VMOVSD     invC+80(FP), X15
	LEAQ       (SI)(R14*2), SI
	LEAQ       (DX)(R14*2), DX
	LEAQ       (DI)(R14*2), DI
	SUBQ       $2, BX
	JNZ        lg_row
	JMP        lg_done
