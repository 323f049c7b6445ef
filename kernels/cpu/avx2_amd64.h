// Macros shared by the AVX2 kernels of this package (*_amd64.s).

// HSUM leaves (l0 + l1) + (l2 + l3) in the low lane of lo, where lo holds
// lanes l0, l1 (plus any tail) and hi lanes l2, l3; t is scratch.
#define HSUM(lo, hi, t) \
	VUNPCKHPD lo, lo, t \
	VADDSD    t, lo, lo \
	VUNPCKHPD hi, hi, t \
	VADDSD    t, hi, hi \
	VADDSD    hi, lo, lo
