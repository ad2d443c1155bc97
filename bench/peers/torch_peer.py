#!/usr/bin/env python3
"""The benchmark suite (bench/layers.csv) through PyTorch, for the peers comparison.

    torch_peer.py [--layers FILE] [--threads 1,2] [--min-time S] [--rounds R]
                  [--pass fwd|bwd_data|bwd_filter|all] [--csv OUT] [--filter SUBSTR]

Writes the same CSV columns as gc_peers (library = "torch", plus the pass). Method, as close
to gc_peers as eager PyTorch allows:
- torch.nn.functional.conv2d on channels_last (NHWC in memory) float32 tensors, under
  torch.inference_mode(); the weight is converted from HWIO once, outside the timed loop,
  into the channels_last OIHW tensor conv2d wants (no further preparation is possible in
  eager mode: oneDNN-backed convolutions reorder the weight inside each call, and each call
  allocates its output; both costs are part of what a PyTorch user pays);
- torch.set_num_threads(T) for each thread count;
- per thread count, R rounds of: warm-up (2 runs and 50 ms), then runs until --min-time
  has passed (at least 5); the best of the R medians is reported;
- backward passes: torch.ops.aten.convolution_backward, the op autograd calls for a
  convolution (and torch.nn.grad.conv2d_input / conv2d_weight call), on channels_last x and
  dy with the channels_last weight, output_mask (input) for the input gradient and
  (weight, bias) for the filter gradient; the gradients come back in PyTorch's OIHW layout,
  allocated by each call, which is what a PyTorch training step pays;
- the output is checked against an independent float64 NumPy computation from the HWIO
  filter (relative L2 < 1e-4; the worse of dw and db for the filter gradient), so a layout
  mistake here is caught rather than timed.
Asymmetric padding (SAME with an even total) is applied with F.pad (back to channels_last)
inside the timed call, since conv2d only takes symmetric padding; the impl column says so.
For the input gradient the padded gradient is cropped inside the timed call (F.pad's
backward).
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
           "roofline_gflops", "pct_roofline", "pct_peak", "rel_l2", "status", "impl", "pass",
           "reorder_ms"]
PASSES = ["fwd", "bwd_data", "bwd_filter"]


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


def taps_views(layer, t):
    """For each tap (i, j): the strided window of the padded NHWC array t that it reads."""
    for i in range(layer.kh):
        for j in range(layer.kw):
            h0, w0 = i * layer.dh, j * layer.dw
            yield i, j, t[:, h0:h0 + (layer.ho - 1) * layer.sh + 1:layer.sh,
                          w0:w0 + (layer.wo - 1) * layer.sw + 1:layer.sw, :]


def reference_bwd_data(layer, dy, w):
    """float64 input gradient, NHWC, from the HWIO filter: the adjoint of reference()."""
    t, b, l, r = layer.pads
    g, cig, cog = layer.groups, layer.cig, layer.cog
    pixels = layer.n * layer.ho * layer.wo
    dxp = np.zeros((layer.n, layer.h + t + b, layer.w + l + r, layer.c_in))
    dyg = dy.astype(np.float64).reshape(pixels, g, cog).transpose(1, 0, 2)   # (G, P, Cog)
    w64 = w.astype(np.float64)
    for i, j, view in taps_views(layer, dxp):
        wt = w64[i, j].reshape(cig, g, cog).transpose(1, 2, 0)              # (G, Cog, Cig)
        view += np.matmul(dyg, wt).transpose(1, 0, 2).reshape(view.shape)
    return dxp[:, t:t + layer.h, l:l + layer.w, :]


def reference_bwd_filter(layer, x, dy):
    """float64 filter (HWIO) and bias gradients."""
    t, b, l, r = layer.pads
    xp = np.pad(x.astype(np.float64), ((0, 0), (t, b), (l, r), (0, 0)))
    g, cig, cog = layer.groups, layer.cig, layer.cog
    pixels = layer.n * layer.ho * layer.wo
    dyg = dy.astype(np.float64).reshape(pixels, g, cog).transpose(1, 0, 2)   # (G, P, Cog)
    dw = np.zeros((layer.kh, layer.kw, cig, layer.c_out))
    for i, j, view in taps_views(layer, xp):
        xs = view.reshape(pixels, g, cig).transpose(1, 2, 0)                 # (G, Cig, P)
        dw[i, j] = np.matmul(xs, dyg).transpose(1, 0, 2).reshape(cig, layer.c_out)
    return dw, dy.astype(np.float64).reshape(pixels, layer.c_out).sum(axis=0)


def rel_l2(y, ref):
    den = float(np.sum(ref * ref))
    num = float(np.sum((y - ref) ** 2))
    rel = math.sqrt(num / den) if den > 0 else (0.0 if num == 0 else math.inf)
    return math.inf if math.isnan(rel) else rel


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
    ap.add_argument("--pass", dest="passes", default="fwd",
                    help="fwd, bwd_data, bwd_filter, all, or a comma-separated list")
    args = ap.parse_args()
    threads_list = [int(t) for t in args.threads.split(",")]
    passes = []
    for p in args.passes.split(","):
        if p == "all":
            passes = list(PASSES)
        elif p in PASSES:
            passes.append(p)
        else:
            ap.error(f"unknown pass {p}")

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
            dy_np = rng.uniform(-1, 1, (layer.n, layer.ho, layer.wo, layer.c_out)).astype(
                np.float32)

            def nhwc_tensor(a):
                """NHWC memory seen as an NCHW tensor in channels_last format (64-byte aligned
                allocation by torch's CPU allocator)."""
                out = torch.empty((a.shape[0], a.shape[3], a.shape[1], a.shape[2]),
                                  memory_format=torch.channels_last)
                out.copy_(torch.from_numpy(a).permute(0, 3, 1, 2))
                return out

            x, dy = nhwc_tensor(x_np), nhwc_tensor(dy_np)
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

            x_in = padded(x) if pre else x  # for the input gradient: only its shape matters

            def backward(xi, mask):
                return torch.ops.aten.convolution_backward(
                    dy, xi, weight, [layer.c_out] if mask[2] else None, list(stride),
                    list(padding), list(dilation), False, [0, 0], layer.groups, mask)

            def run_fwd():
                xi = padded(x) if pre else x
                return F.conv2d(xi, weight, None, stride, padding, dilation, layer.groups)

            def run_bwd_data():
                dx = backward(x_in, [True, False, False])[0]
                return dx[:, :, t:t + layer.h, l:l + layer.w] if pre else dx

            def run_bwd_filter():
                xi = padded(x) if pre else x
                _, dw, db = backward(xi, [False, True, True])
                return dw, db

            impl = backend_name(x_in, weight, stride, padding, dilation,
                                layer.groups) + (" +F.pad" if pre else "")
            for pass_name in passes:
                if pass_name == "fwd":
                    run = run_fwd
                    ref = reference(layer, x_np, w_np)

                    def error():
                        return rel_l2(run_fwd().permute(0, 2, 3, 1).double().numpy(), ref)
                elif pass_name == "bwd_data":
                    run = run_bwd_data
                    ref = reference_bwd_data(layer, dy_np, w_np)

                    def error():
                        return rel_l2(run_bwd_data().permute(0, 2, 3, 1).double().numpy(), ref)
                else:
                    run = run_bwd_filter
                    ref_w, ref_b = reference_bwd_filter(layer, x_np, dy_np)

                    def error():
                        dw, db = run_bwd_filter()
                        return max(rel_l2(dw.permute(2, 3, 1, 0).double().numpy(), ref_w),
                                   rel_l2(db.double().numpy(), ref_b))
                for threads in threads_list:
                    torch.set_num_threads(threads)
                    rel = error()
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
                        "gflops_fastest":
                            f"{gflop / (fastest * 1e-3) if fastest > 0 else 0.0:.3f}",
                        "min_ms": f"{fastest:.5f}", "runs": runs,
                        "gflop": f"{gflop:.6f}", "roofline_gflops": f"{roof:.3f}",
                        "pct_roofline": f"{100 * gflops / roof:.2f}",
                        "pct_peak": f"{100 * gflops / peak:.2f}", "rel_l2": f"{rel:.3g}",
                        "status": status, "impl": impl, "pass": pass_name, "reorder_ms": ""})
                    print(f"{layer.name:22s} {pass_name:10s} {threads}T torch     "
                          f"{gflops:9.1f} GFLOP/s {100 * gflops / roof:6.1f}% roof  "
                          f"rel_l2 {rel:.1e} {status:6s} {impl}", flush=True)
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            wr = csv.DictWriter(f, fieldnames=COLUMNS)
            wr.writeheader()
            wr.writerows(rows)
    return 1 if any(r["status"] == "wrong" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
