#!/usr/bin/env python3
"""bench/layers.csv through groupconv, PyTorch and TensorFlow, all called from Python.

TensorFlow and PyTorch live in different interpreters here (build/venv-tf, build/venv-torch),
and TensorFlow's thread pools are fixed at start-up, so this script is a driver: it runs one
worker process per (framework, thread count) and merges their results into one table.

  groupconv   groupconv.Plan (filter packed once, outside the timed loop), numpy NHWC input
  torch       torch.nn.functional.conv2d on NCHW tensors (torch.set_num_threads)
  tensorflow  tf.nn.conv2d on NHWC tensors, eager (intra-op threads = N, inter-op = 1)

Each layer: warm-up, then runs until --min-time seconds and at least 5 runs; the median is
reported (ms) with GFLOP/s = 2*N*Ho*Wo*C_out*Cig*KH*KW / time. Outputs are compared with
groupconv's (relative L2) so a wrong fast result cannot hide.

Usage:
  python bench/python_layers.py [--threads 1,2] [--min-time 0.3] [--filter NAME]
                                [--frameworks groupconv,torch,tensorflow]
                                [--markdown OUT.md] [--csv OUT.csv]
  (--tf-python / --torch-python / --gc-python pick the interpreters; defaults: the repo's
  build/venv-tf, build/venv-torch, and the torch one for groupconv.)
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def read_layers(path: Path, name_filter: str = ""):
    layers = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        f = line.split(",")
        name = f[0]
        if name_filter and name_filter not in name:
            continue
        n, h, w, cin, cout, g, kh, kw, sh, sw, dh, dw = (int(v) for v in f[1:13])
        layers.append(dict(name=name, n=n, h=h, w=w, cin=cin, cout=cout, groups=g, kh=kh,
                           kw=kw, sh=sh, sw=sw, dh=dh, dw=dw, padding=f[13].strip()))
    return layers


def pads_of(L):
    """(top, bottom, left, right) and output size, SPEC §1."""
    p = L["padding"].upper()
    if p == "VALID":
        t = b = l_ = r = 0
    elif p == "SAME":
        def same(i, k, s, d):
            o = -(-i // s)
            tot = max((o - 1) * s + (k - 1) * d + 1 - i, 0)
            return tot // 2, tot - tot // 2
        t, b = same(L["h"], L["kh"], L["sh"], L["dh"])
        l_, r = same(L["w"], L["kw"], L["sw"], L["dw"])
    else:
        t, b, l_, r = (int(v) for v in p.split(":"))
    ho = (L["h"] + t + b - ((L["kh"] - 1) * L["dh"] + 1)) // L["sh"] + 1
    wo = (L["w"] + l_ + r - ((L["kw"] - 1) * L["dw"] + 1)) // L["sw"] + 1
    return (t, b, l_, r), ho, wo


def gflop(L):
    _, ho, wo = pads_of(L)
    return 2.0 * L["n"] * ho * wo * L["cout"] * (L["cin"] // L["groups"]) * L["kh"] * L["kw"] / 1e9


def time_fn(fn, min_time: float, min_runs: int = 5):
    fn()
    fn()  # warm-up (first-call allocations, lazy init)
    samples = []
    start = time.perf_counter()
    while len(samples) < min_runs or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
        if len(samples) >= 1000:
            break
    return statistics.median(samples)


# ---- workers -----------------------------------------------------------------------------------

def worker(framework: str, threads: int, layers, min_time: float, out_dir: Path):
    import numpy as np
    results = []
    if framework == "tensorflow":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        version = tf.__version__
    elif framework == "torch":
        import torch
        torch.set_num_threads(threads)
        version = torch.__version__
    else:
        import groupconv
        groupconv.set_num_threads(threads)
        version = groupconv.__version__
    for L in layers:
        rng = np.random.default_rng(0)
        cig = L["cin"] // L["groups"]
        x = rng.standard_normal((L["n"], L["h"], L["w"], L["cin"])).astype(np.float32)
        w = rng.standard_normal((L["kh"], L["kw"], cig, L["cout"])).astype(np.float32)
        (t, b, l_, r), ho, wo = pads_of(L)
        note = ""
        if framework == "groupconv":
            import groupconv
            plan = groupconv.Plan(w, input_shape=x.shape, strides=[L["sh"], L["sw"]],
                                  padding=[[0, 0], [t, b], [l_, r], [0, 0]],
                                  dilations=[L["dh"], L["dw"]], groups=L["groups"])
            fn = lambda: plan(x)  # noqa: E731
            note = plan.kernel_name
            y = plan(x)
        elif framework == "torch":
            import torch
            xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
            wt = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1)))
            if t == b and l_ == r:
                pad = (t, l_)
            else:  # asymmetric: pre-padded input (outside the timed loop)
                xt = torch.nn.functional.pad(xt, (l_, r, t, b))
                pad = 0
                note = "input pre-padded (asymmetric pads)"
            F = torch.nn.functional
            fn = lambda: F.conv2d(xt, wt, None, (L["sh"], L["sw"]), pad,  # noqa: E731
                                  (L["dh"], L["dw"]), L["groups"])
            with torch.no_grad():
                y = fn().numpy().transpose(0, 2, 3, 1)
        else:
            import tensorflow as tf
            xf, wf = tf.constant(x), tf.constant(w)
            pad = [[0, 0], [t, b], [l_, r], [0, 0]]
            if L["padding"].upper() in ("SAME", "VALID"):
                pad = L["padding"].upper()
            fn = lambda: tf.nn.conv2d(xf, wf, [L["sh"], L["sw"]], pad,  # noqa: E731
                                      dilations=[L["dh"], L["dw"]])
            try:
                y = fn().numpy()
            except Exception as e:  # noqa: BLE001 - TF refuses some configs on CPU
                results.append(dict(name=L["name"], ms=None, note=f"refused: {e}"[:80]))
                continue
        if framework == "torch":
            import torch
            with torch.no_grad():
                sec = time_fn(fn, min_time)
        else:
            sec = time_fn(fn, min_time)
        np.save(out_dir / f"{L['name']}.{framework}.npy", np.asarray(y, dtype=np.float32))
        results.append(dict(name=L["name"], ms=sec * 1e3, note=note))
        print(f"  {framework:<10} t={threads} {L['name']:<22} {sec * 1e3:9.3f} ms", file=sys.stderr)
    return dict(framework=framework, version=version, threads=threads, results=results)


# ---- driver --------------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--layers", default=str(ROOT / "bench" / "layers.csv"))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--min-time", type=float, default=0.3)
    ap.add_argument("--filter", default="")
    ap.add_argument("--frameworks", default="groupconv,torch,tensorflow")
    ap.add_argument("--tf-python", default=str(ROOT / "build" / "venv-tf" / "bin" / "python"))
    ap.add_argument("--torch-python",
                    default=str(ROOT / "build" / "venv-torch" / "bin" / "python"))
    ap.add_argument("--gc-python", default="")
    ap.add_argument("--markdown", default="")
    ap.add_argument("--csv", default="")
    ap.add_argument("--worker", default="", help=argparse.SUPPRESS)
    ap.add_argument("--out-dir", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    layers = read_layers(Path(args.layers), args.filter)

    if args.worker:
        res = worker(args.worker, int(args.threads), layers, args.min_time, Path(args.out_dir))
        print(json.dumps(res))
        return 0

    import tempfile

    import numpy as np
    frameworks = [f.strip() for f in args.frameworks.split(",") if f.strip()]
    pythons = {"tensorflow": args.tf_python, "torch": args.torch_python,
               "groupconv": args.gc_python or args.torch_python}
    thread_counts = [int(t) for t in args.threads.split(",")]
    table = {}  # (threads, framework) -> {name: (ms, note)}
    versions = {}
    for threads in thread_counts:
        with tempfile.TemporaryDirectory() as tmp:
            for fw in frameworks:
                py = pythons[fw]
                if not Path(py).exists():
                    print(f"python_layers: no interpreter for {fw} ({py}); skipped",
                          file=sys.stderr)
                    continue
                cmd = [py, __file__, "--worker", fw, "--threads", str(threads), "--layers",
                       args.layers, "--min-time", str(args.min_time), "--filter", args.filter,
                       "--out-dir", tmp]
                env = dict(os.environ, OMP_NUM_THREADS=str(threads),
                           TF_CPP_MIN_LOG_LEVEL="3")
                proc = subprocess.run(cmd, stdout=subprocess.PIPE, env=env, text=True)
                if proc.returncode != 0:
                    print(f"python_layers: {fw} worker failed ({proc.returncode})",
                          file=sys.stderr)
                    continue
                res = json.loads(proc.stdout.strip().splitlines()[-1])
                versions[fw] = res["version"]
                table[(threads, fw)] = {r["name"]: (r["ms"], r["note"]) for r in res["results"]}
            # correctness: every framework's output against groupconv's
            for L in layers:
                ref_path = Path(tmp) / f"{L['name']}.groupconv.npy"
                if not ref_path.exists():
                    continue
                ref = np.load(ref_path).astype(np.float64)
                for fw in frameworks:
                    p = Path(tmp) / f"{L['name']}.{fw}.npy"
                    if fw == "groupconv" or not p.exists():
                        continue
                    other = np.load(p).astype(np.float64)
                    err = np.linalg.norm(other - ref) / max(np.linalg.norm(ref), 1e-30)
                    if err > 1e-4:
                        print(f"python_layers: WARNING {L['name']}: {fw} differs from groupconv "
                              f"(rel L2 {err:.2e})", file=sys.stderr)

    lines = []
    lines.append("Python-level timings of bench/layers.csv (median ms, GFLOP/s); "
                 + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".")
    rows_csv = []
    for threads in thread_counts:
        lines.append("")
        lines.append(f"threads = {threads}")
        lines.append("")
        hdr = "| layer | GFLOP | " + " | ".join(f"{fw} ms | {fw} GFLOP/s" for fw in frameworks)
        hdr += " | groupconv vs best other |"
        lines.append(hdr)
        lines.append("|" + "---|" * (3 + 2 * len(frameworks)))
        for L in layers:
            gf = gflop(L)
            cells = []
            times = {}
            for fw in frameworks:
                ms, note = table.get((threads, fw), {}).get(L["name"], (None, ""))
                if ms is None:
                    cells += ["-", "-"]
                else:
                    times[fw] = ms
                    cells += [f"{ms:.3f}", f"{gf / (ms / 1e3):.1f}"]
                rows_csv.append([L["name"], threads, fw, f"{gf:.6f}",
                                 "" if ms is None else f"{ms:.4f}",
                                 "" if ms is None else f"{gf / (ms / 1e3):.2f}", note])
            others = [v for k, v in times.items() if k != "groupconv"]
            ratio = (f"{min(others) / times['groupconv']:.2f}x"
                     if others and "groupconv" in times else "-")
            lines.append(f"| {L['name']} | {gf:.4f} | " + " | ".join(cells) + f" | {ratio} |")
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            wcsv = csv.writer(f)
            wcsv.writerow(["name", "threads", "framework", "gflop", "median_ms", "gflops",
                           "note"])
            wcsv.writerows(rows_csv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
