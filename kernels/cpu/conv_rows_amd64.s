//go:build amd64 && !purego

#include "textflag.h"

// func mulAddRowsF32(y *float32, ys int, x *float32, xs int, w *float32, c int, rows int)
//
// y[r*ys+i] += x[r*xs+i]*w[i] for r < rows, i < c, with AVX2 FMA: 32
// channels per step, then 8, then one at a time.
TEXT ·mulAddRowsF32(SB), NOSPLIT, $0-56
	MOVQ y+0(FP), DI
	MOVQ ys+8(FP), R8
	MOVQ x+16(FP), SI
	MOVQ xs+24(FP), R9
	MOVQ w+32(FP), DX
	MOVQ c+40(FP), CX
	MOVQ rows+48(FP), BX
	SHLQ $2, R8
	SHLQ $2, R9
	MOVQ CX, R10
	ANDQ $-32, R10
	MOVQ CX, R11
	ANDQ $-8, R11

mar_row:
	TESTQ BX, BX
	JZ    mar_done
	XORQ  AX, AX

mar_loop32:
	CMPQ        AX, R10
	JGE         mar_loop8
	VMOVUPS     (DI)(AX*4), Y4
	VMOVUPS     32(DI)(AX*4), Y5
	VMOVUPS     64(DI)(AX*4), Y6
	VMOVUPS     96(DI)(AX*4), Y7
	VMOVUPS     (SI)(AX*4), Y0
	VMOVUPS     32(SI)(AX*4), Y1
	VMOVUPS     64(SI)(AX*4), Y2
	VMOVUPS     96(SI)(AX*4), Y3
	VFMADD231PS (DX)(AX*4), Y0, Y4
	VFMADD231PS 32(DX)(AX*4), Y1, Y5
	VFMADD231PS 64(DX)(AX*4), Y2, Y6
	VFMADD231PS 96(DX)(AX*4), Y3, Y7
	VMOVUPS     Y4, (DI)(AX*4)
	VMOVUPS     Y5, 32(DI)(AX*4)
	VMOVUPS     Y6, 64(DI)(AX*4)
	VMOVUPS     Y7, 96(DI)(AX*4)
	ADDQ        $32, AX
	JMP         mar_loop32

mar_loop8:
	CMPQ        AX, R11
	JGE         mar_tail
	VMOVUPS     (DI)(AX*4), Y4
	VMOVUPS     (SI)(AX*4), Y0
	VFMADD231PS (DX)(AX*4), Y0, Y4
	VMOVUPS     Y4, (DI)(AX*4)
	ADDQ        $8, AX
	JMP         mar_loop8

mar_tail:
	CMPQ        AX, CX
	JGE         mar_next
	VMOVSS      (DI)(AX*4), X4
	VMOVSS      (SI)(AX*4), X0
	VFMADD231SS (DX)(AX*4), X0, X4
	VMOVSS      X4, (DI)(AX*4)
	INCQ        AX
	JMP         mar_tail

mar_next:
	ADDQ R8, DI
	ADDQ R9, SI
	DECQ BX
	JMP  mar_row

mar_done:
	VZEROUPPER
	RET

// func dotAddRowsF32(acc *float32, a *float32, as int, b *float32, bs int, c int, rows int)
//
// acc[i] += Σ_{r < rows} a[r*as+i]*b[r*bs+i] for i < c, with AVX2 FMA:
// blocks of 32 channels keep four accumulators in registers over all rows,
// blocks of 8 two (alternate rows), the last channels one at a time.
TEXT ·dotAddRowsF32(SB), NOSPLIT, $0-56
	MOVQ acc+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ as+16(FP), R8
	MOVQ b+24(FP), DX
	MOVQ bs+32(FP), R9
	MOVQ c+40(FP), CX
	MOVQ rows+48(FP), BX
	SHLQ $2, R8
	SHLQ $2, R9
	XORQ AX, AX          // channel index
	MOVQ CX, R10
	ANDQ $-32, R10
	MOVQ CX, R11
	ANDQ $-8, R11

dar_block32:
	CMPQ    AX, R10
	JGE     dar_block8
	VMOVUPS (DI)(AX*4), Y0
	VMOVUPS 32(DI)(AX*4), Y1
	VMOVUPS 64(DI)(AX*4), Y2
	VMOVUPS 96(DI)(AX*4), Y3
	LEAQ    (SI)(AX*4), R12
	LEAQ    (DX)(AX*4), R13
	MOVQ    BX, R14

dar_rows32:
	VMOVUPS     (R12), Y4
	VMOVUPS     32(R12), Y5
	VMOVUPS     64(R12), Y6
	VMOVUPS     96(R12), Y7
	VFMADD231PS (R13), Y4, Y0
	VFMADD231PS 32(R13), Y5, Y1
	VFMADD231PS 64(R13), Y6, Y2
	VFMADD231PS 96(R13), Y7, Y3
	ADDQ        R8, R12
	ADDQ        R9, R13
	DECQ        R14
	JNZ         dar_rows32
	VMOVUPS     Y0, (DI)(AX*4)
	VMOVUPS     Y1, 32(DI)(AX*4)
	VMOVUPS     Y2, 64(DI)(AX*4)
	VMOVUPS     Y3, 96(DI)(AX*4)
	ADDQ        $32, AX
	JMP         dar_block32

dar_block8:
	CMPQ    AX, R11
	JGE     dar_tail
	VMOVUPS (DI)(AX*4), Y0
	VXORPS  Y1, Y1, Y1
	LEAQ    (SI)(AX*4), R12
	LEAQ    (DX)(AX*4), R13
	MOVQ    BX, R14

dar_rows8x2:
	CMPQ        R14, $2
	JLT         dar_rows8x1
	VMOVUPS     (R12), Y4
	VMOVUPS     (R12)(R8*1), Y5
	VFMADD231PS (R13), Y4, Y0
	VFMADD231PS (R13)(R9*1), Y5, Y1
	LEAQ        (R12)(R8*2), R12
	LEAQ        (R13)(R9*2), R13
	SUBQ        $2, R14
	JMP         dar_rows8x2

dar_rows8x1:
	TESTQ       R14, R14
	JZ          dar_store8
	VMOVUPS     (R12), Y4
	VFMADD231PS (R13), Y4, Y0

dar_store8:
	VADDPS  Y1, Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ    $8, AX
	JMP     dar_block8

dar_tail:
	CMPQ   AX, CX
	JGE    dar_done
	VMOVSS (DI)(AX*4), X0
	LEAQ   (SI)(AX*4), R12
	LEAQ   (DX)(AX*4), R13
	MOVQ   BX, R14

dar_rows1:
	VMOVSS      (R12), X4
	VFMADD231SS (R13), X4, X0
	ADDQ        R8, R12
	ADDQ        R9, R13
	DECQ        R14
	JNZ         dar_rows1
	VMOVSS      X0, (DI)(AX*4)
	INCQ        AX
	JMP         dar_tail

dar_done:
	VZEROUPPER
	RET
