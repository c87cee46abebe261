// host_shim.h: lets a CUDA kernel source compile as plain host C++ (g++/clang++, C++17).
//
// The host build runs every kernel with ONE thread per block: `threadIdx` is the constant 0 and `blockDim`
// the constant 1, so a kernel's thread-stride loops become ordinary loops and the warp collectives of
// gdb_device.cuh reduce a "warp" of one.  Blocks are the unit of parallelism: `gdb_host::launch` runs them
// as an OpenMP loop, with `blockIdx` and `gridDim` kept per OS thread (so concurrent launches from several
// Python threads do not interfere).  What a GPU thread does on one 32-bit word, a host "thread" does on a
// lane of several words (a GCC vector, see gdb_device.cuh), which is where the host speed comes from.
//
// Only gdb_device.cuh includes this file, and only when no CUDA compiler is compiling.
#ifndef GDB_HOST_SHIM_H
#define GDB_HOST_SHIM_H

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#error "host_shim.h is for host C++ builds only"
#endif

#include <cstddef>
#include <cstdint>
#include <cstring>
#ifdef _OPENMP
#include <omp.h>
#endif

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __restrict__ __restrict
#define __launch_bounds__(...)
#define __syncthreads() ((void)0)

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

// One thread per block on the host.
constexpr dim3 threadIdx{0, 0, 0};
constexpr dim3 blockDim{1, 1, 1};
// Set by gdb_host::launch in each worker thread before it runs a block.
inline thread_local dim3 blockIdx{0, 0, 0};
inline thread_local dim3 gridDim{1, 1, 1};

inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __ffs(int x) { return __builtin_ffs(x); }

namespace gdb_host {

// True while this OS thread runs all the blocks of a launch alone: the kernels' atomic_add (gdb_device.cuh)
// is then a plain addition (a locked add costs ~20 cycles and stalls the loads behind it; the sample-count
// flushes make one per sample and kind).  A launch's outputs are never shared with a concurrent launch.
inline thread_local bool serial = false;

// Run `body()` once per block of `grid`, on up to `n_threads` OpenMP threads that take `blocks_per_grab`
// consecutive blocks at a time.  Blocks are handed out x fastest, or y fastest with `y_fastest` (so that
// the threads work on neighbouring data at the same time).  With one thread, in this thread (no OpenMP
// team) and `serial`.
template <class F>
void launch(dim3 grid, int n_threads, F&& body, int blocks_per_grab = 1, bool y_fastest = false) {
  const long long nx = grid.x, ny = grid.y, total = nx * ny * static_cast<long long>(grid.z);
  if (total <= 0) return;
  if (n_threads < 1) n_threads = 1;
  if (blocks_per_grab < 1) blocks_per_grab = 1;
  if (total < n_threads) n_threads = static_cast<int>(total);
  auto run = [&](long long b) {
    const long long z = b / (nx * ny), xy = b % (nx * ny);
    const long long x = y_fastest ? xy / ny : xy % nx, y = y_fastest ? xy % ny : xy / nx;
    blockIdx = dim3(static_cast<unsigned>(x), static_cast<unsigned>(y), static_cast<unsigned>(z));
    body();
  };
  if (n_threads == 1) {
    const bool outer = serial;
    serial = true;
    gridDim = grid;
    for (long long b = 0; b < total; ++b) run(b);
    serial = outer;
    return;
  }
#pragma omp parallel num_threads(n_threads)
  {
    gridDim = grid;
#pragma omp for schedule(dynamic, blocks_per_grab)
    for (long long b = 0; b < total; ++b) run(b);
  }
}

}  // namespace gdb_host

#endif  // GDB_HOST_SHIM_H
