"""Fits the coefficients of the float32 fast path of GELU in gelu.go.

Run with any Python that has numpy and mpmath (Debian: /usr/bin/python3):

    python3 kernels/cpu/testdata/erfc_fit.py

1. erfc(z)·exp(z²)·(1 + P·z) as a degree-10 polynomial in t = 1/(1 + P·z),
   P = 0.4, z in [0, ∞) (t in (0, 1]).
2. exp(r) as a degree-6 polynomial for |r| <= ln(2)/2.

Both are weighted least-squares fits of the *relative* error on Chebyshev
nodes, reweighted by Lawson's iteration towards the minimax solution, with
40-digit mpmath reference values. The printed maximum relative errors are
the bounds quoted in gelu.go; TestErfcFast checks the Go evaluation against
math.Erfc on a dense grid.
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


def fit_exp(deg=6, n=3000):
    h = float(mp.log(2) / 2) * 1.0001
    k = np.arange(n)
    r = h * np.cos(np.pi * (k + 0.5) / n)
    f = np.array([float(mp.exp(mp.mpf(x))) for x in r])
    e, c = lawson(r, f, lambda x: C.chebvander(x / h, deg))
    return e, to_monomial(c, 0.0, 1.0 / h)


if __name__ == "__main__":
    e, q = fit_erfc()
    print("erfc: max rel err %.3g" % e)
    for i, v in enumerate(q):
        print("  q%d = %r" % (i, v))
    e, q = fit_exp()
    print("exp: max rel err %.3g" % e)
    for i, v in enumerate(q):
        print("  e%d = %r" % (i, v))
