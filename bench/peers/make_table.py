#!/usr/bin/env python3
"""Writes docs/PERFORMANCE.md from the CSVs of gc_peers and torch_peer.py.

    make_table.py --csv gc_peers.csv --csv torch.csv --out docs/PERFORMANCE.md
                  [--load-before "a b c"] [--load-after "a b c"] [--seconds N]
                  [--min-time S] [--rounds R] [--layers FILE] [--date TEXT]
                  [--commit REV]

Standard library only. Every CSV has the columns
layer,threads,library,gflops,median_ms,gflops_fastest,min_ms,runs,gflop,roofline_gflops,
pct_roofline,pct_peak,rel_l2,status,impl[,pass,reorder_ms] (pass fwd when absent); a row
counts only when its status is "ok".
"""

import argparse
import csv
import datetime
import math
import os
import platform
import subprocess

PEAK_GFLOPS_PER_CORE = 117.0
DISTURBED_FRACTION = 0.5
PEERS = [("onednn", "oneDNN"), ("xnnpack", "XNNPACK"), ("torch", "PyTorch")]
PASSES = [("fwd", "Forward", 1.3), ("bwd_data", "Input gradient", 1.3),
          ("bwd_filter", "Filter gradient", 2.0)]  # name, title, issue's target vs best peer


def cpu_info():
    """Model name, vector ISA flags and (family, model) of the first CPU in /proc/cpuinfo."""
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break  # first processor only
                key, _, value = line.partition(":")
                info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    flags = set(info.get("flags", "").split())
    isa = [f for f in ("avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl") if f in flags]
    fam = (info["cpu family"], info["model"]) if "cpu family" in info and "model" in info else None
    return info.get("model name", "unknown"), isa, fam


def package_versions():
    out = {}
    for pkg in ("libdnnl-dev", "libxnnpack-dev", "python3-torch"):
        try:
            v = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True,
                               text=True, check=False, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            v = ""
        out[pkg] = v or "not installed"
    return out


def load(paths):
    rows = {}
    order = []
    for p in paths:
        with open(p, newline="") as f:
            for r in csv.DictReader(f):
                r["pass"] = r.get("pass") or "fwd"
                key = (r["layer"], int(r["threads"]), r["library"], r["pass"])
                rows[key] = r
                if r["layer"] not in order:
                    order.append(r["layer"])
    # A multi-threaded figure below half of the same library's 1-thread figure is not the
    # library's speed but other jobs holding a core (every worker of a parallel region must
    # be scheduled before the call returns): mark it instead of ranking it.
    for (layer, threads, lib, pas), r in rows.items():
        one = rows.get((layer, 1, lib, pas))
        if (threads > 1 and r["status"] == "ok" and one is not None and one["status"] == "ok"
                and float(r["gflops"]) < DISTURBED_FRACTION * float(one["gflops"])):
            r["status"] = "disturbed"
    return rows, order


def fnum(r, col):
    return float(r[col]) if r is not None and r.get("status") == "ok" else 0.0


def geomean(values):
    values = [v for v in values if v > 0]
    if not values:
        return 0.0
    return math.exp(sum(math.log(v) for v in values) / len(values))


def fmt(v, digits=1):
    return f"{v:.{digits}f}" if v > 0 else "–"


def cell(r):
    if r is None:
        return "–"
    if r["status"] == "wrong":
        return "WRONG"
    if r["status"] == "disturbed":
        return f"({float(r['gflops']):.1f})‡"
    if r["status"] != "ok":
        return "n/a"
    return f"{float(r['gflops']):.1f}"


def table(rows, layers, threads, libs_present, pas="fwd", target=1.3):
    peak = PEAK_GFLOPS_PER_CORE * threads
    peers = [(k, n) for k, n in PEERS if k in libs_present]
    reorder = pas != "fwd" and "onednn" in libs_present
    head = ["layer", "GFLOP", "groupconv GFLOP/s", "% peak", "% roofline"]
    head += [f"{n}" for _, n in peers]
    head += [f"× {n}" for _, n in peers] + ["× best peer", "best peer % roofline"]
    head += ["oneDNN HWIO reorder, % of its time"] if reorder else []
    head += ["groupconv kernel"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    ratios = {k: [] for k, _ in peers}
    best_ratios, gc_roofs, peer_roofs = [], [], []
    below, low_roof = [], []
    for layer in layers:
        gc = rows.get((layer, threads, "groupconv", pas))
        if gc is None:
            continue
        g = fnum(gc, "gflops")
        roof = float(gc["roofline_gflops"])
        best = 0.0
        cells = [layer, f"{float(gc['gflop']):.3f}", cell(gc), fmt(100 * g / peak),
                 fmt(100 * g / roof)]
        per_peer = []
        for k, _ in peers:
            r = rows.get((layer, threads, k, pas))
            cells.append(cell(r))
            p = fnum(r, "gflops")
            best = max(best, p)
            per_peer.append(g / p if g > 0 and p > 0 else 0.0)
            if g > 0 and p > 0:
                ratios[k].append(g / p)
        cells += [fmt(x, 2) for x in per_peer]
        br = g / best if g > 0 and best > 0 else 0.0
        if br > 0:
            best_ratios.append(br)
            if br < 0.95:
                below.append(f"{layer} ({br:.2f}×)")
        if g > 0:
            gc_roofs.append(100 * g / roof)
            if 100 * g / roof < 75:
                low_roof.append(layer)
        if best > 0:
            peer_roofs.append(100 * best / roof)
        cells += [f"**{fmt(br, 2)}**", fmt(100 * best / roof)]
        if reorder:
            dn = rows.get((layer, threads, "onednn", pas))
            ms = float(dn.get("reorder_ms") or 0) if dn is not None else 0.0
            dn_ms = fnum(dn, "median_ms")
            cells.append(fmt(100 * ms / dn_ms) if ms > 0 and dn_ms > 0 else "–")
        cells += [f"`{gc['impl']}`"]
        lines.append("| " + " | ".join(cells) + " |")
    gm = ["**geometric mean**", "", "", "", fmt(geomean(gc_roofs))]
    gm += [""] * len(peers)
    gm += [fmt(geomean(ratios[k]), 2) for k, _ in peers]
    gm += [f"**{fmt(geomean(best_ratios), 2)}**", fmt(geomean(peer_roofs))]
    gm += [""] if reorder else []
    gm += [""]
    lines.append("| " + " | ".join(gm) + " |")
    summary = [
        f"- groupconv / best peer, geometric mean over {len(best_ratios)} layers: "
        f"**{geomean(best_ratios):.2f}×** (target ≥ {target}×).",
        f"- Layers below 0.95× the best peer ({len(below)}): "
        + (", ".join(below) if below else "none") + ".",
        f"- Layers below 75% of their roofline ({len(low_roof)} of {len(gc_roofs)}): "
        + (", ".join(low_roof) if low_roof else "none") + ".",
        f"- Best peer's geometric mean: {geomean(peer_roofs):.0f}% of the roofline.",
    ]
    return "\n".join(lines), "\n".join(summary)


def fastest_table(rows, layers, threads, libs_present, pas="fwd"):
    """GFLOP/s of each library's fastest single run: a check on the medians when the machine
    was busy (a run that was not interrupted), not the headline figure."""
    names = [("groupconv", "groupconv")] + [(k, n) for k, n in PEERS if k in libs_present]
    head = ["layer"] + [n for _, n in names] + ["× best peer"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    ratios = []
    for layer in layers:
        vals = []
        for k, _ in names:
            r = rows.get((layer, threads, k, pas))
            ok = r is not None and r["status"] == "ok" and r.get("gflops_fastest")
            vals.append(float(r["gflops_fastest"]) if ok else 0.0)
        best = max(vals[1:], default=0.0)
        ratio = vals[0] / best if vals[0] > 0 and best > 0 else 0.0
        if ratio > 0:
            ratios.append(ratio)
        lines.append("| " + " | ".join([layer] + [fmt(v) for v in vals] + [fmt(ratio, 2)]) + " |")
    lines.append("| **geometric mean** | " + " | ".join([""] * (len(names))) +
                 f" | {fmt(geomean(ratios), 2)} |")
    return "\n".join(lines)


def side_by_side(rows, layers, threads, libs_present, passes):
    """One row per layer: for each pass groupconv, the best correct peer (named) and the
    ratio; geometric means of the ratios per pass."""
    peers = [(k, n) for k, n in PEERS if k in libs_present]
    head = ["layer"]
    for _, title, _ in passes:
        head += [f"{title}: groupconv", "best peer", "×"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    ratios = {p: [] for p, _, _ in passes}
    for layer in layers:
        cells = [layer]
        for pas, _, _ in passes:
            gc = rows.get((layer, threads, "groupconv", pas))
            g = fnum(gc, "gflops")
            best, best_name = 0.0, ""
            for k, n in peers:
                v = fnum(rows.get((layer, threads, k, pas)), "gflops")
                if v > best:
                    best, best_name = v, n
            r = g / best if g > 0 and best > 0 else 0.0
            if r > 0:
                ratios[pas].append(r)
            cells += [cell(gc), f"{best:.1f} {best_name}" if best > 0 else "–",
                      f"**{fmt(r, 2)}**"]
        lines.append("| " + " | ".join(cells) + " |")
    gm = ["**geometric mean**"]
    for pas, _, target in passes:
        gm += ["", "", f"**{fmt(geomean(ratios[pas]), 2)}** (target {target})"]
    lines.append("| " + " | ".join(gm) + " |")
    return "\n".join(lines)


def impl_table(rows, layers, threads_list, passes):
    t = threads_list[0]
    cols = [("onednn", pas, f"oneDNN {title.lower()}") for pas, title, _ in passes]
    cols += [("xnnpack", "fwd", "XNNPACK path (inferred)"), ("torch", "fwd", "PyTorch backend")]
    head = ["layer"] + [c[2] for c in cols]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    for layer in layers:
        cells = [layer]
        for k, pas, _ in cols:
            r = rows.get((layer, t, k, pas))
            if r is None and k == "torch":  # any pass: the backend does not depend on it
                r = next((rows.get((layer, t, k, p)) for p, _, _ in passes
                          if rows.get((layer, t, k, p)) is not None), None)
            cells.append(f"`{r['impl']}`" if r is not None and r["impl"] else "–")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--csv", action="append", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--load-before", default="")
    ap.add_argument("--load-after", default="")
    ap.add_argument("--seconds", default="")
    ap.add_argument("--date", default="", help="when the run started (default: now)")
    ap.add_argument("--commit", default="", help="the groupconv revision measured")
    ap.add_argument("--min-time", default="")
    ap.add_argument("--rounds", default="3")
    ap.add_argument("--layers", default="bench/layers.csv")
    ap.add_argument("--append", action="append", default=[],
                    help="markdown file appended as its own section (e.g. the table of "
                    "bench/python_layers.py --markdown)")
    ap.add_argument("--note", action="append", default=[],
                    help="a line added to the Run section (how this run deviated)")
    args = ap.parse_args()

    rows, layers = load(args.csv)
    threads_list = sorted({t for (_, t, _, _) in rows})
    libs = {lib for (_, _, lib, _) in rows}
    passes = [p for p in PASSES if any(k[3] == p[0] for k in rows)]
    model, isa, fam = cpu_info()
    versions = package_versions()
    wrong = sorted({f"{l} ({lib}, {p}, {t} thr)" for (l, t, lib, p), r in rows.items()
                    if r["status"] == "wrong"})
    failed = sorted({f"{l} ({lib}, {p}, {t} thr)" for (l, t, lib, p), r in rows.items()
                     if r["status"] == "failed"})

    out = []
    out.append("# Performance: groupconv against oneDNN, XNNPACK and PyTorch\n")
    out.append("Generated by `scripts/bench_peers.sh` (with `bench/peers/make_table.py`); do not "
               "edit by hand — rerun the script. Figures are GFLOP/s by the formula "
               "2·N·Ho·Wo·C_out·Cig·KH·KW (padded taps included, as everyone counts) for every "
               "pass — the input and filter gradients are quoted with the forward's FLOP count, "
               "as the field does — float32, NHWC. Passes: "
               + ", ".join(f"{t.lower()} (`{p}`)" for p, t, _ in passes) + ".\n")
    out.append("## Run\n")
    date = args.date or f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC"
    out.append(f"- Date: {date}" + (f"; groupconv at `{args.commit}`" if args.commit else ""))
    cpu = f"{model}"
    if fam:
        cpu += f" (family {fam[0]}, model {fam[1]})"
    out.append(f"- CPU: {cpu}, {os.cpu_count()} logical CPUs; ISA flags: {' '.join(isa)}"
               + ("" if "avx512f" in isa else " — **no AVX-512** on this machine, so the AVX-512 "
                  "paths of every library were not exercised"))
    out.append(f"- Kernel: {platform.system()} {platform.release()}")
    out.append(f"- Peak used for % peak: {PEAK_GFLOPS_PER_CORE:.0f} GFLOP/s per core (FMA, "
               "measured, KERNELS.md); roofline: in-bounds taps at that peak, or, for layers "
               "moving more than the 32 MiB L3, bytes at 30 GB/s (1 thread) / 46 GB/s "
               "(2 threads), whichever is lower (`groupconv::suite::roofline_gflops`).")
    out.append(f"- Peers (Debian packages): oneDNN `{versions['libdnnl-dev']}`, XNNPACK "
               f"`{versions['libxnnpack-dev']}`, PyTorch `{versions['python3-torch']}`.")
    out.append(f"- Threads: {', '.join(str(t) for t in threads_list)}; passes: "
               f"{', '.join(p for p, _, _ in passes)}; min-time "
               f"{args.min_time or '?'} s per library per round, {args.rounds} interleaved "
               f"rounds, best median." + (f" Whole run: {args.seconds} s." if args.seconds else ""))
    if args.load_before or args.load_after:
        out.append(f"- Load average (1, 5, 15 min) before: {args.load_before or '?'}, after: "
                   f"{args.load_after or '?'}. The machine is shared; with a load above the "
                   "core count the 2-thread figures of every library are unreliable (a "
                   "descheduled worker stalls the whole team), and 1-thread medians drop too (the "
                   "fastest-run tables below show by how much). Compare ratios from the same "
                   "run.")
    for note in args.note:
        out.append(f"- Note: {note}")
    if wrong:
        out.append(f"- **Wrong results** (relative L2 ≥ 1e-4 against the reference; not ranked): "
                   f"{', '.join(wrong)}")
    if failed:
        out.append(f"- Could not run: {', '.join(failed)}")
    disturbed = [k for k, r in rows.items() if r["status"] == "disturbed"]
    if disturbed:
        out.append(f"- ‡ {len(disturbed)} multi-threaded figures (all passes) were below half of the same "
                   "library's 1-thread figure: other jobs held a core (a parallel call waits for "
                   "its slowest worker). They are shown in parentheses and left out of the "
                   "ratios and means; rerun on a quiet machine for those.")
    out.append("")
    out.append("## Method\n")
    out.append(
        "- groupconv: a `Plan` built once (filter packed outside the timed loop), "
        "`PlanOptions::threads`.\n"
        "- oneDNN: `convolution_forward` (forward_inference), NHWC source and destination, "
        "weights in `format_tag::any` reordered once from HWIO; `convolution_direct` and "
        "`convolution_auto` both tried, the faster kept; threads through `omp_set_num_threads` "
        "(OpenMP build).\n"
        "- XNNPACK: `xnn_create_convolution2d_nhwc_f32` with groups (depthwise layers with "
        "`XNN_FLAG_DEPTHWISE_CONVOLUTION`), set up once, run on a `pthreadpool` of the "
        "thread count.\n"
        "- PyTorch: eager `torch.nn.functional.conv2d` on channels_last tensors under "
        "`inference_mode`, weight converted once, `torch.set_num_threads`; a separate "
        "process (`bench/peers/torch_peer.py`). Eager PyTorch allocates its output and lets "
        "oneDNN reorder the weight inside every call; that is what a PyTorch user pays.\n"
        "- Input gradient (`bwd_data`, dy, w → dx): groupconv's `BackwardDataPlan` (filter "
        "packed once); oneDNN's `convolution_backward_data` with a `forward_training` hint, "
        "NHWC diff_dst/diff_src, weights in `format_tag::any` reordered once from HWIO "
        "outside the timed loop; PyTorch's `torch.ops.aten.convolution_backward` (the op "
        "autograd and `torch.nn.grad.conv2d_input` call) with output_mask (input) on "
        "channels_last tensors, allocating dx in every call.\n"
        "- Filter gradient (`bwd_filter`, x, dy → dw, db, the bias gradient included): "
        "groupconv's `BackwardFilterPlan` (dw in HWIO); oneDNN's "
        "`convolution_backward_weights` with diff_bias and a `forward_training` hint, NHWC "
        "src/diff_dst, diff_weights in `format_tag::any` (its own blocked layout; reordered to "
        "HWIO only for the check, outside the timed loop); PyTorch's `convolution_backward` "
        "with output_mask (weight, bias), dw returned in OIHW.\n"
        "- oneDNN's filter reorder is not in its backward figures. In training the weights "
        "change every step, so a framework holding HWIO filters pays a reorder HWIO → blocked "
        "before every input gradient and blocked → HWIO after every filter gradient; the "
        "column “oneDNN HWIO reorder, % of its time” gives that reorder's median time "
        "(measured separately) as a share of oneDNN's pass. groupconv's `BackwardDataPlan` "
        "likewise packs its filter at creation (not timed either). XNNPACK has no backward "
        "operator (n/a).\n"
        "- Buffers 64-byte aligned, input and output at different offsets within a page; one "
        "input/output pair shared by groupconv, oneDNN and XNNPACK, which run interleaved per "
        "layer (groupconv, oneDNN, XNNPACK, repeated); each run: warm-up (≥ 2 runs and 50 "
        "ms), then runs until the min-time has passed (≥ 5), median; best median of the "
        "rounds.\n"
        "- Every library's output is checked against groupconv's reference convolution and "
        "`reference_backward_data` / `reference_backward_filter` (float in, double "
        "accumulation; PyTorch against independent float64 NumPy computations; for the filter "
        "gradient the worse of dw and db): relative L2 < 1e-4, else the result is marked "
        "WRONG and not ranked.\n")
    for t in threads_list:
        th = f"{t} thread{'s' if t > 1 else ''}"
        out.append(f"## {th}\n")
        out.append(f"Peak {PEAK_GFLOPS_PER_CORE * t:.0f} GFLOP/s. “×” = groupconv GFLOP/s "
                   "divided by the other's.\n")
        if len(passes) > 1:
            out.append(f"### All passes side by side, {th}\n")
            out.append("GFLOP/s (forward FLOP count); the best correct peer of each pass named; "
                       "the issue's target for the geometric mean in parentheses.\n")
            out.append(side_by_side(rows, layers, t, libs, passes) + "\n")
        for pas, title, target in passes:
            tab, summary = table(rows, layers, t, libs, pas, target)
            out.append(f"### {title} (`{pas}`), {th}\n")
            out.append(tab + "\n")
            out.append(summary + "\n")
            out.append(f"<details><summary>Fastest single run per library, {title.lower()}, "
                       f"{th} (GFLOP/s; less sensitive to other jobs on a shared machine, not "
                       "the headline figure)</summary>\n")
            out.append(fastest_table(rows, layers, t, libs, pas) + "\n")
            out.append("</details>\n")
    out.append("## What the peers chose\n")
    out.append(f"At {threads_list[0]} thread{'s' if threads_list[0] > 1 else ''}. oneDNN names "
               "its implementation (`impl_info_str`); XNNPACK does not, so its path is inferred "
               "from its documented selection rules; PyTorch's from "
               "`torch._C._select_conv_backend`.\n")
    out.append(impl_table(rows, layers, threads_list, passes) + "\n")
    out.append("## How to reproduce\n")
    out.append(
        "```sh\n"
        "sudo apt-get install libdnnl-dev libxnnpack-dev python3-torch python3-numpy  # Debian 12\n"
        "scripts/bench_peers.sh                    # builds build/bench, runs all passes at 1\n"
        "                                          # and 2 threads, rewrites docs/PERFORMANCE.md\n"
        "scripts/bench_peers.sh --pass bwd_filter  # one pass (fwd, bwd_data, bwd_filter, all)\n"
        "scripts/bench_peers.sh --min-time 0.3 --filter resnext   # a subset, longer runs\n"
        "```\n\n"
        "The pieces, run by hand:\n\n"
        "```sh\n"
        "cmake -S . -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=Release\n"
        "cmake --build build/bench -j2 --target gc_peers\n"
        f"build/bench/bench/peers/gc_peers --layers {args.layers} --threads 1,2 --pass all "
        "--min-time 0.2 --rounds 2 --csv gc.csv\n"
        f"/usr/bin/python3 bench/peers/torch_peer.py --layers {args.layers} --threads 1,2 "
        "--pass all --min-time 0.2 --rounds 2 --csv torch.csv\n"
        "python3 bench/peers/make_table.py --csv gc.csv --csv torch.csv --out "
        "docs/PERFORMANCE.md\n"
        "```\n\n"
        "`gc_peers` is built only when oneDNN (`oneapi/dnnl/dnnl.hpp`, `libdnnl`) and XNNPACK "
        "(`xnnpack.h`, `libXNNPACK`) are found; without libpthreadpool-dev it uses the "
        "three-declaration shim in `bench/peers/shim/`. `gc_peers --filter SUBSTR` runs a "
        "subset; its exit status is 1 when any library's output was wrong. Run it on a quiet "
        "machine: the figures move by 1–2% between runs at best and by 20% or more while "
        "other jobs compete for the cores.\n")
    for extra in args.append:
        with open(extra) as f:
            out.append("\n## From Python (`bench/python_layers.py`)\n")
            out.append(f.read())
    with open(args.out, "w") as f:
        f.write("\n".join(out))


if __name__ == "__main__":
    main()
