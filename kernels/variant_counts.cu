// variant_counts.cu: per variant and sample group, the counts of het, hom-alt and missing calls.
//
//   out[v, g, 0:3] = popcount over the row of (lo & ~hi, ~lo & hi, lo & hi), each AND masks[g]
//   with FAIL, out[v, g, 3:6] = the same for the adj view (lo | fail, hi | fail):
//                  (lo & ~hi & ~fail, ~lo & hi & ~fail, (lo & hi) | fail), each AND masks[g]
//
// GPU: one warp per variant (grid-stride), each thread a word at a time, groups in tiles of kGroupTile so the
// accumulators stay in registers; one warp_sum per count.  Host: one variant per block, a lane of 4-16 words
// at a time.  The row is read once per group tile (from L1/L2 after the first tile).
#include "gdb_device.cuh"

namespace gdb {

#if GDB_GPU
template <bool FAIL> struct GroupTile { static constexpr int value = 8; };
#else
// 3 (or 6) accumulators per group plus the decoded planes must fit the 32 vector registers of AVX-512.
template <bool FAIL> struct GroupTile { static constexpr int value = FAIL ? 4 : 8; };
#endif

template <bool FAIL>
__global__ void variant_group_counts(
    const u32* __restrict__ lo, const u32* __restrict__ hi, const u32* __restrict__ fail,
    const u32* __restrict__ masks, i64 n_variants, i32 n_words, i32 n_groups, i32* __restrict__ out) {
  constexpr int kOut = FAIL ? 6 : 3;
  constexpr int kTile = GroupTile<FAIL>::value;
  const int warp_lane = static_cast<int>(threadIdx.x) % kWarp;
  const int warps_per_block = static_cast<int>(blockDim.x) / kWarp;
  const int nl = n_lanes(n_words);
  const i64 stride = static_cast<i64>(gridDim.x) * warps_per_block;
  for (i64 v = static_cast<i64>(blockIdx.x) * warps_per_block + static_cast<int>(threadIdx.x) / kWarp;
       v < n_variants; v += stride) {
    const u32* lo_row = lo + v * n_words;
    const u32* hi_row = hi + v * n_words;
    const u32* fail_row = FAIL ? fail + v * n_words : nullptr;
    for (int g0 = 0; g0 < n_groups; g0 += kTile) {
      cnt_t acc[kTile][kOut];
GDB_UNROLL
      for (int k = 0; k < kTile; ++k) {
GDB_UNROLL
        for (int j = 0; j < kOut; ++j) acc[k][j] = cnt_t{};
      }
      for (int l = warp_lane; l < nl; l += kWarp) {
        const lane_t a = load_lane(lo_row, l, n_words);
        const lane_t b = load_lane(hi_row, l, n_words);
        lane_t t[kOut];
        t[0] = a & ~b;
        t[1] = b & ~a;
        t[2] = a & b;
        if constexpr (FAIL) {
          const lane_t f = load_lane(fail_row, l, n_words);
          t[3] = t[0] & ~f;
          t[4] = t[1] & ~f;
          t[5] = t[2] | f;
        }
GDB_UNROLL
        for (int k = 0; k < kTile; ++k) {
          if (g0 + k < n_groups) {  // uniform across the warp
            const lane_t m = load_lane(masks + static_cast<i64>(g0 + k) * n_words, l, n_words);
GDB_UNROLL
            for (int j = 0; j < kOut; ++j) acc[k][j] += popc(t[j] & m);
          }
        }
      }
GDB_UNROLL
      for (int k = 0; k < kTile; ++k) {
        if (g0 + k < n_groups) {
GDB_UNROLL
          for (int j = 0; j < kOut; ++j) {
            const u32 s = warp_sum(cnt_total(acc[k][j]));
            if (warp_lane == 0) out[(v * n_groups + g0 + k) * kOut + j] = static_cast<i32>(s);
          }
        }
      }
    }
  }
}

}  // namespace gdb

#if !GDB_GPU
// Host entry point (ctypes).  Inputs are validated by gdbtools.backend; returns 0.
extern "C" int gdb_host_variant_group_counts(const gdb::u32* lo, const gdb::u32* hi, const gdb::u32* fail,
                                             const gdb::u32* masks, gdb::i64 n_variants, gdb::i32 n_words,
                                             gdb::i32 n_groups, gdb::i32* out, gdb::i32 n_threads) {
  const dim3 grid(static_cast<unsigned>(n_variants));
  if (fail) {
    gdb_host::launch(grid, n_threads, [&] {
      gdb::variant_group_counts<true>(lo, hi, fail, masks, n_variants, n_words, n_groups, out);
    });
  } else {
    gdb_host::launch(grid, n_threads, [&] {
      gdb::variant_group_counts<false>(lo, hi, fail, masks, n_variants, n_words, n_groups, out);
    });
  }
  return 0;
}
#endif
