#!/usr/bin/env bash
# Builds the libFuzzer targets (CMake preset `fuzz`: clang, ASan + UBSan) and runs each for
# SECONDS (default 60). Fails if any target finds a crash, a leak, undefined behaviour, a
# timeout or an out-of-memory; the reproducer is saved under build/fuzz/artifacts/<target>/
# (replay it with build/fuzz/fuzz/fuzz_<target> <file>).
#   usage: scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
targets=(npy resolve)

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j"${JOBS:-2}" --target "${targets[@]/#/fuzz_}"

status=0
for t in "${targets[@]}"; do
  corpus=build/fuzz/corpus/$t          # grows as the fuzzer finds new coverage
  artifacts=build/fuzz/artifacts/$t/
  log=build/fuzz/fuzz_$t.log
  mkdir -p "$corpus" "$artifacts" "fuzz/corpus/$t"  # seeds are committed; never fail on a missing dir
  args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$artifacts")
  [ -f "fuzz/$t.dict" ] && args+=(-dict="fuzz/$t.dict")
  [ "$t" = npy ] && args+=(-max_len=4096)
  echo "fuzz_$t: ${seconds} s"
  if ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
     "build/fuzz/fuzz/fuzz_$t" "${args[@]}" "$corpus" "fuzz/corpus/$t" >"$log" 2>&1; then
    grep -E "^stat::number_of_executed_units|^Done" "$log" || true
  else
    status=1
    echo "fuzz_$t FAILED (log: $log, reproducer in $artifacts):"
    tail -n 60 "$log"
  fi
done
exit $status
