"""Shared by both conformance suites (TensorFlow side and PyTorch side).

TensorFlow (PyPI, NumPy 2) and Debian's PyTorch (NumPy 1.24) cannot share an interpreter, so
the conformance test is two pytest files run by two interpreters. Everything both sides must
agree on lives here and uses NumPy only:

- the seeded case generator (np.random.RandomState: its stream is frozen across NumPy
  versions, so both interpreters see exactly the same cases and the same data);
- the float64 NumPy reference, the second oracle, used for every case and the only one where
  a framework refuses a configuration;
- running `groupconv run` / `groupconv check` (binary from $GROUPCONV_BIN);
- the classic invalid configurations fed to both frameworks and to `groupconv check`;
- the backward passes (`groupconv run --pass bwd_data|bwd_filter`) on a seeded subset of the
  cases: their float64 NumPy reference (checked by the adjoint identities) and the check;
- the JSON records that make_comparison.py turns into docs/COMPARISON.md.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Optional

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("GROUPCONV_CONFORMANCE_SEED", "20261125"))
NUM_CASES = int(os.environ.get("GROUPCONV_CONFORMANCE_CASES", "240"))
TOLERANCE = 1e-5  # relative L2 error, SPEC section 1
# The backward passes run on a seeded subset of the same cases (every kind equally).
NUM_BWD_CASES = int(os.environ.get("GROUPCONV_CONFORMANCE_BWD_CASES", "120"))


def groupconv_bin() -> Path:
    p = Path(os.environ.get("GROUPCONV_BIN", "build/release/tools/groupconv"))
    return p if p.is_absolute() else ROOT / p


def oracles_required() -> bool:
    return os.environ.get("GROUPCONV_REQUIRE_ORACLES", "") == "1"


def records_dir() -> Path:
    d = Path(os.environ.get("GROUPCONV_CONFORMANCE_OUT", str(ROOT / "build" / "conformance")))
    d.mkdir(parents=True, exist_ok=True)
    return d


# ---------------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Case:
    index: int
    kind: str                  # the category that forced its shape (coverage bookkeeping)
    n: int
    h: int
    w: int
    groups: int
    cig: int                   # input channels per group
    cog: int                   # output channels per group
    kh: int
    kw: int
    sh: int
    sw: int
    dh: int
    dw: int
    padding: str               # VALID, SAME, SAME_LOWER or EXPLICIT
    pads: tuple                # explicit (top, bottom, left, right); resolved for SAME*
    data_format: str           # NHWC or NCHW
    filter_format: str         # HWIO or OIHW
    bias: bool
    pass_groups: bool          # give --groups, or let groupconv infer it
    data_seed: int

    @property
    def c_in(self) -> int:
        return self.groups * self.cig

    @property
    def c_out(self) -> int:
        return self.groups * self.cog

    @property
    def ho(self) -> int:
        t, b, _, _ = self.resolved_pads()
        return (self.h + t + b - ((self.kh - 1) * self.dh + 1)) // self.sh + 1

    @property
    def wo(self) -> int:
        _, _, l, r = self.resolved_pads()
        return (self.w + l + r - ((self.kw - 1) * self.dw + 1)) // self.sw + 1

    def resolved_pads(self) -> tuple:
        """(top, bottom, left, right) for every padding mode, SPEC section 1."""
        if self.padding == "VALID":
            return (0, 0, 0, 0)
        if self.padding == "EXPLICIT":
            return tuple(self.pads)
        out = []
        for size, k, s, d in ((self.h, self.kh, self.sh, self.dh), (self.w, self.kw, self.sw, self.dw)):
            o = -(-size // s)
            total = max((o - 1) * s + (k - 1) * d + 1 - size, 0)
            small = total // 2
            out += [small, total - small] if self.padding == "SAME" else [total - small, small]
        return tuple(out)

    def same_totals(self) -> tuple:
        t, b, l, r = self.resolved_pads()
        return (t + b, l + r)

    def input_shape(self) -> tuple:
        if self.data_format == "NHWC":
            return (self.n, self.h, self.w, self.c_in)
        return (self.n, self.c_in, self.h, self.w)

    def filter_shape(self) -> tuple:
        if self.filter_format == "HWIO":
            return (self.kh, self.kw, self.cig, self.c_out)
        return (self.c_out, self.cig, self.kh, self.kw)

    def output_shape(self) -> tuple:
        if self.data_format == "NHWC":
            return (self.n, self.ho, self.wo, self.c_out)
        return (self.n, self.c_out, self.ho, self.wo)

    def label(self) -> str:
        pad = self.padding if self.padding != "EXPLICIT" else "P" + "-".join(map(str, self.pads))
        return (f"{self.index:03d}-{self.kind}-{self.data_format}-{self.filter_format}"
                f"-n{self.n}h{self.h}w{self.w}-g{self.groups}x{self.cig}to{self.cog}"
                f"-k{self.kh}x{self.kw}-s{self.sh}x{self.sw}-d{self.dh}x{self.dw}-{pad}"
                f"{'-bias' if self.bias else ''}")

    def cli_args(self) -> list:
        args = []
        if self.pass_groups:
            args += ["--groups", str(self.groups)]
        # Exercise every spelling of strides/dilations that SPEC section 3 lists.
        for flag, a, b in (("--strides", self.sh, self.sw), ("--dilations", self.dh, self.dw)):
            if a == b and self.index % 3 == 0:
                args += [flag, str(a)]
            elif a != b or a != 1 or self.index % 3 == 1:
                args += [flag, f"{a},{b}"]
        if self.padding == "EXPLICIT":
            args += ["--padding", ",".join(map(str, self.pads))]
        elif self.padding != "VALID" or self.index % 2 == 0:
            args += ["--padding", self.padding]
        if self.data_format != "NHWC" or self.index % 4 == 0:
            args += ["--data-format", self.data_format]
        if self.filter_format != "HWIO" or self.index % 4 == 1:
            args += ["--filter-format", self.filter_format]
        return args

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["pads"] = list(self.pads)
        return d


KINDS = ("conv", "depthwise", "depthwise_multiplier", "grouped", "pointwise", "same_strided_odd",
         "stride_dilation", "empty_batch", "wide")


def _valid(c: Case) -> bool:
    return c.ho >= 1 and c.wo >= 1


def _draw(rs: np.random.RandomState, index: int, kind: str) -> Case:
    def pick(seq):
        return seq[rs.randint(len(seq))]

    n = pick([1, 1, 1, 2, 3])
    h = int(rs.randint(1, 14))
    w = int(rs.randint(1, 14))
    kh = pick([1, 2, 3, 3, 3, 5])
    kw = pick([1, 2, 3, 3, 3, 5]) if rs.rand() < 0.3 else kh
    sh = pick([1, 1, 1, 2, 3])
    sw = pick([1, 1, 1, 2, 3]) if rs.rand() < 0.3 else sh
    dh = pick([1, 1, 1, 2, 3])
    dw = pick([1, 1, 2]) if rs.rand() < 0.3 else dh
    groups, cig, cog = 1, int(rs.randint(1, 6)), int(rs.randint(1, 6))
    if kind == "conv":
        groups = 1
    elif kind == "depthwise":
        groups, cig, cog = int(rs.randint(1, 20)), 1, 1
    elif kind == "depthwise_multiplier":
        groups, cig, cog = int(rs.randint(1, 20)), 1, pick([2, 3, 4])
    elif kind == "grouped":
        groups = pick([2, 3, 4, 5, 8])
    elif kind == "pointwise":
        kh = kw = 1
        dh = dw = 1
        groups = pick([1, 1, 2, 4])
        cig, cog = int(rs.randint(1, 12)), int(rs.randint(1, 12))
    elif kind == "same_strided_odd":
        groups = pick([1, 2, 3, 6])
        sh = pick([2, 3])
        sw = pick([2, 3])
    elif kind == "stride_dilation":
        groups = pick([1, 2, 4, 7])
        sh, sw = pick([2, 3]), pick([1, 2, 3])
        dh, dw = pick([2, 3]), pick([1, 2])
    elif kind == "empty_batch":
        n = 0
        groups = pick([1, 3, 4])
    elif kind == "wide":  # channel counts past a SIMD tile, odd spatial sizes
        h, w = int(rs.randint(5, 24)), int(rs.randint(5, 24))
        n = 1
        r = rs.rand()
        if r < 0.4:
            groups, cig, cog = int(rs.randint(17, 70)), 1, pick([1, 1, 2])
        elif r < 0.7:
            groups = pick([1, 2, 4, 8, 32])
            cig, cog = int(rs.randint(1, 20)), int(rs.randint(1, 20))
        else:  # groups wide enough for the GEMM-style kernels (ResNeXt-like)
            groups = pick([1, 2, 4])
            cig, cog = int(rs.randint(16, 49)), int(rs.randint(16, 49))
    if kind == "same_strided_odd":
        padding = pick(["SAME", "SAME", "SAME_LOWER"])
    else:
        padding = pick(["VALID", "SAME", "SAME_LOWER", "EXPLICIT"])
    pads = (0, 0, 0, 0)
    if padding == "EXPLICIT":
        pads = tuple(int(v) for v in rs.randint(0, 4, size=4))
        if rs.rand() < 0.4:  # symmetric: PyTorch's own padding=(ph, pw) can express it
            pads = (pads[0], pads[0], pads[2], pads[2])
    c = Case(index=index, kind=kind, n=n, h=h, w=w, groups=groups, cig=cig, cog=cog, kh=kh, kw=kw,
             sh=sh, sw=sw, dh=dh, dw=dw, padding=padding, pads=pads,
             data_format=pick(["NHWC", "NCHW"]), filter_format=pick(["HWIO", "OIHW"]),
             bias=bool(rs.rand() < 0.5), pass_groups=bool(rs.rand() < 0.7),
             data_seed=int(rs.randint(0, 2**31 - 1)))
    return c


def generate_cases(seed: int = SEED, count: int = NUM_CASES) -> list:
    """count valid cases, cycling through KINDS; invalid draws (empty output) are redrawn."""
    rs = np.random.RandomState(seed)
    cases = []
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        while True:
            c = _draw(rs, i, kind)
            if not _valid(c):
                continue
            if kind == "same_strided_odd" and c.same_totals()[0] % 2 == 0:
                continue  # we want an odd total (the extra row goes bottom vs top)
            break
        cases.append(c)
    return cases


def case_arrays(c: Case):
    """(x, w, b) as float32 in the case's layouts; b is None without bias."""
    rs = np.random.RandomState(c.data_seed)
    x = rs.standard_normal(c.input_shape()).astype(np.float32)
    w = rs.standard_normal(c.filter_shape()).astype(np.float32)
    b = rs.standard_normal((c.c_out,)).astype(np.float32) if c.bias else None
    return x, w, b


def to_nhwc(x: np.ndarray, data_format: str) -> np.ndarray:
    return x if data_format == "NHWC" else np.transpose(x, (0, 2, 3, 1))


def from_nhwc(y: np.ndarray, data_format: str) -> np.ndarray:
    return y if data_format == "NHWC" else np.transpose(y, (0, 3, 1, 2))


def to_hwio(w: np.ndarray, filter_format: str) -> np.ndarray:
    return w if filter_format == "HWIO" else np.transpose(w, (2, 3, 1, 0))


def to_oihw(w: np.ndarray, filter_format: str) -> np.ndarray:
    return w if filter_format == "OIHW" else np.transpose(w, (3, 2, 0, 1))


def to_nchw(x: np.ndarray, data_format: str) -> np.ndarray:
    return x if data_format == "NCHW" else np.transpose(x, (0, 3, 1, 2))


# ---------------------------------------------------------------------------------------------
# Float64 NumPy reference
# ---------------------------------------------------------------------------------------------

def reference_conv(c: Case, x, w, b) -> np.ndarray:
    """Float64 grouped convolution straight from SPEC section 1, result in the case's layout.

    One tap at a time: the strided window of the padded input times that tap's per-group
    filter slice, summed over the group's input channels with einsum.
    """
    xn = to_nhwc(np.asarray(x, np.float64), c.data_format)
    wh = to_hwio(np.asarray(w, np.float64), c.filter_format)
    t, bo, l, r = c.resolved_pads()
    xp = np.pad(xn, ((0, 0), (t, bo), (l, r), (0, 0)))
    n, g, cig, cog = c.n, c.groups, c.cig, c.cog
    ho, wo = c.ho, c.wo
    xp = xp.reshape(n, xp.shape[1], xp.shape[2], g, cig)
    y = np.zeros((n, ho, wo, g, cog), np.float64)
    for i in range(c.kh):
        for j in range(c.kw):
            r0, c0 = i * c.dh, j * c.dw
            win = xp[:, r0:r0 + (ho - 1) * c.sh + 1:c.sh, c0:c0 + (wo - 1) * c.sw + 1:c.sw]
            tap = wh[i, j].reshape(cig, g, cog)  # output channel g*Cog + o
            y += np.einsum("nhwgi,igo->nhwgo", win, tap)
    y = y.reshape(n, ho, wo, g * cog)
    if b is not None:
        y = y + np.asarray(b, np.float64)
    return from_nhwc(y, c.data_format)


def reference_conv_loops(c: Case, x, w, b) -> np.ndarray:
    """The same operation as six plain loops over output element and tap (slow; small cases
    only), an independent formulation that checks reference_conv itself."""
    xn = to_nhwc(np.asarray(x, np.float64), c.data_format)
    wh = to_hwio(np.asarray(w, np.float64), c.filter_format)
    t, _, l, _ = c.resolved_pads()
    y = np.zeros((c.n, c.ho, c.wo, c.c_out))
    for nn in range(c.n):
        for oh in range(c.ho):
            for ow in range(c.wo):
                for oc in range(c.c_out):
                    g = oc // c.cog
                    acc = 0.0 if b is None else float(b[oc])
                    for i in range(c.kh):
                        ih = oh * c.sh - t + i * c.dh
                        if not 0 <= ih < c.h:
                            continue
                        for j in range(c.kw):
                            iw = ow * c.sw - l + j * c.dw
                            if not 0 <= iw < c.w:
                                continue
                            acc += float(np.dot(xn[nn, ih, iw, g * c.cig:(g + 1) * c.cig],
                                                wh[i, j, :, oc]))
                    y[nn, oh, ow, oc] = acc
    return from_nhwc(y, c.data_format)


def rel_l2(got, want) -> float:
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    if got.shape != want.shape:
        return float("inf")
    if want.size == 0:
        return 0.0
    den = float(np.linalg.norm(want))
    num = float(np.linalg.norm(got - want))
    return num / den if den > 0 else num


# ---------------------------------------------------------------------------------------------
# groupconv CLI
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str
    output: Optional[np.ndarray]
    argv: list


def run_cli(argv: list, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(groupconv_bin())] + argv, capture_output=True, text=True,
                          timeout=timeout)


def groupconv_run(c: Case, x, w, b, workdir: Path, extra: Optional[list] = None) -> CliResult:
    workdir.mkdir(parents=True, exist_ok=True)
    xp, wp, bp, yp = (workdir / f"{s}.npy" for s in ("x", "w", "b", "y"))
    np.save(xp, x)
    np.save(wp, w)
    argv = ["run", "--input", str(xp), "--filter", str(wp)]
    if b is not None:
        np.save(bp, b)
        argv += ["--bias", str(bp)]
    if yp.exists():
        yp.unlink()
    argv += ["--output", str(yp)] + c.cli_args() + (extra or [])
    p = run_cli(argv)
    y = np.load(yp) if p.returncode == 0 and yp.exists() else None
    return CliResult(p.returncode, p.stdout, p.stderr, y, argv)


def describe_failure(c: Case, r: CliResult) -> str:
    return (f"groupconv {' '.join(r.argv)}\n  exit {r.returncode}\n  stderr: {r.stderr.strip()}"
            f"\n  case: {c.label()}")


def kernel_name(stdout: str) -> Optional[str]:
    """The kernel `groupconv run` reports on stdout ("... (kernel NAME, 2 threads, ...)")."""
    m = re.search(r"\bkernel ([A-Za-z0-9_]+)", stdout)
    return m.group(1) if m else None


def diagnostic_code(text: str) -> Optional[str]:
    m = re.search(r"GC\d{3}", text)
    return m.group(0) if m else None


def first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


# ---------------------------------------------------------------------------------------------
# Framework refusals: the exact text, made comparable
# ---------------------------------------------------------------------------------------------

def framework_message(exc: BaseException) -> str:
    """The exception's exact text, minus TensorFlow's eager wrapper around it
    ("{{function_node __wrapped__Conv2D_device_/job:...CPU:0}} " ... " [Op:Conv2D] name: ").
    The message itself is untouched."""
    s = str(exc).strip()
    s = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", s)
    s = re.sub(r"\s*\[Op:[A-Za-z0-9_]+\]( name: ?\S*)?\s*$", "", s)
    return f"{type(exc).__name__}: {s}"


def git_commit() -> str:
    try:
        p = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%h %cs"],
                           capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return p.stdout.strip() + (" (+ uncommitted changes)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "?"


class Refusals:
    """Collects, per oracle, what it refused and how; written as JSON at session end."""

    def __init__(self, oracle: str):
        self.oracle = oracle
        self.cases: dict = {}
        self.invalid: dict = {}
        self.backward: dict = {}
        self.meta: dict = {"python": sys.version.split()[0], "numpy": np.__version__,
                           "groupconv_bin": str(groupconv_bin()), "commit": git_commit()}

    def save(self):
        if not self.cases and not self.invalid and not self.backward:
            return None  # nothing ran (skipped): keep the last records
        path = records_dir() / f"{self.oracle}.json"
        cases, invalid, backward = {}, {}, {}
        try:  # a partial run (-k) updates the records of the same seed instead of erasing them
            old = json.loads(path.read_text())
            if old.get("seed") == SEED and old.get("count") == NUM_CASES:
                cases, invalid = old.get("cases", {}), old.get("invalid", {})
                if old.get("backward_count") == NUM_BWD_CASES:
                    backward = old.get("backward", {})
        except (OSError, ValueError):
            pass
        cases.update(self.cases)
        invalid.update(self.invalid)
        backward.update(self.backward)
        path.write_text(json.dumps({"oracle": self.oracle, "seed": SEED, "count": NUM_CASES,
                                    "backward_count": NUM_BWD_CASES,
                                    "meta": self.meta,
                                    "coverage": coverage(generate_cases()),
                                    "backward_coverage": coverage(backward_cases()),
                                    "cases": dict(sorted(cases.items())),
                                    "backward": dict(sorted(backward.items())),
                                    "invalid": {i.name: invalid[i.name] for i in INVALID
                                                if i.name in invalid}}, indent=1))
        return path


# ---------------------------------------------------------------------------------------------
# Classic mistakes: fed to both frameworks and to groupconv
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Invalid:
    name: str
    what: str                       # one line for the table
    codes: tuple                    # the diagnostic(s) groupconv may give (exit 2)
    input_shape: tuple              # NHWC unless data_format says otherwise
    filter_shape: tuple             # as passed to groupconv (filter_format)
    groups: Optional[int] = None
    strides: str = "1"
    dilations: str = "1"
    padding: str = "VALID"
    data_format: str = "NHWC"
    filter_format: str = "HWIO"
    expect_output_channels: Optional[int] = None
    bias_len: Optional[int] = None  # needs `run` (check takes no bias)
    dtype: str = "float32"          # needs `run`

    @property
    def code(self) -> str:
        return "/".join(self.codes)

    def needs_run(self) -> bool:
        return self.bias_len is not None or self.dtype != "float32"

    def check_args(self) -> list:
        a = ["check", "--input-shape", ",".join(map(str, self.input_shape)),
             "--filter-shape", ",".join(map(str, self.filter_shape)),
             "--strides", self.strides, "--dilations", self.dilations, "--padding", self.padding,
             "--data-format", self.data_format, "--filter-format", self.filter_format]
        if self.groups is not None:
            a += ["--groups", str(self.groups)]
        if self.expect_output_channels is not None:
            a += ["--expect-output-channels", str(self.expect_output_channels)]
        return a

    def run_args(self, workdir: Path) -> list:
        workdir.mkdir(parents=True, exist_ok=True)
        x = np.ones(self.input_shape, dtype=self.dtype)
        w = np.ones(self.filter_shape, dtype=np.float32)
        np.save(workdir / "x.npy", x)
        np.save(workdir / "w.npy", w)
        a = ["run", "--input", str(workdir / "x.npy"), "--filter", str(workdir / "w.npy"),
             "--output", str(workdir / "y.npy")]
        if self.bias_len is not None:
            np.save(workdir / "b.npy", np.ones((self.bias_len,), np.float32))
            a += ["--bias", str(workdir / "b.npy")]
        a += ["--strides", self.strides, "--dilations", self.dilations, "--padding", self.padding,
              "--data-format", self.data_format, "--filter-format", self.filter_format]
        if self.groups is not None:
            a += ["--groups", str(self.groups)]
        return a

    def ints(self, s: str) -> list:
        return [int(v) for v in s.split(",")]


# The frameworks see the "same mistake" in their own conventions: TensorFlow gets NHWC/HWIO and
# infers groups from the shapes (it has no groups argument); PyTorch gets NCHW/OIHW plus
# groups=. For the layout mistake each framework gets the other layout's filter.
INVALID = [
    Invalid("cin_not_divisible", "33 input channels, groups=4 (filter [3,3,8,64])", ("GC001",),
            (1, 28, 28, 33), (3, 3, 8, 64), groups=4),
    Invalid("ungrouped_filter", "ungrouped filter [3,3,32,64] with groups=4 (32 channels)",
            ("GC003",), (1, 28, 28, 32), (3, 3, 32, 64), groups=4),
    Invalid("filter_other_layout", "OIHW filter [64,8,3,3] where HWIO is expected, groups=4",
            ("GC005",), (1, 28, 28, 32), (64, 8, 3, 3), groups=4),
    Invalid("cout_not_divisible", "C_out=66 not divisible by groups=4 (filter [3,3,8,66])",
            ("GC002",), (1, 28, 28, 32), (3, 3, 8, 66), groups=4),
    Invalid("per_group_output", "per-group output count: filter [3,3,8,16], 64 outputs expected",
            ("GC006",), (1, 28, 28, 32), (3, 3, 8, 16), groups=4, expect_output_channels=64),
    Invalid("groups_mismatch", "groups=2 but filter [3,3,8,64] implies groups=4 (32 channels)",
            ("GC004",), (1, 28, 28, 32), (3, 3, 8, 64), groups=2),
    Invalid("kernel_too_large", "3x3 kernel on a 2x2 input, VALID (output would be 0x0)",
            ("GC015",), (1, 2, 2, 8), (3, 3, 8, 8)),
    Invalid("dilated_kernel_too_large", "3x3 kernel dilated by 3 (7x7) on 6x6, VALID",
            ("GC015",), (1, 6, 6, 4), (3, 3, 4, 4), dilations="3"),
    Invalid("negative_padding", "explicit padding -1 at the top", ("GC014",),
            (1, 8, 8, 4), (3, 3, 4, 4), padding="-1,0,0,0"),
    Invalid("zero_stride", "stride 0", ("GC010",), (1, 8, 8, 4), (3, 3, 4, 4), strides="0"),
    Invalid("zero_dilation", "dilation 0", ("GC011",), (1, 8, 8, 4), (3, 3, 4, 4), dilations="0"),
    Invalid("zero_groups", "groups=0", ("GC012",), (1, 8, 8, 4), (3, 3, 4, 4), groups=0),
    Invalid("four_list_stride", "strides [2,2,2,2] (TF 4-list with N and C != 1)", ("GC013",),
            (1, 8, 8, 4), (3, 3, 4, 4), strides="2,2,2,2"),
    Invalid("zero_channels", "input with 0 channels", ("GC009",), (1, 8, 8, 0), (3, 3, 0, 4)),
    Invalid("rank3_input", "3-D input [28,28,32] (no batch dim)", ("GC007",),
            (28, 28, 32), (3, 3, 8, 64), groups=4),
    Invalid("bias_length", "bias of 7 for 8 output channels", ("GC016",),
            (1, 8, 8, 8), (3, 3, 2, 8), groups=4, bias_len=7),
    Invalid("float64_input", "float64 input (float32 filter)", ("GC008", "GC020"),
            (1, 8, 8, 4), (3, 3, 4, 4), dtype="float64"),
]


def invalid_pads(inv: Invalid) -> Optional[tuple]:
    if inv.padding in ("VALID", "SAME", "SAME_LOWER"):
        return None
    return tuple(int(v) for v in inv.padding.split(","))


# ---------------------------------------------------------------------------------------------
# The per-case check both suites run
# ---------------------------------------------------------------------------------------------

class NotExpressible(Exception):
    """The framework's API has no spelling for this option (not a refusal by the framework)."""


def try_attempts(attempts) -> tuple:
    """attempts: [(api, fn)], tried in order until one works; returns (records, {api: y})."""
    recs, ys = [], {}
    for api, fn in attempts:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                y = np.asarray(fn())
        except NotExpressible as e:
            recs.append({"api": api, "ok": None, "message": str(e)})
            continue
        except Exception as e:  # the framework's refusal, recorded word for word
            recs.append({"api": api, "ok": False, "message": framework_message(e)})
            continue
        recs.append({"api": api, "ok": True, "shape": list(y.shape),
                     "warnings": [f"{m.category.__name__}: {m.message}" for m in caught]})
        ys[api] = y
        break
    return recs, ys


def check_case(c: Case, families: dict, families64: dict, records: Refusals, workdir: Path):
    """families: {family name: [(api, fn), ...]} of float32 oracle calls, fallbacks after the
    direct call; families64: the same calls in float64, compared with the reference at 1e-10
    to validate the reference itself. Fails (AssertionError) with everything needed to
    reproduce; records every refusal."""
    x, w, b = case_arrays(c)
    ref = reference_conv(c, x, w, b)
    rec = {"label": c.label(), "kind": c.kind, "case": c.to_json(), "families": {},
           "errors": {}}
    records.cases[c.label()] = rec
    problems = []
    oracle_ys = {}
    for fam, attempts in families.items():
        recs, ys = try_attempts(attempts)
        rec["families"][fam] = recs
        for api, y in ys.items():
            e = rel_l2(y, ref)
            rec["errors"][f"{api} vs float64 reference"] = e
            warned = recs[-1].get("warnings")
            if e < TOLERANCE:
                oracle_ys[api] = y
            elif warned:
                # The framework warned and computed something else (seen: TF's depthwise_conv2d
                # with stride > 1 and dilation > 1). Recorded for docs/COMPARISON.md; groupconv is
                # checked against the reference and the other oracles instead.
                recs[-1]["disagrees"] = {"rel_l2": e if e != float("inf") else None,
                                         "shape": list(y.shape), "want_shape": list(ref.shape)}
            else:
                problems.append(f"oracle {api} disagrees with the float64 reference: rel L2 {e:.3g}"
                                f" (shape {y.shape} vs {ref.shape}), without a warning")
    for fam, attempts in families64.items():
        recs, ys = try_attempts(attempts)
        for api, y in ys.items():
            e = rel_l2(y, ref)
            rec["errors"][f"{api} float64 vs float64 reference"] = e
            if not e < 1e-10 and not recs[-1].get("warnings"):
                problems.append(f"float64 {api} disagrees with the float64 reference: {e:.3g}")
    rec["reference_only"] = not oracle_ys

    r = groupconv_run(c, x, w, b, workdir)
    rec["groupconv_exit"] = r.returncode
    rec["kernel"] = kernel_name(r.stdout)
    if r.returncode != 0 or r.output is None:
        problems.append("groupconv run failed:\n" + describe_failure(c, r))
    else:
        y = r.output
        if y.dtype != np.float32:
            problems.append(f"groupconv wrote dtype {y.dtype}, expected float32")
        if tuple(y.shape) != c.output_shape():
            problems.append(f"groupconv output shape {tuple(y.shape)}, expected {c.output_shape()}")
        e = rel_l2(y, ref)
        rec["errors"]["groupconv vs float64 reference"] = e
        if not e < TOLERANCE:
            problems.append(f"groupconv vs float64 reference: rel L2 {e:.3g}")
        for api, yo in oracle_ys.items():
            if tuple(y.shape) != tuple(yo.shape):
                problems.append(f"shape: groupconv {tuple(y.shape)} vs {api} {tuple(yo.shape)}")
                continue
            e = rel_l2(y, yo)
            rec["errors"][f"groupconv vs {api}"] = e
            if not e < TOLERANCE:
                problems.append(f"groupconv vs {api}: rel L2 {e:.3g}")

    # `groupconv check` must announce the same output shape and padding without computing.
    p = run_cli(["check", "--input-shape", ",".join(map(str, c.input_shape())),
                 "--filter-shape", ",".join(map(str, c.filter_shape()))] + c.cli_args())
    if p.returncode != 0:
        problems.append(f"groupconv check exit {p.returncode}: {p.stderr.strip()}")
    else:
        shape = parse_check_output_shape(p.stdout)
        if shape != c.output_shape():
            problems.append(f"groupconv check says output {shape}, expected {c.output_shape()}:"
                            f"\n{p.stdout}")
        pads = parse_check_pads(p.stdout)
        if pads != c.resolved_pads():
            problems.append(f"groupconv check says pads {pads}, expected {c.resolved_pads()}")
    assert not problems, c.label() + "\n" + "\n".join(problems)


def parse_check_output_shape(stdout: str) -> Optional[tuple]:
    """The numbers of the `output [...]` line of `groupconv check`."""
    for line in stdout.splitlines():
        s = line.strip()
        if s.lower().startswith("output"):
            m = re.search(r"\[([^\]]*)\]", s)
            if m:
                return tuple(int(v) for v in re.findall(r"-?\d+", m.group(1)))
    return None


def parse_check_pads(stdout: str) -> Optional[tuple]:
    m = re.search(r"padding\s+top\s+(\d+),\s*bottom\s+(\d+),\s*left\s+(\d+),\s*right\s+(\d+)",
                  stdout)
    return tuple(int(v) for v in m.groups()) if m else None


def check_invalid(inv: Invalid, framework_call, records: Refusals, workdir: Path):
    """groupconv must refuse with the listed code (exit 2, nothing written); the framework's
    answer (refusal text, or accepted with a shape) is recorded, not asserted: it is what
    docs/COMPARISON.md reports."""
    rec = {"name": inv.name, "what": inv.what, "input_shape": list(inv.input_shape),
           "filter_shape": list(inv.filter_shape), "groups": inv.groups}
    try:
        y = framework_call()
        if isinstance(y, str):
            rec["framework"] = {"ok": None, "message": y}
        else:
            rec["framework"] = {"ok": True, "shape": list(np.asarray(y).shape)}
    except NotExpressible as e:
        rec["framework"] = {"ok": None, "message": str(e)}
    except Exception as e:
        rec["framework"] = {"ok": False, "message": framework_message(e)}
    if inv.needs_run():
        argv = inv.run_args(workdir)
    else:
        argv = inv.check_args()
    p = run_cli(argv)
    # Temporary paths out of the record, so that docs/COMPARISON.md is reproducible.
    stderr = p.stderr.replace(str(workdir) + os.sep, "")
    rec["groupconv"] = {"argv": [a.replace(str(workdir) + os.sep, "") for a in argv],
                        "exit": p.returncode, "stderr": stderr,
                        "code": diagnostic_code(p.stderr), "first_line": first_line(stderr)}
    records.invalid[inv.name] = rec
    assert p.returncode == 2, f"groupconv {' '.join(argv)}: exit {p.returncode}, want 2\n{p.stderr}"
    assert diagnostic_code(p.stderr) in inv.codes, (
        f"groupconv {' '.join(argv)}: code {diagnostic_code(p.stderr)}, want {inv.code}\n{p.stderr}")
    assert "help:" in p.stderr, f"no help: line in\n{p.stderr}"
    assert not (workdir / "y.npy").exists(), "a refused run left an output file"
    # Where the framework accepted the mistake, groupconv without the offending option must
    # compute the same shape (e.g. the per-group filter: 16 output channels, not 64).
    fw = rec["framework"]
    if fw.get("ok") and inv.expect_output_channels is not None:
        argv2 = [a for a in argv]
        i = argv2.index("--expect-output-channels")
        del argv2[i:i + 2]
        p2 = run_cli(argv2)
        assert p2.returncode == 0, p2.stderr
        shape = parse_check_output_shape(p2.stdout)
        rec["groupconv_without_expect"] = {"stdout": p2.stdout, "shape": list(shape or ())}
        assert shape is not None and tuple(fw["shape"]) in framework_shapes(shape, inv), (
            f"groupconv check without --expect-output-channels: {shape}, framework {fw['shape']}")


def framework_shapes(shape: tuple, inv: Invalid) -> list:
    """The groupconv shape (in inv.data_format) as either framework would print it."""
    nhwc = tuple(shape) if inv.data_format == "NHWC" else (shape[0], shape[2], shape[3], shape[1])
    return [nhwc, (nhwc[0], nhwc[3], nhwc[1], nhwc[2])]


def coverage(cases: list) -> dict:
    def count(pred):
        return sum(1 for c in cases if pred(c))
    return {
        "cases": len(cases),
        "NHWC": count(lambda c: c.data_format == "NHWC"),
        "NCHW": count(lambda c: c.data_format == "NCHW"),
        "HWIO": count(lambda c: c.filter_format == "HWIO"),
        "OIHW": count(lambda c: c.filter_format == "OIHW"),
        "VALID": count(lambda c: c.padding == "VALID"),
        "SAME": count(lambda c: c.padding == "SAME"),
        "SAME_LOWER": count(lambda c: c.padding == "SAME_LOWER"),
        "EXPLICIT": count(lambda c: c.padding == "EXPLICIT"),
        "EXPLICIT asymmetric": count(lambda c: c.padding == "EXPLICIT" and (
            c.pads[0] != c.pads[1] or c.pads[2] != c.pads[3])),
        "SAME* stride>1 odd total": count(lambda c: c.padding.startswith("SAME") and (
            c.sh > 1 or c.sw > 1) and (c.same_totals()[0] % 2 == 1 or c.same_totals()[1] % 2 == 1)),
        "groups=1": count(lambda c: c.groups == 1),
        "depthwise (Cig=1, G>1)": count(lambda c: c.cig == 1 and c.groups > 1),
        "depthwise multiplier>1": count(lambda c: c.cig == 1 and c.groups > 1 and c.cog > 1),
        "grouped (G>1, Cig>1)": count(lambda c: c.groups > 1 and c.cig > 1),
        "dilation>1": count(lambda c: c.dh > 1 or c.dw > 1),
        "stride>1": count(lambda c: c.sh > 1 or c.sw > 1),
        "stride>1 and dilation>1": count(lambda c: (c.sh > 1 or c.sw > 1) and (c.dh > 1 or c.dw > 1)),
        "bias": count(lambda c: c.bias),
        "N=0": count(lambda c: c.n == 0),
        "groups inferred": count(lambda c: not c.pass_groups),
        "1x1 kernel": count(lambda c: c.kh == 1 and c.kw == 1),
        "non-square kernel": count(lambda c: c.kh != c.kw),
        "C_in > 16": count(lambda c: c.c_in > 16),
    }


# ---------------------------------------------------------------------------------------------
# Backward passes (issue 5): `groupconv run --pass bwd_data|bwd_filter` on a seeded subset of
# the same cases, against a float64 NumPy reference of the gradients and the frameworks'
# autograd (float64), per pass
# ---------------------------------------------------------------------------------------------

PASSES = ("bwd_data", "bwd_filter")
GRADS = {"bwd_data": ("dx",), "bwd_filter": ("dw", "db")}  # db only for cases with a bias
ORACLE_BWD_TOLERANCE = 1e-10  # a float64 framework gradient against the float64 reference
ADJOINT_TOLERANCE = 1e-10


def backward_cases(seed: int = SEED, count: int = NUM_BWD_CASES) -> list:
    """count of the forward cases, the same number of each kind (round robin over KINDS, each
    kind's cases in a seeded random order), in index order."""
    cases = generate_cases(seed)
    rs = np.random.RandomState(seed + 5)
    pools = {k: [cases[i] for i in rs.permutation(len(cases)) if cases[i].kind == k]
             for k in KINDS}
    picked = []
    while len(picked) < min(count, len(cases)):
        for k in KINDS:
            if pools[k] and len(picked) < count:
                picked.append(pools[k].pop(0))
    return sorted(picked, key=lambda c: c.index)


def grad_output(c: Case) -> np.ndarray:
    """dy, the gradient of the forward output: float32, the case's data layout."""
    rs = np.random.RandomState((c.data_seed + 1) % 2**31)
    return rs.standard_normal(c.output_shape()).astype(np.float32)


def from_hwio(w: np.ndarray, filter_format: str) -> np.ndarray:
    return w if filter_format == "HWIO" else np.transpose(w, (3, 2, 0, 1))


def reference_backward(c: Case, x, w, has_bias: bool, dy) -> dict:
    """Float64 gradients of the convolution of SPEC section 1, straight from its definition
    y[n, oh, ow, g*Cog + o] = sum_{i, j, ci} xpad[n, oh*SH + i*DH, ow*SW + j*DW, g*Cig + ci]
                                             * w[i, j, ci, g*Cog + o]  (+ b[g*Cog + o]):
      dx = d<y, dy>/dx: each tap's dy . w^T scattered back onto its strided window of the
           padded input, the padding cropped off;
      dw = d<y, dy>/dw: per tap, sum over n, oh, ow of window^T . dy;
      db = sum of dy over n, oh, ow.
    Returns {"dx", "dw", "db" (None without bias)} in the case's layouts."""
    xn = to_nhwc(np.asarray(x, np.float64), c.data_format)
    wh = to_hwio(np.asarray(w, np.float64), c.filter_format)
    n, g, cig, cog, ho, wo = c.n, c.groups, c.cig, c.cog, c.ho, c.wo
    dyn = to_nhwc(np.asarray(dy, np.float64), c.data_format).reshape(n, ho, wo, g, cog)
    t, bo, l, r = c.resolved_pads()
    xp = np.pad(xn, ((0, 0), (t, bo), (l, r), (0, 0)))
    hp, wp = xp.shape[1], xp.shape[2]
    xp = xp.reshape(n, hp, wp, g, cig)
    dxp = np.zeros((n, hp, wp, g, cig))
    dwh = np.zeros((c.kh, c.kw, cig, g * cog))
    for i in range(c.kh):
        for j in range(c.kw):
            r0, c0 = i * c.dh, j * c.dw
            win = (slice(None), slice(r0, r0 + (ho - 1) * c.sh + 1, c.sh),
                   slice(c0, c0 + (wo - 1) * c.sw + 1, c.sw))
            tap = wh[i, j].reshape(cig, g, cog)
            dxp[win] += np.einsum("nhwgo,igo->nhwgi", dyn, tap)
            dwh[i, j] = np.einsum("nhwgi,nhwgo->igo", xp[win], dyn).reshape(cig, g * cog)
    dx = dxp[:, t:t + c.h, l:l + c.w].reshape(n, c.h, c.w, g * cig)
    return {"dx": from_nhwc(dx, c.data_format), "dw": from_hwio(dwh, c.filter_format),
            "db": dyn.sum(axis=(0, 1, 2)).reshape(g * cog) if has_bias else None}


def adjoint_errors(c: Case, x, w, b, dy, ref: dict) -> dict:
    """Checks reference_backward against reference_conv (itself checked against plain loops):
    <conv(x, w, b), dy> - <b, db> = <x, dx> = <w, dw>, relative to ||conv(x, w, b)|| ||dy||."""
    y = reference_conv(c, x, w, b)
    dy64 = np.asarray(dy, np.float64)
    lhs = float(np.sum(y * dy64))
    if b is not None:
        lhs -= float(np.dot(np.asarray(b, np.float64), ref["db"]))
    scale = float(np.linalg.norm(y) * np.linalg.norm(dy64)) or 1.0
    return {"<x, dx>": abs(lhs - float(np.sum(np.asarray(x, np.float64) * ref["dx"]))) / scale,
            "<w, dw>": abs(lhs - float(np.sum(np.asarray(w, np.float64) * ref["dw"]))) / scale}


def grad_error(got: dict, want: dict) -> float:
    """The worst rel_l2 over the gradients of want (a missing one counts as infinite)."""
    worst = 0.0
    for k, v in want.items():
        if v is None:
            continue
        g = got.get(k)
        worst = max(worst, float("inf") if g is None else rel_l2(g, v))
    return worst


@dataclasses.dataclass
class BwdResult:
    returncode: int
    stdout: str
    stderr: str
    grads: dict                # {"dx"} or {"dw", "db"?}; empty on failure
    argv: list


def groupconv_backward(c: Case, pass_: str, x, w, dy, workdir: Path) -> BwdResult:
    """`groupconv run --pass bwd_data|bwd_filter` for case c. Even cases give bwd_data the
    input file (only its shape is used) and odd ones --input-shape; bwd_filter the other way
    round with --filter / --filter-shape; the bias gradient via --bias-output."""
    workdir.mkdir(parents=True, exist_ok=True)
    paths = {s: workdir / f"{pass_}_{s}.npy" for s in ("x", "w", "dy", "out", "db")}
    np.save(paths["dy"], dy)
    argv = ["run", "--pass", pass_, "--grad-output", str(paths["dy"])]
    if pass_ == "bwd_data":
        np.save(paths["w"], w)
        argv += ["--filter", str(paths["w"])]
        if c.index % 2 == 0:
            np.save(paths["x"], x)
            argv += ["--input", str(paths["x"])]
        else:
            argv += ["--input-shape", ",".join(map(str, c.input_shape()))]
    else:
        np.save(paths["x"], x)
        argv += ["--input", str(paths["x"])]
        if c.index % 2 == 1:
            np.save(paths["w"], w)
            argv += ["--filter", str(paths["w"])]
        else:
            argv += ["--filter-shape", ",".join(map(str, c.filter_shape()))]
        if c.bias:
            argv += ["--bias-output", str(paths["db"])]
    argv += ["--output", str(paths["out"])] + c.cli_args()
    for k in ("out", "db"):
        if paths[k].exists():
            paths[k].unlink()
    p = run_cli(argv)
    grads = {}
    if p.returncode == 0:
        key = "dx" if pass_ == "bwd_data" else "dw"
        if paths["out"].exists():
            grads[key] = np.load(paths["out"])
        if pass_ == "bwd_filter" and c.bias and paths["db"].exists():
            grads["db"] = np.load(paths["db"])
    return BwdResult(p.returncode, p.stdout, p.stderr, grads, argv)


def bwd_kernel_name(stdout: str) -> Optional[str]:
    """"kernel bwd_data_as_fwd:narrow_group_..." keeps the forward kernel after the colon."""
    m = re.search(r"\bkernel ([A-Za-z0-9_:]+)", stdout)
    return m.group(1) if m else None


class ForwardMismatch(Exception):
    """The framework's forward produced another output shape than the convolution's (a
    warned-about misbehaviour, not a refusal): there is no gradient to compare."""

    def __init__(self, shape, want_shape):
        super().__init__(f"forward output shape {list(shape)}, expected {list(want_shape)}")
        self.shape, self.want_shape = list(shape), list(want_shape)


def framework_op(exc: BaseException) -> Optional[str]:
    """The op TensorFlow names in an eager error ("[Op:Conv2DBackpropInput]"), if any."""
    m = re.search(r"\[Op:([A-Za-z0-9_]+)\]", str(exc))
    return m.group(1) if m else None


def try_grad_attempts(attempts, pass_: str) -> tuple:
    """attempts: [(api, fn)], fn(pass_) -> {grad name: array}, tried in order until one gives
    gradients; returns (records, api, grads) with api, grads None when none did."""
    recs = []
    for api, fn in attempts:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                got = {k: np.asarray(v) for k, v in fn(pass_).items() if v is not None}
        except NotExpressible as e:
            recs.append({"api": api, "ok": None, "message": str(e)})
            continue
        except ForwardMismatch as e:
            recs.append({"api": api, "ok": True, "warnings": [
                f"{m.category.__name__}: {m.message}" for m in caught],
                "disagrees": {"rel_l2": None, "shape": e.shape, "want_shape": e.want_shape}})
            continue
        except Exception as e:  # the framework's refusal, recorded word for word
            recs.append({"api": api, "ok": False, "message": framework_message(e),
                         "op": framework_op(e)})
            continue
        recs.append({"api": api, "ok": True, "shapes": {k: list(v.shape) for k, v in got.items()},
                     "warnings": [f"{m.category.__name__}: {m.message}" for m in caught]})
        return recs, api, got
    return recs, None, None


def check_backward_case(c: Case, families: dict, records: Refusals, workdir: Path,
                        tamper=None):
    """Both backward passes of case c through `groupconv run`, against the float64 reference
    (always) and each oracle family {family: [(api, fn(pass_)), ...]} that gives gradients
    (float64; they must match the reference to 1e-10, which checks the reference too, unless
    they warned). tamper(pass_, grads) -> grads alters groupconv's result before the checks
    (to show that the checks can fail). Every refusal is recorded, per pass."""
    x, w, b = case_arrays(c)
    dy = grad_output(c)
    ref = reference_backward(c, x, w, b is not None, dy)
    rec = {"label": c.label(), "kind": c.kind, "case": c.to_json(), "passes": {}, "errors": {},
           "groupconv": {}, "reference_only": {}}
    records.backward[c.label()] = rec
    problems = []
    rec["adjoint"] = adjoint_errors(c, x, w, b, dy, ref)
    for k, e in rec["adjoint"].items():
        if not e < ADJOINT_TOLERANCE:
            problems.append(f"float64 reference: adjoint identity {k}: {e:.3g}")
    for pass_ in PASSES:
        want = {k: ref[k] for k in GRADS[pass_] if ref[k] is not None}
        errs = rec["errors"][pass_] = {}
        fams = rec["passes"][pass_] = {}
        oracle_grads = {}
        for fam, attempts in families.items():
            recs, api, got = try_grad_attempts(attempts, pass_)
            fams[fam] = recs
            if got is None:
                continue
            e = grad_error(got, want)
            errs[f"{api} vs float64 reference"] = e
            if e < ORACLE_BWD_TOLERANCE:
                oracle_grads[api] = got
            elif recs[-1].get("warnings"):
                recs[-1]["disagrees"] = {"rel_l2": e if e != float("inf") else None,
                                         "shape": recs[-1]["shapes"],
                                         "want_shape": {k: list(v.shape) for k, v in want.items()}}
            else:
                problems.append(f"{pass_}: oracle {api} disagrees with the float64 reference: "
                                f"rel L2 {e:.3g} (shapes {recs[-1]['shapes']}), without a warning")
        rec["reference_only"][pass_] = not oracle_grads

        r = groupconv_backward(c, pass_, x, w, dy, workdir)
        rec["groupconv"][pass_] = {"exit": r.returncode, "kernel": bwd_kernel_name(r.stdout)}
        got = tamper(pass_, r.grads) if tamper and r.grads else r.grads
        if r.returncode != 0 or not got:
            problems.append(f"groupconv {' '.join(r.argv)}\n  exit {r.returncode}\n  stderr: "
                            f"{r.stderr.strip()}")
            continue
        for k, v in want.items():
            g = got.get(k)
            if g is None:
                problems.append(f"{pass_}: groupconv wrote no {k}")
            elif g.dtype != np.float32 or g.shape != v.shape:
                problems.append(f"{pass_}: groupconv {k} is {g.dtype} {g.shape}, expected "
                                f"float32 {v.shape}")
            else:
                errs[f"groupconv {k} vs float64 reference"] = rel_l2(g, v)
        e = grad_error(got, want)
        errs["groupconv vs float64 reference"] = e
        if not e < TOLERANCE:
            problems.append(f"{pass_}: groupconv vs float64 reference: rel L2 {e:.3g}")
        for api, og in oracle_grads.items():
            e = grad_error(got, og)
            errs[f"groupconv vs {api}"] = e
            if not e < TOLERANCE:
                problems.append(f"{pass_}: groupconv vs {api}: rel L2 {e:.3g}")
    assert not problems, c.label() + "\n" + "\n".join(problems)
