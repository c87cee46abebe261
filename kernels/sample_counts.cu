// sample_counts.cu: per sample and variant class, the counts of het, hom-alt and missing calls.
//
// The planes are variant-major and the counts per sample, so each thread owns a lane of words (32 samples a
// word) and keeps, for each of the 3 kinds, kCounterBits bit-sliced ("vertical") counters: counter plane i
// holds bit i of every sample's count.  Adding a call row is a ripple-carry over the planes
// (c_i ^= x, x = c_i_old & x) that stops as soon as no carry is left, so a row costs a few bitwise
// operations per 32 samples (per 512 on an AVX-512 host), not one operation per sample.  Rows are added four
// at a time: full adders (no branch) into planes 0 and 1, then one ripple from plane 2 (vertical_add4, the
// Harley-Seal carry-save idea): a quarter of the data-dependent branches of four ripples from plane 0.
//
// The caller sorts the selected variants by class (`order`) and cuts the sorted list into chunks of at most
// 2^kCounterBits - 1 variants that never span two classes (`chunk_start`, `chunk_class`).  Block (x, y) =
// (chunk, lanes): a thread adds its chunk's rows to its counters, then flushes the counters of the samples
// with a non-zero count into out[sample, class, kind] (int64) with atomic adds, so chunks of one class may
// run concurrently and results accumulate across calls.
#include "gdb_device.cuh"

namespace gdb {

// Counters hold 0 .. 2^kCounterBits - 1: a chunk has at most 65535 variants on the host, 4095 on the GPU
// (whose chunks are short anyway, for parallelism; 12 planes x 3 kinds keep the registers near 60).
constexpr int kCounterBits = GDB_GPU ? 12 : 16;
constexpr int kPrefetchAhead = GDB_GPU ? 0 : 8;  // rows

// Add the bits of x (one per sample), each worth 2^`from`, to the bit-sliced counter c.
__device__ __forceinline__ void vertical_add(lane_t (&c)[kCounterBits], lane_t x, int from = 0) {
GDB_UNROLL
  for (int i = 0; i < kCounterBits; ++i) {
    if (i < from) continue;
    if (!any_bits(x)) break;
    const lane_t carry = c[i] & x;
    c[i] ^= x;
    x = carry;
  }
}

// Add four rows: c0 + x + y = c0' + 2 k1 and c0' + u + v = c0'' + 2 k2 (full adders), c1 + k1 + k2 = c1' + 2 k4,
// then k4 ripples from plane 2.
__device__ __forceinline__ void vertical_add4(lane_t (&c)[kCounterBits], lane_t x, lane_t y, lane_t u, lane_t v) {
  lane_t h = c[0] ^ x;
  const lane_t k1 = (c[0] & x) | (h & y);
  c[0] = h ^ y;
  h = c[0] ^ u;
  const lane_t k2 = (c[0] & u) | (h & v);
  c[0] = h ^ v;
  h = c[1] ^ k1;
  const lane_t k4 = (c[1] & k1) | (h & k2);
  c[1] = h ^ k2;
  vertical_add(c, k4, 2);
}

// The het, hom-alt and missing bits of row `row` (a variant's offset in the planes) for lane l.
template <bool FAIL>
__device__ __forceinline__ void call_kinds(const u32* __restrict__ lo, const u32* __restrict__ hi,
                                           const u32* __restrict__ fail, i64 row, int l, int n_words,
                                           lane_t& het, lane_t& hom, lane_t& mis) {
  const lane_t a = load_lane(lo + row, l, n_words);
  const lane_t b = load_lane(hi + row, l, n_words);
  het = a & ~b;
  hom = b & ~a;
  mis = a & b;
  if (FAIL) {
    const lane_t f = load_lane(fail + row, l, n_words);
    het &= ~f;
    hom &= ~f;
    mis |= f;
  }
}

template <bool FAIL>
__global__ void sample_class_counts(
    const u32* __restrict__ lo, const u32* __restrict__ hi, const u32* __restrict__ fail,
    const i32* __restrict__ order, const i32* __restrict__ chunk_start, const i32* __restrict__ chunk_class,
    i32 n_chunks, i32 n_words, i32 n_samples, i32 n_classes, i64* __restrict__ out, i32 kind_major) {
  // out[s, c, kind] ((N, C, 3)), or kind-major out[c, kind, s] ((C, 3, N): a flush adds contiguous runs)
  const i64 stride = kind_major ? 1 : static_cast<i64>(n_classes) * 3;
  const i64 kind_stride = kind_major ? static_cast<i64>(n_samples) : 1;
  const int l = static_cast<int>(blockIdx.y * blockDim.x + threadIdx.x);
  if (l >= n_lanes(n_words)) return;  // no collectives below: an early exit is safe
  for (int ch = static_cast<int>(blockIdx.x); ch < n_chunks; ch += static_cast<int>(gridDim.x)) {
    const int i0 = chunk_start[ch];
    const int i1 = chunk_start[ch + 1];
    const int cls = chunk_class[ch];
    lane_t c[3][kCounterBits];
GDB_UNROLL
    for (int t = 0; t < 3; ++t) {
GDB_UNROLL
      for (int i = 0; i < kCounterBits; ++i) c[t][i] = lane_t{};
    }
    for (int i = i0; i < i1; i += 4) {  // rows by four (vertical_add4); a chunk's last 1-3 rows one by one
      if (kPrefetchAhead > 0) {  // host only: rows are gathered, help the caches
        for (int p = i + kPrefetchAhead; p < i + kPrefetchAhead + 4 && p < i1; ++p) {
          const i64 ahead = static_cast<i64>(order[p]) * n_words + static_cast<i64>(l) * kLaneWords;
          prefetch(lo + ahead);
          prefetch(hi + ahead);
          if (FAIL) prefetch(fail + ahead);
        }
      }
      if (i + 4 <= i1) {
        lane_t k[4][3];
GDB_UNROLL
        for (int q = 0; q < 4; ++q)
          call_kinds<FAIL>(lo, hi, fail, static_cast<i64>(order[i + q]) * n_words, l, n_words, k[q][0], k[q][1],
                           k[q][2]);
GDB_UNROLL
        for (int t = 0; t < 3; ++t) vertical_add4(c[t], k[0][t], k[1][t], k[2][t], k[3][t]);
      } else {
        for (int r = i; r < i1; ++r) {
          lane_t het, hom, mis;
          call_kinds<FAIL>(lo, hi, fail, static_cast<i64>(order[r]) * n_words, l, n_words, het, hom, mis);
          vertical_add(c[0], het);
          vertical_add(c[1], hom);
          vertical_add(c[2], mis);
        }
      }
    }
    // Flush: only the counter planes that the chunk length can have reached (flush_sliced skips zero counts).
    int n_bits = 0;
    while (n_bits < kCounterBits && ((i1 - i0) >> n_bits) != 0) ++n_bits;
    for (int k = 0; k < kLaneWords; ++k) {
      const i64 s0 = (static_cast<i64>(l) * kLaneWords + k) * 32;
      if (s0 >= n_samples) break;
      flush_sliced(c, n_bits, k, s0, n_samples, stride, kind_stride, out + static_cast<i64>(cls) * 3 * kind_stride);
    }
  }
}

}  // namespace gdb

#if !GDB_GPU
// Host entry point (ctypes).  Inputs are validated by gdbtools.backend; returns 0.
extern "C" int gdb_host_sample_class_counts(const gdb::u32* lo, const gdb::u32* hi, const gdb::u32* fail,
                                            const gdb::i32* order, const gdb::i32* chunk_start,
                                            const gdb::i32* chunk_class, gdb::i32 n_chunks, gdb::i32 n_words,
                                            gdb::i32 n_samples, gdb::i32 n_classes, gdb::i64* out,
                                            gdb::i32 kind_major, gdb::i32 n_threads) {
  const dim3 grid(static_cast<unsigned>(n_chunks), static_cast<unsigned>(gdb::n_lanes(n_words)));
  if (fail) {
    gdb_host::launch(grid, n_threads, [&] {
      gdb::sample_class_counts<true>(lo, hi, fail, order, chunk_start, chunk_class, n_chunks, n_words,
                                     n_samples, n_classes, out, kind_major);
    }, 1, true);
  } else {
    gdb_host::launch(grid, n_threads, [&] {
      gdb::sample_class_counts<false>(lo, hi, fail, order, chunk_start, chunk_class, n_chunks, n_words,
                                      n_samples, n_classes, out, kind_major);
    }, 1, true);
  }
  return 0;
}
#endif

#if !GDB_GPU
// Host entry points (ctypes): the per-sample sums of a hybrid2 block's sparse rows, samples uint16 or int32
// (kernels/sparse_host.h: class counts into the kind-major (C, 3, N) int64 `out`, missing-weight sums into
// `wmiss`, either left out when its pointers are null; gdbtools.backend.sparse is the oracle).
#include "sparse_host.h"

extern "C" int gdb_host_sparse_sample_sums_u16(const gdb::i32* rows, const gdb::i64* ptr, const unsigned short* sample,
                                               const unsigned char* code, const unsigned char* var_class,
                                               gdb::i64* out, const gdb::i64* wfix, gdb::i64* wmiss,
                                               gdb::i64 n_rows, gdb::i32 n_samples, gdb::i32 view,
                                               gdb::i32 n_threads) {
  gdb_sparse::sample_sums(rows, ptr, sample, code, var_class, out, wfix, wmiss, n_rows, n_samples, view, n_threads);
  return 0;
}

extern "C" int gdb_host_sparse_sample_sums_i32(const gdb::i32* rows, const gdb::i64* ptr, const gdb::i32* sample,
                                               const unsigned char* code, const unsigned char* var_class,
                                               gdb::i64* out, const gdb::i64* wfix, gdb::i64* wmiss,
                                               gdb::i64 n_rows, gdb::i32 n_samples, gdb::i32 view,
                                               gdb::i32 n_threads) {
  gdb_sparse::sample_sums(rows, ptr, sample, code, var_class, out, wfix, wmiss, n_rows, n_samples, view, n_threads);
  return 0;
}
#endif
