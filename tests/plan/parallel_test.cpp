#include "plan/parallel.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace groupconv::detail {
namespace {

using i64 = std::int64_t;

struct Call {
  i64 begin;
  i64 end;
  int tid;
};

// Runs `run` (parallel_for or parallel_for_balanced) and records every call.
template <typename Run>
std::vector<Call> record(Run run, i64 tasks, int threads) {
  std::mutex mu;
  std::vector<Call> calls;
  run(tasks, threads, [&](i64 b, i64 e, int tid) {
    const std::lock_guard<std::mutex> lock(mu);
    calls.push_back({b, e, tid});
  });
  return calls;
}

void expect_each_task_once(const std::vector<Call>& calls, i64 tasks, int threads) {
  std::vector<int> seen(static_cast<std::size_t>(tasks), 0);
  for (const Call& c : calls) {
    ASSERT_LT(c.begin, c.end) << "an empty call";
    ASSERT_GE(c.begin, 0);
    ASSERT_LE(c.end, tasks);
    ASSERT_GE(c.tid, 0);
    ASSERT_LT(c.tid, std::max(threads, 1)) << "thread ids index per-thread scratch";
    for (i64 t = c.begin; t < c.end; ++t) ++seen[static_cast<std::size_t>(t)];
  }
  for (i64 t = 0; t < tasks; ++t) {
    EXPECT_EQ(seen[static_cast<std::size_t>(t)], 1) << "task " << t << " of " << tasks;
  }
}

TEST(Parallel, BalancedRunsEveryTaskExactlyOnce) {
  const auto balanced = [](i64 n, int t, auto&& f) { parallel_for_balanced(n, t, f); };
  for (int threads : {0, 1, 2, 3, 4, 7}) {
    for (i64 tasks : {0, 1, 2, 3, 5, 16, 63, 1000}) {
      SCOPED_TRACE(testing::Message() << threads << " threads, " << tasks << " tasks");
      const std::vector<Call> calls = record(balanced, tasks, threads);
      expect_each_task_once(calls, tasks, threads);
      if (tasks == 0) {
        EXPECT_TRUE(calls.empty());
      }
    }
  }
}

TEST(Parallel, StaticGivesEachThreadOneFixedRange) {
  const auto fixed = [](i64 n, int t, auto&& f) { parallel_for(n, t, f); };
  for (int threads : {1, 2, 3}) {
    for (i64 tasks : {1, 2, 10, 101}) {
      SCOPED_TRACE(testing::Message() << threads << " threads, " << tasks << " tasks");
      const std::vector<Call> calls = record(fixed, tasks, threads);
      expect_each_task_once(calls, tasks, threads);
      const i64 nt = std::min<i64>(threads, tasks);
      ASSERT_EQ(static_cast<i64>(calls.size()), nt);
      for (const Call& c : calls) {
        EXPECT_EQ(c.begin, tasks * c.tid / nt);
        EXPECT_EQ(c.end, tasks * (c.tid + 1) / nt);
      }
    }
  }
}

// A worker that is slow (here: sleeps in every task; on a shared machine, a worker whose
// core runs another process) no longer holds the team up: the other takes over the end of
// its range.
TEST(Parallel, IdleWorkerTakesOverTheEndOfASlowWorkersRange) {
#if !defined(_OPENMP)
  GTEST_SKIP() << "built without OpenMP: parallel_for_balanced runs one worker";
#else
  constexpr i64 kTasks = 64;
  using Owner = std::atomic<int>;
  std::vector<Owner> owner(kTasks);
  for (auto& o : owner) o.store(-1);
  parallel_for_balanced(kTasks, 2, [&](i64 b, i64 e, int tid) {
    for (i64 t = b; t < e; ++t) {
      owner[static_cast<std::size_t>(t)].store(tid);
      if (tid == 0) std::this_thread::sleep_for(std::chrono::milliseconds(8));
    }
  });
  int taken = 0;
  for (i64 t = 0; t < kTasks; ++t) {
    const int o = owner[static_cast<std::size_t>(t)].load();
    ASSERT_GE(o, 0) << "task " << t << " never ran";
    if (t < kTasks / 2 && o == 1) ++taken;
  }
  // Worker 0 takes half of its 32 tasks first (128 ms); worker 1 ends its own range long
  // before that and takes half of what is left at the back, again and again.
  EXPECT_GE(taken, 8) << "worker 1 ran " << taken << " of worker 0's 32 tasks";
#endif
}

}  // namespace
}  // namespace groupconv::detail
