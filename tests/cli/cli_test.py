#!/usr/bin/env python3
"""CLI tests of `groupconv`, run by CTest: cli_test.py BINARY CASE.

Standard library only (numpy is used by the `numpy_interop` case when it is importable; that
case is skipped with exit status 77 otherwise). The .npy files are written and read here with
struct, independently of the C++ reader and writer, and the reference convolution is computed
here in plain Python from the formula of SPEC section 1.
"""
import math
import os
import random
import struct
import subprocess
import sys
import tempfile
import xml.dom.minidom

BIN = None
FAILURES = []


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print("FAIL:", what, file=sys.stderr)


def run(*args, env=None, timeout=120):
    e = dict(os.environ)
    e.pop("GROUPCONV_VERBOSE", None)
    if env:
        e.update(env)
    p = subprocess.run([BIN] + [str(a) for a in args], capture_output=True, text=True,
                       env=e, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def expect(args, rc, out_has=(), err_has=(), env=None):
    code, out, err = run(*args, env=env)
    label = "groupconv " + " ".join(str(a) for a in args)
    check(code == rc, f"{label}: exit {code}, expected {rc}\nstdout:\n{out}\nstderr:\n{err}")
    for s in out_has:
        check(s in out, f"{label}: stdout lacks {s!r}:\n{out}")
    for s in err_has:
        check(s in err, f"{label}: stderr lacks {s!r}:\n{err}")
    if rc == 2 and code == 2:
        check(err.strip() != "", f"{label}: exit 2 without a message on stderr")
    return out, err


# ---- .npy by hand ------------------------------------------------------------------------
def npy_bytes(shape, values, descr="<f4", fortran=False, major=1, dict_text=None):
    if dict_text is None:
        shape_txt = "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
        dict_text = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (
            descr, "True" if fortran else "False", shape_txt)
    prefix = 10 if major == 1 else 12
    header = dict_text
    while (prefix + len(header) + 1) % 64:
        header += " "
    header += "\n"
    hb = header.encode("latin1")
    out = b"\x93NUMPY" + bytes([major, 0])
    out += struct.pack("<H", len(hb)) if major == 1 else struct.pack("<I", len(hb))
    fmt = {"<f4": "<%df", ">f4": ">%df", "<f8": "<%dd", "<i4": "<%di"}[descr]
    if descr == "<i4":
        values = [int(v * 100) for v in values]
    return out + hb + struct.pack(fmt % len(values), *values)


def write_npy(path, shape, values, **kw):
    with open(path, "wb") as f:
        f.write(npy_bytes(shape, values, **kw))


def read_npy(path):
    data = open(path, "rb").read()
    assert data[:6] == b"\x93NUMPY", "bad magic"
    major = data[6]
    if major == 1:
        (hlen,) = struct.unpack("<H", data[8:10])
        off = 10
    else:
        (hlen,) = struct.unpack("<I", data[8:12])
        off = 12
    header = data[off:off + hlen].decode("latin1")
    d = eval(header, {"__builtins__": {}}, {"True": True, "False": False})  # trusted: our output
    assert d["descr"] == "<f4" and d["fortran_order"] is False, header
    shape = tuple(d["shape"])
    n = 1
    for s in shape:
        n *= s
    body = data[off + hlen:]
    assert len(body) == 4 * n, (len(body), n)
    assert (off + hlen) % 64 == 0, "data not 64-byte aligned"
    return shape, list(struct.unpack("<%df" % n, body))


def f32(values):
    return list(struct.unpack("<%df" % len(values), struct.pack("<%df" % len(values), *values)))


def rand_values(n, rng):
    return f32([rng.uniform(-1, 1) for _ in range(n)])


# ---- the reference, from SPEC section 1 ----------------------------------------------------
def pads(mode, size, k, s, d, explicit):
    eff = (k - 1) * d + 1
    if mode == "VALID":
        return 0, 0, (size - eff) // s + 1
    if mode in ("SAME", "SAME_LOWER"):
        out = -(-size // s)
        total = max((out - 1) * s + eff - size, 0)
        before = total // 2 if mode == "SAME" else total - total // 2
        return before, total - before, out
    before, after = explicit
    return before, after, (size + before + after - eff) // s + 1


def conv_taps(cfg):
    """The geometry of cfg in its layouts: (output shape, output size, taps), where taps
    yields, for every output element in layout order of the loops (n, oh, ow, co), its flat
    index, its channel and the in-bounds (input index, filter index) pairs in (kh, kw, i)
    order. The forward and backward references below both walk it."""
    n, h, wd, cin = cfg["n"], cfg["h"], cfg["w"], cfg["cin"]
    kh, kw, cout, g = cfg["kh"], cfg["kw"], cfg["cout"], cfg["groups"]
    sh, sw = cfg["strides"]
    dh, dw = cfg["dilations"]
    cig, cog = cin // g, cout // g
    ex = cfg.get("explicit", (0, 0, 0, 0))
    pt, _, ho = pads(cfg["padding"], h, kh, sh, dh, ex[0:2])
    pl, _, wo = pads(cfg["padding"], wd, kw, sw, dw, ex[2:4])
    nchw = cfg["data_format"] == "NCHW"
    oihw = cfg["filter_format"] == "OIHW"

    def xi(nn, hh, ww, cc):
        return ((nn * cin + cc) * h + hh) * wd + ww if nchw else ((nn * h + hh) * wd + ww) * cin + cc

    def wi(a, bb, i, o):
        return ((o * cig + i) * kh + a) * kw + bb if oihw else ((a * kw + bb) * cig + i) * cout + o

    def yi(nn, hh, ww, cc):
        return ((nn * cout + cc) * ho + hh) * wo + ww if nchw else ((nn * ho + hh) * wo + ww) * cout + cc

    def taps():
        for nn in range(n):
            for oh in range(ho):
                for ow in range(wo):
                    for co in range(cout):
                        grp = co // cog
                        pairs = []
                        for a in range(kh):
                            ih = oh * sh - pt + a * dh
                            if ih < 0 or ih >= h:
                                continue
                            for bb in range(kw):
                                iw = ow * sw - pl + bb * dw
                                if iw < 0 or iw >= wd:
                                    continue
                                for i in range(cig):
                                    pairs.append((xi(nn, ih, iw, grp * cig + i), wi(a, bb, i, co)))
                        yield yi(nn, oh, ow, co), co, pairs

    shape = (n, cout, ho, wo) if nchw else (n, ho, wo, cout)
    return shape, n * ho * wo * cout, taps()


def reference(cfg, x, w, b):
    shape, size, taps = conv_taps(cfg)
    y = [0.0] * size
    for k_y, co, pairs in taps:
        acc = b[co] if b else 0.0
        for k, f in pairs:
            acc += x[k] * w[f]
        y[k_y] = acc
    return shape, y


def rel_l2(got, want):
    num = sum((a - b) ** 2 for a, b in zip(got, want))
    den = sum(b * b for b in want)
    return math.sqrt(num / den) if den else math.sqrt(num)


def geometry_args(cfg):
    args = ["--groups", cfg["groups"], "--strides", "%d,%d" % tuple(cfg["strides"]),
            "--dilations", "%d,%d" % tuple(cfg["dilations"]),
            "--data-format", cfg["data_format"], "--filter-format", cfg["filter_format"]]
    if cfg["padding"] == "EXPLICIT":
        args += ["--padding", ",".join(str(p) for p in cfg["explicit"])]
    else:
        args += ["--padding", cfg["padding"]]
    return args


CONFIGS = [
    dict(n=1, h=7, w=6, cin=8, cout=8, groups=4, kh=3, kw=3, strides=(1, 1), dilations=(1, 1),
         padding="SAME", data_format="NHWC", filter_format="HWIO", bias=True),
    dict(n=2, h=9, w=8, cin=6, cout=12, groups=3, kh=3, kw=2, strides=(2, 1), dilations=(1, 1),
         padding="SAME", data_format="NHWC", filter_format="HWIO", bias=False),
    dict(n=1, h=8, w=7, cin=4, cout=8, groups=4, kh=3, kw=3, strides=(2, 2), dilations=(1, 1),
         padding="SAME_LOWER", data_format="NCHW", filter_format="OIHW", bias=True),
    dict(n=1, h=9, w=9, cin=4, cout=4, groups=2, kh=3, kw=3, strides=(1, 1), dilations=(2, 2),
         padding="VALID", data_format="NHWC", filter_format="HWIO", bias=True),
    dict(n=1, h=5, w=6, cin=3, cout=6, groups=1, kh=2, kw=3, strides=(1, 2), dilations=(1, 1),
         padding="EXPLICIT", explicit=(1, 0, 2, 1), data_format="NCHW", filter_format="HWIO",
         bias=False),
    dict(n=1, h=6, w=6, cin=16, cout=16, groups=16, kh=3, kw=3, strides=(1, 1),
         dilations=(1, 1), padding="SAME", data_format="NHWC", filter_format="HWIO", bias=True),
    dict(n=1, h=5, w=5, cin=12, cout=6, groups=3, kh=1, kw=1, strides=(1, 1), dilations=(1, 1),
         padding="VALID", data_format="NHWC", filter_format="HWIO", bias=True),
]


def shapes_of(cfg):
    cig = cfg["cin"] // cfg["groups"]
    xs = ((cfg["n"], cfg["cin"], cfg["h"], cfg["w"]) if cfg["data_format"] == "NCHW"
          else (cfg["n"], cfg["h"], cfg["w"], cfg["cin"]))
    ws = ((cfg["cout"], cig, cfg["kh"], cfg["kw"]) if cfg["filter_format"] == "OIHW"
          else (cfg["kh"], cfg["kw"], cig, cfg["cout"]))
    return xs, ws


def prod(s):
    n = 1
    for d in s:
        n *= d
    return n


# ---- cases ---------------------------------------------------------------------------------
def case_check_ok(tmp):
    out, _ = expect(["check", "--input-shape", "1,28,28,32", "--filter-shape", "3,3,8,64",
                     "--groups", "4", "--padding", "SAME"], 0,
                    out_has=["[1, 28, 28, 64]", "per group: 8 input -> 16 output channels",
                             "FLOPs 7225344"])
    # Accepted spellings: TF 4-lists, (h, w) pairs, pasted numpy shapes, lower-case modes.
    expect(["check", "--input-shape", "(1, 28, 28, 32)", "--filter-shape", "[3, 3, 8, 64]",
            "--strides", "1,2,2,1", "--dilations", "1", "--padding", "same"], 0,
           out_has=["[1, 14, 14, 64]"])
    expect(["check", "--input-shape", "1,32,28,28", "--filter-shape", "64,8,3,3",
            "--data-format", "NCHW", "--filter-format", "OIHW", "--padding", "1,1,1,1",
            "--bias-shape", "64", "--expect-output-channels", "64"], 0,
           out_has=["[1, 64, 28, 28]"])
    expect(["check", "--input-shape", "0,5,5,4", "--filter-shape", "3,3,4,4"], 0,
           out_has=["[0, 3, 3, 4]"])


def case_check_spec_example(tmp):
    out, err = expect(["check", "--input-shape", "1,28,28,33", "--filter-shape", "3,3,8,16",
                       "--groups", "4"], 2, err_has=["GC001", "33", "4", "32", "36"])
    check(out == "", "a refused check prints nothing on stdout")


def case_check_diagnostics(tmp):
    base = ["check", "--input-shape", "1,28,28,32", "--groups", "4"]
    expect(base + ["--filter-shape", "3,3,32,64"], 2, err_has=["GC003", "ungrouped", "[3, 3, 8, 64]"])
    expect(base + ["--filter-shape", "3,3,8,16"], 0,
           out_has=["[1, 26, 26, 16]", "8 input -> 4 output channels"])
    expect(base + ["--filter-shape", "3,3,8,16", "--expect-output-channels", "64"], 2,
           err_has=["GC006", "64", "[3, 3, 8, 64]"])
    expect(base + ["--filter-shape", "64,8,3,3"], 2, err_has=["GC005", "OIHW"])
    expect(base + ["--filter-shape", "3,3,8,64", "--bias-shape", "16"], 2, err_has=["GC016"])
    expect(["check", "--input-shape", "1,28,28", "--filter-shape", "3,3,8,64"], 2,
           err_has=["GC007"])
    expect(["check", "--input-shape", "1,4,4,8", "--filter-shape", "9,9,8,8"], 2,
           err_has=["GC015"])


def case_check_garbage_options(tmp):
    base = ["check", "--input-shape", "1,28,28,32", "--filter-shape", "3,3,8,64"]
    bad = [
        (["--strides", "2,x"], "'x' is not an integer"),
        (["--strides", ""], "empty"),
        (["--strides", "2,,1"], "empty entry"),
        (["--strides", "99999999999999999999"], "not an integer"),
        (["--dilations", "two"], "not an integer"),
        (["--padding", "FOO"], "not a padding mode"),
        (["--padding", "1,2,3"], "1, 2 or 4 values"),
        (["--padding", "1,a,1,1"], "not an integer"),
        (["--data-format", "NWHC"], "unknown layout"),
        (["--filter-format", "IOHW"], "unknown filter layout"),
        (["--groups", "four"], "not an integer"),
        (["--groups", "2,2"], "one integer"),
        (["--expect-output-channels", "x"], "not an integer"),
    ]
    for extra, msg in bad:
        expect(base + extra, 2, err_has=[msg])
    # Values that parse but are refused by validation, with their own codes.
    expect(base + ["--strides", "0"], 2, err_has=["GC010"])
    expect(base + ["--strides", "1,2,3"], 2, err_has=["GC010"])
    expect(base + ["--strides", "2,1,1,1"], 2, err_has=["GC013"])
    expect(base + ["--dilations", "-1"], 2, err_has=["GC011"])
    expect(base + ["--groups", "0"], 2, err_has=["GC012"])
    expect(base + ["--padding", "-1,0,0,0"], 2, err_has=["GC014"])
    expect(["check", "--input-shape", "1,28,28,x", "--filter-shape", "3,3,8,64"], 2,
           err_has=["--input-shape"])
    expect(["check", "--filter-shape", "3,3,8,64"], 2, err_has=["--input-shape"])
    expect(base + ["--no-such-option"], 2)
    expect(["no-such-command"], 2)
    expect([], 2)


def case_help(tmp):
    for cmd in ([], ["check"], ["run"], ["bench"], ["demo"]):
        out, _ = expect(cmd + ["--help"], 0, out_has=["Usage"])
        if cmd:
            check("--help" in out, f"{cmd} --help lists its options")
    out, _ = expect(["run", "--help"], 0, out_has=["--threads", "--input", "--pass", "--verbose"])
    out, _ = expect(["bench", "--help"], 0,
                    out_has=["--threads", "--layers", "--min-time", "--csv", "--plot"])
    out, _ = expect(["demo", "--help"], 0, out_has=["--threads"])
    out, _ = expect(["check", "--help"], 0,
                    out_has=["--input-shape", "--filter-shape", "--groups", "--strides",
                             "--dilations", "--padding", "--data-format", "--filter-format",
                             "--expect-output-channels", "--bias-shape"])


def case_run_roundtrip(tmp):
    rng = random.Random(1234)
    for k, cfg in enumerate(CONFIGS):
        xs, ws = shapes_of(cfg)
        x = rand_values(prod(xs), rng)
        w = rand_values(prod(ws), rng)
        b = rand_values(cfg["cout"], rng) if cfg["bias"] else None
        xp, wp, bp = (os.path.join(tmp, f"{k}_{n}.npy") for n in "xwb")
        write_npy(xp, xs, x)
        write_npy(wp, ws, w, major=2 if k % 2 else 1)
        args = ["run", "--input", xp, "--filter", wp] + geometry_args(cfg)
        if b:
            write_npy(bp, (cfg["cout"],), b)
            args += ["--bias", bp]
        want_shape, want = reference(cfg, x, w, b)
        outputs = {}
        for threads in (1, 2):
            for isa in ("portable", "avx512"):
                yp = os.path.join(tmp, f"{k}_y_{threads}_{isa}.npy")
                expect(args + ["--output", yp, "--threads", threads, "--isa", isa], 0,
                       out_has=["wrote"])
                shape, y = read_npy(yp)
                check(shape == want_shape, f"config {k}: output shape {shape} != {want_shape}")
                err = rel_l2(y, want)
                check(err < 1e-5, f"config {k} threads {threads} isa {isa}: rel L2 {err}")
                outputs[(threads, isa)] = open(yp, "rb").read()
        for isa in ("portable", "avx512"):
            check(outputs[(1, isa)] == outputs[(2, isa)],
                  f"config {k} isa {isa}: output differs between 1 and 2 threads")


def no_leftovers(tmp, name):
    left = [f for f in os.listdir(tmp) if name in f]
    check(not left, f"files left behind for {name}: {left}")


def case_run_malformed(tmp):
    rng = random.Random(5)
    x = rand_values(1 * 6 * 6 * 4, rng)
    w = rand_values(3 * 3 * 2 * 4, rng)
    good_x = os.path.join(tmp, "x.npy")
    good_w = os.path.join(tmp, "w.npy")
    write_npy(good_x, (1, 6, 6, 4), x)
    write_npy(good_w, (3, 3, 2, 4), w)
    good = npy_bytes((1, 6, 6, 4), x)
    dict_ok = "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }"
    malformed = {
        "truncated": (good[:-7], "GC020", "truncated"),
        "truncated_header": (good[:30], "GC020", "truncated"),
        "float64": (npy_bytes((1, 6, 6, 4), x, descr="<f8"), "GC008", "float64"),
        "int32": (npy_bytes((1, 6, 6, 4), x, descr="<i4"), "GC008", "int32"),
        "big_endian": (npy_bytes((1, 6, 6, 4), x, descr=">f4"), "GC008", "big-endian"),
        "fortran": (npy_bytes((1, 6, 6, 4), x, fortran=True), "GC020", "Fortran"),
        "claims_more": (npy_bytes(None, x, dict_text=dict_ok % "(1, 60, 60, 4)"), "GC020",
                        "only"),
        "absurd_dims": (npy_bytes(None, [], dict_text=dict_ok % "(4294967296, 4294967296, 16, 16)"),
                        "GC020", "absurdly large"),
        "huge_dim": (npy_bytes(None, [], dict_text=dict_ok % "(99999999999999999999,)"), "GC020",
                     "64 bits"),
        "garbage_magic": (b"this is not a numpy file at all" * 3, "GC020", "not a .npy file"),
        "bad_dict": (npy_bytes(None, x, dict_text="{'descr': '<f4', 'shape': (1, 6, 6, 4)}"),
                     "GC020", "malformed"),
        "bad_version": (b"\x93NUMPY\x07\x00" + good[8:], "GC020", "version 7.0"),
        "empty": (b"", "GC020", "not a .npy file"),
        "rank3": (npy_bytes((6, 6, 4), x), "GC007", "4-D"),
    }
    for name, (data, code, text) in malformed.items():
        bad = os.path.join(tmp, f"bad_{name}.npy")
        with open(bad, "wb") as f:
            f.write(data)
        for role in ("input", "filter", "bias"):
            if name == "rank3" and role != "input":
                continue
            yname = f"y_{name}_{role}.npy"
            yp = os.path.join(tmp, yname)
            args = ["run", "--input", good_x, "--filter", good_w, "--output", yp]
            if role == "input":
                args[2] = bad
            elif role == "filter":
                args[4] = bad
            else:
                args += ["--bias", bad]
            _, err = expect(args, 2, err_has=[code, text])
            check(bad in err, f"{name} ({role}): the message names the file")
            check(not os.path.exists(yp), f"{name} ({role}): output file exists after failure")
            no_leftovers(tmp, yname)
    # Shapes that do not fit each other, a missing file, an output in a missing directory.
    yp = os.path.join(tmp, "y_mismatch.npy")
    expect(["run", "--input", good_x, "--filter", good_w, "--output", yp, "--groups", "4"], 2,
           err_has=["GC0"])
    check(not os.path.exists(yp), "mismatch: no output")
    expect(["run", "--input", os.path.join(tmp, "missing.npy"), "--filter", good_w, "--output",
            yp], 2, err_has=["GC020", "missing.npy"])
    check(not os.path.exists(yp), "missing input: no output")
    yp = os.path.join(tmp, "no", "such", "dir", "y.npy")
    expect(["run", "--input", good_x, "--filter", good_w, "--output", yp], 2, err_has=["GC020"])
    # A failed run leaves an existing output untouched.
    keep = os.path.join(tmp, "keep.npy")
    with open(keep, "wb") as f:
        f.write(b"previous")
    expect(["run", "--input", os.path.join(tmp, "bad_truncated.npy"), "--filter", good_w,
            "--output", keep], 2)
    check(open(keep, "rb").read() == b"previous", "a failed run must not touch an existing output")
    no_leftovers(tmp, "keep.npy.tmp")


def case_run_pass_and_verbose(tmp):
    rng = random.Random(9)
    xp, wp = os.path.join(tmp, "x.npy"), os.path.join(tmp, "w.npy")
    write_npy(xp, (1, 6, 6, 4), rand_values(144, rng))
    write_npy(wp, (3, 3, 2, 4), rand_values(72, rng))
    base = ["run", "--input", xp, "--filter", wp]
    for p in ("bwd_data", "bwd_filter"):  # backward passes need dy
        yp = os.path.join(tmp, f"y_{p}.npy")
        expect(base + ["--output", yp, "--pass", p], 2, err_has=["--grad-output"])
        check(not os.path.exists(yp), f"--pass {p}: no output")
    expect(base + ["--output", os.path.join(tmp, "y_g.npy"), "--grad-output", xp], 2,
           err_has=["only used by backward passes"])
    expect(base + ["--output", os.path.join(tmp, "y_bad.npy"), "--pass", "sideways"], 2,
           err_has=["unknown pass"])
    expect(base + ["--output", os.path.join(tmp, "y.npy"), "--pass", "fwd"], 0)
    expect(base + ["--output", os.path.join(tmp, "y.npy"), "--verbose"], 0, err_has=["chosen"])
    expect(base + ["--output", os.path.join(tmp, "y.npy")], 0, err_has=["chosen"],
           env={"GROUPCONV_VERBOSE": "1"})
    _, err = expect(base + ["--output", os.path.join(tmp, "y.npy")], 0)
    check("chosen" not in err, "no selection log without --verbose")
    expect(base + ["--output", os.path.join(tmp, "y.npy"), "--threads", "-1"], 2,
           err_has=["--threads"])
    expect(base + ["--output", os.path.join(tmp, "y.npy"), "--threads", "x"], 2)
    expect(base + ["--output", os.path.join(tmp, "y.npy"), "--isa", "sse9"], 2,
           err_has=["unknown instruction set"])


def backward_reference(cfg, x, w, dy):
    """dx, dw, db of <conv(x, w) + b, dy>: the forward loop nest, scattering (plain Python)."""
    _, _, taps = conv_taps(cfg)
    dx, dwt, db = [0.0] * len(x), [0.0] * len(w), [0.0] * cfg["cout"]
    for k_y, co, pairs in taps:
        d = dy[k_y]
        db[co] += d
        for k, f in pairs:
            dx[k] += d * w[f]
            dwt[f] += d * x[k]
    return dx, dwt, db


def case_run_backward(tmp):
    """--pass bwd_data / bwd_filter against the plain-Python adjoint, every config."""
    rng = random.Random(23)
    for idx, cfg in enumerate(CONFIGS):
        xs, ws = shapes_of(cfg)
        x, w = rand_values(prod(xs), rng), rand_values(prod(ws), rng)
        ys, _ = reference(cfg, x, w, None)
        dy = rand_values(prod(ys), rng)
        xp, wp, dyp = (os.path.join(tmp, f"{t}{idx}.npy") for t in ("x", "w", "dy"))
        write_npy(xp, xs, x)
        write_npy(wp, ws, w)
        write_npy(dyp, ys, dy)
        want_dx, want_dw, want_db = backward_reference(cfg, x, w, dy)
        geo = geometry_args(cfg)
        for threads in (1, 2):
            dxp = os.path.join(tmp, f"dx{idx}_{threads}.npy")
            expect(["run", "--pass", "bwd_data", "--input-shape", ",".join(map(str, xs)),
                    "--filter", wp, "--grad-output", dyp, "--output", dxp, "--threads", threads]
                   + geo, 0, out_has=["bwd_data"])
            shape, got = read_npy(dxp)
            check(tuple(shape) == tuple(xs), f"config {idx}: dx shape {shape} != {xs}")
            check(rel_l2(got, want_dx) < 1e-5, f"config {idx}: dx error {rel_l2(got, want_dx)}")
            dwp, dbp = (os.path.join(tmp, f"{t}{idx}_{threads}.npy") for t in ("dw", "db"))
            expect(["run", "--pass", "bwd_filter", "--input", xp, "--filter-shape",
                    ",".join(map(str, ws)), "--grad-output", dyp, "--output", dwp,
                    "--bias-output", dbp, "--threads", threads] + geo, 0, out_has=["bwd_filter"])
            shape, got = read_npy(dwp)
            check(tuple(shape) == tuple(ws), f"config {idx}: dw shape {shape} != {ws}")
            check(rel_l2(got, want_dw) < 1e-5, f"config {idx}: dw error {rel_l2(got, want_dw)}")
            _, got_db = read_npy(dbp)
            check(rel_l2(got_db, want_db) < 1e-5, f"config {idx}: db error")
    # dy of the wrong shape: GC018 naming both shapes, and no output file.
    cfg = CONFIGS[1]  # forward output [2, 5, 8, 12]; its input [2, 9, 8, 6] is no dy
    xs, ws = shapes_of(cfg)
    out = os.path.join(tmp, "never.npy")
    expect(["run", "--pass", "bwd_data", "--input-shape", ",".join(map(str, xs)), "--filter",
            os.path.join(tmp, "w1.npy"), "--grad-output", os.path.join(tmp, "x1.npy"),
            "--output", out] + geometry_args(cfg), 2,
           err_has=["GC018", "[2, 5, 8, 12]", "[2, 9, 8, 6]"])
    check(not os.path.exists(out), "GC018: no output file")
    expect(["run", "--pass", "bwd_data", "--input-shape", ",".join(map(str, xs)), "--filter",
            os.path.join(tmp, "w1.npy"), "--grad-output", os.path.join(tmp, "dy1.npy"),
            "--bias-output", os.path.join(tmp, "db.npy"), "--output", out]
           + geometry_args(cfg), 2, err_has=["--bias-output"])


TINY_CSV = """# name,n,h,w,c_in,c_out,groups,kh,kw,stride_h,stride_w,dil_h,dil_w,padding
tiny_g2,1,8,8,4,8,2,3,3,1,1,1,1,SAME
tiny_dw_s2,1,9,9,8,8,8,3,3,2,2,1,1,1:1:1:1
tiny & <pw>,1,6,6,6,6,3,1,1,1,1,1,1,VALID
tiny_empty_batch,0,6,6,4,4,4,3,3,1,1,1,1,SAME
"""


def case_bench(tmp):
    layers = os.path.join(tmp, "tiny.csv")
    with open(layers, "w") as f:
        f.write(TINY_CSV)
    csv_out = os.path.join(tmp, "out.csv")
    svg_out = os.path.join(tmp, "out.svg")
    out, err = expect(["bench", "--layers", layers, "--threads", 1, "--min-time", 0.01, "--csv",
                       csv_out, "--plot", svg_out], 0,
                      out_has=["GFLOP/s", "% peak", "% roof", "kernel", "tiny_g2", "tiny_dw_s2"])
    check("tiny_g2" in err and "[1/4]" in err, f"bench progress on stderr:\n{err}")
    check("nan" not in out.lower(), f"no nan in the table:\n{out}")
    rows = open(csv_out).read().splitlines()
    check(rows[0] == "name,threads,gflop,median_ms,gflops,kernel", f"csv header: {rows[0]}")
    check(len(rows) == 5, f"csv rows: {rows}")
    for row in rows[1:]:
        cells = row.rsplit(",", 5)
        empty = row.startswith("tiny_empty_batch")
        check(len(cells) == 6 and cells[1] == "1" and (empty or float(cells[4]) > 0) and
              cells[5] != "", f"csv row {row}")
    dom = xml.dom.minidom.parse(svg_out)
    check(dom.documentElement.tagName == "svg", "svg root")
    text = open(svg_out).read()
    check("tiny_g2" in text and "tiny &amp; &lt;pw&gt;" in text, "svg names the layers, escaped")
    check(len(dom.getElementsByTagName("rect")) >= 4, "svg has a bar per layer")
    # --filter selects layers.
    out, _ = expect(["bench", "--layers", layers, "--threads", 1, "--min-time", 0, "--filter",
                     "dw"], 0, out_has=["tiny_dw_s2"])
    check("tiny_g2" not in out, "--filter drops other layers")
    # --pass all: a row per pass, backward rows named layer:pass, in the CSV too.
    csv_all = os.path.join(tmp, "all.csv")
    out, _ = expect(["bench", "--layers", layers, "--threads", 1, "--min-time", 0, "--filter",
                     "g2", "--pass", "all", "--csv", csv_all], 0,
                    out_has=["tiny_g2 ", "tiny_g2:bwd_data", "tiny_g2:bwd_filter"])
    names = [r.split(",")[0] for r in open(csv_all).read().splitlines()[1:]]
    check(names == ["tiny_g2", "tiny_g2:bwd_data", "tiny_g2:bwd_filter"], f"csv rows {names}")
    expect(["bench", "--layers", layers, "--pass", "sideways"], 2, err_has=["unknown pass"])


def case_bench_bad_csv(tmp):
    bad = {
        "fields": "a,1,8,8,4,8\n",
        "integer": "a,1,8,8,4,8,2,3,x,1,1,1,1,SAME\n",
        "padding": "a,1,8,8,4,8,2,3,3,1,1,1,1,FULL\n",
        "geometry": "a,1,8,8,5,8,2,3,3,1,1,1,1,SAME\n",
        "empty": "# nothing\n",
    }
    for name, text in bad.items():
        path = os.path.join(tmp, f"bad_{name}.csv")
        with open(path, "w") as f:
            f.write(text)
        csv_out = os.path.join(tmp, f"out_{name}.csv")
        svg_out = os.path.join(tmp, f"out_{name}.svg")
        expect(["bench", "--layers", path, "--min-time", 0, "--csv", csv_out, "--plot", svg_out],
               2, err_has=["error[GC"])
        check(not os.path.exists(csv_out) and not os.path.exists(svg_out),
              f"bad csv {name}: no outputs")
        no_leftovers(tmp, f"out_{name}")
    expect(["bench", "--layers", os.path.join(tmp, "missing.csv")], 2, err_has=["missing.csv"])
    good = os.path.join(tmp, "good.csv")
    with open(good, "w") as f:
        f.write(TINY_CSV)
    expect(["bench", "--layers", good, "--min-time", "-1"], 2, err_has=["--min-time"])
    expect(["bench", "--layers", good, "--min-time", "0", "--csv",
            os.path.join(tmp, "nodir", "x.csv")], 2, err_has=["GC020"])


def case_demo(tmp):
    out, _ = expect(["demo", "--min-time", "0.01", "--threads", "1"], 0,
                    out_has=["[1, 28, 28, 32]", "[3, 3, 8, 64]", "[1, 28, 28, 64]", "checksum",
                             "relative L2 error", "(ok: below 1e-5)", "GC001", "GC003", "GC006",
                             "16 channels", "benchmark", "geomean"])


def case_numpy_interop(tmp):
    try:
        import numpy as np
    except ImportError:
        print("numpy not importable by", sys.executable, "- skipping")
        sys.exit(77)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 9, 8, 12)).astype(np.float32)
    w = rng.standard_normal((3, 3, 4, 6)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    paths = {k: os.path.join(tmp, k + ".npy") for k in ("x", "w", "b", "y")}
    np.save(paths["x"], x)
    np.save(paths["w"], w)
    np.save(paths["b"], b)
    expect(["run", "--input", paths["x"], "--filter", paths["w"], "--bias", paths["b"],
            "--output", paths["y"], "--groups", "3", "--strides", "2", "--padding", "SAME"], 0)
    y = np.load(paths["y"])
    # Independent reference: SAME padding by hand, then each group as an ungrouped conv.
    ho, wo = -(-9 // 2), -(-8 // 2)
    th = max((ho - 1) * 2 + 3 - 9, 0)
    tw = max((wo - 1) * 2 + 3 - 8, 0)
    xp = np.pad(x.astype(np.float64), ((0, 0), (th // 2, th - th // 2), (tw // 2, tw - tw // 2),
                                       (0, 0)))
    ref = np.zeros((2, ho, wo, 6))
    for g in range(3):
        for a in range(3):
            for c in range(3):
                patch = xp[:, a:a + 2 * ho:2, c:c + 2 * wo:2, 4 * g:4 * g + 4]
                ref[..., 2 * g:2 * g + 2] += patch @ w[a, c, :, 2 * g:2 * g + 2].astype(np.float64)
    ref += b
    check(y.dtype == np.float32 and y.shape == ref.shape, f"numpy: {y.dtype} {y.shape}")
    err = np.linalg.norm(y - ref) / np.linalg.norm(ref)
    check(err < 1e-5, f"numpy interop rel L2 {err}")
    # Genuine numpy files in the refused variants.
    for name, arr, code in (("f64", x.astype(np.float64), "GC008"),
                            ("be", x.astype(">f4"), "GC008"),
                            ("fortran", np.asfortranarray(x), "GC020"),
                            ("i4", x.astype(np.int32), "GC008")):
        p = os.path.join(tmp, name + ".npy")
        np.save(p, arr)
        yp = os.path.join(tmp, "y_" + name + ".npy")
        expect(["run", "--input", p, "--filter", paths["w"], "--output", yp], 2, err_has=[code])
        check(not os.path.exists(yp), f"numpy {name}: no output")


CASES = {k[len("case_"):]: v for k, v in globals().items() if k.startswith("case_")}


def main():
    global BIN
    if len(sys.argv) != 3 or sys.argv[2] not in CASES:
        print("usage: cli_test.py BINARY CASE  (cases: %s)" % ", ".join(CASES), file=sys.stderr)
        return 2
    BIN = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="groupconv_cli_") as tmp:
        CASES[sys.argv[2]](tmp)
    if FAILURES:
        print("%d check(s) failed" % len(FAILURES), file=sys.stderr)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
