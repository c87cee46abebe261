// variant_counts.cu: per variant and sample group, the counts of het, hom-alt and missing calls.
//
//   out[v, g, 0:3] = popcount over the row of (lo & ~hi, ~lo & hi, lo & hi), each AND masks[g]
//   with FAIL, out[v, g, 3:6] = the same for the adj view (lo | fail, hi | fail):
//                  (lo & ~hi & ~fail, ~lo & hi & ~fail, (lo & hi) | fail), each AND masks[g]
//
// GPU: one warp per variant (grid-stride), each thread a word at a time, groups in tiles of kGroupTile so the
// accumulators stay in registers; one warp_sum per count.  Host: one variant per block, a lane of 4-16 words
// at a time.  The row is read once per group tile (from L1/L2 after the first tile).
#include <cstdint>

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

#if !GDB_GPU
// Host entry point (ctypes): variant_group_counts of a hybrid2 block's sparse rows (gdbtools.backend.sparse,
// whose NumPy twin is the oracle).  Sparse row k (block row rows[k]) holds entries ptr[k]:ptr[k+1], each a
// sample and a code (bits 0-1 genotype, bit 2 fail: store/bitplanes CODE_FAIL_BIT); a sample without an
// entry is a passing hom-ref.  Entries are counted per mask atom (atom[sample]), then added to the masks of
// each atom (atom_masks[atom_ptr[a]:atom_ptr[a+1]]):
//   out[rows[k], m, 0:3] += het, hom-alt, missing; with_adj: out[rows[k], m, 3:6] += the same, failing = missing.
// Rows are independent (rows[] has no repeats), so they are spread over OpenMP threads.
namespace gdb {
template <class S>
static void sparse_group_counts(const i32* rows, const i64* ptr, const S* sample, const unsigned char* code,
                                const i32* atom, const i64* atom_ptr, const i32* atom_masks, i64 n_rows,
                                i32 n_atoms, i32 n_masks, bool with_adj, i32* out, i32 n_threads) {
  const int n_kinds = with_adj ? 6 : 3;
#ifdef _OPENMP
#pragma omp parallel num_threads(n_threads > 0 ? n_threads : 1) if (n_rows > 64)
#endif
  {
    // Per atom, the row's count of each of the 8 codes in the 8 byte lanes of one word (a code adds
    // 1 << 8 * code: one add per entry, no branch); a row of more than 255 entries (a lane's maximum) spills
    // the words into `n` every 255 entries.
    std::uint64_t* lanes = new std::uint64_t[static_cast<size_t>(n_atoms)]();
    i64* n = new i64[static_cast<size_t>(n_atoms) * 8]();
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
    for (i64 k = 0; k < n_rows; ++k) {
      i32* out_row = out + static_cast<i64>(rows[k]) * n_masks * n_kinds;
      bool spilled = false;
      for (i64 e0 = ptr[k]; e0 < ptr[k + 1]; e0 += 255) {
        const i64 e1 = e0 + 255 < ptr[k + 1] ? e0 + 255 : ptr[k + 1];
        if (n_atoms == 1) {  // no strata: the word stays in a register
          std::uint64_t word = 0;
          for (i64 e = e0; e < e1; ++e) word += std::uint64_t{1} << ((code[e] & 7) * 8);
          lanes[0] += word;
        } else {
          for (i64 e = e0; e < e1; ++e) lanes[atom[sample[e]]] += std::uint64_t{1} << ((code[e] & 7) * 8);
        }
        if (e1 < ptr[k + 1]) {  // more to come: spill before a lane can overflow
          spilled = true;
          for (i32 a = 0; a < n_atoms; ++a) {
            for (int v = 0; v < 8; ++v) n[a * 8 + v] += static_cast<i64>((lanes[a] >> (8 * v)) & 0xFF);
            lanes[a] = 0;
          }
        }
      }
      for (i32 a = 0; a < n_atoms; ++a) {
        const std::uint64_t word = lanes[a];
        if (word == 0 && !spilled) continue;
        i64 c[8];  // codes: bits 0-1 the genotype (0 hom-ref .. 3 missing), bit 2 fail
        for (int v = 0; v < 8; ++v) c[v] = static_cast<i64>((word >> (8 * v)) & 0xFF);
        lanes[a] = 0;
        if (spilled) {
          for (int v = 0; v < 8; ++v) {
            c[v] += n[a * 8 + v];
            n[a * 8 + v] = 0;
          }
        }
        if (!(c[1] | c[2] | c[3] | c[4] | c[5] | c[6] | c[7])) continue;
        const i64 h[6] = {c[1] + c[5], c[2] + c[6], c[3] + c[7],   // raw: het, hom-alt, missing
                          c[1], c[2], c[3] + c[4] + c[5] + c[6] + c[7]};  // adj: failing calls are missing
        for (i64 j = atom_ptr[a]; j < atom_ptr[a + 1]; ++j) {
          i32* o = out_row + static_cast<i64>(atom_masks[j]) * n_kinds;
          for (int t = 0; t < n_kinds; ++t) o[t] += static_cast<i32>(h[t]);
        }
      }
    }
    delete[] n;
    delete[] lanes;
  }
}
}  // namespace gdb

extern "C" int gdb_host_sparse_group_counts_u16(const gdb::i32* rows, const gdb::i64* ptr, const unsigned short* sample,
                                                const unsigned char* code, const gdb::i32* atom,
                                                const gdb::i64* atom_ptr, const gdb::i32* atom_masks,
                                                gdb::i64 n_rows, gdb::i32 n_atoms, gdb::i32 n_masks,
                                                gdb::i32 with_adj, gdb::i32* out, gdb::i32 n_threads) {
  gdb::sparse_group_counts(rows, ptr, sample, code, atom, atom_ptr, atom_masks, n_rows, n_atoms, n_masks,
                           with_adj != 0, out, n_threads);
  return 0;
}

extern "C" int gdb_host_sparse_group_counts_i32(const gdb::i32* rows, const gdb::i64* ptr, const gdb::i32* sample,
                                                const unsigned char* code, const gdb::i32* atom,
                                                const gdb::i64* atom_ptr, const gdb::i32* atom_masks,
                                                gdb::i64 n_rows, gdb::i32 n_atoms, gdb::i32 n_masks,
                                                gdb::i32 with_adj, gdb::i32* out, gdb::i32 n_threads) {
  gdb::sparse_group_counts(rows, ptr, sample, code, atom, atom_ptr, atom_masks, n_rows, n_atoms, n_masks,
                           with_adj != 0, out, n_threads);
  return 0;
}
#endif
