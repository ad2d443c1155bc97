#!/usr/bin/env bash
# Builds the Release preset if needed, then runs `groupconv demo` (extra args are passed on).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build/release/build.ninja ]; then
  cmake --preset release >/dev/null
fi
cmake --build --preset release --target groupconv_cli >/dev/null
exec build/release/tools/groupconv demo "$@"
