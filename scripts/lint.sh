#!/usr/bin/env bash
# clang-format check of every C++ file; with --tidy also clang-tidy (.clang-tidy) over the
# library and CLI sources using build/release/compile_commands.json.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.cpp' '*.hpp' '*.h' '*.c' '*.inc')
bad=0
for f in $files; do
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || { echo "clang-format: $f needs formatting"; bad=1; }
done
if [ "${1:-}" = "--tidy" ]; then
  [ -f build/release/compile_commands.json ] || cmake --preset release >/dev/null
  srcs=$(git ls-files 'src/*.cpp' 'tools/*.cpp')
  # GCC-only warning flags in the compile database are unknown to clang.
  echo "$srcs" | xargs -P "$(nproc)" -n 4 clang-tidy -quiet -p build/release \
    --extra-arg=-Wno-unknown-warning-option 2>/dev/null || bad=1
fi
if [ $bad -ne 0 ]; then
  echo "lint: FAILED"
  exit 1
fi
echo "lint: clean"
