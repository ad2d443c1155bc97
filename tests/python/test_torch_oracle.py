"""groupconv against PyTorch's torch.nn.functional.conv2d, and DLPack input from torch.

Runs in build/venv-torch (Debian's torch). Without torch: skipped, or failed when
GROUPCONV_REQUIRE_ORACLES=1.
"""

from __future__ import annotations

import numpy as np
import pytest

import groupconv
from conftest import random_configs, reference_nhwc, rel_l2

TOL = 1e-5
N_CONFIGS = 240
MIN_TORCH_CHECKED = 200


@pytest.fixture(scope="module")
def torch():
    from conftest import require
    torch = require("torch")
    torch.set_num_threads(1)
    return torch


def _torch_padding(c, torch, x):
    """torch-style padding for a config: 'same' (stride 1 SAME), 'valid', symmetric ints, or
    F.pad for asymmetric pads. Returns (input, padding)."""
    t, b, l_, r = c.resolved_pads()
    if c.padding == "SAME" and c.sh == 1 and c.sw == 1:
        return x, "same"
    if c.padding == "VALID":
        return x, "valid"
    if t == b and l_ == r:
        return x, (t, l_)
    return torch.nn.functional.pad(x, (l_, r, t, b)), 0


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_random_configs_against_torch(torch):
    F = torch.nn.functional
    checked, refused = 0, []
    for i, c in enumerate(random_configs(N_CONFIGS, seed=4242)):
        x, w, b = c.tensors()
        xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))  # NCHW
        wt = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1)))  # OIHW
        bt = None if b is None else torch.from_numpy(b)
        xp, pad = _torch_padding(c, torch, xt)
        try:
            want = F.conv2d(xp, wt, bt, stride=(c.sh, c.sw), padding=pad,
                            dilation=(c.dh, c.dw), groups=c.groups).numpy()
        except Exception as e:  # noqa: BLE001
            refused.append((str(c), f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"))
            want = None
        # torch style, torch tensors in (DLPack; every 3rd one a non-contiguous view)
        xin = xp if i % 3 else xp.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)
        y = groupconv.nn.conv2d(xin, wt, bt, stride=(c.sh, c.sw) if i % 2 else c.sh
                                if c.sh == c.sw else (c.sh, c.sw), padding=pad,
                                dilation=(c.dh, c.dw), groups=c.groups)
        # TF style on the same NCHW data: HWIO filter, TF padding, data_format NCHW
        t, bo, l_, r = c.resolved_pads()
        tf_pad = c.padding if c.padding != "EXPLICIT" else [[0, 0], [0, 0], [t, bo], [l_, r]]
        y_tf = groupconv.conv2d(xt, w, [c.sh, c.sw], tf_pad, data_format="NCHW",
                                dilations=[c.dh, c.dw], groups=c.groups, bias=b)
        if want is None:
            ref = reference_nhwc(x, w, (c.sh, c.sw), (c.dh, c.dw), c.resolved_pads(), b)
            ref = ref.transpose(0, 3, 1, 2)
            assert rel_l2(y, ref) < TOL and rel_l2(y_tf, ref) < TOL, str(c)
            continue
        assert y.shape == want.shape == y_tf.shape, (str(c), y.shape, want.shape, y_tf.shape)
        assert rel_l2(y, want) < TOL, (str(c), rel_l2(y, want))
        assert rel_l2(y_tf, want) < TOL, (str(c), rel_l2(y_tf, want))
        checked += 1
    print(f"\n{checked} configs matched PyTorch; {len(refused)} refused by torch:")
    for cfg, why in refused:
        print(f"  {cfg}: {why}")
    assert checked >= MIN_TORCH_CHECKED, refused


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("k, d", [(2, 1), (4, 1), (3, 2), (4, 3), (5, 1), (1, 1)])
def test_same_padding_matches_torch(torch, k, d):
    """PyTorch's 'same' puts the odd pad at the bottom/right; so does groupconv."""
    g = torch.Generator().manual_seed(k * 10 + d)
    x = torch.randn(2, 6, 9, 8, generator=g)
    w = torch.randn(6, 2, k, k + 1, generator=g)
    want = torch.nn.functional.conv2d(x, w, padding="same", dilation=d, groups=3).numpy()
    y = groupconv.nn.conv2d(x, w, padding="same", dilation=d, groups=3)
    assert y.shape == want.shape == (2, 6, 9, 8)
    assert rel_l2(y, want) < TOL


def test_same_with_stride_refused_like_torch(torch):
    x = torch.zeros(1, 4, 8, 8)
    w = torch.zeros(4, 1, 3, 3)
    with pytest.raises(RuntimeError):
        torch.nn.functional.conv2d(x, w, stride=2, padding="same", groups=4)
    with pytest.raises(groupconv.ShapeError, match="strided"):
        groupconv.nn.conv2d(x, w, stride=2, padding="same", groups=4)


def test_unbatched_input(torch):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(6, 7, 7, generator=g)
    w = torch.randn(12, 2, 3, 3, generator=g)
    b = torch.randn(12, generator=g)
    want = torch.nn.functional.conv2d(x, w, b, padding=1, groups=3).numpy()
    y = groupconv.nn.conv2d(x, w, b, padding=1, groups=3)
    assert y.shape == want.shape == (12, 7, 7)
    assert rel_l2(y, want) < TOL


def test_dlpack_zero_copy_from_torch(torch):
    from groupconv._convert import as_float32
    t = torch.randn(2, 3, 4, 5)
    a = as_float32(t, "x")
    assert a.ctypes.data == t.data_ptr()  # the torch storage itself: no copy
    t[0, 0, 0, 0] = 42.0
    assert a[0, 0, 0, 0] == 42.0
    v = t.permute(0, 2, 3, 1)  # non-contiguous: one copy, right values
    c = as_float32(v, "x")
    assert c.flags.c_contiguous and c.ctypes.data != t.data_ptr()
    np.testing.assert_array_equal(c, v.numpy())


def test_torch_non_contiguous_and_channels_last(torch):
    g = torch.Generator().manual_seed(11)
    x = torch.randn(2, 8, 12, 10, generator=g)
    w = torch.randn(16, 2, 3, 3, generator=g)
    want = torch.nn.functional.conv2d(x, w, padding=1, groups=4).numpy()
    for xv in (x.contiguous(memory_format=torch.channels_last),
               x.transpose(2, 3).contiguous().transpose(2, 3)):
        assert not xv.is_contiguous()
        y = groupconv.nn.conv2d(xv, w, padding=1, groups=4)
        assert rel_l2(y, want) < TOL
    wv = w.permute(2, 3, 1, 0).contiguous().permute(3, 2, 0, 1)  # OIHW view of HWIO memory
    assert not wv.is_contiguous()
    assert rel_l2(groupconv.nn.conv2d(x, wv, padding=1, groups=4), want) < TOL
    xs = torch.randn(2, 8, 24, 10, generator=g)[:, :, ::2]  # strided slice
    assert not xs.is_contiguous()
    assert rel_l2(groupconv.nn.conv2d(xs, w, padding=1, groups=4),
                  torch.nn.functional.conv2d(xs, w, padding=1, groups=4).numpy()) < TOL


def test_torch_requires_grad_and_wrong_dtypes(torch):
    x = torch.randn(1, 4, 6, 6, requires_grad=True)
    w = torch.randn(4, 1, 3, 3, requires_grad=True)
    want = torch.nn.functional.conv2d(x, w, groups=4).detach().numpy()
    assert rel_l2(groupconv.nn.conv2d(x, w, groups=4), want) < TOL
    for dtype in (torch.float64, torch.float16, torch.bfloat16, torch.int32, torch.int64,
                  torch.uint8, torch.bool):
        with pytest.raises(groupconv.DTypeError) as e:
            groupconv.nn.conv2d(x.detach().to(dtype), w, groups=4)
        assert e.value.code == "GC008" and str(dtype).replace("torch.", "") in str(e.value)
        with pytest.raises(TypeError):
            groupconv.nn.conv2d(x, w.detach().to(dtype), groups=4)


def test_from_torch_module(torch):
    torch.manual_seed(0)
    for kwargs in ({"stride": 2, "padding": 1, "groups": 4},
                   {"padding": "same", "dilation": 2, "groups": 8},
                   {"padding": (0, 2), "groups": 2, "bias": False}):
        m = torch.nn.Conv2d(8, 16, 3, **kwargs)
        x = torch.randn(2, 8, 11, 13)
        want = m(x).detach().numpy()
        gm = groupconv.nn.Conv2d.from_torch(m)
        assert rel_l2(gm(x), want) < TOL
        assert rel_l2(gm(x[0]), want[0]) < TOL
    with pytest.raises(groupconv.ShapeError, match="padding_mode"):
        groupconv.nn.Conv2d.from_torch(torch.nn.Conv2d(4, 4, 3, padding_mode="reflect"))


def test_output_wraps_into_torch(torch):
    x = torch.randn(1, 4, 5, 5)
    w = torch.randn(8, 1, 3, 3)
    y = torch.from_numpy(groupconv.nn.conv2d(x, w, padding=1, groups=4))
    assert y.dtype == torch.float32 and tuple(y.shape) == (1, 8, 5, 5)
