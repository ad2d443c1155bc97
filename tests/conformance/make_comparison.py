#!/usr/bin/env python3
"""Renders docs/COMPARISON.md from the records of a real conformance run.

    scripts/conformance_tests.sh                      # writes build/conformance/*.json
    python3 tests/conformance/make_comparison.py > docs/COMPARISON.md
    python3 tests/conformance/make_comparison.py --run -o docs/COMPARISON.md   # both steps

The records hold each framework's exact exception text (TensorFlow's eager wrapper
"{{function_node ...}}" and trailing " [Op:Conv2D] name:" removed, nothing else), every
warning, every shape, and groupconv's diagnostics; nothing in the tables is typed by hand.
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
    w(f"- TensorFlow {meta_tf.get('tensorflow', '?')} (PyPI tensorflow-cpu, NumPy "
      f"{meta_tf.get('numpy', '?')}, Python {meta_tf.get('python', '?')})")
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
    return "\n".join(out)


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
