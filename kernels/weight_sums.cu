// weight_sums.cu: per sample, an integer weight per variant summed over the variants where the call is missing.
//
//   out[s] += sum over variants v with wfix[v] != 0 and a missing call of sample s of wfix[v]
//   missing = lo & hi, or with FAIL (the adj view) (lo & hi) | fail
//
// The inbreeding F of plink's method of moments needs these sums (gdbtools.stats._wsum): the weights are
// fixed-point integers, so the sums are exact and identical on every backend (int64, wrapping like int64
// addition).  The work is proportional to the missing calls: a thread owns a lane of words (GPU: 1 word of
// 32 samples; host: 4-16 words) and, for each row of its chunk, visits the set bits of its missing words and
// adds the row's weight to that sample's accumulator.  The accumulators are private to the thread and
// indexed by sample bit: in shared memory on the GPU (laid out [bit][thread], so a warp's accesses fall in
// distinct banks), on the stack on the host (a lane of 16 words is 512 samples, 4 KiB).  At the end of a
// chunk of rows the non-zero sums are added to `out` with atomics, so chunks may run concurrently and
// results accumulate across calls.
//
// Grid: (x, y) = (chunks of `rows_per_chunk` rows, grid-stride; blocks of lanes).  Rows of weight 0 are
// skipped without reading the planes (the branch is uniform over the block).  The GPU loads a batch of
// rows before visiting their bits, to keep several loads in flight per thread.
#include "gdb_device.cuh"

namespace gdb {

// Threads per block of the GPU launch (the CuPy backend must launch exactly this many); 1 on the host.
constexpr int kWsumThreads = GDB_GPU ? 128 : 1;
constexpr int kWsumSlots = 32 * kLaneWords;  // accumulators per thread: one per sample bit of its lane
// Rows loaded before their bits are visited: several loads in flight per GPU thread (the host's out-of-order
// cores and prefetchers do this themselves).
constexpr int kWsumRowBatch = GDB_GPU ? 8 : 1;

template <bool FAIL>
__global__ void __launch_bounds__(kWsumThreads) missing_weight_sums(
    const u32* __restrict__ lo, const u32* __restrict__ hi, const u32* __restrict__ fail,
    const i64* __restrict__ wfix, i64 n_variants, i32 rows_per_chunk, i32 n_words, i32 n_samples,
    i64* __restrict__ out) {
#if GDB_GPU
  __shared__ i64 acc[kWsumSlots * kWsumThreads];
  i64* const mine = acc + threadIdx.x;  // slot i of this thread: mine[i * kWsumThreads]
#else
  i64 acc[kWsumSlots];
  i64* const mine = acc;
#endif
  const int l = static_cast<int>(blockIdx.y * blockDim.x + threadIdx.x);
  if (l >= n_lanes(n_words)) return;  // no barriers below: threads only touch their own slots
GDB_UNROLL
  for (int i = 0; i < kWsumSlots; ++i) mine[i * kWsumThreads] = 0;
  const i64 n_chunks = (n_variants + rows_per_chunk - 1) / rows_per_chunk;
  for (i64 ch = blockIdx.x; ch < n_chunks; ch += gridDim.x) {
    const i64 r0 = ch * rows_per_chunk;
    const i64 r1 = r0 + rows_per_chunk < n_variants ? r0 + rows_per_chunk : n_variants;
    bool touched = false;
    for (i64 rb = r0; rb < r1; rb += kWsumRowBatch) {
      // load a batch of rows first (independent loads in flight), then visit their missing bits
      lane_t m[kWsumRowBatch];
      i64 w[kWsumRowBatch];
GDB_UNROLL
      for (int q = 0; q < kWsumRowBatch; ++q) {
        const i64 r = rb + q;
        w[q] = r < r1 ? wfix[r] : 0;
        m[q] = lane_t{};
        if (w[q] != 0) {  // uniform over the block
          const i64 row = r * n_words;
          m[q] = load_lane(lo + row, l, n_words) & load_lane(hi + row, l, n_words);
          if (FAIL) m[q] |= load_lane(fail + row, l, n_words);
        }
      }
GDB_UNROLL
      for (int q = 0; q < kWsumRowBatch; ++q) {
        if (!any_bits(m[q])) continue;
        touched = true;
        // only the words with a missing call (at ~1 % missing most words of a host lane have none)
        for (u32 words = nonzero_words(m[q]); words != 0u; words &= words - 1u) {
          const int k = ctz32(words);
          u32 x = lane_word(m[q], k);
          while (x != 0u) {
            const int j = ctz32(x);
            x &= x - 1u;
            mine[(k * 32 + j) * kWsumThreads] += w[q];
          }
        }
      }
    }
    if (!touched) continue;
    // flush this chunk's sums and clear the slots for the next chunk
    for (int k = 0; k < kLaneWords; ++k) {
      const i64 s0 = (static_cast<i64>(l) * kLaneWords + k) * 32;
      for (int j = 0; j < 32; ++j) {
        i64& slot = mine[(k * 32 + j) * kWsumThreads];
        if (slot != 0) {
          if (s0 + j < n_samples) atomic_add(out + s0 + j, slot);
          slot = 0;
        }
      }
    }
  }
}

}  // namespace gdb

#if !GDB_GPU
// Host entry point (ctypes).  Inputs are validated by gdbtools.backend; returns 0.
extern "C" int gdb_host_missing_weight_sums(const gdb::u32* lo, const gdb::u32* hi, const gdb::u32* fail,
                                            const gdb::i64* wfix, gdb::i64 n_variants, gdb::i32 rows_per_chunk,
                                            gdb::i32 n_words, gdb::i32 n_samples, gdb::i64* out,
                                            gdb::i32 n_threads) {
  if (rows_per_chunk < 1) rows_per_chunk = 1;
  const gdb::i64 n_chunks = (n_variants + rows_per_chunk - 1) / rows_per_chunk;
  const dim3 grid(static_cast<unsigned>(n_chunks), static_cast<unsigned>(gdb::n_lanes(n_words)));
  if (fail) {
    gdb_host::launch(grid, n_threads, [&] {
      gdb::missing_weight_sums<true>(lo, hi, fail, wfix, n_variants, rows_per_chunk, n_words, n_samples, out);
    }, 1, true);
  } else {
    gdb_host::launch(grid, n_threads, [&] {
      gdb::missing_weight_sums<false>(lo, hi, fail, wfix, n_variants, rows_per_chunk, n_words, n_samples, out);
    }, 1, true);
  }
  return 0;
}
#endif

