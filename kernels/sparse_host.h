// sparse_host.h: the per-sample loops over a hybrid2 block's sparse rows, host only (no GPU version: the CuPy
// backend runs gdbtools.backend.sparse's array code).  Same results as that NumPy twin, integer for integer.
//
// Sparse row k (block row rows[k]) holds entries ptr[k]:ptr[k+1], each a sample and a code (bits 0-1 genotype,
// bit 2 fail: store/bitplanes CODE_FAIL_BIT).  Under a view an entry is of kind 0 het, 1 hom-alt, 2 missing or
// -1 nothing (gdbtools.backend.sparse.entry_kinds):
//   view 0 (raw): the genotype; view 1 (adj): failing = missing; view 2 (fail): failing = missing, else nothing.
//
// The loops go row by row (a row's entries are contiguous, in increasing sample order, one class or weight) and
// add into a per-sample accumulator.  OpenMP threads split the *samples*, not the rows: thread t takes, in every
// row, the entries of its sample range (two binary searches per row), so each accumulator slot has one writer:
// no private copies to clear and sum, no atomics, and the same integer sums as one thread.
#ifndef GDB_SPARSE_HOST_H
#define GDB_SPARSE_HOST_H

#include <algorithm>
#include <cstdint>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace gdb_sparse {

using i32 = int;        // as gdb::i32, gdb::i64 (kernels/gdb_device.cuh)
using i64 = long long;

inline int entry_kind(int c, int view) {
  const bool failing = (c & 4) != 0;
  if (view == 2) return failing ? 2 : -1;
  if (view == 1 && failing) return 2;
  return (c & 3) - 1;
}

// Entries below which one thread does the loop (waking a second costs more than it saves).
constexpr i64 kMinEntriesPerThread = 16384;

// Calls body(k, e0, e1) for every sparse row k and a range [e0, e1) of its entries: with t threads, each call
// sees only the entries of samples in its thread's range [n_samples * i / t, n_samples * (i + 1) / t).
template <class S, class Body>
void over_sample_ranges(i64 n_rows, const i64* ptr, const S* sample, i32 n_samples, i32 n_threads, Body body) {
  const i64 n_entries = n_rows ? ptr[n_rows] - ptr[0] : 0;
  i64 t = n_entries / kMinEntriesPerThread;
  t = t < n_threads ? t : n_threads;
  t = t < n_samples / 64 ? t : n_samples / 64;
  if (t <= 1) {
    for (i64 k = 0; k < n_rows; ++k) body(k, ptr[k], ptr[k + 1]);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel num_threads(static_cast<int>(t))
#endif
  {
#ifdef _OPENMP
    const i64 id = omp_get_thread_num(), nt = omp_get_num_threads();
#else
    const i64 id = 0, nt = 1;
#endif
    const i64 s0 = n_samples * id / nt, s1 = n_samples * (id + 1) / nt;
    for (i64 k = 0; k < n_rows; ++k) {
      const S* first = sample + ptr[k];
      const S* last = sample + ptr[k + 1];
      const S* a = id == 0 ? first : std::lower_bound(first, last, static_cast<S>(s0));
      const S* b = id == nt - 1 ? last : std::lower_bound(a, last, static_cast<S>(s1));
      body(k, a - sample, b - sample);
    }
  }
}

// The per-sample sums of sample QC and F in one pass over the entries (they read the same entries):
//   counts: out[class, kind, sample] += 1 per entry of kind >= 0 (out (C, 3, N) int64, kind-major; class 255
//           skips a row);
//   weights: wmiss[sample] += wfix[row] per missing entry (int64, wrapping as int64 addition; rows of weight
//           0 add nothing).
// Either may be left out: var_class / out null (no counts), wfix / wmiss null (no weights).
template <class S>
void sample_sums(const i32* rows, const i64* ptr, const S* sample, const unsigned char* code,
                 const unsigned char* var_class, i64* out, const i64* wfix, i64* wmiss, i64 n_rows, i32 n_samples,
                 i32 view, i32 n_threads) {
  const bool counts = var_class != nullptr && out != nullptr;
  const bool weights = wfix != nullptr && wmiss != nullptr;
  signed char kinds[8];  // the view's kind of each code (bits 0-1 genotype, bit 2 fail): no branch on the view
  for (int c = 0; c < 8; ++c) kinds[c] = static_cast<signed char>(entry_kind(c, view));
  over_sample_ranges(n_rows, ptr, sample, n_samples, n_threads, [&](i64 k, i64 e0, i64 e1) {
    const int cls = counts ? var_class[rows[k]] : 255;
    const auto w = static_cast<std::uint64_t>(weights ? wfix[rows[k]] : 0);
    if (cls == 255 && w == 0) return;
    i64* base = cls == 255 ? nullptr : out + static_cast<i64>(cls) * 3 * n_samples;
    auto* acc = reinterpret_cast<std::uint64_t*>(wmiss);  // unsigned: int64 wrap-around without UB
    if (base != nullptr && w != 0) {
      for (i64 e = e0; e < e1; ++e) {
        const int kind = kinds[code[e] & 7];
        if (kind < 0) continue;
        base[static_cast<i64>(kind) * n_samples + sample[e]] += 1;
        if (kind == 2) acc[sample[e]] += w;
      }
    } else if (base != nullptr) {
      for (i64 e = e0; e < e1; ++e) {
        const int kind = kinds[code[e] & 7];
        if (kind >= 0) base[static_cast<i64>(kind) * n_samples + sample[e]] += 1;
      }
    } else {
      for (i64 e = e0; e < e1; ++e) {
        if (kinds[code[e] & 7] == 2) acc[sample[e]] += w;
      }
    }
  });
}

}  // namespace gdb_sparse

#endif  // GDB_SPARSE_HOST_H
