// hwe_x.h: the Graffelman-Weir exact test of Hardy-Weinberg equilibrium on the X chromosome (females and
// males), host only; the CuPy backend runs it on the host through this code (gdbtools.backend.cupy_backend).
// gdbtools.backend.twin_hwe_x is its Python twin, operation for operation (bit-identical results; the host
// library is built with -ffp-contract=off), and holds the notes on the method: one tuple
// (female_het, female_hom1, female_hom2, male1, male2) per call of hwe_x_one, tables walked by ratio
// recursion relative to the observed table, which weighs UNIT = 2^-83 (as plink2's .hardy.x).
#ifndef GDB_HWE_X_H
#define GDB_HWE_X_H

#include <cfloat>
#include <cstdint>

namespace gdb_hwe_x {

using i64 = long long;

constexpr double kEpsX = 0x1p-40;        // 2^-40: tie tolerance of the test with males
constexpr double kEpsDiploid = 0x1p-44;  // 2^-44: without males (the autosomal test's)
constexpr double kUnit = 0x1p-83;        // 2^-83

struct Tab {  // a table of one row: female het h, homozygotes fa, fb; weight t relative to the observed
  double h, fa, fb, t;
};

inline Tab up(Tab a) {  // two homozygotes become two hets (same row)
  return {a.h + 2.0, a.fa - 1.0, a.fb - 1.0, a.t * (4.0 * a.fa * a.fb) / ((a.h + 1.0) * (a.h + 2.0))};
}

inline Tab down(Tab a) {  // two hets become two homozygotes (same row)
  return {a.h - 2.0, a.fa + 1.0, a.fb + 1.0, a.t * (a.h * (a.h - 1.0)) / (4.0 * (a.fa + 1.0) * (a.fb + 1.0))};
}

inline bool can_up(const Tab& a) { return a.fa >= 1.0 && a.fb >= 1.0; }

// The table of the next row (m + d allele-1 males) one allele away from a.
inline Tab next_row(Tab a, double m, double nm, int d) {
  if (d > 0) {  // a female allele 1 becomes allele 2, a male allele 2 becomes allele 1
    const double mr = (nm - m) / (m + 1.0);
    if (a.h >= 1.0) return {a.h - 1.0, a.fa, a.fb + 1.0, a.t * mr * a.h / (2.0 * (a.fb + 1.0))};
    return {a.h + 1.0, a.fa - 1.0, a.fb, a.t * mr * 2.0 * a.fa / (a.h + 1.0)};
  }
  const double mr = m / (nm - m + 1.0);
  if (a.h >= 1.0) return {a.h - 1.0, a.fa + 1.0, a.fb, a.t * mr * a.h / (2.0 * (a.fa + 1.0))};
  return {a.h + 1.0, a.fa, a.fb - 1.0, a.t * mr * 2.0 * a.fb / (a.h + 1.0)};
}

inline Tab climb(Tab a) {  // the row's mode from any of its tables
  while (a.fa >= 1.0 && a.fb >= 1.0 && 4.0 * a.fa * a.fb > (a.h + 1.0) * (a.h + 2.0)) a = up(a);
  while (a.h >= 2.0 && a.h * (a.h - 1.0) > 4.0 * (a.fa + 1.0) * (a.fb + 1.0)) a = down(a);
  return a;
}

inline Tab left_from_mode(Tab a, double cen) {  // first tail table below the mode, or the row's lowest
  while (a.h >= 2.0) {
    a = down(a);
    if (a.t < cen) break;
  }
  return a;
}

inline Tab right_from_mode(Tab a, double cen) {  // first tail table above the mode, or the row's highest
  while (can_up(a)) {
    a = up(a);
    if (a.t < cen) break;
  }
  return a;
}

// (p, p_midp) of one count tuple.
inline void hwe_x_one(i64 f_het, i64 f_hom1, i64 f_hom2, i64 m1, i64 m2, double* p_out, double* midp_out) {
  const i64 nf = f_het + f_hom1 + f_hom2;
  const i64 nm = m1 + m2;
  const i64 n_a = 2 * f_hom1 + f_het + m1;
  const i64 n_b = 2 * f_hom2 + f_het + m2;
  if (nf == 0 || n_a == 0 || n_b == 0) {
    *p_out = 1.0;
    *midp_out = 0.5;
    return;
  }
  const double eps = nm > 0 ? kEpsX : kEpsDiploid;
  const double cen = kUnit / (1.0 - eps);
  const double tie = kUnit * (1.0 - 2.0 * eps) / (1.0 - eps);
  const double scan_min = tie * (1.0 - 1e-9);  // rows below this mass hold no tie
  const double fnf = static_cast<double>(nf), fnm = static_cast<double>(nm), fa_tot = static_cast<double>(n_a);
  const Tab obs{static_cast<double>(f_het), static_cast<double>(f_hom1), static_cast<double>(f_hom2), kUnit};
  // 1. the observed row, every term
  double tail = kUnit;
  i64 ties = 1;
  double row = kUnit;
  for (Tab a = obs; a.h >= 2.0;) {
    a = down(a);
    row += a.t;
    if (a.t < cen) {
      if (a.t > tie) ++ties;
      const double pre = tail;
      tail += a.t;
      if (tail == pre) break;
    }
  }
  for (Tab a = obs; can_up(a);) {
    a = up(a);
    row += a.t;
    if (a.t < cen) {
      if (a.t > tie) ++ties;
      const double pre = tail;
      tail += a.t;
      if (tail == pre) break;
    }
  }
  if (!(row <= DBL_MAX)) {
    *p_out = 0.0;
    *midp_out = 0.0;
    return;
  }
  double total = row;
  if (nm > 0) {
    const Tab mo = climb(obs);
    const bool center0 = mo.t >= cen;
    const Tab lo0 = left_from_mode(mo, cen);
    const Tab hi0 = right_from_mode(mo, cen);
    const i64 m_lo = n_a - 2 * nf > 0 ? n_a - 2 * nf : 0;
    const i64 m_hi = nm < n_a ? nm : n_a;
    for (int d = 1; d >= -1; d -= 2) {
      i64 m = m1;
      double mass = row;
      Tab md = mo, l = lo0, r = hi0;
      bool center = center0;
      bool scanning = true;
      while (true) {
        const i64 mn = m + d;
        if (mn < m_lo || mn > m_hi) break;
        const double fm = static_cast<double>(m);
        if (d > 0) {
          mass *= (fnm - fm) / (fm + 1.0) * (fa_tot - fm) / (2.0 * fnf - fa_tot + fm + 1.0);
        } else {
          mass *= fm / (fnm - fm + 1.0) * (2.0 * fnf - fa_tot + fm) / (fa_tot - fm + 1.0);
        }
        if (!(mass <= DBL_MAX)) {
          *p_out = 0.0;
          *midp_out = 0.0;
          return;
        }
        total += mass;
        if (!(scanning && mass >= scan_min)) {
          scanning = false;  // past the row-mass mode: every later row is lighter still
          const double pre = tail;
          tail += mass;
          if (tail == pre) break;
          m = mn;
          continue;
        }
        // 2. a row that may hold tables at least as probable as the observed one
        md = climb(next_row(md, fm, fnm, d));
        if (md.t < cen) {  // no center: the whole row is tail; count the ties around the mode
          tail += mass;
          if (md.t > tie) {
            ++ties;
            for (Tab a = md; a.h >= 2.0;) {
              a = down(a);
              if (a.t <= tie) break;
              ++ties;
            }
            for (Tab a = md; can_up(a);) {
              a = up(a);
              if (a.t <= tie) break;
              ++ties;
            }
          }
          center = false;
          m = mn;
          continue;
        }
        if (center) {  // carry the first tail tables over, then move them to this row's boundaries
          l = next_row(l, fm, fnm, d);
          r = next_row(r, fm, fnm, d);
          if (l.t >= cen) {
            while (l.h >= 2.0) {
              l = down(l);
              if (l.t < cen) break;
            }
          } else if (l.h > md.h) {
            l = left_from_mode(md, cen);
          } else {
            while (l.h + 2.0 < md.h) {
              const Tab n = up(l);
              if (n.t >= cen) break;
              l = n;
            }
          }
          if (r.t >= cen) {
            while (can_up(r)) {
              r = up(r);
              if (r.t < cen) break;
            }
          } else if (r.h < md.h) {
            r = right_from_mode(md, cen);
          } else {
            while (r.h - 2.0 > md.h) {
              const Tab n = down(r);
              if (n.t >= cen) break;
              r = n;
            }
          }
        } else {
          l = left_from_mode(md, cen);
          r = right_from_mode(md, cen);
        }
        center = true;
        if (l.t < cen) {  // the left tail, downwards
          for (Tab a = l;;) {
            if (a.t > tie) ++ties;
            const double pre = tail;
            tail += a.t;
            if (tail == pre || a.h < 2.0) break;
            a = down(a);
          }
        }
        if (r.t < cen) {  // the right tail, upwards
          for (Tab a = r;;) {
            if (a.t > tie) ++ties;
            const double pre = tail;
            tail += a.t;
            if (tail == pre || a.fa < 1.0 || a.fb < 1.0) break;
            a = up(a);
          }
        }
        m = mn;
      }
    }
  }
  const double p = tail / total;
  const double p_midp = (tail - 0.5 * kUnit * static_cast<double>(ties)) / total;
  *p_out = p < 1.0 ? p : 1.0;
  *midp_out = p_midp > 0.0 ? (p_midp < 1.0 ? p_midp : 1.0) : 0.0;
}

}  // namespace gdb_hwe_x

#endif  // GDB_HWE_X_H
