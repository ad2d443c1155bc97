#!/usr/bin/env python3
"""Renders docs/COMPARISON.md from the records of a real conformance run.

    scripts/conformance_tests.sh                      # writes build/conformance/*.json
    python3 tests/conformance/make_comparison.py > docs/COMPARISON.md
    python3 tests/conformance/make_comparison.py --run -o docs/COMPARISON.md   # both steps

The records hold each framework's exact exception text (TensorFlow's eager wrapper
"{{function_node ...}}" and trailing " [Op:Conv2D] name:" removed, nothing else), every
warning, every shape, and groupconv's diagnostics; nothing in the tables is typed by hand.
The last section, "Backward passes", renders the gradient records (records' "backward").
Only the standard library is used, so any python3 can run it.
"""
import argparse
import collections
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def md(s) -> str:
    """One table cell: exact text, pipes escaped, newlines as <br>."""
    s = str(s).replace("|", "\\|").strip()

    def code(line):  # a span that holds backticks needs a longer fence
        return f"`` {line} ``" if "`" in line else f"`{line}`"
    return "<br>".join(code(line) if line else "" for line in s.splitlines()) if s else ""


def pattern(msg: str) -> str:
    """Groups messages that differ only in their numbers."""
    return re.sub(r"\d+", "#", msg)


def fmt_err(e) -> str:
    if e is None or e == float("inf"):
        return "shape differs"
    return f"{e:.1e}"


def load(out: Path, oracle: str) -> dict:
    p = out / f"{oracle}.json"
    if not p.exists():
        sys.exit(f"make_comparison: {p} is missing; run scripts/conformance_tests.sh first")
    return json.loads(p.read_text())


def summarize_cases(rec: dict) -> dict:
    """Per oracle family: how often the direct call worked, what refused, what disagreed."""
    fams = collections.OrderedDict()
    for label, case in sorted(rec["cases"].items()):
        for fam, attempts in case["families"].items():
            f = fams.setdefault(fam, {"cases": 0, "direct": 0, "refusals": collections.OrderedDict(),
                                      "inexpressible": collections.OrderedDict(),
                                      "disagree": collections.OrderedDict(), "none": 0,
                                      "max_err": 0.0})
            f["cases"] += 1
            if attempts and attempts[0]["ok"] and "disagrees" not in attempts[0]:
                f["direct"] += 1
            worked = [a for a in attempts if a["ok"] and "disagrees" not in a]
            if not worked:
                f["none"] += 1
            for i, a in enumerate(attempts):
                nxt = next((b["api"] for b in attempts[i + 1:] if b["ok"] and "disagrees" not in b),
                           None)
                if a["ok"] is False:
                    g = f["refusals"].setdefault((a["api"], pattern(a["message"])), {
                        "example": a["message"], "label": label, "count": 0, "fallbacks": set(),
                        "gc_err": 0.0})
                elif a["ok"] is None:
                    g = f["inexpressible"].setdefault((a["api"], a["message"]), {
                        "example": a["message"], "label": label, "count": 0, "fallbacks": set(),
                        "gc_err": 0.0})
                elif "disagrees" in a:
                    key = (a["api"], tuple(pattern(w) for w in a.get("warnings", [])))
                    g = f["disagree"].setdefault(key, {
                        "example": "\n".join(a.get("warnings", [])), "label": label, "count": 0,
                        "fallbacks": set(), "gc_err": 0.0, "worst": a["disagrees"]})
                    r = a["disagrees"]
                    if g["worst"].get("rel_l2") is not None and (
                            r.get("rel_l2") is None or r["rel_l2"] > g["worst"]["rel_l2"]):
                        g["worst"] = r
                        g["label"] = label
                else:
                    continue
                g["count"] += 1
                g["fallbacks"].add(nxt or "none: float64 reference only")
                g["gc_err"] = max(g["gc_err"],
                                  case["errors"].get("groupconv vs float64 reference", float("inf")))
            for k, e in case["errors"].items():
                if k.startswith("groupconv vs ") and "reference" not in k and \
                        any(k == f"groupconv vs {a['api']}" for a in attempts):
                    f["max_err"] = max(f["max_err"], e)
    return fams


def notes(tf: dict, th: dict) -> list:
    out = []

    worst = {}
    reasons = {}

    def direct(rec, fam, pred):
        ok = tot = 0
        worst[fam], reasons[fam] = 0.0, collections.Counter()
        for case in rec["cases"].values():
            if pred(case["case"]):
                tot += 1
                a = case["families"].get(fam, [])
                good = bool(a and a[0]["ok"] and "disagrees" not in a[0])
                ok += good
                if good:
                    worst[fam] = max(worst[fam], case["errors"].get(
                        f"{a[0]['api']} vs float64 reference", float("inf")))
                elif a:
                    reasons[fam][a[0].get("message", "wrong result")] += 1
        return ok, tot

    def dil(c):
        return c["dh"] > 1 or c["dw"] > 1

    def strided(c):
        return c["sh"] > 1 or c["sw"] > 1

    nhwc = [("grouped or depthwise (G > 1) with dilation > 1",
             lambda c: c["data_format"] == "NHWC" and c["groups"] > 1 and dil(c)),
            ("stride > 1 with dilation > 1",
             lambda c: c["data_format"] == "NHWC" and strided(c) and dil(c)),
            ("SAME_LOWER or explicit pads (as TF's explicit padding list)",
             lambda c: c["data_format"] == "NHWC" and c["padding"] in ("SAME_LOWER", "EXPLICIT")),
            ("N = 0", lambda c: c["data_format"] == "NHWC" and c["n"] == 0)]
    for what, pred in nhwc:
        ok, tot = direct(tf, "tf.nn.conv2d", pred)
        out.append(f"`tf.nn.conv2d` on NHWC input, {what}: accepted {ok} of {tot}; worst rel. L2 "
                   f"error against the float64 reference {fmt_err(worst['tf.nn.conv2d'])}.")
    ok, tot = direct(tf, "tf.nn.conv2d", lambda c: c["data_format"] == "NCHW" and c["n"] == 0)
    ok_all, tot_all = direct(tf, "tf.nn.conv2d", lambda c: c["data_format"] == "NCHW" and c["n"] > 0)
    out.append(f"`tf.nn.conv2d` with `data_format='NCHW'` on CPU: refused for every non-empty "
               f"batch ({tot_all - ok_all} of {tot_all} refused), but accepted with N = 0 ({ok} of "
               f"{tot}): apparently the empty batch is answered before the format check.")
    ok, tot = direct(th, "F.conv2d", lambda c: c["n"] == 0)
    out.append(f"`F.conv2d` with N = 0: direct call accepted {ok} of {tot}; the others: " +
               "; ".join(f"{m} ({n})" for m, n in reasons["F.conv2d"].most_common()) + ".")
    fams = collections.defaultdict(collections.Counter)
    for case in tf["cases"].values():
        name = case.get("kernel") or "unknown"
        tokens = name.split("_")
        head = []
        for t in tokens[:-1]:
            if any(ch.isdigit() for ch in t):
                break
            head.append(t)
        fams["_".join(head) + " (" + tokens[-1] + ")" if head else name][name] += 1
    out.append("groupconv kernels that computed these cases (TensorFlow run; the ISA is the best "
               "of the machine that ran it): " + "; ".join(
                   f"`{f}` {sum(v.values())} cases, {len(v)} variants"
                   for f, v in sorted(fams.items(), key=lambda kv: -sum(kv[1].values()))) + ".")
    return out


def render(tf: dict, th: dict) -> str:
    out = []
    w = out.append
    meta_tf, meta_th = tf.get("meta", {}), th.get("meta", {})
    w("# What TensorFlow, PyTorch and groupconv accept")
    w("")
    w("Generated by `tests/conformance/make_comparison.py` from the records of a real run of "
      "`scripts/conformance_tests.sh` (do not edit by hand; rerun both). "
      f"{tf['count']} random configurations, seed {tf['seed']}, each run through `groupconv run` "
      "and `groupconv check` and compared with the frameworks and with a float64 NumPy "
      "reference (relative L2 error < 1e-5 required against each).")
    w("")
    onednn = meta_tf.get("tf_enable_onednn_opts", "")
    w(f"- TensorFlow {meta_tf.get('tensorflow', '?')} (PyPI tensorflow-cpu, NumPy "
      f"{meta_tf.get('numpy', '?')}, Python {meta_tf.get('python', '?')}"
      + (f", TF_ENABLE_ONEDNN_OPTS={onednn}: TensorFlow's own kernels, not its oneDNN ones, "
         "which on an AVX-512 CPU returned an empty batch in the input's shape and aborted "
         "the interpreter on an invalid grouped call" if onednn == "0" else "") + ")")
    w(f"- PyTorch {meta_th.get('torch', '?')} (Debian python3-torch, NumPy "
      f"{meta_th.get('numpy', '?')}, Python {meta_th.get('python', '?')})")
    binary = meta_tf.get("groupconv_bin", "?")
    if binary.startswith(str(ROOT) + os.sep):
        binary = binary[len(str(ROOT)) + 1:]
    w(f"- groupconv: `{binary}`, working tree at commit {meta_tf.get('commit', '?')}")
    w("")
    w("Messages are quoted exactly as the exception's `str()`, prefixed with its type; from "
      "TensorFlow's eager errors the wrapper `{{function_node __wrapped__...device:CPU:0}}` and "
      "the trailing ` [Op:...] name:` are removed. Where messages differ only in their numbers, "
      "one example stands for the group.")
    w("")

    # Coverage
    cov = tf.get("coverage") or th.get("coverage") or {}
    if cov:
        w("## Configurations tested")
        w("")
        w("| feature | cases |")
        w("|---|---:|")
        for k, v in cov.items():
            w(f"| {k} | {v} |")
        w("")

    # Agreement summary
    w("## Agreement")
    w("")
    w("| oracle | cases | direct call accepted | accepted only through a workaround or not at all "
      "| no result (float64 reference only) | max rel. L2, groupconv vs oracle |")
    w("|---|---:|---:|---:|---:|---:|")
    gc_ref = 0.0
    for rec in (tf, th):
        for fam, f in summarize_cases(rec).items():
            w(f"| `{fam}` | {f['cases']} | {f['direct']} | {f['cases'] - f['direct']} | "
              f"{f['none']} | {fmt_err(f['max_err'])} |")
        for case in rec["cases"].values():
            gc_ref = max(gc_ref, case["errors"].get("groupconv vs float64 reference", float("inf")))
    w(f"| float64 NumPy reference | {tf['count']} | {tf['count']} | 0 | 0 | {fmt_err(gc_ref)} |")
    w("")

    # Refusals of valid configurations
    w("## Valid configurations a framework refuses (CPU)")
    w("")
    w("groupconv accepts every one of them (SPEC section 1). The last columns name the "
      "workaround the test used to still get a framework result, and groupconv's worst error "
      "on those cases against the float64 reference.")
    w("")
    w("| API | cases | exact message (example) | example case | workaround used | groupconv |")
    w("|---|---:|---|---|---|---|")
    for rec in (tf, th):
        for fam, f in summarize_cases(rec).items():
            for (api, _), g in f["refusals"].items():
                w(f"| `{api}` | {g['count']} | {md(g['example'])} | `{g['label']}` | "
                  f"{', '.join(sorted(g['fallbacks']))} | accepts; rel. L2 {fmt_err(g['gc_err'])} |")
    w("")
    w("### Options an API cannot express (no exception: the call cannot be written)")
    w("")
    w("| API | cases | why | workaround used |")
    w("|---|---:|---|---|")
    for rec in (tf, th):
        for fam, f in summarize_cases(rec).items():
            for (api, _), g in f["inexpressible"].items():
                w(f"| `{api}` | {g['count']} | {g['example']} | "
                  f"{', '.join(sorted(g['fallbacks']))} |")
    w("")

    disagreements = [(api, g) for rec in (tf, th) for f in summarize_cases(rec).values()
                     for (api, _), g in f["disagree"].items()]
    w("## Accepted with a warning, but a different result")
    w("")
    if not disagreements:
        w("None: every result a framework returned matched the float64 reference.")
    else:
        w("The framework returned a result that differs from the float64 reference (and from "
          "its own `tf.nn.conv2d`), after only a Python warning. The test records these and "
          "checks groupconv against the reference and the other oracles instead.")
        w("")
        w("| API | cases | warning (exact) | worst case | framework's result |")
        w("|---|---:|---|---|---|")
        for api, g in disagreements:
            r = g["worst"]
            res = (f"shape {r['shape']}, expected {r['want_shape']}" if r["shape"] != r["want_shape"]
                   else f"rel. L2 error {r['rel_l2']:.2f} against the reference")
            w(f"| `{api}` | {g['count']} | {md(g['example'])} | `{g['label']}` | {res} |")
    w("")

    w("## Notes computed from the records")
    w("")
    for line in notes(tf, th):
        w(f"- {line}")
    w("")

    # Invalid configurations
    w("## Invalid configurations: each tool's answer")
    w("")
    w("The classic mistakes, fed to each tool in its own conventions: TensorFlow gets NHWC input "
      "and an HWIO filter and infers groups from the shapes (it has no `groups` argument); "
      "PyTorch gets NCHW input, an OIHW weight and `groups=`; groupconv gets the case as "
      "written (NHWC/HWIO; `groupconv check`, or `groupconv run` for bias and dtype). For the "
      "layout mistake PyTorch gets the mirror image, the HWIO array `[3, 3, 8, 64]` as its weight.")
    w("")
    w("| mistake | TensorFlow `tf.nn.conv2d` | PyTorch `F.conv2d` | groupconv |")
    w("|---|---|---|---|")

    def fw_cell(r):
        if r is None:
            return "(not run)"
        f = r["framework"]
        if f["ok"] is True:
            return f"accepted, output shape `{f['shape']}`"
        if f["ok"] is None:
            return f"not expressible: {f['message']}"
        return md(f["message"])

    def tf_cell(r):
        cell = fw_cell(r)
        f, shp, fs = r["framework"], r.get("input_shape", []), r.get("filter_shape", [])
        if f["ok"] is True and r.get("groups") and len(shp) == 4 and len(fs) == 4 and fs[2] > 0:
            implied = shp[3] // fs[2]
            if implied != r["groups"]:
                cell += (f" (no `groups` argument: it infers groups = {shp[3]} / {fs[2]} = "
                         f"{implied}, not {r['groups']})")
        return cell

    for name, r in tf["invalid"].items():
        t = th["invalid"].get(name)
        g = r["groupconv"]
        help_line = next((line.strip() for line in g["stderr"].splitlines()
                          if line.strip().startswith("help:")), "")
        gcell = f"exit {g['exit']}: " + md(g["first_line"])
        if help_line:
            gcell += "<br>" + md(help_line)
        if r.get("groupconv_without_expect"):
            gcell += (f"<br>(without `--expect-output-channels`: accepted, output "
                      f"`{r['groupconv_without_expect']['shape']}`)")
        w(f"| {r['what']} | {tf_cell(r)} | {fw_cell(t)} | {gcell} |")
    w("")
    w("Full groupconv diagnostics for these cases: `build/conformance/tensorflow.json` "
      "(`invalid.<name>.groupconv.stderr`) after a run, or `groupconv demo`.")
    w("")
    out += render_backward(tf, th)
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# Backward passes
# ---------------------------------------------------------------------------------------------

PASSES = ("bwd_data", "bwd_filter")
PASS_GRADS = {"bwd_data": "dx", "bwd_filter": "dw, db"}


def good(a) -> bool:
    return bool(a["ok"]) and "disagrees" not in a


def summarize_backward(rec: dict) -> dict:
    """{(family, pass): stats} over rec["backward"], like summarize_cases."""
    out = collections.OrderedDict()
    for label, case in sorted(rec.get("backward", {}).items()):
        for pass_ in PASSES:
            errs = case["errors"].get(pass_, {})
            for fam, attempts in case["passes"].get(pass_, {}).items():
                f = out.setdefault((fam, pass_), {"cases": 0, "direct": 0, "none": 0,
                                                  "max_err": 0.0, "oracle_ref": 0.0})
                f["cases"] += 1
                f["direct"] += bool(attempts and good(attempts[0]))
                worked = [a for a in attempts if good(a)]
                if not worked:
                    f["none"] += 1
                    continue
                api = worked[0]["api"]
                f["max_err"] = max(f["max_err"], errs.get(f"groupconv vs {api}", float("inf")))
                f["oracle_ref"] = max(f["oracle_ref"],
                                      errs.get(f"{api} vs float64 reference", float("inf")))
    return out


def backward_groups(rec: dict, kind: str) -> collections.OrderedDict:
    """Refusals (kind "refused"), inexpressible options ("inexpressible") or warned, different
    results ("disagrees"), grouped by (api, message pattern), with per-pass counts."""
    groups = collections.OrderedDict()
    for label, case in sorted(rec.get("backward", {}).items()):
        for pass_ in PASSES:
            for fam, attempts in case["passes"].get(pass_, {}).items():
                for i, a in enumerate(attempts):
                    if kind == "refused" and a["ok"] is False:
                        key, text = (a["api"], pattern(a["message"]), a.get("op")), a["message"]
                    elif kind == "inexpressible" and a["ok"] is None:
                        key, text = (a["api"], a["message"], None), a["message"]
                    elif kind == "disagrees" and "disagrees" in a:
                        text = "\n".join(a.get("warnings", [])) or "(no warning)"
                        key = (a["api"], pattern(text), None)
                    else:
                        continue
                    nxt = next((b["api"] for b in attempts[i + 1:] if good(b)), None)
                    g = groups.setdefault(key, {"example": text, "label": label, "op": key[2],
                                                "count": collections.Counter(), "fallbacks": set(),
                                                "gc_err": {p: 0.0 for p in PASSES},
                                                "disagrees": a.get("disagrees")})
                    g["count"][pass_] += 1
                    g["fallbacks"].add(nxt or "none of its spellings")
                    g["gc_err"][pass_] = max(g["gc_err"][pass_], case["errors"].get(pass_, {}).get(
                        "groupconv vs float64 reference", float("inf")))
    return groups


def kernel_families(recs, pass_: str) -> str:
    """groupconv's kernels for one pass: the name up to the first token with a digit."""
    fams = collections.Counter()
    for case in recs:
        name = (case["groupconv"].get(pass_) or {}).get("kernel") or "unknown"
        head = []
        for part in re.split(r"(_|:)", name):
            if any(ch.isdigit() for ch in part):
                break
            head.append(part)
        fams["".join(head).rstrip("_:") or name] += 1
    return "; ".join(f"`{k}` {n}" for k, n in fams.most_common())


def render_backward(tf: dict, th: dict) -> list:
    out = []
    w = out.append
    btf, bth = tf.get("backward", {}), th.get("backward", {})
    w("## Backward passes")
    w("")
    if not btf or not bth:
        w("No records of the backward passes: rerun `scripts/conformance_tests.sh`.")
        w("")
        return out
    labels = sorted(set(btf) | set(bth))
    cases = [(btf.get(lb), bth.get(lb)) for lb in labels]
    n_bias = sum(1 for lb in labels if (btf.get(lb) or bth.get(lb))["case"]["bias"])
    adj = max(e for rec in (btf, bth) for case in rec.values() for e in case["adjoint"].values())
    w(f"`groupconv run --pass bwd_data` (input gradient dx) and `--pass bwd_filter` (filter "
      f"gradient dw, and with `--bias-output` the bias gradient db) on {len(labels)} of the "
      f"configurations above (seeded, the same number of each kind; {n_bias} with a bias), "
      "with a random dy of the forward output's shape. Oracles, all in float64: a NumPy "
      "reference of the gradients straight from the definition (every case; checked on every "
      "case by the adjoint identities <conv(x, w), dy> = <x, dx> = <w, dw>, worst relative "
      f"error {adj:.1e}), PyTorch autograd (`F.conv2d(...).backward(dy)`) and TensorFlow's "
      "`tf.GradientTape` over `tf.nn.conv2d` (and `tf.nn.depthwise_conv2d` where C_in/G = 1), "
      "each asked for one pass's gradients at a time. Relative L2 error < 1e-5 is required "
      "against every oracle that computes a case; a framework's float64 gradients must match "
      "the reference to 1e-10 unless it warned.")
    w("")
    cov = tf.get("backward_coverage") or th.get("backward_coverage") or {}
    if cov:
        w("Configurations: " + ", ".join(f"{k} {v}" for k, v in cov.items() if k != "cases") +
          ".")
        w("")

    # groupconv's result
    w("### groupconv")
    w("")
    w("| pass | gradients | cases | computed (TF run / PyTorch run) | max rel. L2 vs float64 "
      "reference | vs PyTorch autograd | vs TensorFlow (GradientTape, raw ops) | cases no "
      "framework computed (reference only) |")
    w("|---|---|---:|---:|---:|---:|---:|---:|")
    for pass_ in PASSES:
        done = [sum(1 for r in rec.values() if r["groupconv"].get(pass_, {}).get("exit") == 0)
                for rec in (btf, bth)]
        ref_err = {}
        vs = {"torch": 0.0, "tf": 0.0}
        only_ref = 0
        for t, h in cases:
            for r in (t, h):
                if r is None:
                    continue
                for k, e in r["errors"].get(pass_, {}).items():
                    m = re.fullmatch(r"groupconv (\w+) vs float64 reference", k)
                    if m:
                        ref_err[m.group(1)] = max(ref_err.get(m.group(1), 0.0), e)
            for r, key in ((h, "torch"), (t, "tf")):
                if r is None:
                    continue
                for k, e in r["errors"].get(pass_, {}).items():
                    if k.startswith("groupconv vs ") and "reference" not in k:
                        vs[key] = max(vs[key], e)
            if all(r is not None and r["reference_only"].get(pass_) for r in (t, h)):
                only_ref += 1
        w(f"| `{pass_}` | " + ", ".join(f"{k} {fmt_err(e)}" for k, e in ref_err.items()) +
          f" | {len(labels)} | {done[0]} / {done[1]} | {fmt_err(max(ref_err.values(), default=0))}"
          f" | {fmt_err(vs['torch'])} | {fmt_err(vs['tf'])} | {only_ref} |")
    w("")
    recs = [r for r in btf.values()]
    w("Kernels that computed the gradients (TensorFlow run): " + "; ".join(
        f"`{p}`: {kernel_families(recs, p)}" for p in PASSES) + ".")
    w("")

    # The frameworks
    w("### What the frameworks compute")
    w("")
    w("| oracle | pass | cases | direct call gave gradients | only through a workaround or not "
      "at all | no result | max rel. L2, oracle vs float64 reference | max rel. L2, groupconv "
      "vs oracle |")
    w("|---|---|---:|---:|---:|---:|---:|---:|")
    for rec in (tf, th):
        for (fam, pass_), f in summarize_backward(rec).items():
            w(f"| `{fam}` | `{pass_}` | {f['cases']} | {f['direct']} | "
              f"{f['cases'] - f['direct']} | {f['none']} | {fmt_err(f['oracle_ref'])} | "
              f"{fmt_err(f['max_err'])} |")
    w("")

    w("### Gradients a framework refuses (CPU)")
    w("")
    w("Exact messages as above; TensorFlow's op (from its `[Op:...]` tag) in its own column. "
      "groupconv computes every one of these cases; its column gives its worst error against "
      "the float64 reference on them.")
    w("")
    w("| API | exact message (example) | op | cases bwd_data / bwd_filter | example case | "
      "next spelling that worked | groupconv dx / dw,db |")
    w("|---|---|---|---:|---|---|---|")
    any_refusal = {}
    for name, rec in (("tf", tf), ("torch", th)):
        groups = backward_groups(rec, "refused")
        any_refusal[name] = groups
        for (api, _, op), g in sorted(groups.items(), key=lambda kv: (
                kv[0][0], -sum(kv[1]["count"].values()), kv[0][2] or "")):
            w(f"| `{api}` | {md(g['example'])} | {f'`{op}`' if op else ''} | "
              f"{g['count']['bwd_data']} / {g['count']['bwd_filter']} | `{g['label']}` | "
              f"{', '.join(sorted(g['fallbacks']))} | " + " / ".join(
                  fmt_err(g["gc_err"][p]) if g["count"][p] else "–" for p in PASSES) + " |")
    if not any_refusal["torch"]:
        w("| PyTorch | (no refusal) | | | | | |")
    w("")
    inexp = [(api, g) for rec in (tf, th) for (api, _, _), g in
             backward_groups(rec, "inexpressible").items()]
    if inexp:
        w("Options an API cannot express (no exception; the next spelling is used):")
        w("")
        for api, g in inexp:
            w(f"- `{api}`: {g['example']} ({g['count']['bwd_data']} / "
              f"{g['count']['bwd_filter']} cases; then: {', '.join(sorted(g['fallbacks']))})")
        w("")
    dis = [(api, g) for rec in (tf, th) for (api, _, _), g in
           backward_groups(rec, "disagrees").items()]
    if dis:
        w("Gradients returned after only a warning, but of a different convolution (not used "
          "as an oracle):")
        w("")
        w("| API | cases bwd_data / bwd_filter | warning (exact) | example case | "
          "framework's result |")
        w("|---|---:|---|---|---|")
        for api, g in dis:
            r = g["disagrees"] or {}
            res = (f"forward output shape {r.get('shape')}, expected {r.get('want_shape')}"
                   if r.get("rel_l2") is None else
                   f"rel. L2 error {r['rel_l2']:.2f} against the reference")
            w(f"| `{api}` | {g['count']['bwd_data']} / {g['count']['bwd_filter']} | "
              f"{md(g['example'])} | `{g['label']}` | {res} |")
        w("")

    w("### Notes computed from the records")
    w("")
    for line in backward_notes(btf, bth):
        w(f"- {line}")
    w("")
    return out


def backward_notes(btf: dict, bth: dict) -> list:
    out = []

    def tally(rec, fam, pred, pass_="bwd_filter", nhwc_only=True):
        """(accepted by any spelling of fam, cases, Counter of the first refusal messages)."""
        ok = tot = 0
        why = collections.Counter()
        for case in rec.values():
            c = case["case"]
            if not pred(c) or (nhwc_only and c["data_format"] != "NHWC"):
                continue
            attempts = case["passes"].get(pass_, {}).get(fam)
            if attempts is None:
                continue
            tot += 1
            first = [a for a in attempts if a["api"] == fam]
            if first and good(first[0]):
                ok += 1
            elif first and first[0]["ok"] is False:
                why[first[0]["message"].split(".")[0]] += 1
            elif first and "disagrees" in first[0]:
                why["(no refusal) gradients of another convolution, after a warning"] += 1
        return ok, tot, why

    def dil(c):
        return c["dh"] > 1 or c["dw"] > 1

    def desc(why):
        return "; ".join(f"{m}. ({n})" for m, n in why.most_common()) or "none"

    def merged(count):
        """One sentence for both passes (they are the same when TF refuses both alike)."""
        (ok1, tot1, why1), (ok2, tot2, why2) = count("bwd_data"), count("bwd_filter")
        if (ok1, tot1, why1) == (ok2, tot2, why2):
            return (f"gradients for {ok1} of {tot1} cases in both passes; otherwise: "
                    f"{desc(why1)}.")
        return (f"`bwd_data` gradients for {ok1} of {tot1} (otherwise: {desc(why1)}); "
                f"`bwd_filter` for {ok2} of {tot2} (otherwise: {desc(why2)}).")

    rows = [("groups = 1, dilation 1", lambda c: c["groups"] == 1 and not dil(c)),
            ("groups = 1, dilation > 1", lambda c: c["groups"] == 1 and dil(c)),
            ("G > 1 (grouped or depthwise), dilation 1", lambda c: c["groups"] > 1 and not dil(c)),
            ("G > 1, dilation > 1", lambda c: c["groups"] > 1 and dil(c))]
    for what, pred in rows:
        out.append(f"`tf.GradientTape` over `tf.nn.conv2d` on NHWC input, {what}: " + merged(
            lambda p: tally(btf, "tf.nn.conv2d", pred, p)))
    out.append("`tf.GradientTape` over `tf.nn.depthwise_conv2d` on NHWC input (C_in/G = 1): " +
               merged(lambda p: tally(btf, "tf.nn.depthwise_conv2d", lambda c: True, p)))
    ops = collections.Counter()
    for case in btf.values():
        for a in case["passes"].get("bwd_filter", {}).get("tf.nn.conv2d", []):
            if a["ok"] is False and a.get("op"):
                ops[a["op"]] += 1
    raw, example = collections.Counter(), {}
    for case in btf.values():
        if case["case"]["groups"] > 1:
            for atts in case["passes"].get("bwd_filter", {}).values():
                for a in atts:
                    if a["ok"] is False and a.get("op") == "Conv2DBackpropFilter":
                        raw[pattern(a["message"])] += 1
                        example.setdefault(pattern(a["message"]), a["message"])
    if ops:
        out.append("Op named in the refusals when `tf.GradientTape` over `tf.nn.conv2d` is "
                   "asked for the filter gradient (and bias) only, all spellings: " +
                   ", ".join(f"`{o}` {n}" for o, n in ops.items()) + ". `Conv2D`: the forward "
                   "itself was refused; `Conv2DBackpropInput`: the registered gradient of "
                   "`Conv2D` computes the input gradient as well, and refuses there first. "
                   "Called directly, `Conv2DBackpropFilter` on grouped (G > 1) cases answers: " +
                   ("; ".join(f"{md(example[m])} ({n})" for m, n in raw.most_common())
                    or "nothing") +
                   ".")
    n0 = [c for c in btf.values() if c["case"]["n"] == 0 and c["case"]["data_format"] == "NCHW"]
    if n0:
        msgs = collections.Counter(a["message"] for c in n0 for a in
                                   c["passes"]["bwd_data"].get("tf.nn.conv2d", [])[:1]
                                   if a["ok"] is False)
        out.append(f"`tf.nn.conv2d` with `data_format='NCHW'` and N = 0 ({len(n0)} cases): the "
                   "forward is accepted (see above), the gradient refused: " +
                   "; ".join(f"{md(m)} ({n})" for m, n in msgs.items()) + ".")
    th_ref = collections.Counter(a["message"] for c in bth.values() for p in PASSES
                                 for atts in c["passes"].get(p, {}).values() for a in atts
                                 if a["ok"] is False)
    th_none = sum(1 for c in bth.values() for p in PASSES if c["reference_only"].get(p))
    out.append("PyTorch autograd: " + ("no refusal" if not th_ref else "refusals (either pass): "
               + "; ".join(f"{md(m)} ({n})" for m, n in th_ref.items())) +
               f"; pass-cases with no PyTorch gradient at all: {th_none}.")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--run", action="store_true", help="run scripts/conformance_tests.sh first")
    ap.add_argument("-o", "--output", help="write here instead of stdout")
    ap.add_argument("--records", default=os.environ.get("GROUPCONV_CONFORMANCE_OUT",
                                                        str(ROOT / "build" / "conformance")))
    a = ap.parse_args()
    if a.run:
        rc = subprocess.call([str(ROOT / "scripts" / "conformance_tests.sh")], cwd=ROOT)
        if rc != 0:
            print("make_comparison: the conformance run failed; the table shows its records",
                  file=sys.stderr)
    out = Path(a.records)
    text = render(load(out, "tensorflow"), load(out, "torch"))
    if a.output:
        Path(a.output).write_text(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
