"""Self-consistency of `groupconv run`, no framework needed (NumPy only; any venv runs it).

On a deterministic subset of the shared cases (every 11th: all kinds, since 11 and
len(KINDS) = 9 are coprime):
- every instruction-set path (--isa portable/avx2/avx512, each ISA the CPU has) matches the
  float64 reference;
- the output is bit-identical for any thread count and from run to run (SPEC section 1);
- the four layout combinations NHWC/NCHW x HWIO/OIHW of the same problem agree;
- explicit --groups and inferred groups give the same bits;
- a grouped convolution equals its G groups run one by one as ordinary convolutions
  (slices of the input and filter), concatenated: an independent formulation through the CLI.
"""
import re

import numpy as np
import pytest

import gc_cases as gc

CASES = gc.generate_cases()
SUBSET = CASES[::11]


@pytest.fixture(scope="session")
def binary():
    p = gc.groupconv_bin()
    if not p.exists():
        pytest.fail(f"groupconv binary not found at {p} (build it, or set GROUPCONV_BIN)")
    return p


def run(c, x, w, b, workdir, extra=()):
    r = gc.groupconv_run(c, x, w, b, workdir, list(extra))
    assert r.returncode == 0 and r.output is not None, gc.describe_failure(c, r)
    return r


def test_subset_covers_every_kind():
    assert {c.kind for c in SUBSET} == set(gc.KINDS)


@pytest.mark.parametrize("c", SUBSET, ids=lambda c: c.label())
def test_every_isa_matches_reference(c, binary, tmp_path):
    x, w, b = gc.case_arrays(c)
    ref = gc.reference_conv(c, x, w, b)
    seen = {}
    for isa in ("portable", "avx2", "avx512"):
        r = run(c, x, w, b, tmp_path / isa, ["--isa", isa, "--verbose"])
        m = re.search(r"isa (\w+)", r.stderr)
        got_isa = m.group(1) if m else isa
        e = gc.rel_l2(r.output, ref)
        assert e < gc.TOLERANCE, (f"--isa {isa} (ran {got_isa}, kernel {gc.kernel_name(r.stdout)})"
                                  f": rel L2 {e:.3g}\n{gc.describe_failure(c, r)}")
        seen[got_isa] = gc.kernel_name(r.stdout)
    assert "portable" in seen, f"--isa portable ran {seen}"


@pytest.mark.parametrize("c", SUBSET, ids=lambda c: c.label())
def test_bit_identical_across_threads_and_runs(c, binary, tmp_path):
    x, w, b = gc.case_arrays(c)
    first = run(c, x, w, b, tmp_path / "t1", ["--threads", "1"]).output
    for i, t in enumerate(("2", "3", "2")):
        y = run(c, x, w, b, tmp_path / f"t{t}_{i}", ["--threads", t]).output
        assert y.shape == first.shape and y.tobytes() == first.tobytes(), (
            f"--threads {t} differs from --threads 1: max |diff| "
            f"{np.max(np.abs(y - first)) if y.size else 0}")


@pytest.mark.parametrize("c", SUBSET, ids=lambda c: c.label())
def test_layouts_agree(c, binary, tmp_path):
    x, w, b = gc.case_arrays(c)
    xn, wh = gc.to_nhwc(x, c.data_format), gc.to_hwio(w, c.filter_format)
    outs = {}
    for df in ("NHWC", "NCHW"):
        for ff in ("HWIO", "OIHW"):
            cc = gc.dataclasses.replace(c, data_format=df, filter_format=ff)
            xx = np.ascontiguousarray(gc.from_nhwc(xn, df))
            ww = np.ascontiguousarray(wh if ff == "HWIO" else gc.to_oihw(wh, "HWIO"))
            outs[(df, ff)] = gc.to_nhwc(run(cc, xx, ww, b, tmp_path / f"{df}{ff}").output, df)
    base = outs[("NHWC", "HWIO")]
    for k, y in outs.items():
        assert gc.rel_l2(y, base) < 1e-6, f"{k} differs from NHWC/HWIO: {gc.rel_l2(y, base):.3g}"


@pytest.mark.parametrize("c", SUBSET, ids=lambda c: c.label())
def test_explicit_and_inferred_groups_identical(c, binary, tmp_path):
    x, w, b = gc.case_arrays(c)
    y1 = run(gc.dataclasses.replace(c, pass_groups=True), x, w, b, tmp_path / "g").output
    y2 = run(gc.dataclasses.replace(c, pass_groups=False), x, w, b, tmp_path / "i").output
    assert y1.tobytes() == y2.tobytes()


@pytest.mark.parametrize("c", [c for c in SUBSET if 1 < c.groups <= 8], ids=lambda c: c.label())
def test_groups_equal_their_slices(c, binary, tmp_path):
    x, w, b = gc.case_arrays(c)
    xn, wh = gc.to_nhwc(x, c.data_format), gc.to_hwio(w, c.filter_format)
    whole = gc.to_nhwc(run(c, x, w, b, tmp_path / "whole").output, c.data_format)
    parts = []
    for g in range(c.groups):
        cc = gc.dataclasses.replace(c, groups=1, cig=c.cig, cog=c.cog)
        xs = np.ascontiguousarray(gc.from_nhwc(xn[..., g * c.cig:(g + 1) * c.cig], c.data_format))
        ws = wh[..., g * c.cog:(g + 1) * c.cog]
        ws = np.ascontiguousarray(ws if c.filter_format == "HWIO" else gc.to_oihw(ws, "HWIO"))
        bs = None if b is None else np.ascontiguousarray(b[g * c.cog:(g + 1) * c.cog])
        parts.append(gc.to_nhwc(run(cc, xs, ws, bs, tmp_path / f"g{g}").output, c.data_format))
    sliced = np.concatenate(parts, axis=3)
    assert gc.rel_l2(whole, sliced) < gc.TOLERANCE
