"""Fits the coefficients of the float32 fast paths of GELU in gelu.go.

Run with any Python that has numpy and mpmath (Debian: /usr/bin/python3):

    /usr/bin/python3 kernels/cpu/testdata/gelu_fit.py

1. erf(z)/z as a rational function P(u)/Q(u) of u = z², degrees 6 and 5,
   Q(0) = 1, for |z| <= 4.5 (the forward; erf(4.5) = 1 − 2e-10).
2. erfc(z)·exp(z²)·(1 + P·z) as a degree-10 polynomial in t = 1/(1 + P·z),
   P = 0.4, z in [0, ∞) (t in (0, 1]) (the backward's Φ).
3. (e^r − 1 − r)/r² as a degree-6 polynomial E(r) for |r| <= ln2/2, so that
   e^r = 1 + r + r²·E(r) (the assembly kernels' exponential, gelu_amd64.s).

All are weighted least-squares fits of the *relative* error on Chebyshev
nodes, reweighted by Lawson's iteration towards the minimax solution (the
rational fit linearized by Sanathanan-Koerner iteration), with 40-digit
mpmath reference values. The printed maximum relative errors are the bounds
quoted in gelu.go (for 3., the error of the whole e^r on a fine grid);
TestNormTail, TestErfRational and TestGELUAsm* check the Go and assembly
evaluations against the math package on dense grids.
"""
import mpmath as mp
import numpy as np
from numpy.polynomial import chebyshev as C
from numpy.polynomial import polynomial as P

mp.mp.dps = 40


def lawson(x, f, basis, iters=400):
    A = basis(x)
    w = np.ones_like(x)
    best = None
    for _ in range(iters):
        W = w / np.abs(f)
        c, *_ = np.linalg.lstsq(A * W[:, None], f * W, rcond=None)
        r = (A @ c - f) / f
        e = np.abs(r).max()
        if best is None or e < best[0]:
            best = (e, c)
        w = w * np.abs(r) ** 0.3 + 1e-300
        w /= w.max()
    return best


def to_monomial(cheb, a, b):
    """Chebyshev series on s in [-1, 1], s = a + b·x, as a polynomial in x."""
    ps = C.cheb2poly(cheb)
    res = np.zeros(1)
    for coef in reversed(ps):
        res = P.polyadd(P.polymul(res, [a, b]), [coef])
    return res


def fit_erfc(p=0.4, deg=10, n=4000):
    k = np.arange(n)
    t = np.concatenate([0.5 * (1 - np.cos(np.pi * (k + 0.5) / n)), [1.0]])
    z = [(1 / mp.mpf(tt) - 1) / p for tt in t]
    f = np.array([float(mp.erfc(zz) * mp.exp(zz * zz) * (1 + p * zz)) for zz in z])
    e, c = lawson(t, f, lambda x: C.chebvander(2 * x - 1, deg))
    return e, to_monomial(c, -1.0, 2.0)


def fit_erf_rational(m=6, n=5, zmax=4.5, N=4000):
    k = np.arange(N)
    z = zmax * 0.5 * (1 - np.cos(np.pi * (k + 0.5) / N))
    u = z * z
    f = np.array([float(mp.erf(mp.mpf(zz)) / mp.mpf(zz)) for zz in z])
    Vp = np.vander(u, m + 1, increasing=True)
    Vq = np.vander(u, n + 1, increasing=True)[:, 1:]
    A = np.hstack([Vp, -f[:, None] * Vq])
    q_old = np.ones_like(u)
    w = np.ones_like(u)
    best = None
    for it in range(200):
        W = w / (np.abs(f) * q_old)
        c, *_ = np.linalg.lstsq(A * W[:, None], f * W, rcond=None)
        P = Vp @ c[: m + 1]
        Q = 1 + Vq @ c[m + 1 :]
        r = (P / Q - f) / f
        e = np.abs(r).max()
        if best is None or e < best[0]:
            best = (e, c.copy())
        q_old = Q
        if it > 20:
            w = w * np.abs(r) ** 0.3 + 1e-300
            w /= w.max()
    e, c = best
    return e, c[: m + 1], c[m + 1 :]


def fit_exp(deg=6, n=2000):
    h = float(mp.log(2)) / 2
    k = np.arange(n)
    r = h * np.cos(np.pi * (k + 0.5) / n)
    r = r[np.abs(r) > 1e-6]
    f = np.array([float((mp.exp(mp.mpf(x)) - 1 - mp.mpf(x)) / mp.mpf(x) ** 2) for x in r])
    _, c = lawson(r, f, lambda x: C.chebvander(x / h, deg))
    e = to_monomial(c, 0.0, 1 / h)
    rr = np.linspace(-h, h, 20001)
    got = 1 + rr + rr**2 * P.polyval(rr, e)
    want = np.array([float(mp.exp(mp.mpf(x))) for x in rr])
    return np.abs(got / want - 1).max(), e


if __name__ == "__main__":
    e, p, q = fit_erf_rational()
    print("erf rational: max rel err %.3g" % e)
    for i, v in enumerate(p):
        print("  p%d = %r" % (i, v))
    for i, v in enumerate(q):
        print("  q%d = %r" % (i + 1, v))
    e, q = fit_erfc()
    print("erfc: max rel err %.3g" % e)
    for i, v in enumerate(q):
        print("  q%d = %r" % (i, v))
    e, f = fit_exp()
    print("exp: max rel err %.3g" % e)
    for i, v in enumerate(f):
        print("  f%d = %r" % (i, v))
