#!/usr/bin/env python3
"""The benchmark suite (bench/layers.csv) through PyTorch, for the peers comparison.

    torch_peer.py [--layers FILE] [--threads 1,2] [--min-time S] [--rounds R]
                  [--csv OUT] [--filter SUBSTR]

Writes the same CSV columns as gc_peers (library = "torch"). Method, as close to gc_peers
as eager PyTorch allows:
- torch.nn.functional.conv2d on channels_last (NHWC in memory) float32 tensors, under
  torch.inference_mode(); the weight is converted from HWIO once, outside the timed loop,
  into the channels_last OIHW tensor conv2d wants (no further preparation is possible in
  eager mode: oneDNN-backed convolutions reorder the weight inside each call, and each call
  allocates its output; both costs are part of what a PyTorch user pays);
- torch.set_num_threads(T) for each thread count;
- per thread count, R rounds of: warm-up (2 runs and 50 ms), then runs until --min-time
  has passed (at least 5); the best of the R medians is reported;
- the output is checked against an independent float64 NumPy computation from the HWIO
  filter (relative L2 < 1e-4), so a layout mistake here is caught rather than timed.
Asymmetric padding (SAME with an even total) is applied with F.pad (back to channels_last)
inside the timed call, since conv2d only takes symmetric padding; the impl column says so.
"""

import argparse
import csv
import math
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

PEAK_GFLOPS_PER_CORE = 117.0  # KERNELS.md; must match src/suite/suite.hpp
L3_BYTES = 32 * 1024 * 1024
TOLERANCE = 1e-4
COLUMNS = ["layer", "threads", "library", "gflops", "median_ms", "gflops_fastest", "min_ms",
           "runs", "gflop",
           "roofline_gflops", "pct_roofline", "pct_peak", "rel_l2", "status", "impl"]


def dram_gbps(threads):
    return 46.0 if threads >= 2 else 30.0


class Layer:
    """One line of a suite, resolved the way groupconv's resolve() does it."""

    def __init__(self, fields, line):
        self.name = fields[0]
        (self.n, self.h, self.w, self.c_in, self.c_out, self.groups, self.kh, self.kw,
         self.sh, self.sw, self.dh, self.dw) = (int(v) for v in fields[1:13])
        self.padding = fields[13]
        self.line = line
        self.cig = self.c_in // self.groups
        self.cog = self.c_out // self.groups
        ekh = (self.kh - 1) * self.dh + 1
        ekw = (self.kw - 1) * self.dw + 1
        if self.padding == "SAME":  # TensorFlow: output ceil(in / stride), extra pad at the end
            self.ho = -(-self.h // self.sh)
            self.wo = -(-self.w // self.sw)
            th = max((self.ho - 1) * self.sh + ekh - self.h, 0)
            tw = max((self.wo - 1) * self.sw + ekw - self.w, 0)
            self.pads = (th // 2, th - th // 2, tw // 2, tw - tw // 2)
        else:
            self.pads = (0, 0, 0, 0) if self.padding == "VALID" else tuple(
                int(v) for v in self.padding.split(":"))
            t, b, l, r = self.pads
            self.ho = (self.h + t + b - ekh) // self.sh + 1
            self.wo = (self.w + l + r - ekw) // self.sw + 1

    def flops(self):
        return 2 * self.n * self.ho * self.wo * self.c_out * self.cig * self.kh * self.kw

    def bytes(self):
        return 4 * (self.n * self.h * self.w * self.c_in + self.kh * self.kw * self.cig * self.c_out
                    + self.n * self.ho * self.wo * self.c_out)

    def inbounds_flops(self):
        def taps(size, out, k, s, d, pad):
            return sum(1 for o in range(out) for t in range(k) if 0 <= o * s - pad + t * d < size)
        th = taps(self.h, self.ho, self.kh, self.sh, self.dh, self.pads[0])
        tw = taps(self.w, self.wo, self.kw, self.sw, self.dw, self.pads[2])
        return 2.0 * self.n * th * tw * self.c_out * self.cig

    def roofline_gflops(self, threads):
        """Mirror of groupconv::suite::roofline_gflops (src/suite/suite.cpp)."""
        t = self.inbounds_flops() * 1e-9 / (PEAK_GFLOPS_PER_CORE * threads)
        if self.bytes() > L3_BYTES:
            t = max(t, self.bytes() * 1e-9 / dram_gbps(threads))
        return self.flops() * 1e-9 / t


def load_layers(path):
    layers = []
    with open(path) as f:
        for i, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            fields = [c.strip() for c in line.split(",")]
            if len(fields) != 14:
                sys.exit(f"{path}:{i}: expected 14 comma-separated fields, found {len(fields)}")
            layers.append(Layer(fields, i))
    return layers


def reference(layer, x, w):
    """float64 NHWC/HWIO grouped convolution, one batched matmul per tap."""
    t, b, l, r = layer.pads
    xp = np.pad(x.astype(np.float64), ((0, 0), (t, b), (l, r), (0, 0)))
    w64 = w.astype(np.float64)
    g, cig, cog = layer.groups, layer.cig, layer.cog
    pixels = layer.n * layer.ho * layer.wo
    y = np.zeros((g, pixels, cog))
    for i in range(layer.kh):
        for j in range(layer.kw):
            h0, w0 = i * layer.dh, j * layer.dw
            xs = xp[:, h0:h0 + (layer.ho - 1) * layer.sh + 1:layer.sh,
                    w0:w0 + (layer.wo - 1) * layer.sw + 1:layer.sw, :]
            xs = xs.reshape(pixels, g, cig).transpose(1, 0, 2)           # (G, P, Cig)
            wt = w64[i, j].reshape(cig, g, cog).transpose(1, 0, 2)       # (G, Cig, Cog)
            y += np.matmul(xs, wt)
    return y.transpose(1, 0, 2).reshape(layer.n, layer.ho, layer.wo, layer.c_out)


def measure(fn, min_time):
    start = time.perf_counter()
    i = 0
    while i < 2 or time.perf_counter() - start < 0.05:
        fn()
        i += 1
    times = []
    start = time.perf_counter()
    while len(times) < 5 or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), min(times), len(times)


def backend_name(x, weight, stride, padding, dilation, groups):
    try:
        b = torch._C._select_conv_backend(x, weight, None, list(stride), list(padding),
                                          list(dilation), False, [0, 0], groups)
        return str(b).split(".")[-1]
    except Exception:  # private API; absent or different in other versions
        return "conv2d"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--layers", default="bench/layers.csv")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--min-time", type=float, default=0.3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--csv")
    ap.add_argument("--filter", default="")
    args = ap.parse_args()
    threads_list = [int(t) for t in args.threads.split(",")]

    rows = []
    rng = np.random.default_rng(1234)
    print(f"torch_peer: torch {torch.__version__}, {args.layers}, threads {threads_list}, "
          f"min-time {args.min_time} s, {args.rounds} rounds", flush=True)
    with torch.inference_mode():
        for layer in load_layers(args.layers):
            if args.filter and args.filter not in layer.name:
                continue
            x_np = rng.uniform(-1, 1, (layer.n, layer.h, layer.w, layer.c_in)).astype(np.float32)
            w_np = rng.uniform(-1, 1, (layer.kh, layer.kw, layer.cig, layer.c_out)).astype(
                np.float32)
            ref = reference(layer, x_np, w_np)
            # NHWC memory seen as an NCHW tensor in channels_last format (64-byte aligned
            # allocation by torch's CPU allocator).
            x = torch.empty((layer.n, layer.c_in, layer.h, layer.w),
                            memory_format=torch.channels_last)
            x.copy_(torch.from_numpy(x_np).permute(0, 3, 1, 2))
            weight = torch.from_numpy(w_np).permute(3, 2, 0, 1).contiguous(
                memory_format=torch.channels_last)                     # OIHW, channels_last
            t, b, l, r = layer.pads
            stride, dilation = (layer.sh, layer.sw), (layer.dh, layer.dw)
            if t == b and l == r:
                padding, pre = (t, l), None
            else:
                padding, pre = (0, 0), (l, r, t, b)

            def padded(t):  # F.pad returns NCHW-contiguous; keep channels_last for oneDNN
                return F.pad(t, pre).contiguous(memory_format=torch.channels_last)

            def run():
                xi = padded(x) if pre else x
                return F.conv2d(xi, weight, None, stride, padding, dilation, layer.groups)

            impl = backend_name(padded(x) if pre else x, weight, stride, padding, dilation,
                                layer.groups) + (" +F.pad" if pre else "")
            for threads in threads_list:
                torch.set_num_threads(threads)
                y = run()
                y_nhwc = y.permute(0, 2, 3, 1).double().numpy()
                den = float(np.sum(ref * ref))
                rel = math.sqrt(float(np.sum((y_nhwc - ref) ** 2)) / den) if den > 0 else 0.0
                if math.isnan(rel):
                    rel = math.inf
                status = "ok" if rel < TOLERANCE else "wrong"
                best, fastest, runs = 0.0, 0.0, 0
                if status == "ok":
                    for _ in range(args.rounds):
                        med, low, n = measure(run, args.min_time)
                        best = med if runs == 0 else min(best, med)
                        fastest = low if runs == 0 else min(fastest, low)
                        runs += n
                gflop = layer.flops() * 1e-9
                gflops = gflop / (best * 1e-3) if best > 0 else 0.0
                roof = layer.roofline_gflops(threads)
                peak = PEAK_GFLOPS_PER_CORE * threads
                rows.append({
                    "layer": layer.name, "threads": threads, "library": "torch",
                    "gflops": f"{gflops:.3f}", "median_ms": f"{best:.5f}",
                    "gflops_fastest": f"{gflop / (fastest * 1e-3) if fastest > 0 else 0.0:.3f}",
                    "min_ms": f"{fastest:.5f}", "runs": runs,
                    "gflop": f"{gflop:.6f}", "roofline_gflops": f"{roof:.3f}",
                    "pct_roofline": f"{100 * gflops / roof:.2f}",
                    "pct_peak": f"{100 * gflops / peak:.2f}", "rel_l2": f"{rel:.3g}",
                    "status": status, "impl": impl})
                print(f"{layer.name:22s} {threads}T torch     {gflops:9.1f} GFLOP/s "
                      f"{100 * gflops / roof:6.1f}% roof  rel_l2 {rel:.1e} {status:6s} {impl}",
                      flush=True)
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            wr = csv.DictWriter(f, fieldnames=COLUMNS)
            wr.writeheader()
            wr.writerows(rows)
    return 1 if any(r["status"] == "wrong" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
