#!/usr/bin/env bash
# Conformance of `groupconv run` / `groupconv check` with TensorFlow and PyTorch.
#
# TensorFlow (PyPI, NumPy 2) and Debian's PyTorch (NumPy 1.24) cannot share an interpreter, so
# the two halves run in the two environments of scripts/python_env.sh, on the same seeded cases.
#   GROUPCONV_BIN               the CLI under test (default build/release/tools/groupconv)
#   GROUPCONV_REQUIRE_ORACLES=1 a missing TensorFlow or PyTorch fails instead of skipping (CI)
#   GROUPCONV_CONFORMANCE_OUT   where the per-oracle JSON records go (default build/conformance);
#                               tests/conformance/make_comparison.py renders them
#   GROUPCONV_CONFORMANCE_SEED / _CASES   another seed / case count (defaults 20261125 / 240)
#   GROUPCONV_CONFORMANCE_BWD_CASES       how many of those cases also run the backward passes
#                               (--pass bwd_data / bwd_filter; default 120; -k bwd selects them)
# Extra arguments are passed to both pytest runs (e.g. -k depthwise, -x).
# Exits non-zero when either half fails.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export GROUPCONV_BIN="${GROUPCONV_BIN:-$root/build/release/tools/groupconv}"
case "$GROUPCONV_BIN" in /*) ;; *) GROUPCONV_BIN="$root/$GROUPCONV_BIN" ;; esac
export GROUPCONV_CONFORMANCE_OUT="${GROUPCONV_CONFORMANCE_OUT:-$root/build/conformance}"
export TF_CPP_MIN_LOG_LEVEL=3
mkdir -p "$GROUPCONV_CONFORMANCE_OUT"

if ! scripts/python_env.sh; then
  echo "conformance: scripts/python_env.sh failed" >&2
  exit 1
fi
if [ ! -x "$GROUPCONV_BIN" ]; then
  echo "conformance: no groupconv binary at $GROUPCONV_BIN (build it, or set GROUPCONV_BIN)" >&2
  exit 1
fi

status=0
# The self-consistency checks (thread counts, ISAs, layouts, sliced groups) need NumPy only;
# they ride along with the PyTorch half, the faster interpreter to start.
for half in "tf:test_tensorflow.py" "torch:test_torch.py test_self_consistency.py"; do
  env="${half%%:*}"
  files=()
  for f in ${half#*:}; do files+=("tests/conformance/$f"); done
  echo "---- conformance: ${files[*]} (build/venv-$env) ----"
  # -p no:cacheprovider: write nothing into the source tree.
  "build/venv-$env/bin/python" -m pytest -q -p no:cacheprovider -W ignore::UserWarning \
    "${files[@]}" "$@" || status=1
done
if [ $status -ne 0 ]; then
  echo "conformance: FAILED (records in $GROUPCONV_CONFORMANCE_OUT)" >&2
else
  echo "conformance: passed (records in $GROUPCONV_CONFORMANCE_OUT)"
fi
exit $status
