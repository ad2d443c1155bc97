#!/usr/bin/env bash
# Creates (idempotently) the two Python environments the tests use, and prints nothing else
# than progress on stderr:
#   build/venv-tf     PyPI's tensorflow-cpu + numpy + pytest (python3 from PATH)
#   build/venv-torch  Debian's python3-torch and numpy (/usr/bin/python3, system site
#                     packages) + pytest; PyPI's torch would drag in GBs of CUDA libraries.
# TensorFlow from PyPI wants a newer numpy than Debian's torch was built against, hence two.
# With --install-package, `pip install .` puts the groupconv package into both.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tf="$root/build/venv-tf"
torch="$root/build/venv-torch"
mkdir -p "$root/build"

if [ ! -x "$tf/bin/python" ] || ! "$tf/bin/python" -c "import tensorflow, pytest, numpy" 2>/dev/null; then
  echo "python_env: creating $tf (tensorflow-cpu from PyPI)" >&2
  python3 -m venv "$tf"
  "$tf/bin/pip" install -q --upgrade pip
  "$tf/bin/pip" install -q --no-compile tensorflow-cpu numpy pytest scikit-build-core pybind11
fi
if [ ! -x "$torch/bin/python" ] || ! "$torch/bin/python" -c "import torch, pytest, numpy" 2>/dev/null; then
  echo "python_env: creating $torch (Debian python3-torch)" >&2
  /usr/bin/python3 -c "import torch" 2>/dev/null || {
    echo "python_env: Debian's python3-torch is missing: apt-get install python3-torch" >&2; exit 1; }
  /usr/bin/python3 -m venv --system-site-packages "$torch"
  "$torch/bin/pip" install -q pytest scikit-build-core pybind11
fi
if [ "${1:-}" = "--install-package" ]; then
  for env in "$tf" "$torch"; do
    echo "python_env: pip install . into $env" >&2
    "$env/bin/pip" install -q "$root"
  done
fi
