// Partitions of [0, tasks) over up to `threads` workers (OpenMP when available).
//
// parallel_for: static. Thread t always gets the same contiguous range for a given
// (tasks, threads).
//
// parallel_for_balanced: the same ranges to start with, each taken by its owner from the front
// in pieces (half of what is left, rounded up); a thread whose range is done takes
// half of what is left at the back of another's. On a machine shared with other processes a
// worker that loses its core for a while no longer holds the whole team up: the other one
// takes over the end of its range. Only for tasks whose results do not depend on which thread
// runs them, or on which tasks share a call (the kernels of all three passes; see kernel.hpp).
//
// Either way, kernels make each task's result independent of who runs it: bit-identical
// output for any thread count.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace groupconv::detail {

// Workers for `tasks` tasks (tasks > 0): at least 1, at most one per task.
inline int team_size(std::int64_t tasks, int threads) {
  return static_cast<int>(std::min<std::int64_t>(std::max(threads, 1), tasks));
}

template <typename F>
void parallel_for(std::int64_t tasks, int threads, F&& body) {
  if (tasks <= 0) return;
  const int nt = team_size(tasks, threads);
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

// One worker's range [lo, hi), both halves of one atomic word (tasks < 2^32).
struct alignas(64) StealRange {
  std::atomic<std::uint64_t> v{0};

  static std::uint64_t pack(std::int64_t lo, std::int64_t hi) {
    return (static_cast<std::uint64_t>(lo) << 32) | static_cast<std::uint64_t>(hi);
  }
  void set(std::int64_t lo, std::int64_t hi) { v.store(pack(lo, hi), std::memory_order_relaxed); }

  // Half of what is left (rounded up): from the front for the owner (kFront), from the back
  // for another worker (kBack).
  enum Side { kFront, kBack };
  bool take(Side side, std::int64_t& begin, std::int64_t& end) {
    std::uint64_t cur = v.load(std::memory_order_relaxed);
    for (;;) {
      const auto lo = static_cast<std::int64_t>(cur >> 32);
      const auto hi = static_cast<std::int64_t>(cur & 0xffffffffU);
      if (lo >= hi) return false;
      const std::int64_t n = (hi - lo + 1) / 2;
      const std::uint64_t rest = side == kFront ? pack(lo + n, hi) : pack(lo, hi - n);
      if (v.compare_exchange_weak(cur, rest, std::memory_order_relaxed)) {
        begin = side == kFront ? lo : hi - n;
        end = begin + n;
        return true;
      }
    }
  }
};

// Most workers parallel_for_balanced balances; larger teams fall back to the static split.
inline constexpr int kMaxBalancedThreads = 64;

// Worker t of nt: its own range first, then the others' in the order t + 1, t + 2, ...
template <typename F>
void run_balanced_worker(StealRange* ranges, int t, int nt, F& body) {
  std::int64_t b = 0;
  std::int64_t e = 0;
  while (ranges[t].take(StealRange::kFront, b, e)) body(b, e, t);
  for (int k = 1; k < nt; ++k) {
    StealRange& victim = ranges[(t + k) % nt];
    while (victim.take(StealRange::kBack, b, e)) body(b, e, t);
  }
}

template <typename F>
void parallel_for_balanced(std::int64_t tasks, int threads, F&& body) {
  if (tasks <= 0) return;
  const int nt = team_size(tasks, threads);
  if (nt == 1) {
    body(std::int64_t{0}, tasks, 0);
    return;
  }
#if defined(_OPENMP)
  if (nt > kMaxBalancedThreads || tasks >= (std::int64_t{1} << 32)) {
    parallel_for(tasks, threads, body);
    return;
  }
  StealRange ranges[kMaxBalancedThreads];
  for (int t = 0; t < nt; ++t) ranges[t].set(tasks * t / nt, tasks * (t + 1) / nt);
#pragma omp parallel num_threads(nt)
  {
    // A smaller team than asked for still empties every range (by taking from the others).
    run_balanced_worker(ranges, omp_get_thread_num(), nt, body);
  }
#else
  parallel_for(tasks, threads, body);
#endif
}

}  // namespace groupconv::detail
