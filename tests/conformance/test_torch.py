"""groupconv (the CLI) against PyTorch on the shared seeded cases; run by build/venv-torch.

Oracle per case: torch.nn.functional.conv2d with groups=G on NCHW/OIHW (an NHWC case is
transposed: PyTorch has no NHWC logical layout). Padding as PyTorch spells it when it can:
'valid', 'same' (stride 1 only: PyTorch refuses it for strided convolutions, recorded), a
symmetric (ph, pw); SAME_LOWER, asymmetric pads and strided SAME through F.pad + padding=0.
Every case is also checked against the float64 NumPy reference.

Backward passes (gc.backward_cases(), a seeded subset): `groupconv run --pass bwd_data` and
`--pass bwd_filter` against torch autograd, F.conv2d in float64 with .backward(dy), spelled
the same two ways, and against the float64 NumPy gradients.
"""
import re

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


def torch_grad_families(c, x, w, b, dy):
    """{"F.conv2d autograd": [(api, fn(pass_))]}: float64 autograd of the two spellings above;
    each attempt runs forward and backward once and serves both passes."""
    xn = np.ascontiguousarray(gc.to_nchw(np.asarray(x, np.float64), c.data_format))
    wo = np.ascontiguousarray(gc.to_oihw(np.asarray(w, np.float64), c.filter_format))
    dyn = np.ascontiguousarray(gc.to_nchw(np.asarray(dy, np.float64), c.data_format))
    t, bo, l, r = c.resolved_pads()
    s, d = (c.sh, c.sw), (c.dh, c.dw)

    def autograd(conv):
        memo = {}

        def fn(pass_):
            if not memo:
                xt = torch.from_numpy(xn.copy()).requires_grad_()
                wt = torch.from_numpy(wo.copy()).requires_grad_()
                bt = None if b is None else torch.from_numpy(
                    np.asarray(b, np.float64)).requires_grad_()
                y = conv(xt, wt, bt)
                if tuple(y.shape) != dyn.shape:
                    raise gc.ForwardMismatch(y.shape, dyn.shape)
                y.backward(torch.from_numpy(dyn))
                dx = xt.grad.numpy()
                memo["dx"] = dx if c.data_format == "NCHW" else np.transpose(dx, (0, 2, 3, 1))
                dw = wt.grad.numpy()
                memo["dw"] = dw if c.filter_format == "OIHW" else np.transpose(dw, (2, 3, 1, 0))
                memo["db"] = None if bt is None else bt.grad.numpy()
            return {k: memo[k] for k in gc.GRADS[pass_]}
        return fn

    def direct(xt, wt, bt):
        if c.padding == "VALID":
            pad = "valid"
        elif c.padding == "SAME":
            pad = "same"
        elif c.padding == "EXPLICIT" and t == bo and l == r:
            pad = (t, l)
        else:
            raise gc.NotExpressible(
                "no padding argument for SAME_LOWER or asymmetric pads (F.pad first)")
        return F.conv2d(xt, wt, bt, stride=s, padding=pad, dilation=d, groups=c.groups)

    def padded(xt, wt, bt):
        return F.conv2d(F.pad(xt, (l, r, t, bo)), wt, bt, stride=s, padding=0, dilation=d,
                        groups=c.groups)

    attempts = [("F.conv2d", autograd(direct))]
    if c.padding != "VALID":
        attempts.append(("F.pad + F.conv2d", autograd(padded)))
    return {"F.conv2d autograd": attempts}


BWD_CASES = gc.backward_cases()


@pytest.mark.parametrize("c", BWD_CASES, ids=lambda c: "bwd-" + c.label())
def test_backward_case(c, oracle, binary, records, tmp_path):
    x, w, b = gc.case_arrays(c)
    gc.check_backward_case(c, torch_grad_families(c, x, w, b, gc.grad_output(c)), records,
                           tmp_path)


@pytest.mark.parametrize("pass_", gc.PASSES)
def test_backward_check_catches_a_perturbed_gradient(pass_, oracle, binary, tmp_path):
    """The checks can fail: groupconv's gradient scaled by 1 + 2e-5 (rel. L2 error 2e-5, twice
    the tolerance) must be reported, against the reference and against torch; by 1 + 2e-7 it
    must not."""
    c = next(c for c in BWD_CASES if c.n > 0 and c.bias and c.kind == "grouped")
    x, w, b = gc.case_arrays(c)
    fam = torch_grad_families(c, x, w, b, gc.grad_output(c))

    def scale(f):
        return lambda p, g: {k: v * np.float32(f) if p == pass_ else v for k, v in g.items()}
    with pytest.raises(AssertionError) as e:
        gc.check_backward_case(c, fam, gc.Refusals("scratch"), tmp_path / "big", scale(1 + 2e-5))
    msg = str(e.value)
    assert re.search(pass_ + r": groupconv vs float64 reference: rel L2 (1\.9\d*|2(\.0\d*)?)e-05",
                     msg), msg
    assert re.search(pass_ + r": groupconv vs F\.(pad \+ F\.)?conv2d: rel L2", msg), msg
    gc.check_backward_case(c, fam, gc.Refusals("scratch"), tmp_path / "small", scale(1 + 2e-7))


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
