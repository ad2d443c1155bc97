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

# The targets run side by side, one per core (JOBS, default 2, at a time).
fuzz_one() {  # target: runs it, prints its summary; non-zero when it found something
  local t=$1
  local corpus=build/fuzz/corpus/$t          # grows as the fuzzer finds new coverage
  local artifacts=build/fuzz/artifacts/$t/
  local log=build/fuzz/fuzz_$t.log
  mkdir -p "$corpus" "$artifacts" "fuzz/corpus/$t"  # seeds are committed; never fail on a missing dir
  local args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
              -artifact_prefix="$artifacts")
  [ -f "fuzz/$t.dict" ] && args+=(-dict="fuzz/$t.dict")
  [ "$t" = npy ] && args+=(-max_len=4096)
  if ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
     "build/fuzz/fuzz/fuzz_$t" "${args[@]}" "$corpus" "fuzz/corpus/$t" >"$log" 2>&1; then
    echo "fuzz_$t: ${seconds} s"
    grep -E "^stat::number_of_executed_units|^Done" "$log" || true
  else
    echo "fuzz_$t FAILED (log: $log, reproducer in $artifacts):"
    tail -n 60 "$log"
    return 1
  fi
}

status=0
pids=()
for t in "${targets[@]}"; do
  fuzz_one "$t" >"build/fuzz/summary_$t.txt" 2>&1 &
  pids+=($!)
  if [ ${#pids[@]} -ge "${JOBS:-2}" ]; then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
  fi
done
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
for t in "${targets[@]}"; do cat "build/fuzz/summary_$t.txt"; done
exit $status
