#!/usr/bin/env bash
# The peers benchmark (issues 3 and 5): builds gc_peers in build/bench (Release), runs the
# suite through groupconv, oneDNN and XNNPACK (gc_peers) and through PyTorch (torch_peer.py)
# at 1 and 2 threads, for the forward, the input gradient and the filter gradient, and
# rewrites docs/PERFORMANCE.md from the CSVs.
#
#   scripts/bench_peers.sh [--layers FILE] [--threads 1,2] [--min-time S] [--rounds R]
#                          [--pass fwd|bwd_data|bwd_filter|all] [--filter SUBSTR]
#                          [--out FILE.md] [--no-torch]
#
# Needs Debian's libdnnl-dev and libxnnpack-dev (gc_peers is not built without them) and
# python3-torch + python3-numpy (or build/venv-torch from scripts/python_env.sh).
# A full run over bench/layers.csv, all passes, at --min-time 0.2 and 2 rounds takes about
# 10 minutes on a quiet 2-core machine (longer under load); run it on a quiet machine. Raw CSVs and logs stay in build/bench/peers-results/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
layers=bench/layers.csv
threads=1,2
min_time=0.2
rounds=2
pass=all
filter=""
out=docs/PERFORMANCE.md
torch=1
while [ $# -gt 0 ]; do
  case "$1" in
    --layers) layers=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --min-time) min_time=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --pass) pass=$2; shift 2 ;;
    --filter) filter=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --no-torch) torch=0; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "bench_peers: unknown option $1" >&2; exit 2 ;;
  esac
done

build="$root/build/bench"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
# Benchmarks do not need -Werror: a new compiler's warning must not stop a measurement.
cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DGROUPCONV_BUILD_TESTS=OFF -DGROUPCONV_BUILD_TOOLS=OFF -DGROUPCONV_WERROR=OFF >/dev/null
cmake --build "$build" -j2 --target gc_peers >/dev/null 2>&1 || true
gc_peers="$build/bench/peers/gc_peers"
if [ ! -x "$gc_peers" ]; then
  # Either the peers are missing (the target does not exist) or the build failed: show why.
  if ! cmake --build "$build" -j2 --target gc_peers; then
    echo "bench_peers: gc_peers was not built; it needs libdnnl-dev and libxnnpack-dev" >&2
  fi
  exit 1
fi
cmake --build "$build" -j2 --target gc_peers  # up to date; fails loudly if the build broke

python=/usr/bin/python3
[ -x "$root/build/venv-torch/bin/python" ] && python="$root/build/venv-torch/bin/python"
if [ "$torch" = 1 ] && ! "$python" -c "import torch, numpy" 2>/dev/null; then
  echo "bench_peers: no torch in $python; install python3-torch or pass --no-torch" >&2
  exit 1
fi

results="$build/peers-results"
mkdir -p "$results"
rm -f "$results"/gc_peers.csv "$results"/torch.csv
args=(--layers "$layers" --threads "$threads" --min-time "$min_time" --rounds "$rounds"
  --pass "$pass")
[ -n "$filter" ] && args+=(--filter "$filter")
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s)
start_date=$(date -u '+%Y-%m-%d %H:%M UTC')
commit=$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)
status=0
"$gc_peers" "${args[@]}" --csv "$results/gc_peers.csv" | tee "$results/gc_peers.log" || status=$?
csvs=(--csv "$results/gc_peers.csv")
if [ "$torch" = 1 ]; then
  "$python" bench/peers/torch_peer.py "${args[@]}" --csv "$results/torch.csv" \
    | tee "$results/torch.log" || status=$?
  csvs+=(--csv "$results/torch.csv")
fi
seconds=$(( $(date +%s) - start ))
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
python3 bench/peers/make_table.py "${csvs[@]}" --out "$out" --load-before "$load_before" \
  --load-after "$load_after" --seconds "$seconds" --min-time "$min_time" --rounds "$rounds" \
  --layers "$layers" --date "$start_date" --commit "$commit" \
  $( [ -f build/python_layers.md ] && echo --append build/python_layers.md )
echo "bench_peers: $out written (run took ${seconds} s; load ${load_before} -> ${load_after})" >&2
if [ "$status" != 0 ]; then
  echo "bench_peers: some library produced a wrong result (see the logs in $results)" >&2
fi
exit "$status"
