// gdb_device.cuh: the few primitives whose GPU and host implementations differ.
//
// Kernels are written once, in terms of:
//   lane_t       the words one thread works on: 1 word (32 samples) on the GPU; kLaneWords words in a GCC
//                vector on the host (16 with AVX-512, 8 with AVX2, else 4), so the host build is SIMD.
//   cnt_t        a popcount accumulator for a lane (summed to one number by cnt_total).
//   load_lane    read lane `l` of a plane row of `n_words` words (a partial last lane reads zeros).
//   popc, any_bits, lane_word, ctz32
//   nonzero_words  a mask with bit k set where word k of a lane is not zero (visit only those words).
//   warp_sum     sum over the threads of a warp (GPU: shuffles; host: a warp is one thread).
//   atomic_add   add to global memory from many threads/blocks.
//   prefetch     a hint for the host's gathers (nothing on the GPU).
// Nothing here knows about genotypes; the kernels (*.cu) hold all the logic, so the host build executes
// the same logic as the GPU build.
#ifndef GDB_DEVICE_CUH
#define GDB_DEVICE_CUH

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define GDB_GPU 1
#else
#define GDB_GPU 0
#include "host_shim.h"
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
// GCC 12's AVX-512 intrinsics trip a false -Wmaybe-uninitialized (_mm512_undefined_*; GCC PR 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#endif

// Fully unroll the next loop (its trip count is a compile-time constant).
#if GDB_GPU
#define GDB_UNROLL _Pragma("unroll")
#else
#define GDB_UNROLL _Pragma("GCC unroll 16")
#endif

namespace gdb {

typedef unsigned int u32;
typedef unsigned long long u64;
typedef long long i64;
typedef int i32;
typedef unsigned char u8;

#if GDB_GPU
// ------------------------------------------------------------------------------------------------ GPU
constexpr int kWarp = 32;
constexpr int kLaneWords = 1;
typedef u32 lane_t;
typedef u32 cnt_t;

__device__ __forceinline__ lane_t load_lane(const u32* __restrict__ row, int l, int /*n_words*/) {
  return __ldg(row + l);
}
__device__ __forceinline__ cnt_t popc(lane_t x) { return static_cast<u32>(__popc(x)); }
__device__ __forceinline__ u32 cnt_total(cnt_t c) { return c; }
__device__ __forceinline__ bool any_bits(lane_t x) { return x != 0u; }
__device__ __forceinline__ u32 lane_word(lane_t x, int /*k*/) { return x; }
__device__ __forceinline__ u32 nonzero_words(lane_t x) { return x != 0u ? 1u : 0u; }
__device__ __forceinline__ int ctz32(u32 x) { return __ffs(static_cast<int>(x)) - 1; }
__device__ __forceinline__ void prefetch(const void* /*p*/) {}

// Sum over the 32 threads of a warp; every thread of the warp must call it (the kernels keep warps uniform).
__device__ __forceinline__ u32 warp_sum(u32 v) {
GDB_UNROLL
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}
__device__ __forceinline__ void atomic_add(i64* p, i64 v) {
  atomicAdd(reinterpret_cast<unsigned long long*>(p), static_cast<unsigned long long>(v));
}
// Flush 3 bit-sliced counters (plane i = bit i of each sample's count; planes >= n_bits are zero) of word k
// of a lane: out[s * stride + t] += count of kind t of sample s = s0 + j, for the samples < n_samples with a
// non-zero count.  Concurrent flushes to the same place are allowed (atomics).
template <int N>
__device__ __forceinline__ void flush_sliced(const lane_t (&c)[3][N], int n_bits, int /*k*/, i64 s0,
                                             i64 n_samples, i64 stride, i64 kind_stride, i64* out) {
  u32 nz = 0;
  GDB_UNROLL
  for (int t = 0; t < 3; ++t) {
    GDB_UNROLL
    for (int i = 0; i < N; ++i) {
      if (i < n_bits) nz |= c[t][i];
    }
  }
  while (nz != 0u) {
    const int j = ctz32(nz);
    nz &= nz - 1u;
    if (s0 + j >= n_samples) break;
    GDB_UNROLL
    for (int t = 0; t < 3; ++t) {
      u32 v = 0;
      GDB_UNROLL
      for (int i = 0; i < N; ++i) {
        if (i < n_bits) v |= ((c[t][i] >> j) & 1u) << i;
      }
      if (v != 0u) atomic_add(out + (s0 + j) * stride + t * kind_stride, static_cast<i64>(v));
    }
  }
}

#else
// ----------------------------------------------------------------------------------------------- host
#if defined(__AVX512F__) && defined(__AVX512BW__)
#define GDB_HOST_LANE_WORDS 16
#elif defined(__AVX2__)
#define GDB_HOST_LANE_WORDS 8
#else
#define GDB_HOST_LANE_WORDS 4
#endif
constexpr int kWarp = 1;
constexpr int kLaneWords = GDB_HOST_LANE_WORDS;
typedef u32 lane_t __attribute__((vector_size(4 * GDB_HOST_LANE_WORDS)));
typedef u64 cnt_t __attribute__((vector_size(4 * GDB_HOST_LANE_WORDS)));  // kLaneWords/2 64-bit counts

__forceinline__ lane_t load_lane(const u32* __restrict__ row, int l, int n_words) {
  lane_t v;
  const int w0 = l * kLaneWords;
  if (w0 + kLaneWords <= n_words) {
    std::memcpy(&v, row + w0, sizeof v);
  } else {  // the last, partial lane of a row: words past the row read as 0
    v = lane_t{};
    std::memcpy(&v, row + w0, static_cast<size_t>(n_words - w0) * 4u);
  }
  return v;
}

__forceinline__ cnt_t popc(lane_t x) {
#if GDB_HOST_LANE_WORDS == 16 && defined(__AVX512VPOPCNTDQ__)
  return reinterpret_cast<cnt_t>(_mm512_popcnt_epi64(reinterpret_cast<__m512i>(x)));
#elif GDB_HOST_LANE_WORDS == 16
  const __m512i v = reinterpret_cast<__m512i>(x);
  const __m512i lut = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4));
  const __m512i nib = _mm512_set1_epi8(0x0f);
  const __m512i c = _mm512_add_epi8(_mm512_shuffle_epi8(lut, _mm512_and_si512(v, nib)),
                                    _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi64(v, 4), nib)));
  return reinterpret_cast<cnt_t>(_mm512_sad_epu8(c, _mm512_setzero_si512()));
#elif GDB_HOST_LANE_WORDS == 8
  const __m256i v = reinterpret_cast<__m256i>(x);
  const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                       0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i nib = _mm256_set1_epi8(0x0f);
  const __m256i c = _mm256_add_epi8(_mm256_shuffle_epi8(lut, _mm256_and_si256(v, nib)),
                                    _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi64(v, 4), nib)));
  return reinterpret_cast<cnt_t>(_mm256_sad_epu8(c, _mm256_setzero_si256()));
#else
  const cnt_t w = reinterpret_cast<cnt_t>(x);
  cnt_t r;
  for (int k = 0; k < kLaneWords / 2; ++k) r[k] = static_cast<u64>(__builtin_popcountll(w[k]));
  return r;
#endif
}

__forceinline__ u32 cnt_total(cnt_t c) {
  u64 s = 0;
  for (int k = 0; k < kLaneWords / 2; ++k) s += c[k];
  return static_cast<u32>(s);
}

__forceinline__ bool any_bits(lane_t x) {
#if GDB_HOST_LANE_WORDS == 16
  const __m512i v = reinterpret_cast<__m512i>(x);
  return _mm512_test_epi64_mask(v, v) != 0;
#elif GDB_HOST_LANE_WORDS == 8
  const __m256i v = reinterpret_cast<__m256i>(x);
  return !_mm256_testz_si256(v, v);
#elif defined(__SSE4_1__)
  const __m128i v = reinterpret_cast<__m128i>(x);
  return !_mm_testz_si128(v, v);
#else
  const cnt_t w = reinterpret_cast<cnt_t>(x);
  u64 o = 0;
  for (int k = 0; k < kLaneWords / 2; ++k) o |= w[k];
  return o != 0;
#endif
}

__forceinline__ u32 lane_word(lane_t x, int k) { return x[k]; }
__forceinline__ u32 nonzero_words(lane_t x) {
#if GDB_HOST_LANE_WORDS == 16
  const __m512i v = reinterpret_cast<__m512i>(x);
  return static_cast<u32>(_mm512_test_epi32_mask(v, v));
#else
  u32 m = 0;
  for (int k = 0; k < kLaneWords; ++k) m |= static_cast<u32>(x[k] != 0u) << k;
  return m;
#endif
}
__forceinline__ int ctz32(u32 x) { return __builtin_ctz(x); }
__forceinline__ void prefetch(const void* p) { __builtin_prefetch(p, 0, 1); }
__forceinline__ u32 warp_sum(u32 v) { return v; }
__forceinline__ void atomic_add(i64* p, i64 v) {
  if (gdb_host::serial) {  // one thread runs the whole launch (host_shim.h): a plain, wrapping addition
    *p = static_cast<i64>(static_cast<u64>(*p) + static_cast<u64>(v));
  } else {
    __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
  }
}
// flush_sliced (see the GPU version): the bits are turned into counts 16 samples per vector operation.
template <int N>
__forceinline__ void flush_sliced(const lane_t (&c)[3][N], int n_bits, int k, i64 s0, i64 n_samples, i64 stride,
                                  i64 kind_stride, i64* out) {
  typedef u32 v16 __attribute__((vector_size(64)));
  const v16 shift_lo = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  const v16 shift_hi = shift_lo + 16u;
  u32 nz = 0;
  for (int t = 0; t < 3; ++t) {
    for (int i = 0; i < n_bits && i < N; ++i) nz |= c[t][i][k];
  }
  if (nz == 0u) return;
  u32 counts[3][32];
  for (int t = 0; t < 3; ++t) {
    v16 a = {}, b = {};
    for (int i = 0; i < n_bits && i < N; ++i) {
      const v16 w = v16{} + c[t][i][k];
      a |= ((w >> shift_lo) & 1u) << i;
      b |= ((w >> shift_hi) & 1u) << i;
    }
    std::memcpy(counts[t], &a, sizeof a);
    std::memcpy(counts[t] + 16, &b, sizeof b);
  }
  if (stride == 1 && gdb_host::serial && s0 + 32 <= n_samples) {  // kind-major, one thread: 32 contiguous adds
    for (int t = 0; t < 3; ++t) {
      i64* o = out + t * kind_stride + s0;
      for (int j = 0; j < 32; ++j) o[j] += static_cast<i64>(counts[t][j]);
    }
    return;
  }
  while (nz != 0u) {
    const int j = ctz32(nz);
    nz &= nz - 1u;
    if (s0 + j >= n_samples) break;
    for (int t = 0; t < 3; ++t) {
      if (counts[t][j] != 0u) atomic_add(out + (s0 + j) * stride + t * kind_stride, static_cast<i64>(counts[t][j]));
    }
  }
}
#endif

// Number of lanes in a row of `n_words` words.
__device__ __forceinline__ int n_lanes(int n_words) { return (n_words + kLaneWords - 1) / kLaneWords; }

}  // namespace gdb

#endif  // GDB_DEVICE_CUH
