//go:build amd64 && !purego

#include "textflag.h"
#include "avx2_amd64.h"

// AVX2 + FMA kernels for the float32 backend's GRN (grn_amd64.go): float32
// data converted to float64 lanes, four channels per YMM register. Every
// kernel needs c >= 1 and rows >= 1. The sums over rows walk the input in
// address order, four rows at a time, for groups of 16 channels, and then
// the last c mod 16 channels column by column (sums in registers, 4 then 1
// channels at a time); the elementwise kernels walk each row 16, 4 and 1
// channels at a time; the per-sample coefficient kernels 4 and 1.

// func grnSumSqF32(ss *float64, x *float32, stride, c, rows int)
//
// ss[j] = Σ_r x[r*stride+j]² for j < c, r < rows, in row order. The
// channels up to c&^15 go row by row (four rows at a time, groups of 16
// channels, the sums in memory), which streams x in address order; the
// rest go column by column with the sums in registers.
TEXT ·grnSumSqF32(SB), NOSPLIT, $0-40
	MOVQ ss+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ stride+16(FP), R8
	MOVQ c+24(FP), CX
	MOVQ rows+32(FP), BX
	SHLQ $2, R8                // row stride in bytes
	LEAQ (R8)(R8*2), R10       // three rows
	MOVQ CX, AX
	SHRQ $4, AX                // groups of 16 channels
	JZ   gss_cols
	MOVQ DI, R11
	VXORPD Y0, Y0, Y0

gss_zero:
	VMOVUPD Y0, (R11)
	VMOVUPD Y0, 32(R11)
	VMOVUPD Y0, 64(R11)
	VMOVUPD Y0, 96(R11)
	ADDQ    $128, R11
	DECQ    AX
	JNZ     gss_zero

gss_rowblk4:
	CMPQ BX, $4
	JLT  gss_rowblk1
	MOVQ DI, R11
	MOVQ SI, R13
	MOVQ CX, AX
	SHRQ $4, AX

gss_g4:
	VMOVUPD     (R11), Y0
	VMOVUPD     32(R11), Y1
	VMOVUPD     64(R11), Y2
	VMOVUPD     96(R11), Y3
	VCVTPS2PD   (R13), Y4
	VCVTPS2PD   16(R13), Y5
	VCVTPS2PD   32(R13), Y6
	VCVTPS2PD   48(R13), Y7
	VCVTPS2PD   (R13)(R8*1), Y8
	VCVTPS2PD   16(R13)(R8*1), Y9
	VCVTPS2PD   32(R13)(R8*1), Y10
	VCVTPS2PD   48(R13)(R8*1), Y11
	VFMADD231PD Y4, Y4, Y0
	VFMADD231PD Y5, Y5, Y1
	VFMADD231PD Y6, Y6, Y2
	VFMADD231PD Y7, Y7, Y3
	VCVTPS2PD   (R13)(R8*2), Y4
	VCVTPS2PD   16(R13)(R8*2), Y5
	VCVTPS2PD   32(R13)(R8*2), Y6
	VCVTPS2PD   48(R13)(R8*2), Y7
	VFMADD231PD Y8, Y8, Y0
	VFMADD231PD Y9, Y9, Y1
	VFMADD231PD Y10, Y10, Y2
	VFMADD231PD Y11, Y11, Y3
	VCVTPS2PD   (R13)(R10*1), Y8
	VCVTPS2PD   16(R13)(R10*1), Y9
	VCVTPS2PD   32(R13)(R10*1), Y10
	VCVTPS2PD   48(R13)(R10*1), Y11
	VFMADD231PD Y4, Y4, Y0
	VFMADD231PD Y5, Y5, Y1
	VFMADD231PD Y6, Y6, Y2
	VFMADD231PD Y7, Y7, Y3
	VFMADD231PD Y8, Y8, Y0
	VFMADD231PD Y9, Y9, Y1
	VFMADD231PD Y10, Y10, Y2
	VFMADD231PD Y11, Y11, Y3
	VMOVUPD     Y0, (R11)
	VMOVUPD     Y1, 32(R11)
	VMOVUPD     Y2, 64(R11)
	VMOVUPD     Y3, 96(R11)
	ADDQ        $128, R11
	ADDQ        $64, R13
	DECQ        AX
	JNZ         gss_g4
	LEAQ        (SI)(R8*4), SI
	SUBQ        $4, BX
	JMP         gss_rowblk4

gss_rowblk1:
	TESTQ BX, BX
	JZ    gss_cols_reset
	MOVQ  DI, R11
	MOVQ  SI, R13
	MOVQ  CX, AX
	SHRQ  $4, AX

gss_g1:
	VMOVUPD     (R11), Y0
	VMOVUPD     32(R11), Y1
	VMOVUPD     64(R11), Y2
	VMOVUPD     96(R11), Y3
	VCVTPS2PD   (R13), Y4
	VCVTPS2PD   16(R13), Y5
	VCVTPS2PD   32(R13), Y6
	VCVTPS2PD   48(R13), Y7
	VFMADD231PD Y4, Y4, Y0
	VFMADD231PD Y5, Y5, Y1
	VFMADD231PD Y6, Y6, Y2
	VFMADD231PD Y7, Y7, Y3
	VMOVUPD     Y0, (R11)
	VMOVUPD     Y1, 32(R11)
	VMOVUPD     Y2, 64(R11)
	VMOVUPD     Y3, 96(R11)
	ADDQ        $128, R11
	ADDQ        $64, R13
	DECQ        AX
	JNZ         gss_g1
	ADDQ        R8, SI
	DECQ        BX
	JMP         gss_rowblk1

gss_cols_reset:
	MOVQ x+8(FP), SI
	MOVQ rows+32(FP), BX

gss_cols:
	// The last c mod 16 channels, column by column from channel c&^15.
	MOVQ CX, AX
	ANDQ $-16, AX
	MOVQ CX, R11
	ANDQ $-4, R11

gss_block4:
	CMPQ    AX, R11
	JGE     gss_block1
	VXORPD Y0, Y0, Y0
	LEAQ   (SI)(AX*4), R12
	MOVQ   BX, R13

gss_rows4:
	VCVTPS2PD   (R12), Y4
	VFMADD231PD Y4, Y4, Y0
	ADDQ        R8, R12
	DECQ        R13
	JNZ         gss_rows4
	VMOVUPD     Y0, (DI)(AX*8)
	ADDQ        $4, AX
	JMP         gss_block4

gss_block1:
	CMPQ   AX, CX
	JGE    gss_done
	VXORPD X0, X0, X0
	LEAQ   (SI)(AX*4), R12
	MOVQ   BX, R13

gss_rows1:
	VCVTSS2SD   (R12), X4, X4
	VFMADD231SD X4, X4, X0
	ADDQ        R8, R12
	DECQ        R13
	JNZ         gss_rows1
	VMOVSD      X0, (DI)(AX*8)
	INCQ        AX
	JMP         gss_block1

gss_done:
	VZEROUPPER
	RET

// func grnDotF32(sum, sumDy *float64, dy, x *float32, stride, c, rows int)
//
// sum[j] = Σ_r dy·x and sumDy[j] = Σ_r dy over dy[r*stride+j],
// x[r*stride+j] for j < c, r < rows, in row order. The channels up to
// c&^15 go row by row (four rows at a time, groups of 16 channels, the sums
// in memory), which streams both inputs in address order; the rest go
// column by column with the sums in registers.
TEXT ·grnDotF32(SB), NOSPLIT, $0-56
	MOVQ sum+0(FP), DI
	MOVQ sumDy+8(FP), R9
	MOVQ dy+16(FP), DX
	MOVQ x+24(FP), SI
	MOVQ stride+32(FP), R8
	MOVQ c+40(FP), CX
	MOVQ rows+48(FP), BX
	SHLQ $2, R8                // row stride in bytes
	LEAQ (R8)(R8*2), R10       // three rows
	MOVQ CX, AX
	SHRQ $4, AX                // groups of 16 channels
	JZ   gd_cols
	MOVQ DI, R11
	MOVQ R9, R12
	VXORPD Y0, Y0, Y0

gd_zero:
	VMOVUPD Y0, (R11)
	VMOVUPD Y0, 32(R11)
	VMOVUPD Y0, 64(R11)
	VMOVUPD Y0, 96(R11)
	VMOVUPD Y0, (R12)
	VMOVUPD Y0, 32(R12)
	VMOVUPD Y0, 64(R12)
	VMOVUPD Y0, 96(R12)
	ADDQ    $128, R11
	ADDQ    $128, R12
	DECQ    AX
	JNZ     gd_zero

gd_rowblk4:
	CMPQ BX, $4
	JLT  gd_rowblk1
	MOVQ DI, R11
	MOVQ R9, R12
	MOVQ DX, R13
	MOVQ SI, R14
	MOVQ CX, AX
	SHRQ $4, AX

gd_g4:
	VMOVUPD     (R11), Y0
	VMOVUPD     32(R11), Y1
	VMOVUPD     64(R11), Y2
	VMOVUPD     96(R11), Y3
	VMOVUPD     (R12), Y4
	VMOVUPD     32(R12), Y5
	VMOVUPD     64(R12), Y6
	VMOVUPD     96(R12), Y7
	VCVTPS2PD   (R13), Y8
	VCVTPS2PD   16(R13), Y9
	VCVTPS2PD   32(R13), Y10
	VCVTPS2PD   48(R13), Y11
	VCVTPS2PD   (R14), Y12
	VCVTPS2PD   16(R14), Y13
	VCVTPS2PD   32(R14), Y14
	VCVTPS2PD   48(R14), Y15
	VFMADD231PD Y8, Y12, Y0
	VFMADD231PD Y9, Y13, Y1
	VFMADD231PD Y10, Y14, Y2
	VFMADD231PD Y11, Y15, Y3
	VADDPD      Y8, Y4, Y4
	VADDPD      Y9, Y5, Y5
	VADDPD      Y10, Y6, Y6
	VADDPD      Y11, Y7, Y7
	VCVTPS2PD   (R13)(R8*1), Y8
	VCVTPS2PD   16(R13)(R8*1), Y9
	VCVTPS2PD   32(R13)(R8*1), Y10
	VCVTPS2PD   48(R13)(R8*1), Y11
	VCVTPS2PD   (R14)(R8*1), Y12
	VCVTPS2PD   16(R14)(R8*1), Y13
	VCVTPS2PD   32(R14)(R8*1), Y14
	VCVTPS2PD   48(R14)(R8*1), Y15
	VFMADD231PD Y8, Y12, Y0
	VFMADD231PD Y9, Y13, Y1
	VFMADD231PD Y10, Y14, Y2
	VFMADD231PD Y11, Y15, Y3
	VADDPD      Y8, Y4, Y4
	VADDPD      Y9, Y5, Y5
	VADDPD      Y10, Y6, Y6
	VADDPD      Y11, Y7, Y7
	VCVTPS2PD   (R13)(R8*2), Y8
	VCVTPS2PD   16(R13)(R8*2), Y9
	VCVTPS2PD   32(R13)(R8*2), Y10
	VCVTPS2PD   48(R13)(R8*2), Y11
	VCVTPS2PD   (R14)(R8*2), Y12
	VCVTPS2PD   16(R14)(R8*2), Y13
	VCVTPS2PD   32(R14)(R8*2), Y14
	VCVTPS2PD   48(R14)(R8*2), Y15
	VFMADD231PD Y8, Y12, Y0
	VFMADD231PD Y9, Y13, Y1
	VFMADD231PD Y10, Y14, Y2
	VFMADD231PD Y11, Y15, Y3
	VADDPD      Y8, Y4, Y4
	VADDPD      Y9, Y5, Y5
	VADDPD      Y10, Y6, Y6
	VADDPD      Y11, Y7, Y7
	VCVTPS2PD   (R13)(R10*1), Y8
	VCVTPS2PD   16(R13)(R10*1), Y9
	VCVTPS2PD   32(R13)(R10*1), Y10
	VCVTPS2PD   48(R13)(R10*1), Y11
	VCVTPS2PD   (R14)(R10*1), Y12
	VCVTPS2PD   16(R14)(R10*1), Y13
	VCVTPS2PD   32(R14)(R10*1), Y14
	VCVTPS2PD   48(R14)(R10*1), Y15
	VFMADD231PD Y8, Y12, Y0
	VFMADD231PD Y9, Y13, Y1
	VFMADD231PD Y10, Y14, Y2
	VFMADD231PD Y11, Y15, Y3
	VADDPD      Y8, Y4, Y4
	VADDPD      Y9, Y5, Y5
	VADDPD      Y10, Y6, Y6
	VADDPD      Y11, Y7, Y7
	VMOVUPD     Y0, (R11)
	VMOVUPD     Y1, 32(R11)
	VMOVUPD     Y2, 64(R11)
	VMOVUPD     Y3, 96(R11)
	VMOVUPD     Y4, (R12)
	VMOVUPD     Y5, 32(R12)
	VMOVUPD     Y6, 64(R12)
	VMOVUPD     Y7, 96(R12)
	ADDQ        $128, R11
	ADDQ        $128, R12
	ADDQ        $64, R13
	ADDQ        $64, R14
	DECQ        AX
	JNZ         gd_g4
	LEAQ        (DX)(R8*4), DX
	LEAQ        (SI)(R8*4), SI
	SUBQ        $4, BX
	JMP         gd_rowblk4

gd_rowblk1:
	TESTQ BX, BX
	JZ    gd_cols_reset
	MOVQ  DI, R11
	MOVQ  R9, R12
	MOVQ  DX, R13
	MOVQ  SI, R14
	MOVQ  CX, AX
	SHRQ  $4, AX

gd_g1:
	VMOVUPD     (R11), Y0
	VMOVUPD     32(R11), Y1
	VMOVUPD     64(R11), Y2
	VMOVUPD     96(R11), Y3
	VMOVUPD     (R12), Y4
	VMOVUPD     32(R12), Y5
	VMOVUPD     64(R12), Y6
	VMOVUPD     96(R12), Y7
	VCVTPS2PD   (R13), Y8
	VCVTPS2PD   16(R13), Y9
	VCVTPS2PD   32(R13), Y10
	VCVTPS2PD   48(R13), Y11
	VCVTPS2PD   (R14), Y12
	VCVTPS2PD   16(R14), Y13
	VCVTPS2PD   32(R14), Y14
	VCVTPS2PD   48(R14), Y15
	VFMADD231PD Y8, Y12, Y0
	VFMADD231PD Y9, Y13, Y1
	VFMADD231PD Y10, Y14, Y2
	VFMADD231PD Y11, Y15, Y3
	VADDPD      Y8, Y4, Y4
	VADDPD      Y9, Y5, Y5
	VADDPD      Y10, Y6, Y6
	VADDPD      Y11, Y7, Y7
	VMOVUPD     Y0, (R11)
	VMOVUPD     Y1, 32(R11)
	VMOVUPD     Y2, 64(R11)
	VMOVUPD     Y3, 96(R11)
	VMOVUPD     Y4, (R12)
	VMOVUPD     Y5, 32(R12)
	VMOVUPD     Y6, 64(R12)
	VMOVUPD     Y7, 96(R12)
	ADDQ        $128, R11
	ADDQ        $128, R12
	ADDQ        $64, R13
	ADDQ        $64, R14
	DECQ        AX
	JNZ         gd_g1
	ADDQ        R8, DX
	ADDQ        R8, SI
	DECQ        BX
	JMP         gd_rowblk1

gd_cols_reset:
	MOVQ dy+16(FP), DX
	MOVQ x+24(FP), SI
	MOVQ rows+48(FP), BX

gd_cols:
	// The last c mod 16 channels, column by column from channel c&^15.
	MOVQ CX, AX
	ANDQ $-16, AX
	MOVQ CX, R11
	ANDQ $-4, R11

gd_block4:
	CMPQ    AX, R11
	JGE     gd_block1
	VXORPD Y0, Y0, Y0
	VXORPD Y4, Y4, Y4
	LEAQ   (DX)(AX*4), R12
	LEAQ   (SI)(AX*4), R13
	MOVQ   BX, R14

gd_rows4:
	VCVTPS2PD   (R12), Y8
	VCVTPS2PD   (R13), Y12
	VFMADD231PD Y8, Y12, Y0
	VADDPD      Y8, Y4, Y4
	ADDQ        R8, R12
	ADDQ        R8, R13
	DECQ        R14
	JNZ         gd_rows4
	VMOVUPD     Y0, (DI)(AX*8)
	VMOVUPD     Y4, (R9)(AX*8)
	ADDQ        $4, AX
	JMP         gd_block4

gd_block1:
	CMPQ   AX, CX
	JGE    gd_done
	VXORPD X0, X0, X0
	VXORPD X4, X4, X4
	LEAQ   (DX)(AX*4), R12
	LEAQ   (SI)(AX*4), R13
	MOVQ   BX, R14

gd_rows1:
	VCVTSS2SD   (R12), X8, X8
	VCVTSS2SD   (R13), X12, X12
	VFMADD231SD X8, X12, X0
	VADDSD      X8, X4, X4
	ADDQ        R8, R12
	ADDQ        R8, R13
	DECQ        R14
	JNZ         gd_rows1
	VMOVSD      X0, (DI)(AX*8)
	VMOVSD      X4, (R9)(AX*8)
	INCQ        AX
	JMP         gd_block1

gd_done:
	VZEROUPPER
	RET

// func grnScaleShiftF32(y, x *float32, stride int, a, bb *float64, c, rows int)
//
// y[r*stride+j] = float32(x·a[j] + bb[j]) for j < c, r < rows: a multiply
// and an add in float64 (not fused, as grnScaleShift rounds). y may equal x.
TEXT ·grnScaleShiftF32(SB), NOSPLIT, $0-56
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ stride+16(FP), R8
	MOVQ a+24(FP), R9
	MOVQ bb+32(FP), R10
	MOVQ c+40(FP), CX
	MOVQ rows+48(FP), BX
	SHLQ $2, R8
	MOVQ CX, R11
	ANDQ $-16, R11
	MOVQ CX, R12
	ANDQ $-4, R12

gsh_row:
	XORQ AX, AX

gsh_loop16:
	CMPQ       AX, R11
	JGE        gsh_loop4
	VCVTPS2PD  (SI)(AX*4), Y0
	VCVTPS2PD  16(SI)(AX*4), Y1
	VCVTPS2PD  32(SI)(AX*4), Y2
	VCVTPS2PD  48(SI)(AX*4), Y3
	VMULPD     (R9)(AX*8), Y0, Y0
	VMULPD     32(R9)(AX*8), Y1, Y1
	VMULPD     64(R9)(AX*8), Y2, Y2
	VMULPD     96(R9)(AX*8), Y3, Y3
	VADDPD     (R10)(AX*8), Y0, Y0
	VADDPD     32(R10)(AX*8), Y1, Y1
	VADDPD     64(R10)(AX*8), Y2, Y2
	VADDPD     96(R10)(AX*8), Y3, Y3
	VCVTPD2PSY Y0, X0
	VCVTPD2PSY Y1, X1
	VCVTPD2PSY Y2, X2
	VCVTPD2PSY Y3, X3
	VMOVUPS    X0, (DI)(AX*4)
	VMOVUPS    X1, 16(DI)(AX*4)
	VMOVUPS    X2, 32(DI)(AX*4)
	VMOVUPS    X3, 48(DI)(AX*4)
	ADDQ       $16, AX
	JMP        gsh_loop16

gsh_loop4:
	CMPQ       AX, R12
	JGE        gsh_loop1
	VCVTPS2PD  (SI)(AX*4), Y0
	VMULPD     (R9)(AX*8), Y0, Y0
	VADDPD     (R10)(AX*8), Y0, Y0
	VCVTPD2PSY Y0, X0
	VMOVUPS    X0, (DI)(AX*4)
	ADDQ       $4, AX
	JMP        gsh_loop4

gsh_loop1:
	CMPQ      AX, CX
	JGE       gsh_next
	VCVTSS2SD (SI)(AX*4), X0, X0
	VMULSD    (R9)(AX*8), X0, X0
	VADDSD    (R10)(AX*8), X0, X0
	VCVTSD2SS X0, X0, X0
	VMOVSS    X0, (DI)(AX*4)
	INCQ      AX
	JMP       gsh_loop1

gsh_next:
	ADDQ R8, DI
	ADDQ R8, SI
	DECQ BX
	JNZ  gsh_row
	VZEROUPPER
	RET

// func grnGradApplyF32(dx, dy, x *float32, stride int, a, k *float64, c, rows int)
//
// dx[r*stride+j] = float32(dy·a[j] + x·k[j]) for j < c, r < rows: two
// multiplies and an add in float64 (not fused, as grnGradApply rounds). dx
// may equal dy or x.
TEXT ·grnGradApplyF32(SB), NOSPLIT, $0-64
	MOVQ dx+0(FP), DI
	MOVQ dy+8(FP), DX
	MOVQ x+16(FP), SI
	MOVQ stride+24(FP), R8
	MOVQ a+32(FP), R9
	MOVQ k+40(FP), R10
	MOVQ c+48(FP), CX
	MOVQ rows+56(FP), BX
	SHLQ $2, R8
	MOVQ CX, R11
	ANDQ $-16, R11
	MOVQ CX, R12
	ANDQ $-4, R12

gga_row:
	XORQ AX, AX

gga_loop16:
	CMPQ       AX, R11
	JGE        gga_loop4
	VCVTPS2PD  (DX)(AX*4), Y0
	VCVTPS2PD  16(DX)(AX*4), Y1
	VCVTPS2PD  32(DX)(AX*4), Y2
	VCVTPS2PD  48(DX)(AX*4), Y3
	VCVTPS2PD  (SI)(AX*4), Y4
	VCVTPS2PD  16(SI)(AX*4), Y5
	VCVTPS2PD  32(SI)(AX*4), Y6
	VCVTPS2PD  48(SI)(AX*4), Y7
	VMULPD     (R9)(AX*8), Y0, Y0
	VMULPD     32(R9)(AX*8), Y1, Y1
	VMULPD     64(R9)(AX*8), Y2, Y2
	VMULPD     96(R9)(AX*8), Y3, Y3
	VMULPD     (R10)(AX*8), Y4, Y4
	VMULPD     32(R10)(AX*8), Y5, Y5
	VMULPD     64(R10)(AX*8), Y6, Y6
	VMULPD     96(R10)(AX*8), Y7, Y7
	VADDPD     Y4, Y0, Y0
	VADDPD     Y5, Y1, Y1
	VADDPD     Y6, Y2, Y2
	VADDPD     Y7, Y3, Y3
	VCVTPD2PSY Y0, X0
	VCVTPD2PSY Y1, X1
	VCVTPD2PSY Y2, X2
	VCVTPD2PSY Y3, X3
	VMOVUPS    X0, (DI)(AX*4)
	VMOVUPS    X1, 16(DI)(AX*4)
	VMOVUPS    X2, 32(DI)(AX*4)
	VMOVUPS    X3, 48(DI)(AX*4)
	ADDQ       $16, AX
	JMP        gga_loop16

gga_loop4:
	CMPQ       AX, R12
	JGE        gga_loop1
	VCVTPS2PD  (DX)(AX*4), Y0
	VCVTPS2PD  (SI)(AX*4), Y4
	VMULPD     (R9)(AX*8), Y0, Y0
	VMULPD     (R10)(AX*8), Y4, Y4
	VADDPD     Y4, Y0, Y0
	VCVTPD2PSY Y0, X0
	VMOVUPS    X0, (DI)(AX*4)
	ADDQ       $4, AX
	JMP        gga_loop4

gga_loop1:
	CMPQ      AX, CX
	JGE       gga_next
	VCVTSS2SD (DX)(AX*4), X0, X0
	VCVTSS2SD (SI)(AX*4), X4, X4
	VMULSD    (R9)(AX*8), X0, X0
	VMULSD    (R10)(AX*8), X4, X4
	VADDSD    X4, X0, X0
	VCVTSD2SS X0, X0, X0
	VMOVSS    X0, (DI)(AX*4)
	INCQ      AX
	JMP       gga_loop1

gga_next:
	ADDQ R8, DI
	ADDQ R8, DX
	ADDQ R8, SI
	DECQ BX
	JNZ  gga_row
	VZEROUPPER
	RET

// func grnCoefF32(a *float64, gn, gamma *float32, c int, eps float64)
//
// One sample's forward coefficients (grnCoefGo): g = sqrt(a) written to gn
// as float32, d = Σg/c + eps with channel j in lane j mod 4 (the last c mod
// 4 in lane 0), then a = 1 + gamma·(g/d).
TEXT ·grnCoefF32(SB), NOSPLIT, $0-40
	MOVQ       a+0(FP), DI
	MOVQ       gn+8(FP), SI
	MOVQ       gamma+16(FP), DX
	MOVQ       c+24(FP), CX
	VMOVSD     eps+32(FP), X13
	VCVTSI2SDQ CX, X14, X14      // c as float64
	MOVQ       $0x3FF0000000000000, AX
	VMOVQ      AX, X12
	VBROADCASTSD X12, Y12        // 1.0
	MOVQ       CX, R12
	ANDQ       $-4, R12
	VXORPD     Y0, Y0, Y0
	XORQ       AX, AX

gc_sqrt4:
	CMPQ     AX, R12
	JGE      gc_sqrt_tail
	VSQRTPD  (DI)(AX*8), Y1
	VMOVUPD  Y1, (DI)(AX*8)
	VADDPD   Y1, Y0, Y0
	ADDQ     $4, AX
	JMP      gc_sqrt4

gc_sqrt_tail:
	VEXTRACTF128 $1, Y0, X1

gc_sqrt1:
	CMPQ    AX, CX
	JGE     gc_mean
	VSQRTSD (DI)(AX*8), X2, X2
	VMOVSD  X2, (DI)(AX*8)
	VADDSD  X2, X0, X0
	INCQ    AX
	JMP     gc_sqrt1

gc_mean:
	HSUM(X0, X1, X2)
	VDIVSD       X14, X0, X0
	VADDSD       X13, X0, X10
	VBROADCASTSD X10, Y10        // d
	XORQ         AX, AX

gc_out4:
	CMPQ       AX, R12
	JGE        gc_out1
	VMOVUPD    (DI)(AX*8), Y1
	VCVTPD2PSY Y1, X2
	VMOVUPS    X2, (SI)(AX*4)
	VDIVPD     Y10, Y1, Y1
	VCVTPS2PD  (DX)(AX*4), Y3
	VMULPD     Y3, Y1, Y1
	VADDPD     Y12, Y1, Y1
	VMOVUPD    Y1, (DI)(AX*8)
	ADDQ       $4, AX
	JMP        gc_out4

gc_out1:
	CMPQ      AX, CX
	JGE       gc_done
	VMOVSD    (DI)(AX*8), X1
	VCVTSD2SS X1, X2, X2
	VMOVSS    X2, (SI)(AX*4)
	VDIVSD    X10, X1, X1
	VCVTSS2SD (DX)(AX*4), X3, X3
	VMULSD    X3, X1, X1
	VADDSD    X12, X1, X1
	VMOVSD    X1, (DI)(AX*8)
	INCQ      AX
	JMP       gc_out1

gc_done:
	VZEROUPPER
	RET

// func grnGradCoefF32(sum, a, k *float64, norm, gamma *float32, c int, eps float64)
//
// One sample's backward coefficients (grnGradCoefGo): D = Σg/c + eps,
// cross = Σ(gamma·sum)·g / ((c·D)·D), both sums with channel j in lane
// j mod 4 (the last c mod 4 in lane 0); then per channel a = 1 + gamma·(g/D),
// k = ((gamma·sum)/D − cross)/g where g > 0 and +0 elsewhere, and
// sum = sum·(g/D).
TEXT ·grnGradCoefF32(SB), NOSPLIT, $0-56
	MOVQ       sum+0(FP), DI
	MOVQ       a+8(FP), SI
	MOVQ       k+16(FP), DX
	MOVQ       norm+24(FP), R8
	MOVQ       gamma+32(FP), R9
	MOVQ       c+40(FP), CX
	VMOVSD     eps+48(FP), X13
	VCVTSI2SDQ CX, X14, X14      // c as float64
	MOVQ       $0x3FF0000000000000, AX
	VMOVQ      AX, X12
	VBROADCASTSD X12, Y12        // 1.0
	VXORPD     Y9, Y9, Y9        // 0.0
	MOVQ       CX, R12
	ANDQ       $-4, R12

	// D = Σg/c + eps
	VXORPD Y0, Y0, Y0
	XORQ   AX, AX

ggc_d4:
	CMPQ      AX, R12
	JGE       ggc_d_tail
	VCVTPS2PD (R8)(AX*4), Y1
	VADDPD    Y1, Y0, Y0
	ADDQ      $4, AX
	JMP       ggc_d4

ggc_d_tail:
	VEXTRACTF128 $1, Y0, X1

ggc_d1:
	CMPQ      AX, CX
	JGE       ggc_d_done
	VCVTSS2SD (R8)(AX*4), X2, X2
	VADDSD    X2, X0, X0
	INCQ      AX
	JMP       ggc_d1

ggc_d_done:
	HSUM(X0, X1, X2)
	VDIVSD       X14, X0, X0
	VADDSD       X13, X0, X10
	VBROADCASTSD X10, Y10        // D

	// cross = Σ(gamma·sum)·g / ((c·D)·D)
	VXORPD Y0, Y0, Y0
	XORQ   AX, AX

ggc_x4:
	CMPQ      AX, R12
	JGE       ggc_x_tail
	VCVTPS2PD (R9)(AX*4), Y1
	VMULPD    (DI)(AX*8), Y1, Y1
	VCVTPS2PD (R8)(AX*4), Y2
	VMULPD    Y2, Y1, Y1
	VADDPD    Y1, Y0, Y0
	ADDQ      $4, AX
	JMP       ggc_x4

ggc_x_tail:
	VEXTRACTF128 $1, Y0, X1

ggc_x1:
	CMPQ      AX, CX
	JGE       ggc_x_done
	VCVTSS2SD (R9)(AX*4), X2, X2
	VMULSD    (DI)(AX*8), X2, X2
	VCVTSS2SD (R8)(AX*4), X3, X3
	VMULSD    X3, X2, X2
	VADDSD    X2, X0, X0
	INCQ      AX
	JMP       ggc_x1

ggc_x_done:
	HSUM(X0, X1, X2)
	VMULSD       X10, X14, X1
	VMULSD       X10, X1, X1
	VDIVSD       X1, X0, X11
	VBROADCASTSD X11, Y11        // cross
	XORQ         AX, AX

ggc_out4:
	CMPQ      AX, R12
	JGE       ggc_out1
	VCVTPS2PD (R9)(AX*4), Y2     // gamma
	VCVTPS2PD (R8)(AX*4), Y3     // g
	VDIVPD    Y10, Y3, Y4        // g/D
	VMULPD    Y4, Y2, Y5
	VADDPD    Y12, Y5, Y5
	VMOVUPD   Y5, (SI)(AX*8)     // a
	VMOVUPD   (DI)(AX*8), Y6     // sum
	VMULPD    Y6, Y2, Y7
	VDIVPD    Y10, Y7, Y7
	VSUBPD    Y11, Y7, Y7
	VDIVPD    Y3, Y7, Y7
	VCMPPD    $0x1e, Y9, Y3, Y8  // g > 0
	VANDPD    Y8, Y7, Y7
	VMOVUPD   Y7, (DX)(AX*8)     // k
	VMULPD    Y4, Y6, Y6
	VMOVUPD   Y6, (DI)(AX*8)     // sum·g/D
	ADDQ      $4, AX
	JMP       ggc_out4

ggc_out1:
	CMPQ      AX, CX
	JGE       ggc_done
	VCVTSS2SD (R9)(AX*4), X2, X2
	VCVTSS2SD (R8)(AX*4), X3, X3
	VDIVSD    X10, X3, X4
	VMULSD    X4, X2, X5
	VADDSD    X12, X5, X5
	VMOVSD    X5, (SI)(AX*8)
	VMOVSD    (DI)(AX*8), X6
	VMULSD    X6, X2, X7
	VDIVSD    X10, X7, X7
	VSUBSD    X11, X7, X7
	VDIVSD    X3, X7, X7
	VCMPSD    $0x1e, X9, X3, X8
	VANDPD    X8, X7, X7
	VMOVSD    X7, (DX)(AX*8)
	VMULSD    X4, X6, X6
	VMOVSD    X6, (DI)(AX*8)
	INCQ      AX
	JMP       ggc_out1

ggc_done:
	VZEROUPPER
	RET
