"""The NumPy/Python twin of the chrX HWE test (``kernels/hwe_x.h``): :meth:`Backend.hwe_x_exact` of ``"numpy"``.

The C++ code (host library; the ``"host"`` backend, and ``"cupy"`` through it) follows this one operation
for operation, so the two agree bit for bit (the host library is built with ``-ffp-contract=off``); this is
plain Python, one tuple at a time: the oracle and the fallback without a compiler, not a fast path.

One tuple ``(female_het, female_hom1, female_hom2, male1, male2)`` per call of :func:`hwe_x_one`; the tables
with the same female and male numbers and the same allele-1 total are walked by ratio recursion, every
probability relative to the observed table's, as plink2: the observed table weighs ``UNIT = 2^-83`` (room
for tables up to about 1e333 times more probable within the double range) and ties are judged relative to
it.  Notation (weights in units of the observed table's):

- a *row* is the set of tables with ``m`` allele-1 males (so ``a = A - m`` allele-1 female alleles); the
  row's mass relative to the observed table, ``T(m)``, follows the hypergeometric ratio from row to row;
- within a row the female het count ``h`` has the parity of ``a``; the terms are log-concave in ``h``, so
  the tables more probable than the observed one (the *center*) form one run of ``h`` around the row's mode;
- tail = every table at most as probable as the observed one (relative weight below ``CEN = 1/(1-eps)``),
  tie = a tail table within ``eps`` of the observed weight (``> TIE = (1-2 eps)/(1-eps)``).

The sweep starts at the observed row, whose terms are summed completely; each further row in both
directions either has ``T(m)`` below the tie level (then the whole row is tail and only ``T(m)`` is added)
or gets its mode and the first tail table on each side carried over from the previous row by one
table-to-table step plus a few steps inside the row; only the tails are then summed (until a term no longer
changes the sum).  ``p = tail / total``, ``p_midp = (tail - ties / 2) / total`` with ``total = sum T(m)``.
A total beyond the double range (p below about 1e-330) gives p = p_midp = 0, as plink2.
"""

from __future__ import annotations

import numpy as np

__all__ = ["hwe_x_one", "hwe_x_many"]

_DBL_MAX = float(np.finfo(np.float64).max)
EPS_X = 2.0**-40        # relative tie tolerance of the X test (plink2's, for tests with males)
EPS_DIPLOID = 2.0**-44  # without males the test is the autosomal one, with plink2's HweP tolerance
UNIT = 2.0**-83         # weight of the observed table: room for 2^83 more before the double range ends


def _up(h, fa, fb, t):
    """Two homozygotes become two hets (same row)."""
    t = t * (4.0 * fa * fb) / ((h + 1.0) * (h + 2.0))
    return h + 2.0, fa - 1.0, fb - 1.0, t


def _down(h, fa, fb, t):
    """Two hets become two homozygotes (same row)."""
    t = t * (h * (h - 1.0)) / (4.0 * (fa + 1.0) * (fb + 1.0))
    return h - 2.0, fa + 1.0, fb + 1.0, t


def _next_row(h, fa, fb, t, m, nm, d):
    """The table of the next row (``m + d`` allele-1 males) one allele away from ``(h, fa, fb)``."""
    if d > 0:  # a female allele 1 becomes allele 2, a male allele 2 becomes allele 1
        mr = (nm - m) / (m + 1.0)
        if h >= 1.0:
            return h - 1.0, fa, fb + 1.0, t * mr * h / (2.0 * (fb + 1.0))
        return h + 1.0, fa - 1.0, fb, t * mr * 2.0 * fa / (h + 1.0)
    mr = m / (nm - m + 1.0)
    if h >= 1.0:
        return h - 1.0, fa + 1.0, fb, t * mr * h / (2.0 * (fa + 1.0))
    return h + 1.0, fa, fb - 1.0, t * mr * 2.0 * fb / (h + 1.0)


def _climb(h, fa, fb, t):
    """The row's mode from any of its tables."""
    while fa >= 1.0 and fb >= 1.0 and 4.0 * fa * fb > (h + 1.0) * (h + 2.0):
        h, fa, fb, t = _up(h, fa, fb, t)
    while h >= 2.0 and h * (h - 1.0) > 4.0 * (fa + 1.0) * (fb + 1.0):
        h, fa, fb, t = _down(h, fa, fb, t)
    return h, fa, fb, t


def _left_from_mode(h, fa, fb, t, cen):
    """The first tail table below the mode, or the row's lowest table (weight >= cen) if there is none."""
    while h >= 2.0:
        h, fa, fb, t = _down(h, fa, fb, t)
        if t < cen:
            break
    return h, fa, fb, t


def _right_from_mode(h, fa, fb, t, cen):
    """The first tail table above the mode, or the row's highest table (weight >= cen) if there is none."""
    while fa >= 1.0 and fb >= 1.0:
        h, fa, fb, t = _up(h, fa, fb, t)
        if t < cen:
            break
    return h, fa, fb, t


def hwe_x_one(f_het, f_hom1, f_hom2, m1, m2):
    """``(p, p_midp)`` of the Graffelman-Weir exact test of one count tuple (see the module notes)."""
    nf = f_het + f_hom1 + f_hom2
    nm = m1 + m2
    n_a = 2 * f_hom1 + f_het + m1
    n_b = 2 * f_hom2 + f_het + m2
    if nf == 0 or n_a == 0 or n_b == 0:
        return 1.0, 0.5
    eps = EPS_X if nm > 0 else EPS_DIPLOID
    cen = UNIT / (1.0 - eps)
    tie = UNIT * (1.0 - 2.0 * eps) / (1.0 - eps)
    scan_min = tie * (1.0 - 1e-9)  # rows below this mass hold no tie (margin for the ratio chain's rounding)
    fnf, fnm, fa_tot = float(nf), float(nm), float(n_a)
    # 1. the observed row, every term
    tail = UNIT
    ties = 1
    row = UNIT
    h, fa, fb, t = float(f_het), float(f_hom1), float(f_hom2), UNIT
    while h >= 2.0:
        h, fa, fb, t = _down(h, fa, fb, t)
        row += t
        if t < cen:
            if t > tie:
                ties += 1
            pre = tail
            tail += t
            if tail == pre:
                break
    h, fa, fb, t = float(f_het), float(f_hom1), float(f_hom2), UNIT
    while fa >= 1.0 and fb >= 1.0:
        h, fa, fb, t = _up(h, fa, fb, t)
        row += t
        if t < cen:
            if t > tie:
                ties += 1
            pre = tail
            tail += t
            if tail == pre:
                break
    if not row <= _DBL_MAX:
        return 0.0, 0.0
    total = row
    if nm > 0:
        mo = _climb(float(f_het), float(f_hom1), float(f_hom2), UNIT)
        center0 = mo[3] >= cen
        lo0 = _left_from_mode(mo[0], mo[1], mo[2], mo[3], cen)
        hi0 = _right_from_mode(mo[0], mo[1], mo[2], mo[3], cen)
        m_lo = max(0, n_a - 2 * nf)
        m_hi = min(nm, n_a)
        for d in (1, -1):
            m = m1
            mass = row
            mh, mfa, mfb, mt = mo
            lh, lfa, lfb, lt = lo0
            rh, rfa, rfb, rt = hi0
            center = center0
            scanning = True
            while True:
                mn = m + d
                if mn < m_lo or mn > m_hi:
                    break
                fm = float(m)
                if d > 0:
                    mass *= (fnm - fm) / (fm + 1.0) * (fa_tot - fm) / (2.0 * fnf - fa_tot + fm + 1.0)
                else:
                    mass *= fm / (fnm - fm + 1.0) * (2.0 * fnf - fa_tot + fm) / (fa_tot - fm + 1.0)
                if not mass <= _DBL_MAX:
                    return 0.0, 0.0
                total += mass
                if not (scanning and mass >= scan_min):
                    scanning = False  # past the row-mass mode: every later row is lighter still
                    pre = tail
                    tail += mass
                    if tail == pre:
                        break
                    m = mn
                    continue
                # 2. a row that may hold tables at least as probable as the observed one
                mh, mfa, mfb, mt = _next_row(mh, mfa, mfb, mt, fm, fnm, d)
                mh, mfa, mfb, mt = _climb(mh, mfa, mfb, mt)
                if mt < cen:  # no center: the whole row is tail; count the ties around the mode
                    tail += mass
                    if mt > tie:
                        ties += 1
                        h, fa, fb, t = mh, mfa, mfb, mt
                        while h >= 2.0:
                            h, fa, fb, t = _down(h, fa, fb, t)
                            if t <= tie:
                                break
                            ties += 1
                        h, fa, fb, t = mh, mfa, mfb, mt
                        while fa >= 1.0 and fb >= 1.0:
                            h, fa, fb, t = _up(h, fa, fb, t)
                            if t <= tie:
                                break
                            ties += 1
                    center = False
                    m = mn
                    continue
                if center:  # carry the first tail tables over, then move them to this row's boundaries
                    lh, lfa, lfb, lt = _next_row(lh, lfa, lfb, lt, fm, fnm, d)
                    rh, rfa, rfb, rt = _next_row(rh, rfa, rfb, rt, fm, fnm, d)
                    if lt >= cen:
                        while lh >= 2.0:
                            lh, lfa, lfb, lt = _down(lh, lfa, lfb, lt)
                            if lt < cen:
                                break
                    elif lh > mh:
                        lh, lfa, lfb, lt = _left_from_mode(mh, mfa, mfb, mt, cen)
                    else:
                        while lh + 2.0 < mh:
                            nh, nfa, nfb, nt = _up(lh, lfa, lfb, lt)
                            if nt >= cen:
                                break
                            lh, lfa, lfb, lt = nh, nfa, nfb, nt
                    if rt >= cen:
                        while rfa >= 1.0 and rfb >= 1.0:
                            rh, rfa, rfb, rt = _up(rh, rfa, rfb, rt)
                            if rt < cen:
                                break
                    elif rh < mh:
                        rh, rfa, rfb, rt = _right_from_mode(mh, mfa, mfb, mt, cen)
                    else:
                        while rh - 2.0 > mh:
                            nh, nfa, nfb, nt = _down(rh, rfa, rfb, rt)
                            if nt >= cen:
                                break
                            rh, rfa, rfb, rt = nh, nfa, nfb, nt
                else:
                    lh, lfa, lfb, lt = _left_from_mode(mh, mfa, mfb, mt, cen)
                    rh, rfa, rfb, rt = _right_from_mode(mh, mfa, mfb, mt, cen)
                center = True
                if lt < cen:  # the left tail, downwards
                    h, fa, fb, t = lh, lfa, lfb, lt
                    while True:
                        if t > tie:
                            ties += 1
                        pre = tail
                        tail += t
                        if tail == pre or h < 2.0:
                            break
                        h, fa, fb, t = _down(h, fa, fb, t)
                if rt < cen:  # the right tail, upwards
                    h, fa, fb, t = rh, rfa, rfb, rt
                    while True:
                        if t > tie:
                            ties += 1
                        pre = tail
                        tail += t
                        if tail == pre or fa < 1.0 or fb < 1.0:
                            break
                        h, fa, fb, t = _up(h, fa, fb, t)
                m = mn
    p = tail / total
    p_midp = (tail - 0.5 * UNIT * ties) / total
    return min(p, 1.0), min(max(p_midp, 0.0), 1.0)


def hwe_x_many(f_het, f_hom1, f_hom2, m1, m2, p, p_midp) -> None:
    """:func:`hwe_x_one` over ``(M,) int64`` arrays of tuples, into the ``(M,) float64`` `p` and `p_midp`."""
    for i, t in enumerate(zip(f_het.tolist(), f_hom1.tolist(), f_hom2.tolist(), m1.tolist(), m2.tolist())):
        p[i], p_midp[i] = hwe_x_one(*t)
