// dosages.cu: the dosage matrix of chosen variants (rows) and samples, as float64 (burden tests).
//
//   out[i, j] = dosage of sample samples[i] at plane row rows[j]:
//               code 0 -> 0, 1 -> 1, 2 -> 2 (hom-alt or haploid alt), 3 (missing) -> fill[j]
//   with FAIL (the adj view) a call whose fail bit is set is missing: (lo | fail, hi | fail)
//
// `out` is (n_samples, n_rows) row-major: the matrix G of a gene, samples down, variants across, as the
// statistics multiply it.  The values are copies of small integers or of `fill`, so every backend gives the
// same bits.  A thread owns one output row (one sample): it reads the sample's bit of each variant's word
// (threads of a warp share words: consecutive samples) and writes its row of doubles.
//
// Grid: x = blocks of `samples_per_block` samples; the threads of a block stride over them (GPU: one sample a
// thread; host: one "thread" a block walks all its samples).
#include "gdb_device.cuh"

namespace gdb {

// Threads per block of the GPU launch; 1 on the host.
constexpr int kDosageThreads = GDB_GPU ? 256 : 1;

template <bool FAIL>
__global__ void __launch_bounds__(kDosageThreads) dosages(
    const u32* __restrict__ lo, const u32* __restrict__ hi, const u32* __restrict__ fail,
    const i32* __restrict__ rows, i32 n_rows, const i32* __restrict__ samples, i64 n_samples,
    i32 samples_per_block, i32 n_words, const double* __restrict__ fill, double* __restrict__ out) {
  const i64 s0 = static_cast<i64>(blockIdx.x) * samples_per_block;
  const i64 s1 = s0 + samples_per_block < n_samples ? s0 + samples_per_block : n_samples;
  for (i64 i = s0 + static_cast<i64>(threadIdx.x); i < s1; i += blockDim.x) {
    const i32 s = samples[i];
    const i64 word = static_cast<i64>(s >> 5);
    const u32 bit = static_cast<u32>(s & 31);
    double* const o = out + i * n_rows;
    for (i32 j = 0; j < n_rows; ++j) {
      const i64 at = static_cast<i64>(rows[j]) * n_words + word;
      u32 a = (lo[at] >> bit) & 1u;
      u32 b = (hi[at] >> bit) & 1u;
      if (FAIL) {
        const u32 f = (fail[at] >> bit) & 1u;
        a |= f;
        b |= f;
      }
      o[j] = (a & b) != 0u ? fill[j] : static_cast<double>(a + 2u * b);
    }
  }
}

}  // namespace gdb

#if !GDB_GPU
// Host entry point (ctypes).  Inputs are validated by gdbtools.backend; returns 0.
extern "C" int gdb_host_dosages(const gdb::u32* lo, const gdb::u32* hi, const gdb::u32* fail, const gdb::i32* rows,
                                gdb::i32 n_rows, const gdb::i32* samples, gdb::i64 n_samples,
                                gdb::i32 samples_per_block, gdb::i32 n_words, const double* fill, double* out,
                                gdb::i32 n_threads) {
  if (samples_per_block < 1) samples_per_block = 1;
  const dim3 grid(static_cast<unsigned>((n_samples + samples_per_block - 1) / samples_per_block));
  if (fail) {
    gdb_host::launch(grid, n_threads, [&] {
      gdb::dosages<true>(lo, hi, fail, rows, n_rows, samples, n_samples, samples_per_block, n_words, fill, out);
    });
  } else {
    gdb_host::launch(grid, n_threads, [&] {
      gdb::dosages<false>(lo, hi, fail, rows, n_rows, samples, n_samples, samples_per_block, n_words, fill, out);
    });
  }
  return 0;
}
#endif
