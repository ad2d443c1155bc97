"""groupconv (the CLI) against PyTorch on the shared seeded cases; run by build/venv-torch.

Oracle per case: torch.nn.functional.conv2d with groups=G on NCHW/OIHW (an NHWC case is
transposed: PyTorch has no NHWC logical layout). Padding as PyTorch spells it when it can:
'valid', 'same' (stride 1 only: PyTorch refuses it for strided convolutions, recorded), a
symmetric (ph, pw); SAME_LOWER, asymmetric pads and strided SAME through F.pad + padding=0.
Every case is also checked against the float64 NumPy reference.
"""
import numpy as np
import pytest

import gc_cases as gc

try:
    import torch
    import torch.nn.functional as F
    IMPORT_ERROR = None
except Exception as e:  # noqa: BLE001 - any import failure means "no oracle"
    torch = F = None
    IMPORT_ERROR = e

CASES = gc.generate_cases()


@pytest.fixture(scope="session")
def oracle():
    if torch is None:
        msg = f"torch is not importable ({IMPORT_ERROR!r})"
        if gc.oracles_required():
            pytest.fail(msg + " and GROUPCONV_REQUIRE_ORACLES=1")
        pytest.skip(msg)
    torch.set_num_threads(1)
    return torch


@pytest.fixture(scope="session")
def binary():
    p = gc.groupconv_bin()
    if not p.exists():
        pytest.fail(f"groupconv binary not found at {p} (build it, or set GROUPCONV_BIN)")
    return p


@pytest.fixture(scope="session")
def records():
    r = gc.Refusals("torch")
    if torch is not None:
        r.meta["torch"] = torch.__version__
    yield r
    r.save()


def torch_families(c, x, w, b, dtype=np.float32):
    xt = torch.from_numpy(np.ascontiguousarray(gc.to_nchw(np.asarray(x, dtype), c.data_format)))
    wt = torch.from_numpy(np.ascontiguousarray(gc.to_oihw(np.asarray(w, dtype), c.filter_format)))
    bt = None if b is None else torch.from_numpy(np.asarray(b, dtype))
    s, d = (c.sh, c.sw), (c.dh, c.dw)
    t, bo, l, r = c.resolved_pads()

    def back(y):
        y = y.numpy()
        return y if c.data_format == "NCHW" else np.transpose(y, (0, 2, 3, 1))

    def direct():
        if c.padding == "VALID":
            pad = "valid"
        elif c.padding == "SAME":
            pad = "same"
        elif c.padding == "EXPLICIT" and t == bo and l == r:
            pad = (t, l)
        else:
            raise gc.NotExpressible(
                "no padding argument for SAME_LOWER or asymmetric pads (F.pad first)")
        return back(F.conv2d(xt, wt, bt, stride=s, padding=pad, dilation=d, groups=c.groups))

    def padded():
        return back(F.conv2d(F.pad(xt, (l, r, t, bo)), wt, bt, stride=s, padding=0, dilation=d,
                             groups=c.groups))

    attempts = [("F.conv2d", direct)]
    if c.padding != "VALID":
        attempts.append(("F.pad + F.conv2d", padded))
    return {"F.conv2d": attempts}


def test_generator_is_reproducible_and_covers_the_matrix():
    again = gc.generate_cases()
    assert [c.to_json() for c in again] == [c.to_json() for c in CASES]
    cov = gc.coverage(CASES)
    assert cov["cases"] >= 200
    for key, n in cov.items():
        assert n >= 5, f"too few cases with {key}: {n}"


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.label())
def test_case(c, oracle, binary, records, tmp_path):
    x, w, b = gc.case_arrays(c)
    fam = torch_families(c, x, w, b)
    fam64 = torch_families(c, x, w, b, np.float64)
    gc.check_case(c, fam, fam64, records, tmp_path)


def torch_invalid_call(inv):
    x = np.ones(inv.input_shape, dtype=inv.dtype)
    w = np.ones(inv.filter_shape, dtype=np.float32)
    # The same mistakes in PyTorch's conventions: NCHW input, OIHW weight, groups=.
    if len(x.shape) == 4:
        x = np.transpose(x, (0, 3, 1, 2))
    elif len(x.shape) == 3:
        x = np.transpose(x, (2, 0, 1))  # PyTorch's unbatched [C, H, W]
    if inv.name != "filter_other_layout":
        w = np.transpose(w, (3, 2, 0, 1))
    else:
        # groupconv got an OIHW array where HWIO was expected; PyTorch gets the mirror image,
        # the HWIO array [3, 3, 8, 64] where OIHW is expected.
        w = np.ones((3, 3, 8, 64), np.float32)
    pads = gc.invalid_pads(inv)
    if pads is None:
        pad = 0 if inv.padding == "VALID" else inv.padding.lower()
    else:
        pad = (pads[0], pads[2])
    bias = None if inv.bias_len is None else torch.ones(inv.bias_len)
    groups = 1 if inv.groups is None else inv.groups
    y = F.conv2d(torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(
        np.ascontiguousarray(w)), bias, stride=inv.ints(inv.strides), padding=pad,
        dilation=inv.ints(inv.dilations), groups=groups)
    y = y.numpy()
    return np.transpose(y, (0, 2, 3, 1)) if y.ndim == 4 else y


@pytest.mark.parametrize("inv", gc.INVALID, ids=lambda i: i.name)
def test_invalid(inv, oracle, binary, records, tmp_path):
    gc.check_invalid(inv, lambda: torch_invalid_call(inv), records, tmp_path)
