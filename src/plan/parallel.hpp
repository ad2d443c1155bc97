// Static partition of [0, tasks) over up to `threads` workers (OpenMP when available).
// Thread t always gets the same contiguous range for a given (tasks, threads), and kernels
// make each task's result independent of who runs it: bit-identical output for any count.
#pragma once

#include <algorithm>
#include <cstdint>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace groupconv::detail {

template <typename F>
void parallel_for(std::int64_t tasks, int threads, F&& body) {
  if (tasks <= 0) return;
  const int nt = static_cast<int>(std::min<std::int64_t>(std::max(threads, 1), tasks));
  if (nt == 1) {
    body(std::int64_t{0}, tasks, 0);
    return;
  }
#if defined(_OPENMP)
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num();
    const int team = omp_get_num_threads();
    const std::int64_t begin = tasks * t / team;
    const std::int64_t end = tasks * (t + 1) / team;
    if (begin < end) body(begin, end, t);
  }
#else
  for (int t = 0; t < nt; ++t) {
    const std::int64_t begin = tasks * t / nt;
    const std::int64_t end = tasks * (t + 1) / nt;
    if (begin < end) body(begin, end, t);
  }
#endif
}

}  // namespace groupconv::detail
