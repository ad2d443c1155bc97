#!/usr/bin/env bash
# Runs every test of the project:
#   1. Release build (warnings as errors) + CTest: unit tests, CLI tests
#   2. ASan+UBSan build + CTest: the same unit tests under the sanitizers
#   3. Python package tests (pip install . into two venvs; TF and PyTorch as oracles)
#   4. Conformance of `groupconv run` with TensorFlow and PyTorch
#   5. libFuzzer targets, FUZZ_SECONDS each (default 60)
# plus a clang-format check first (scripts/lint.sh; `scripts/lint.sh --tidy` adds clang-tidy).
# Set GROUPCONV_SKIP="lint asan python conformance fuzz" (any subset) for a quicker local loop.
set -euo pipefail
cd "$(dirname "$0")/.."
skip=" ${GROUPCONV_SKIP:-} "
jobs=${JOBS:-$(nproc)}
failed=()
step() { echo; echo "==== $* ==== (at ${SECONDS} s)"; }

if [[ $skip != *" lint "* ]]; then
  step "clang-format check"
  scripts/lint.sh || failed+=(lint)
fi

# The Python environments (PyPI's tensorflow-cpu: mostly download) are created in the
# background while the C++ builds run; the Python step waits for them.
env_pid=
if [[ $skip != *" python "* || $skip != *" conformance "* ]] && [ -x scripts/python_env.sh ]; then
  mkdir -p build
  step "Python environments (background, log: build/python_env.log)"
  scripts/python_env.sh >build/python_env.log 2>&1 &
  env_pid=$!
fi
wait_env() {
  [ -n "$env_pid" ] || return 0
  local rc=0
  wait "$env_pid" || rc=$?
  env_pid=
  cat build/python_env.log
  [ $rc = 0 ] || echo "python environments failed (rc $rc)"
  return $rc
}

step "Release build and unit/CLI tests"
cmake --preset release >/dev/null
cmake --build --preset release -j"$jobs"
ctest --preset release -j"$jobs" || failed+=(release)

if [[ $skip != *" asan "* ]]; then
  step "ASan+UBSan build and unit tests"
  cmake --preset asan >/dev/null
  cmake --build --preset asan -j"$jobs"
  ASAN_OPTIONS=detect_leaks=1 ctest --preset asan -j"$jobs" || failed+=(asan)
fi

if [[ $skip != *" python "* ]] && [ -x scripts/python_tests.sh ]; then
  step "Python package tests"
  wait_env || true  # python_tests.sh retries python_env.sh and reports its failure
  # The wheel links the Release library just built and tested instead of compiling it again.
  GROUPCONV_PREBUILT_LIBRARY="$PWD/build/release/src/libgroupconv.a" scripts/python_tests.sh ||
    failed+=(python)
fi

if [[ $skip != *" conformance "* ]] && [ -x scripts/conformance_tests.sh ]; then
  step "Conformance with TensorFlow and PyTorch (groupconv run)"
  wait_env || true
  GROUPCONV_BIN="$PWD/build/release/tools/groupconv" scripts/conformance_tests.sh || failed+=(conformance)
fi

if [[ $skip != *" fuzz "* ]] && [ -x scripts/fuzz.sh ]; then
  step "Fuzzing (${FUZZ_SECONDS:-60} s per target)"
  scripts/fuzz.sh "${FUZZ_SECONDS:-60}" || failed+=(fuzz)
fi

echo
echo "test.sh: ${SECONDS} s in all"
if [ ${#failed[@]} -ne 0 ]; then
  echo "FAILED steps: ${failed[*]}"
  exit 1
fi
echo "all test steps passed"
