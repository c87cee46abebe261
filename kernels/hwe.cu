// hwe.cu: the Hardy-Weinberg exact test (Wigginton, Cutler & Abecasis 2005) on genotype count triples,
// one thread per triple (call it on de-duplicated triples).
//
// Numerics follow plink2's HweP (the SNPHWE2 line of implementations): the probabilities of the het counts
// are walked outwards from the observed count, relative to the observed one, which is given the tiny weight
// t0 = (1 - 2^-44) * 2^-83 so that more likely counts can be summed without overflow and counts within a
// relative 2^-44 of the observed one count as ties.  Terms >= 2^-83 on the far side of the mode form the
// "center" (more likely than observed); the rest are tail.  A tail is summed until it no longer changes.
//
//   p                 two-sided p = tail / (tail + center)                         (plink2 --hardy)
//   p_midp            (tail - t0/2 per tie) / (tail + center)                       (plink2 --hardy midp)
//   p_het_excess      one-sided P(n_het >= observed)                                (bcftools ExcHet)
//   p_het_excess_midp P(n_het > observed) + P(n_het == observed) / 2
//
// No genotypes (0, 0, 0) and monomorphic triples give p = 1, p_midp = 0.5 (as plink2), p_het_excess = 1 and
// p_het_excess_midp = 0.5.  When the center overflows (p < ~1e-330), p = p_midp = 0 and the one-sided p is
// 0 or 1.  No fused multiply-add may be used (compile with fp-contract off / --fmad=false) so that every
// backend, and the NumPy twin, get bit-identical results.
#include "gdb_device.cuh"

namespace gdb {

__device__ __forceinline__ void hwe_exact_one(i32 obs_het, i32 obs_hom1, i32 obs_hom2, double* p, double* p_midp,
                                              double* p_exc, double* p_exc_midp) {
  const double kBias = 0x1p-83;
  const double kEps = 0x1p-44;
  const double kDblMax = 0x1.fffffffffffffp+1023;
  const i64 homr = obs_hom1 < obs_hom2 ? obs_hom1 : obs_hom2;
  const i64 homc = obs_hom1 < obs_hom2 ? obs_hom2 : obs_hom1;
  const i64 het = obs_het;
  const i64 rare = 2 * homr + het;
  const i64 g2 = 2 * (het + homr + homc);
  if (g2 == 0) {
    *p = 1.0;
    *p_midp = 0.5;
    *p_exc = 1.0;
    *p_exc_midp = 0.5;
    return;
  }
  const double t0 = (1 - kEps) * kBias;
  double tailp = t0;
  double centerp = 0;
  double lastp2 = t0;
  int tie_ct = 1;
  bool overflow = false;
  double h2 = static_cast<double>(het), r2 = static_cast<double>(homr), c2 = static_cast<double>(homc);
  const bool upper = het * g2 > rare * (g2 - rare);  // observed above expectation: center lies below it
  double upper_side;                                  // weight of n_het >= observed
  if (upper) {
    while (h2 > 1.5) {  // towards the center (fewer hets)
      r2 += 1;
      c2 += 1;
      lastp2 *= (h2 * (h2 - 1)) / (4 * r2 * c2);
      h2 -= 2;
      if (lastp2 < kBias) {
        tie_ct += (lastp2 > (1 - 2 * kEps) * kBias);
        tailp += lastp2;
        break;
      }
      centerp += lastp2;
      if (centerp > kDblMax) {
        overflow = true;
        break;
      }
    }
    while (!overflow && h2 > 1.5) {  // the far tail below the center
      r2 += 1;
      c2 += 1;
      lastp2 *= (h2 * (h2 - 1)) / (4 * r2 * c2);
      h2 -= 2;
      const double pre = tailp;
      tailp += lastp2;
      if (tailp <= pre) break;
    }
    // the near tail, above the observed count: part of the two-sided tail and the whole one-sided sum
    double h1 = static_cast<double>(het) + 2, r1 = static_cast<double>(homr), c1 = static_cast<double>(homc);
    double lastp1 = t0;
    upper_side = t0;
    bool tail_open = true;
    while (!overflow && r1 > 0.5) {
      lastp1 *= (4 * r1 * c1) / (h1 * (h1 - 1));
      if (tail_open) {
        const double pre = tailp;
        tailp += lastp1;
        tail_open = tailp > pre;
      }
      const double pre_u = upper_side;
      upper_side += lastp1;
      if (!tail_open && upper_side <= pre_u) break;
      h1 += 2;
      r1 -= 1;
      c1 -= 1;
    }
  } else {
    while (r2 > 0.5) {  // towards the center (more hets)
      h2 += 2;
      lastp2 *= (4 * r2 * c2) / (h2 * (h2 - 1));
      r2 -= 1;
      c2 -= 1;
      if (lastp2 < kBias) {
        tie_ct += (lastp2 > (1 - 2 * kEps) * kBias);
        tailp += lastp2;
        break;
      }
      centerp += lastp2;
      if (centerp > kDblMax) {
        overflow = true;
        break;
      }
    }
    while (!overflow && r2 > 0.5) {  // the far tail above the center
      h2 += 2;
      lastp2 *= (4 * r2 * c2) / (h2 * (h2 - 1));
      r2 -= 1;
      c2 -= 1;
      const double pre = tailp;
      tailp += lastp2;
      if (tailp <= pre) break;
    }
    upper_side = tailp + centerp;  // observed, center and far tail all have n_het >= observed
    double h1 = static_cast<double>(het), r1 = static_cast<double>(homr), c1 = static_cast<double>(homc);
    double lastp1 = t0;
    while (!overflow && h1 > 1.5) {  // the near tail, below the observed count
      r1 += 1;
      c1 += 1;
      lastp1 *= (h1 * (h1 - 1)) / (4 * r1 * c1);
      const double pre = tailp;
      tailp += lastp1;
      if (tailp <= pre) break;
      h1 -= 2;
    }
  }
  if (overflow) {
    *p = 0.0;
    *p_midp = 0.0;
    *p_exc = upper ? 0.0 : 1.0;
    *p_exc_midp = upper ? 0.0 : 1.0;
    return;
  }
  const double total = tailp + centerp;
  *p = tailp / total;
  *p_midp = (tailp - ((1 - kEps) * kBias * 0.5) * tie_ct) / total;
  const double e = upper_side / total;
  const double em = (upper_side - t0 * 0.5) / total;
  *p_exc = e < 1.0 ? e : 1.0;
  *p_exc_midp = em < 1.0 ? em : 1.0;
}

__global__ void hwe_exact(const i32* __restrict__ n_het, const i32* __restrict__ n_hom1,
                                                 const i32* __restrict__ n_hom2, i64 n,
                                                 double* __restrict__ p, double* __restrict__ p_midp,
                                                 double* __restrict__ p_exc, double* __restrict__ p_exc_midp) {
  const i64 stride = static_cast<i64>(gridDim.x) * blockDim.x;
  for (i64 i = static_cast<i64>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    hwe_exact_one(n_het[i], n_hom1[i], n_hom2[i], p + i, p_midp + i, p_exc + i, p_exc_midp + i);
  }
}

}  // namespace gdb

#if !GDB_GPU
// Host entry point (ctypes).  Inputs are validated by gdbtools.backend; returns 0.
extern "C" int gdb_host_hwe_exact(const gdb::i32* n_het, const gdb::i32* n_hom1, const gdb::i32* n_hom2,
                                  gdb::i64 n, double* p, double* p_midp, double* p_exc, double* p_exc_midp,
                                  gdb::i32 n_threads) {
  // one triple per block; blocks are handed out to the threads 64 at a time
  gdb_host::launch(dim3(static_cast<unsigned>(n)), n_threads, [&] {
    gdb::hwe_exact(n_het, n_hom1, n_hom2, n, p, p_midp, p_exc, p_exc_midp);
  }, 64);
  return 0;
}
#endif

#if !GDB_GPU
// Host entry point (ctypes): the chrX test of kernels/hwe_x.h over n count tuples (int64), into p and p_midp.
// The tuples' costs differ by orders of magnitude (common variants walk many tables), so threads take them
// 16 at a time as they finish.
#include "hwe_x.h"

extern "C" int gdb_host_hwe_x_exact(const gdb::i64* f_het, const gdb::i64* f_hom1, const gdb::i64* f_hom2,
                                    const gdb::i64* m1, const gdb::i64* m2, gdb::i64 n, double* p,
                                    double* p_midp, gdb::i32 n_threads) {
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 16) num_threads(n_threads > 0 ? n_threads : 1) if (n > 16)
#endif
  for (gdb::i64 i = 0; i < n; ++i) {
    gdb_hwe_x::hwe_x_one(f_het[i], f_hom1[i], f_hom2[i], m1[i], m2[i], p + i, p_midp + i);
  }
  return 0;
}
#endif

#if !GDB_GPU
// Host entry point (ctypes): the two-sided Fisher exact test of kernels/fisher.h over n 2x2 tables (int64),
// into p.  Costs differ with the margins (a common variant walks hundreds of tables), so threads take the
// tables 64 at a time as they finish.
#include "fisher.h"

extern "C" int gdb_host_fisher_exact(const gdb::i64* a, const gdb::i64* b, const gdb::i64* c, const gdb::i64* d,
                                     gdb::i64 n, double* p, gdb::i32 n_threads) {
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 64) num_threads(n_threads > 0 ? n_threads : 1) if (n > 256)
#endif
  for (gdb::i64 i = 0; i < n; ++i) {
    p[i] = gdb_fisher::fisher_one(a[i], b[i], c[i], d[i]);
  }
  return 0;
}
#endif
