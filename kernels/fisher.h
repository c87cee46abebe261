// fisher.h: the two-sided Fisher exact test of 2x2 tables [[a, b], [c, d]], host only; the CuPy backend runs it
// on the host through this code (gdbtools.backend.cupy_backend).  gdbtools.backend.twin_fisher is its NumPy twin
// (scipy.stats.hypergeom; equal to ~1e-12 relative, not bit for bit).
//
// With the margins fixed, a follows the hypergeometric law: population N = a+b+c+d, draws n = a+b, successes
// K = a+c, support lo = max(0, n-(N-K)) .. hi = min(n, K).  The p-value sums the probabilities of the tables no
// more likely than the observed one, within a relative tolerance of 1e-7 (R's fisher.test; scipy >= 1.11 uses
// 1e-14, which only differs on near-ties that double arithmetic cannot resolve anyway).
//
// The weights are the pmf relative to the mode (w(mode) = 1), walked by the ratios
//   w(x+1) / w(x) = (K-x)(n-x) / ((x+1)(N-K-n+x+1)),
// outwards from the mode on each side; the distribution is log-concave, so the ratios fall away from the mode
// and the rest of a side is at most w r / (1 - r) (r the next ratio): a side stops once that is below 2^-60 of
// the observed weight (the tail and the total are both at least that weight).  p = tail / total.  The rounding
// error grows at most with the steps (~4 ulp each) and is ~4e-15 relative to the exact rational p on tables of
// 1e5 alleles (scipy's own p is off by up to ~3e-11 there); an observed weight that underflows (p below
// ~1e-305) gives p = 0.
#ifndef GDB_FISHER_H
#define GDB_FISHER_H

namespace gdb_fisher {

using i64 = long long;

constexpr double kTieTol = 1e-7;  // tables within this relative pmf of the observed count as tails
constexpr double kCut = 0x1p-60;  // a side stops when its rest is below this fraction of the observed weight

// Two-sided p of the table [[a, b], [c, d]] (non-negative counts, N <= 2^31 - 1 or so: products in double).
inline double fisher_one(i64 a, i64 b, i64 c, i64 d) {
  const i64 n = a + b, k = a + c, total = a + b + c + d;
  const i64 lo = n - (total - k) > 0 ? n - (total - k) : 0;
  const i64 hi = n < k ? n : k;
  if (lo >= hi) return 1.0;  // one possible table
  i64 mode = (n + 1) * (k + 1) / (total + 2);
  if (mode < lo) mode = lo;
  if (mode > hi) mode = hi;
  const double dn = static_cast<double>(n), dk = static_cast<double>(k);
  const double drest = static_cast<double>(total - k - n);  // N - K - n (may be negative)
  // up(x) = w(x+1) / w(x); down(x) = w(x-1) / w(x)
  auto up = [&](double x) { return ((dk - x) * (dn - x)) / ((x + 1.0) * (drest + x + 1.0)); };
  auto down = [&](double x) { return (x * (drest + x)) / ((dk - x + 1.0) * (dn - x + 1.0)); };
  // the observed weight, walked from the mode
  double w_obs = 1.0;
  if (a > mode) {
    for (i64 x = mode; x < a && w_obs > 0.0; ++x) w_obs *= up(static_cast<double>(x));
  } else {
    for (i64 x = mode; x > a && w_obs > 0.0; --x) w_obs *= down(static_cast<double>(x));
  }
  if (w_obs == 0.0) return 0.0;  // below ~1e-308 of the mode: p below the double range
  const double thr = w_obs * (1.0 + kTieTol);
  const double cut = w_obs * kCut;
  double tail = 1.0 <= thr ? 1.0 : 0.0;  // the mode itself (the observed table is a mode: p = 1)
  double sum = 1.0;
  double w = 1.0;
  for (i64 x = mode; x < hi; ++x) {  // right side
    const double r = up(static_cast<double>(x));
    w *= r;
    sum += w;
    if (w <= thr) tail += w;
    if (w <= thr && r < 1.0 && w * r <= cut * (1.0 - r)) break;
  }
  w = 1.0;
  for (i64 x = mode; x > lo; --x) {  // left side
    const double r = down(static_cast<double>(x));
    w *= r;
    sum += w;
    if (w <= thr) tail += w;
    if (w <= thr && r < 1.0 && w * r <= cut * (1.0 - r)) break;
  }
  const double p = tail / sum;
  return p < 1.0 ? p : 1.0;
}

}  // namespace gdb_fisher

#endif  // GDB_FISHER_H
