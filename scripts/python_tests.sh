#!/usr/bin/env bash
# Python tests of the groupconv package, in the two environments of scripts/python_env.sh
# (TensorFlow and PyTorch cannot share one interpreter here):
#   build/venv-tf     tests/python/test_api.py + test_tf_*.py     (oracle: tf.nn.conv2d)
#   build/venv-torch  tests/python/test_api.py + test_torch_*.py  (oracle: torch conv2d)
# First builds the wheel once (`pip wheel .` with build/venv-torch's pip, into build/wheelhouse;
# the build directory build/pip/<wheel tag> is kept, so a rebuild only recompiles what changed)
# and installs it into both environments (falling back to `pip install .` in an environment
# whose Python the wheel does not fit), unless --no-install is given. With
# GROUPCONV_PREBUILT_LIBRARY=<libgroupconv.a> the wheel links that library instead of
# compiling the kernels again. Extra arguments go to pytest (e.g. -k tutorial, -x).
# GROUPCONV_REQUIRE_ORACLES=1 (CI) turns a missing oracle into a failure instead of a skip.
# Exit status: non-zero when anything failed.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
install=1
if [ "${1:-}" = "--no-install" ]; then install=0; shift; fi
if [ $install = 1 ]; then
  "$root/scripts/python_env.sh" || { echo "python_tests: environments failed" >&2; exit 1; }
  # One build for both: the two interpreters would configure different compiler paths and
  # rebuild everything in turn.
  wheels="$root/build/wheelhouse"
  rm -rf "$wheels" && mkdir -p "$wheels"
  # GROUPCONV_PREBUILT_LIBRARY (scripts/test.sh sets it to build/release's libgroupconv.a,
  # just built from this tree): the wheel links that library and compiles only the module.
  prebuilt=(--config-settings=cmake.define.GROUPCONV_PREBUILT_LIBRARY=)
  if [ -n "${GROUPCONV_PREBUILT_LIBRARY:-}" ]; then
    echo "python_tests: building the wheel on $GROUPCONV_PREBUILT_LIBRARY" >&2
    prebuilt=(--config-settings=cmake.define.GROUPCONV_PREBUILT_LIBRARY="$GROUPCONV_PREBUILT_LIBRARY"
              --config-settings=build-dir="build/pip-prebuilt/{wheel_tag}")
  else
    echo "python_tests: building the wheel" >&2
  fi
  "$root/build/venv-torch/bin/pip" wheel -q --no-deps "${prebuilt[@]}" -w "$wheels" "$root" ||
    { echo "python_tests: wheel build failed" >&2; exit 1; }
  for env in venv-tf venv-torch; do
    echo "python_tests: installing into build/$env" >&2
    "$root/build/$env/bin/pip" install -q --no-deps --force-reinstall "$wheels"/groupconv-*.whl ||
      "$root/build/$env/bin/pip" install -q "$root" ||
      { echo "python_tests: install into $env failed" >&2; exit 1; }
  done
fi
export TF_CPP_MIN_LOG_LEVEL=3  # TensorFlow's start-up chatter
cd "$root/tests/python"
status=0
run() {  # env, test files...
  local env=$1; shift
  echo "python_tests: $env: $*" >&2
  "$root/build/$env/bin/python" -m pytest -q -p no:cacheprovider -rfEs "$@" || status=1
}
run venv-tf test_api.py test_tf_*.py "$@"
run venv-torch test_api.py test_torch_*.py "$@"
if [ $status = 0 ]; then echo "python_tests: all passed" >&2; else echo "python_tests: FAILED" >&2; fi
exit $status
