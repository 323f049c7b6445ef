//go:build amd64 && !purego

#include "textflag.h"

// AVX2 + FMA kernels for the float32 backend's GELU, four elements per YMM
// register in float64 lanes: the approximations of gelu.go (geluErfFast's
// rational erf for the forward, normTail's erfc fit for the backward, the
// tanh form's sigmoid) evaluated in the precision they were fitted for, so
// the float32 results keep gelu.go's accuracy contracts; float32 lanes
// could not hold the forward's 3e-9·|x|. Each loop
// iteration handles one group of four; its long dependency chain (a
// division and two polynomials) overlaps with the next iterations' in the
// out-of-order core. n is a multiple of 4 (gelu_amd64.go pads the tail).
//
// Register use in the cores: Y0 holds x, Y1 the result, Y2..Y10 are scratch;
// R8 points at geluVec, whose entry i (four copies of one constant) is K(i).

#define K(i) (i*32)(R8)

#define ONE K(0)
#define HALF K(1)
#define ABS K(2)
#define SQRT1_2 K(3)
#define ERFLO K(4)
#define ERFHI K(5)
#define P0 K(6)
#define P1 K(7)
#define P2 K(8)
#define P3 K(9)
#define P4 K(10)
#define P5 K(11)
#define P6 K(12)
#define Q1 K(13)
#define Q2 K(14)
#define Q3 K(15)
#define Q4 K(16)
#define Q5 K(17)
#define ZMAX K(18)
#define ERFCP K(19)
#define LNSQRT2PI K(20)
#define C0 K(21)
#define C1 K(22)
#define C2 K(23)
#define C3 K(24)
#define C4 K(25)
#define C5 K(26)
#define C6 K(27)
#define C7 K(28)
#define C8 K(29)
#define C9 K(30)
#define C10 K(31)
#define INVLN2 K(32)
#define LN2 K(33)
#define SHIFT K(34)
#define E0 K(35)
#define E1 K(36)
#define E2 K(37)
#define E3 K(38)
#define E4 K(39)
#define E5 K(40)
#define E6 K(41)
#define T1 K(42)
#define T2 K(43)
#define T3 K(44)
#define ELO K(45)
#define EHI K(46)

// ERF sets Y1 = GELU(x) = x/2 + x/2·erf(x/√2) for x in Y0 as geluErfFast
// does: erf(z) = z·P(z²)/Q(z²) (Estrin) for z clamped to [−4.5, 4.5].
// Clobbers Y3..Y10.
#define ERF \
	VMULPD      SQRT1_2, Y0, Y3; \
	VMAXPD      ERFLO, Y3, Y3; \
	VMINPD      ERFHI, Y3, Y3; \
	VMULPD      Y3, Y3, Y4; \
	VMULPD      Y4, Y4, Y5; \
	VMULPD      Y5, Y5, Y6; \
	VMOVUPD     P1, Y7; \
	VFMADD213PD P0, Y4, Y7; \
	VMOVUPD     P3, Y8; \
	VFMADD213PD P2, Y4, Y8; \
	VMOVUPD     P5, Y9; \
	VFMADD213PD P4, Y4, Y9; \
	VFMADD231PD P6, Y5, Y9; \
	VFMADD231PD Y8, Y5, Y7; \
	VFMADD231PD Y9, Y6, Y7; \
	VMULPD      Y3, Y7, Y7; \
	VMOVUPD     Q1, Y8; \
	VFMADD213PD ONE, Y4, Y8; \
	VMOVUPD     Q3, Y9; \
	VFMADD213PD Q2, Y4, Y9; \
	VMOVUPD     Q5, Y10; \
	VFMADD213PD Q4, Y4, Y10; \
	VFMADD231PD Y9, Y5, Y8; \
	VFMADD231PD Y10, Y6, Y8; \
	VDIVPD      Y8, Y7, Y7; \
	VMULPD      HALF, Y0, Y1; \
	VFMADD231PD Y7, Y1, Y1

// EXPNEGY2 replaces Y2 by e^(−Y2) for Y2 in [−708, 708] (callers clamp),
// relative error 4e-12: −Y2 = k·ln2 + r, |r| <= ln2/2, k rounded by the
// 1.5·2^52 shift (so that k sits in the low bits of Y4), e^r = 1 + r +
// r²·E(r) with E of degree 6 (expF0..expF6, Estrin), and k added to the
// exponent field. Clobbers Y4..Y9.
#define EXPNEGY2 \
	VMOVUPD      INVLN2, Y4; \
	VFNMADD213PD SHIFT, Y2, Y4; \
	VSUBPD       SHIFT, Y4, Y5; \
	VFNMSUB231PD LN2, Y5, Y2; \
	VMULPD       Y2, Y2, Y5; \
	VMULPD       Y5, Y5, Y6; \
	VMOVUPD      E1, Y7; \
	VFMADD213PD  E0, Y2, Y7; \
	VMOVUPD      E3, Y8; \
	VFMADD213PD  E2, Y2, Y8; \
	VMOVUPD      E5, Y9; \
	VFMADD213PD  E4, Y2, Y9; \
	VFMADD231PD  E6, Y5, Y9; \
	VFMADD231PD  Y8, Y5, Y7; \
	VFMADD231PD  Y9, Y6, Y7; \
	VFMADD213PD  Y2, Y5, Y7; \
	VADDPD       ONE, Y7, Y7; \
	VPSLLQ       $52, Y4, Y4; \
	VPADDQ       Y4, Y7, Y2

// NORMCDF sets Y1 = Φ(x) and Y2 = φ(x) = e^(−x²/2)/√(2π) for x in Y0 with
// normTail's method: Φ(−|x|) = t·Q(t)/2·e^(−z²), z = min(|x|/√2, 26),
// t = 1/(1 + 0.4·z), and Φ(x) = 1 − Φ(−|x|) for x with a clear sign bit.
// φ is e^(−(z² + ln√(2π))), one FMA, and Q/2 is scaled by √(2π) to match
// (the C constants). Clobbers Y3..Y9.
#define NORMCDF \
	VANDPD      ABS, Y0, Y3; \
	VMULPD      SQRT1_2, Y3, Y3; \
	VMINPD      ZMAX, Y3, Y3; \
	VMOVUPD     LNSQRT2PI, Y2; \
	VFMADD231PD Y3, Y3, Y2; \
	VMOVUPD     ERFCP, Y4; \
	VFMADD213PD ONE, Y3, Y4; \
	VMOVUPD     ONE, Y3; \
	VDIVPD      Y4, Y3, Y3; \
	EXPNEGY2; \
	VMULPD      Y3, Y3, Y4; \
	VMULPD      Y4, Y4, Y5; \
	VMULPD      Y5, Y5, Y6; \
	VMOVUPD     C1, Y7; \
	VFMADD213PD C0, Y3, Y7; \
	VMOVUPD     C3, Y8; \
	VFMADD213PD C2, Y3, Y8; \
	VFMADD231PD Y8, Y4, Y7; \
	VMOVUPD     C5, Y8; \
	VFMADD213PD C4, Y3, Y8; \
	VMOVUPD     C7, Y9; \
	VFMADD213PD C6, Y3, Y9; \
	VFMADD231PD Y9, Y4, Y8; \
	VMOVUPD     C9, Y9; \
	VFMADD213PD C8, Y3, Y9; \
	VFMADD231PD C10, Y4, Y9; \
	VFMADD231PD Y8, Y5, Y7; \
	VFMADD231PD Y9, Y6, Y7; \
	VMULPD      Y3, Y7, Y7; \
	VMULPD      Y2, Y7, Y7; \
	VMOVUPD     ONE, Y1; \
	VSUBPD      Y7, Y1, Y1; \
	VBLENDVPD   Y0, Y7, Y1, Y1

// SIGMOID sets Y1 = σ(2u), u = √(2/π)·(x + 0.044715·x³), for x in Y0, and
// Y3 = x²: σ(2u) = 1/(1 + e^(−2u)), 2u = x·(T1 + T2·x²) clamped to
// [−700, 700]. Clobbers Y2..Y9.
#define SIGMOID \
	VMULPD      Y0, Y0, Y3; \
	VMOVUPD     T2, Y2; \
	VFMADD213PD T1, Y3, Y2; \
	VMULPD      Y0, Y2, Y2; \
	VMAXPD      ELO, Y2, Y2; \
	VMINPD      EHI, Y2, Y2; \
	EXPNEGY2; \
	VADDPD      ONE, Y2, Y2; \
	VMOVUPD     ONE, Y1; \
	VDIVPD      Y2, Y1, Y1

// ERFGRAD sets Y1 = GELU'(x) = Φ(x) + x·φ(x) for x in Y0.
#define ERFGRAD \
	NORMCDF; \
	VFMADD231PD Y2, Y0, Y1

// TANHGRAD sets Y1 = d/dx x·σ(2u) = σ + x·σ·(1 − σ)·(2u)' for x in Y0,
// (2u)' = T1 + T3·x².
#define TANHGRAD \
	SIGMOID; \
	VMOVUPD     T3, Y4; \
	VFMADD213PD T1, Y3, Y4; \
	VMOVUPD     ONE, Y5; \
	VSUBPD      Y1, Y5, Y5; \
	VMULPD      Y0, Y1, Y6; \
	VMULPD      Y5, Y6, Y6; \
	VFMADD231PD Y4, Y6, Y1

// func geluErfF32(y, x *float32, n int)
TEXT ·geluErfF32(SB), NOSPLIT, $0-24
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	LEAQ ·geluVec(SB), R8
	XORQ AX, AX

ef32_loop:
	CMPQ       AX, CX
	JGE        ef32_done
	VCVTPS2PD  (SI)(AX*4), Y0
	ERF
	VCVTPD2PSY Y1, X1
	VMOVUPS    X1, (DI)(AX*4)
	ADDQ       $4, AX
	JMP        ef32_loop

ef32_done:
	VZEROUPPER
	RET

// func geluTanhF32(y, x *float32, n int)
TEXT ·geluTanhF32(SB), NOSPLIT, $0-24
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	LEAQ ·geluVec(SB), R8
	XORQ AX, AX

tf32_loop:
	CMPQ       AX, CX
	JGE        tf32_done
	VCVTPS2PD  (SI)(AX*4), Y0
	SIGMOID
	VMULPD     Y0, Y1, Y1
	VCVTPD2PSY Y1, X1
	VMOVUPS    X1, (DI)(AX*4)
	ADDQ       $4, AX
	JMP        tf32_loop

tf32_done:
	VZEROUPPER
	RET

// func geluErfGradF32(dx, dy, x *float32, n int)
TEXT ·geluErfGradF32(SB), NOSPLIT, $0-32
	MOVQ dx+0(FP), DI
	MOVQ dy+8(FP), DX
	MOVQ x+16(FP), SI
	MOVQ n+24(FP), CX
	LEAQ ·geluVec(SB), R8
	XORQ AX, AX

egf32_loop:
	CMPQ       AX, CX
	JGE        egf32_done
	VCVTPS2PD  (SI)(AX*4), Y0
	ERFGRAD
	VCVTPS2PD  (DX)(AX*4), Y10
	VMULPD     Y10, Y1, Y1
	VCVTPD2PSY Y1, X1
	VMOVUPS    X1, (DI)(AX*4)
	ADDQ       $4, AX
	JMP        egf32_loop

egf32_done:
	VZEROUPPER
	RET

// func geluTanhGradF32(dx, dy, x *float32, n int)
TEXT ·geluTanhGradF32(SB), NOSPLIT, $0-32
	MOVQ dx+0(FP), DI
	MOVQ dy+8(FP), DX
	MOVQ x+16(FP), SI
	MOVQ n+24(FP), CX
	LEAQ ·geluVec(SB), R8
	XORQ AX, AX

tgf32_loop:
	CMPQ       AX, CX
	JGE        tgf32_done
	VCVTPS2PD  (SI)(AX*4), Y0
	TANHGRAD
	VCVTPS2PD  (DX)(AX*4), Y10
	VMULPD     Y10, Y1, Y1
	VCVTPD2PSY Y1, X1
	VMOVUPS    X1, (DI)(AX*4)
	ADDQ       $4, AX
	JMP        tgf32_loop

tgf32_done:
	VZEROUPPER
	RET
