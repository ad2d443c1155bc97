#!/usr/bin/env python3
"""Per-call overhead of the Python package over the C++ call it makes (target: < 20 us).

For a small layer, times in the same process:
  - C++ one-shot groupconv::conv2d() (plan + execute) in a C++ loop    -> baseline A
  - groupconv.conv2d(x, w, ...) from Python (TF style, numpy input)    -> A + overhead
  - groupconv.nn.conv2d(x, w, ...) from Python (torch style)           -> A + overhead
  - C++ Plan::execute() in a C++ loop                                  -> baseline B
  - groupconv.Plan(...)(x) from Python                                 -> B + overhead
and, when torch / TensorFlow are importable, the same calls with their tensors as inputs
(DLPack import included). Reports medians over repeated batches; single-threaded by default
(the overhead is what is measured, not the kernel). With one thread, both sides are timed on
the thread's CPU-time clock, so time spent descheduled on a busy machine is not counted;
--wall uses the wall clock instead (always used with more threads).

Usage: python bench/python_overhead.py [--threads 1] [--repeats 31] [--iters 300] [--wall]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

import groupconv
from groupconv import _args, _core

LAYERS = {
    # name: (input NHWC, filter HWIO, strides, padding, groups)
    "grouped 1x8x8x32 3x3 G4": ((1, 8, 8, 32), (3, 3, 8, 32), 1, "SAME", 4),
    "depthwise 1x7x7x64 3x3": ((1, 7, 7, 64), (3, 3, 1, 64), 1, "SAME", 64),
}


CLOCK = {"cpu": time.thread_time, "wall": time.perf_counter}


def per_call(fn, iters: int, repeats: int, clock) -> float:
    """Median seconds per call over `repeats` batches of `iters` calls."""
    fn()
    samples = []
    for _ in range(repeats):
        t0 = clock()
        for _ in range(iters):
            fn()
        samples.append((clock() - t0) / iters)
    return statistics.median(samples)


def median_of(fn, repeats: int) -> float:
    return statistics.median(fn() for _ in range(repeats))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=31)
    ap.add_argument("--iters", type=int, default=300)
    ap.add_argument("--wall", action="store_true")
    args = ap.parse_args()
    cpu = args.threads == 1 and not args.wall
    clock = CLOCK["cpu" if cpu else "wall"]
    groupconv.set_num_threads(args.threads)
    try:
        import torch  # noqa: F401
        torch.set_num_threads(args.threads)
    except Exception:  # noqa: BLE001
        torch = None
    tf = None
    if torch is None:
        try:
            import tensorflow as tf  # noqa: F811
        except Exception:  # noqa: BLE001
            tf = None

    print(f"groupconv {groupconv.__version__}, isa {groupconv.detected_isa()}, "
          f"threads {args.threads}, python {sys.version.split()[0]}, numpy {np.__version__}, "
          f"clock {'thread CPU time' if cpu else 'wall'}")
    print(f"{'layer':<26} {'call':<34} {'C++ us':>8} {'Python us':>10} {'overhead us':>12}")
    worst = 0.0
    for name, (ishape, fshape, strides, padding, groups) in LAYERS.items():
        rng = np.random.default_rng(0)
        x = rng.standard_normal(ishape).astype(np.float32)
        w = rng.standard_normal(fshape).astype(np.float32)
        desc, _ = _args.tf_desc(strides, padding, "NHWC", None, groups, "HWIO", args.threads)
        it, rep = args.iters, args.repeats

        cpp_oneshot = median_of(lambda: _core.time_oneshot(x, w, None, desc, it, cpu), rep)
        plan = groupconv.Plan(w, input_shape=ishape, strides=strides, padding=padding,
                              groups=groups, threads=args.threads)
        core_plan = plan._plan_for(tuple(ishape))
        cpp_execute = median_of(lambda: core_plan.time_execute(x, it, cpu), rep)

        xn = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        wn = np.ascontiguousarray(w.transpose(3, 2, 0, 1))
        rows = [
            ("conv2d(numpy)", cpp_oneshot,
             lambda: groupconv.conv2d(x, w, strides, padding, groups=groups)),
            ("nn.conv2d(numpy)", None,
             lambda: groupconv.nn.conv2d(xn, wn, stride=strides, padding=1, groups=groups)),
            ("Plan(x) (numpy)", cpp_execute, lambda: plan(x)),
        ]
        if torch is not None:
            xt, wt = torch.from_numpy(xn), torch.from_numpy(wn)
            rows.append(("nn.conv2d(torch) [DLPack]", None,
                         lambda: groupconv.nn.conv2d(xt, wt, stride=strides, padding=1,
                                                     groups=groups)))
            xtt = torch.from_numpy(x)
            rows.append(("Plan(torch x) [DLPack]", cpp_execute, lambda: plan(xtt)))
        if tf is not None:
            xf, wf = tf.constant(x), tf.constant(w)
            rows.append(("conv2d(tf) [DLPack]", cpp_oneshot,
                         lambda: groupconv.conv2d(xf, wf, strides, padding, groups=groups)))
            rows.append(("Plan(tf x) [DLPack]", cpp_execute, lambda: plan(xf)))
        for label, base, fn in rows:
            # the torch-style call runs the same C++ path on NCHW data: its own baseline
            if base is None:
                desc_n = _args.torch_desc(strides, 1, 1, groups, args.threads)
                base = median_of(lambda: _core.time_oneshot(xn, wn, None, desc_n, it, cpu),
                                 rep)
            t = per_call(fn, it, rep, clock)
            over = t - base
            worst = max(worst, over)
            print(f"{name:<26} {label:<34} {base * 1e6:8.2f} {t * 1e6:10.2f} {over * 1e6:12.2f}")
    print(f"largest overhead: {worst * 1e6:.2f} us (target < 20 us)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
