// sparse_host.h: the per-sample loops over a hybrid2 block's sparse rows, host only (no GPU version: the CuPy
// backend runs gdbtools.backend.sparse's array code).  Same results as that NumPy twin, integer for integer.
//
// Sparse row k (block row rows[k]) holds entries ptr[k]:ptr[k+1], each a sample and a code (bits 0-1 genotype,
// bit 2 fail: store/bitplanes CODE_FAIL_BIT).  Under a view an entry is of kind 0 het, 1 hom-alt, 2 missing or
// -1 nothing (gdbtools.backend.sparse.entry_kinds):
//   view 0 (raw): the genotype; view 1 (adj): failing = missing; view 2 (fail): failing = missing, else nothing.
//
// The loops go row by row (a row's entries are contiguous, increasing samples, one class or weight) and add
// into a per-sample accumulator.  With many entries per accumulator slot, OpenMP threads take rows of their
// own and private accumulators that are summed into `out` at the end (integer sums: the order is immaterial);
// else one thread, since clearing and summing the private copies would cost more than the loop.
#ifndef GDB_SPARSE_HOST_H
#define GDB_SPARSE_HOST_H

#include <cstdint>
#include <vector>
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

// Threads worth using: one per `per_thread` entries per accumulator slot, at most n_threads.
inline int threads_for(i64 n_entries, i64 n_slots, i32 n_threads) {
  const i64 want = n_entries / (4 * (n_slots > 65536 ? n_slots : 65536));
  const i64 t = want < n_threads ? want : n_threads;
  return t > 1 ? static_cast<int>(t) : 1;
}

// Calls body(k, acc) for every sparse row k, acc an i64 accumulator of n_slots (out itself with one thread).
template <class Body>
void over_rows(i64 n_rows, i64 n_entries, i64 n_slots, i32 n_threads, i64* out, Body body) {
  const int t = threads_for(n_entries, n_slots, n_threads);
  if (t == 1) {
    for (i64 k = 0; k < n_rows; ++k) body(k, out);
    return;
  }
  std::vector<i64> part(static_cast<size_t>(t) * n_slots, 0);
#ifdef _OPENMP
#pragma omp parallel num_threads(t)
#endif
  {
#ifdef _OPENMP
    i64* acc = part.data() + static_cast<i64>(omp_get_thread_num()) * n_slots;
#pragma omp for schedule(dynamic, 64)
#else
    i64* acc = part.data();
#endif
    for (i64 k = 0; k < n_rows; ++k) body(k, acc);
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
    for (i64 s = 0; s < n_slots; ++s) {
      std::uint64_t sum = static_cast<std::uint64_t>(out[s]);  // int64 wrap-around, as the one-thread loop
      for (int j = 0; j < t; ++j) sum += static_cast<std::uint64_t>(part[static_cast<size_t>(j) * n_slots + s]);
      out[s] = static_cast<i64>(sum);
    }
  }
}

// out[class, kind, sample] += 1 per entry (out (C, 3, N) int64, kind-major); class 255 skips a row.
template <class S>
void sample_class_counts(const i32* rows, const i64* ptr, const S* sample, const unsigned char* code,
                         const unsigned char* var_class, i64 n_rows, i32 n_classes, i32 n_samples, i32 view,
                         i64* out, i32 n_threads) {
  const i64 n_slots = static_cast<i64>(n_classes) * 3 * n_samples;
  over_rows(n_rows, n_rows ? ptr[n_rows] - ptr[0] : 0, n_slots, n_threads, out, [&](i64 k, i64* acc) {
    const int cls = var_class[rows[k]];
    if (cls == 255) return;
    i64* base = acc + static_cast<i64>(cls) * 3 * n_samples;
    for (i64 e = ptr[k]; e < ptr[k + 1]; ++e) {
      const int kind = entry_kind(code[e], view);
      if (kind >= 0) base[static_cast<i64>(kind) * n_samples + sample[e]] += 1;
    }
  });
}

// out[sample] += wfix[row] per missing entry (int64, wrapping as int64 addition; rows of weight 0 skipped).
template <class S>
void missing_weight_sums(const i32* rows, const i64* ptr, const S* sample, const unsigned char* code,
                         const i64* wfix, i64 n_rows, i32 n_samples, i32 view, i64* out, i32 n_threads) {
  over_rows(n_rows, n_rows ? ptr[n_rows] - ptr[0] : 0, n_samples, n_threads, out, [&](i64 k, i64* acc) {
    const i64 w = wfix[rows[k]];
    if (w == 0) return;
    for (i64 e = ptr[k]; e < ptr[k + 1]; ++e) {
      if (entry_kind(code[e], view) == 2) {
        // unsigned addition: int64 wrap-around without undefined behaviour
        acc[sample[e]] = static_cast<i64>(static_cast<std::uint64_t>(acc[sample[e]]) + static_cast<std::uint64_t>(w));
      }
    }
  });
}

}  // namespace gdb_sparse

#endif  // GDB_SPARSE_HOST_H
