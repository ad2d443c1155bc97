"""Training through groupconv from PyTorch: the backward bindings, groupconv.nn.conv2d_input /
conv2d_weight (torch.nn.grad's signatures), and groupconv.torch (autograd Function, nn.Conv2d
replacement), all against torch's own autograd.

Runs in build/venv-torch (Debian's torch). Without torch: skipped, or failed when
GROUPCONV_REQUIRE_ORACLES=1.
"""

from __future__ import annotations

import copy
import subprocess
import sys

import numpy as np
import pytest

import groupconv
from conftest import random_configs, rel_l2

TOL = 1e-5          # relative L2, float32 groupconv vs float32 torch
N_CONFIGS = 130
MIN_CHECKED = 100
TRAIN_TOL = 1e-4    # relative, per-step losses of the training loops

worst = {"dx": 0.0, "dw": 0.0, "db": 0.0}


@pytest.fixture(scope="module")
def torch():
    from conftest import require
    torch = require("torch")
    torch.set_num_threads(1)
    return torch


@pytest.fixture(scope="module")
def gct(torch):
    import groupconv.torch as gct
    return gct


def _torch_padding(c):
    """torch-style padding for a config (as test_torch_oracle): 'same' (stride 1), 'valid',
    symmetric pairs; asymmetric pads -> (F.pad amounts, 0)."""
    t, b, l_, r = c.resolved_pads()
    if c.padding == "SAME" and c.sh == 1 and c.sw == 1:
        return None, "same"
    if c.padding == "VALID":
        return None, "valid"
    if t == b and l_ == r:
        return None, (t, l_)
    return (l_, r, t, b), 0


def _nchw(c, torch):
    x, w, b = c.tensors()
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    wt = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1)))
    bt = None if b is None else torch.from_numpy(b)
    return xt, wt, bt


# ---- groupconv.torch.conv2d vs torch autograd ------------------------------------------------

@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_random_configs_gradients_match_torch(torch, gct):
    """dx, dw, db of groupconv.torch.conv2d == torch autograd of F.conv2d (rel L2 < 1e-5) on
    random depthwise / multiplier / narrow / wide / 1x1 / dense geometries with strides,
    dilations, SAME / VALID / explicit pads, with and without bias; every 5th config freezes
    the input or the weight (needs_input_grad)."""
    F = torch.nn.functional
    checked, refused = 0, []
    for i, c in enumerate(random_configs(N_CONFIGS, seed=777)):
        xt, wt, bt = _nchw(c, torch)
        fpad, pad = _torch_padding(c)
        if fpad is not None:
            xt = F.pad(xt, fpad)
        need_x = i % 5 != 1
        need_w = i % 5 != 2
        gen = torch.Generator().manual_seed(i)

        channels_last = i % 4 == 3  # computed as NHWC on the tensor's own memory

        def run(conv):
            x = xt.clone()
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            x.requires_grad_(need_x)
            w = wt.clone().requires_grad_(need_w)
            b = None if bt is None else bt.clone().requires_grad_(True)
            y = conv(x, w, b, stride=(c.sh, c.sw), padding=pad, dilation=(c.dh, c.dw),
                     groups=c.groups)
            return y, x, w, b

        try:
            y_ref, x_ref, w_ref, b_ref = run(F.conv2d)
        except Exception as e:  # noqa: BLE001 - torch refuses a few valid geometries
            refused.append((str(c), f"{type(e).__name__}: {str(e).splitlines()[0][:100]}"))
            continue
        y, x, w, b = run(gct.conv2d)
        assert y.dtype == torch.float32 and y.shape == y_ref.shape, str(c)
        assert y.grad_fn is not None and "Conv2dFunction" in type(y.grad_fn).__name__
        assert rel_l2(y.detach().numpy(), y_ref.detach().numpy()) < TOL, str(c)
        if channels_last and y.shape[1] > 1 and y.shape[2] * y.shape[3] > 1:
            assert y.is_contiguous(memory_format=torch.channels_last), str(c)
        dy = torch.randn(y.shape, generator=gen)
        (y_ref * dy).sum().backward()
        (y * dy).sum().backward()
        pairs = [("dx", x, x_ref), ("dw", w, w_ref)] + ([("db", b, b_ref)] if b is not None
                                                         else [])
        for what, mine, ref in pairs:
            if not mine.requires_grad:
                assert mine.grad is None and ref.grad is None, (what, str(c))
                continue
            err = rel_l2(mine.grad.numpy(), ref.grad.numpy())
            worst[what] = max(worst[what], err)
            assert err < TOL, (what, str(c), err)
        checked += 1
    print(f"\n{checked} configs: gradients match torch autograd; worst rel L2 "
          + ", ".join(f"{k} {v:.2e}" for k, v in worst.items())
          + f"; {len(refused)} refused by torch")
    for cfg, why in refused:
        print(f"  {cfg}: {why}")
    assert checked >= MIN_CHECKED, refused


def test_needs_input_grad_computes_only_what_is_asked(torch, gct, monkeypatch):
    from groupconv import _core
    calls = {"data": 0, "filter": 0, "bias": []}
    real_data, real_filter = _core.conv2d_backward_data, _core.conv2d_backward_filter

    def data(*a, **k):
        calls["data"] += 1
        return real_data(*a, **k)

    def filt(x, dy, shape, bias_grad, desc):
        calls["filter"] += 1
        calls["bias"].append(bias_grad)
        return real_filter(x, dy, shape, bias_grad, desc)

    monkeypatch.setattr(_core, "conv2d_backward_data", data)
    monkeypatch.setattr(_core, "conv2d_backward_filter", filt)
    x = torch.randn(2, 8, 7, 7)
    w = torch.randn(8, 2, 3, 3)
    b = torch.randn(8)

    def grads(rx, rw, rb):
        for k in ("data", "filter"):
            calls[k] = 0
        calls["bias"].clear()
        xi, wi, bi = (t.clone().requires_grad_(r) for t, r in ((x, rx), (w, rw), (b, rb)))
        gct.conv2d(xi, wi, bi, padding=1, groups=4).square().sum().backward()
        ref = [t.clone().requires_grad_(r) for t, r in ((x, rx), (w, rw), (b, rb))]
        torch.nn.functional.conv2d(*ref, padding=1, groups=4).square().sum().backward()
        for mine, want in zip((xi, wi, bi), ref):
            assert (mine.grad is None) == (want.grad is None)
            if want.grad is not None:
                assert rel_l2(mine.grad.numpy(), want.grad.numpy()) < TOL
        return calls["data"], calls["filter"], list(calls["bias"])

    assert grads(True, True, True) == (1, 1, [True])
    assert grads(True, False, False) == (1, 0, [])
    assert grads(False, True, False) == (0, 1, [False])
    assert grads(False, False, True) == (0, 0, [])  # bias only: dy summed, no filter pass
    assert grads(False, True, True) == (0, 1, [True])


def test_adjoint_identities_float32(torch, gct):
    """<conv(x, w), dy> == <x, dx> == <w, dw> (the forward is linear in x and in w): an
    exact float32-level check of the backward kernels independent of any oracle."""
    for i, c in enumerate(random_configs(40, seed=99)):
        xt, wt, _ = _nchw(c, torch)
        fpad, pad = _torch_padding(c)
        if fpad is not None:
            xt = torch.nn.functional.pad(xt, fpad)
        x = xt.clone().requires_grad_()
        w = wt.clone().requires_grad_()
        y = gct.conv2d(x, w, None, (c.sh, c.sw), pad, (c.dh, c.dw), c.groups)
        dy = torch.randn(y.shape, generator=torch.Generator().manual_seed(i))
        (y * dy).sum().backward()
        f = float(np.vdot(y.detach().numpy().astype(np.float64), dy.numpy()))
        gx = float(np.vdot(xt.numpy().astype(np.float64), x.grad.numpy()))
        gw = float(np.vdot(wt.numpy().astype(np.float64), w.grad.numpy()))
        scale = float(np.linalg.norm(y.detach().numpy()) * np.linalg.norm(dy.numpy())) + 1e-30
        assert abs(gx - f) / scale < 1e-5 and abs(gw - f) / scale < 1e-5, (str(c), f, gx, gw)


# gradcheck: groupconv computes in float32 even for float64 tensors, so the finite
# differences of gradcheck carry float32 rounding / eps: eps=1e-3, atol=rtol=1e-2 (documented
# in groupconv.torch's docstring). The float32 comparisons above are the tight ones.
GRADCHECK = dict(eps=1e-3, atol=1e-2, rtol=1e-2)


@pytest.mark.parametrize("shape, kw", [
    ((2, 4, 6, 6), dict(w=(4, 1, 3, 3), groups=4, padding=1)),                  # depthwise
    ((1, 3, 7, 6), dict(w=(6, 1, 3, 3), groups=3, stride=2, padding=1)),        # multiplier 2
    ((2, 6, 8, 7), dict(w=(4, 3, 2, 3), groups=2, dilation=2, padding=(1, 2))),  # grouped
    ((1, 4, 9, 9), dict(w=(8, 2, 3, 3), groups=2, stride=2, dilation=2)),       # s2 + d2
    ((2, 8, 5, 5), dict(w=(8, 2, 1, 1), groups=4)),                              # grouped 1x1
    ((1, 3, 6, 6), dict(w=(5, 3, 3, 3), groups=1, padding="same")),             # dense, 'same'
])
def test_gradcheck_float64(torch, gct, shape, kw):
    g = torch.Generator().manual_seed(len(shape) + sum(shape))
    kw = dict(kw)
    wshape = kw.pop("w")
    x = torch.randn(*shape, dtype=torch.float64, generator=g, requires_grad=True)
    w = torch.randn(*wshape, dtype=torch.float64, generator=g, requires_grad=True)
    b = torch.randn(wshape[0], dtype=torch.float64, generator=g, requires_grad=True)
    y = gct.conv2d(x, w, b, **kw)
    assert y.dtype == torch.float64
    assert torch.autograd.gradcheck(lambda x_, w_, b_: gct.conv2d(x_, w_, b_, **kw),
                                     (x, w, b), **GRADCHECK)


def test_gradcheck_detects_a_wrong_gradient(torch, gct, monkeypatch):
    """The loosened gradcheck is still a test: a backward with dw off by 5% fails it."""
    from groupconv import _core
    real = _core.conv2d_backward_filter
    monkeypatch.setattr(_core, "conv2d_backward_filter",
                        lambda x, dy, s, bg, d: tuple(None if a is None else a * 1.05
                                                      for a in real(x, dy, s, bg, d)))
    g = torch.Generator().manual_seed(5)
    x = torch.randn(1, 4, 6, 6, dtype=torch.float64, generator=g, requires_grad=True)
    w = torch.randn(4, 2, 3, 3, dtype=torch.float64, generator=g, requires_grad=True)
    assert not torch.autograd.gradcheck(lambda x_, w_: gct.conv2d(x_, w_, groups=2),
                                        (x, w), raise_exception=False, **GRADCHECK)


# ---- dtypes, layouts, copies -----------------------------------------------------------------

def test_dtypes_devices_and_unbatched(torch, gct):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(6, 7, 7, generator=g, requires_grad=True)  # unbatched
    w = torch.randn(12, 2, 3, 3, generator=g, requires_grad=True)
    y = gct.conv2d(x, w, None, padding=1, groups=3)
    assert y.shape == (12, 7, 7)
    y.sum().backward()
    x2, w2 = x.detach().clone().requires_grad_(), w.detach().clone().requires_grad_()
    torch.nn.functional.conv2d(x2, w2, padding=1, groups=3).sum().backward()
    assert rel_l2(x.grad.numpy(), x2.grad.numpy()) < TOL
    assert rel_l2(w.grad.numpy(), w2.grad.numpy()) < TOL
    with pytest.raises(groupconv.DTypeError, match="float16"):
        gct.conv2d(x.detach().half(), w.detach().half(), groups=3)
    with pytest.raises(groupconv.DTypeError, match="one dtype"):
        gct.conv2d(x.detach().double(), w.detach(), groups=3)
    with pytest.raises(groupconv.ShapeError) as e:
        gct.conv2d(x.detach(), w.detach(), groups=4)
    assert e.value.code.startswith("GC")


def test_non_contiguous_inputs_and_zero_copy(torch, gct, monkeypatch):
    from groupconv import _core
    from groupconv.torch import _np32
    t = torch.randn(2, 8, 9, 9)
    assert _np32(t, "x").ctypes.data == t.data_ptr()  # contiguous float32: read in place
    seen = []
    real = _core.conv2d

    def spy(x, w, b, desc):
        seen.append(x.ctypes.data)
        return real(x, w, b, desc)

    monkeypatch.setattr(_core, "conv2d", spy)
    w = torch.randn(16, 2, 3, 3, requires_grad=True)
    x2, w2 = t.clone().requires_grad_(), w.detach().clone().requires_grad_()
    want = torch.nn.functional.conv2d(x2, w2, None, 1, 1, 1, 4)
    for dy_layout in ("contiguous", "channels_last", "transposed"):
        dy = torch.randn(want.shape, generator=torch.Generator().manual_seed(3))
        if dy_layout == "channels_last":
            dy = dy.contiguous(memory_format=torch.channels_last)
        elif dy_layout == "transposed":
            dy = dy.transpose(2, 3).contiguous().transpose(2, 3)
        for x in (t.contiguous(memory_format=torch.channels_last),  # NHWC memory, no copy
                  t.transpose(2, 3).contiguous().transpose(2, 3)):  # one copy
            x = x.clone().requires_grad_()
            w.grad = x2.grad = w2.grad = None
            y = gct.conv2d(x, w, None, 1, 1, 1, 4)
            cl = x.is_contiguous(memory_format=torch.channels_last)
            assert (seen[-1] == x.data_ptr()) == cl  # channels_last: read in place
            assert y.is_contiguous(memory_format=torch.channels_last) == cl
            assert rel_l2(y.detach().numpy(), want.detach().numpy()) < TOL
            y.backward(dy)
            want.backward(dy, retain_graph=True)
            assert rel_l2(x.grad.numpy(), x2.grad.numpy()) < TOL, dy_layout
            assert rel_l2(w.grad.numpy(), w2.grad.numpy()) < TOL, dy_layout
            assert x.grad.is_contiguous(memory_format=torch.channels_last) == cl
            # the output is the numpy buffer groupconv allocated (64-byte aligned), not a copy
            assert y.data_ptr() % 64 == 0


def test_double_backward_is_refused(torch, gct):
    x = torch.randn(1, 2, 5, 5, requires_grad=True)
    w = torch.randn(2, 1, 3, 3, requires_grad=True)
    y = gct.conv2d(x, w, groups=2)
    (gx,) = torch.autograd.grad(y.square().sum(), x, create_graph=True)
    with pytest.raises(RuntimeError):
        gx.sum().backward()


# ---- Conv2d module --------------------------------------------------------------------------

def test_conv2d_module_replaces_nn_conv2d(torch, gct):
    torch.manual_seed(3)
    for kw in ({"stride": 2, "padding": 1, "groups": 4}, {"padding": "same", "dilation": 2,
               "groups": 8, "bias": False}, {"padding": (0, 2), "groups": 2}):
        ref = torch.nn.Conv2d(8, 16, 3, **kw)
        m = gct.Conv2d.from_torch(ref)
        assert isinstance(m, torch.nn.Conv2d) and isinstance(m.weight, torch.nn.Parameter)
        assert m.weight.data_ptr() != ref.weight.data_ptr()  # a copy
        assert set(m.state_dict()) == set(ref.state_dict())
        x = torch.randn(2, 8, 11, 13)
        assert rel_l2(m(x).detach().numpy(), ref(x).detach().numpy()) < TOL
        m2 = gct.Conv2d(8, 16, 3, **kw)
        m2.load_state_dict(ref.state_dict())
        assert rel_l2(m2(x).detach().numpy(), ref(x).detach().numpy()) < TOL
    with pytest.raises(groupconv.ShapeError, match="padding_mode"):
        gct.Conv2d(4, 4, 3, padding_mode="reflect")
    with pytest.raises(groupconv.ShapeError, match="padding_mode"):
        gct.Conv2d.from_torch(torch.nn.Conv2d(4, 4, 3, padding_mode="circular"))
    seq = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 1), torch.nn.ReLU(),
                              torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3, groups=8)),
                              torch.nn.Conv2d(8, 8, 3, padding_mode="reflect"))
    gct.convert(seq)
    assert type(seq[0]) is gct.Conv2d and type(seq[2][0]) is gct.Conv2d
    assert type(seq[3]) is torch.nn.Conv2d  # reflect padding stays torch's


class _ResNeXtBlock:
    """1x1 -> grouped 3x3 (groups=4) -> 1x1 with ReLUs and the residual, then a head."""

    @staticmethod
    def make(torch):
        nn = torch.nn

        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Conv2d(16, 16, 1, bias=False)
                self.b = nn.Conv2d(16, 16, 3, padding=1, groups=4, bias=False)
                self.c = nn.Conv2d(16, 16, 1)
                self.head = nn.Linear(16, 5)

            def forward(self, x):
                h = torch.relu(self.a(x))
                h = torch.relu(self.b(h))
                h = torch.relu(self.c(h) + x)
                return self.head(h.mean((2, 3)))

        return Block()


class _MobileNetBlock:
    """1x1 expand -> depthwise 3x3 stride 2 -> 1x1 project, then a head."""

    @staticmethod
    def make(torch):
        nn = torch.nn

        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.expand = nn.Conv2d(8, 32, 1)
                self.dw = nn.Conv2d(32, 32, 3, stride=2, padding=1, groups=32)
                self.project = nn.Conv2d(32, 12, 1)
                self.head = nn.Linear(12, 5)

            def forward(self, x):
                h = torch.relu(self.expand(x))
                h = torch.relu(self.dw(h))
                return self.head(self.project(h).mean((2, 3)))

        return Block()


@pytest.mark.parametrize("block, cin", [(_ResNeXtBlock, 16), (_MobileNetBlock, 8)],
                         ids=["resnext", "mobilenet"])
def test_training_matches_nn_conv2d(torch, gct, block, cin):
    """20 SGD steps from identical weights and data: losses equal to 1e-4 relative at every
    step, with groupconv.torch.Conv2d in place of every nn.Conv2d."""
    torch.manual_seed(0)
    native = block.make(torch)
    ours = gct.convert(copy.deepcopy(native))
    convs = [m for m in ours.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(type(m) is gct.Conv2d for m in convs)
    gen = torch.Generator().manual_seed(1)
    data = []
    for _ in range(2):  # a learnable task: the label shifts its channel's mean
        x, label = torch.randn(8, cin, 12, 12, generator=gen), torch.randint(0, 5, (8,),
                                                                              generator=gen)
        x[torch.arange(8), label] += 1.0
        data.append((x, label))
    losses = {}
    for name, model in (("native", native), ("groupconv", ours)):
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        out = []
        for step in range(20):
            x, label = data[step % len(data)]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), label)
            loss.backward()
            opt.step()
            out.append(loss.item())
        losses[name] = np.array(out)
    rel = np.abs(losses["groupconv"] - losses["native"]) / np.abs(losses["native"])
    print(f"\n{block.__name__}: losses {losses['native'][0]:.4f} -> {losses['native'][-1]:.4f}, "
          f"worst per-step relative difference {rel.max():.2e}")
    assert losses["native"][-4:].mean() < 0.85 * losses["native"][:4].mean()  # it learns
    assert rel.max() < TRAIN_TOL, rel
    for (n1, p1), (n2, p2) in zip(native.named_parameters(), ours.named_parameters()):
        assert n1 == n2 and rel_l2(p2.detach().numpy(), p1.detach().numpy()) < 1e-4, n1


# ---- the numpy-level backward API (groupconv.conv2d_backward_*, groupconv.nn.conv2d_*) ---------

def test_nn_grad_functions_match_torch_nn_grad(torch):
    from torch.nn import grad as tgrad
    for i, c in enumerate(random_configs(30, seed=31)):
        xt, wt, _ = _nchw(c, torch)
        fpad, pad = _torch_padding(c)
        if fpad is not None or isinstance(pad, str):
            continue  # torch.nn.grad takes int padding only
        y = torch.nn.functional.conv2d(xt, wt, None, (c.sh, c.sw), pad, (c.dh, c.dw), c.groups)
        dy = torch.randn(y.shape, generator=torch.Generator().manual_seed(i))
        args = ((c.sh, c.sw), pad, (c.dh, c.dw), c.groups)
        want_dx = tgrad.conv2d_input(xt.shape, wt, dy, *args).numpy()
        want_dw = tgrad.conv2d_weight(xt, wt.shape, dy, *args).numpy()
        assert rel_l2(groupconv.nn.conv2d_input(xt.shape, wt, dy, *args), want_dx) < TOL
        assert rel_l2(groupconv.nn.conv2d_weight(xt, wt.shape, dy, *args), want_dw) < TOL
        assert rel_l2(groupconv.nn.conv2d_bias(dy), dy.sum((0, 2, 3)).numpy()) < TOL


def test_tf_style_backward_all_layouts(torch):
    """groupconv.conv2d_backward_data / _filter with NHWC/NCHW x HWIO/OIHW and asymmetric
    explicit pads, against torch autograd of F.pad + F.conv2d."""
    F = torch.nn.functional
    for i, c in enumerate(random_configs(24, seed=5)):
        xt, wt, _ = _nchw(c, torch)
        t, bo, l_, r = c.resolved_pads()
        x = xt.clone().requires_grad_()
        w = wt.clone().requires_grad_()
        y = F.conv2d(F.pad(x, (l_, r, t, bo)), w, None, (c.sh, c.sw), 0, (c.dh, c.dw),
                     c.groups)
        dy = torch.randn(y.shape, generator=torch.Generator().manual_seed(i))
        (y * dy).sum().backward()
        nchw = i % 2 == 0
        oihw = i % 4 < 2
        xa = xt.numpy() if nchw else xt.numpy().transpose(0, 2, 3, 1)
        dya = dy.numpy() if nchw else dy.numpy().transpose(0, 2, 3, 1)
        wa = wt.numpy() if oihw else wt.numpy().transpose(2, 3, 1, 0)
        pads = ([[0, 0], [0, 0], [t, bo], [l_, r]] if nchw else [[0, 0], [t, bo], [l_, r], [0, 0]])
        kw = dict(strides=[c.sh, c.sw], padding=pads, data_format="NCHW" if nchw else "NHWC",
                  dilations=[c.dh, c.dw], groups=c.groups,
                  filter_format="OIHW" if oihw else "HWIO")
        dx = groupconv.conv2d_backward_data(dya, wa, xa.shape, **kw)
        dw, db = groupconv.conv2d_backward_filter(xa, dya, wa.shape, **kw)
        want_dx = x.grad.numpy() if nchw else x.grad.numpy().transpose(0, 2, 3, 1)
        want_dw = w.grad.numpy() if oihw else w.grad.numpy().transpose(2, 3, 1, 0)
        assert dx.shape == xa.shape and dw.shape == wa.shape and db.shape == (c.cout,)
        assert rel_l2(dx, want_dx) < TOL, (str(c), kw)
        assert rel_l2(dw, want_dw) < TOL, (str(c), kw)
        assert rel_l2(db, dy.sum((0, 2, 3)).numpy()) < TOL


def test_wrong_grad_output_shape_names_both_shapes(torch):
    x = np.zeros((2, 9, 9, 8), np.float32)
    w = np.zeros((3, 3, 2, 12), np.float32)
    dy = np.zeros((2, 9, 9, 12), np.float32)  # the forward output is [2, 5, 5, 12] (stride 2)
    for call in (lambda: groupconv.conv2d_backward_data(dy, w, x.shape, 2, "SAME", groups=4),
                 lambda: groupconv.conv2d_backward_filter(x, dy, w.shape, 2, "SAME", groups=4)):
        with pytest.raises(groupconv.ShapeError) as e:
            call()
        assert e.value.code == "GC018"
        assert "[2, 5, 5, 12]" in str(e.value) and "[2, 9, 9, 12]" in str(e.value)
        assert e.value.expected == "dy [2, 5, 5, 12]" and e.value.found == "dy [2, 9, 9, 12]"
    # torch style: NCHW dy of the wrong size
    with pytest.raises(groupconv.ShapeError, match=r"\[1, 4, 6, 6\]") as e:
        groupconv.nn.conv2d_input((1, 4, 8, 8), np.zeros((4, 1, 3, 3), np.float32),
                                  np.zeros((1, 4, 8, 8), np.float32), groups=4)
    assert e.value.code == "GC018" and "[1, 4, 8, 8]" in str(e.value)
    # an NCHW dy for an NHWC convolution gets the hint
    with pytest.raises(groupconv.ShapeError, match="looks NCHW"):
        groupconv.conv2d_backward_data(np.zeros((2, 12, 5, 5), np.float32), w, x.shape, 2,
                                       "SAME", groups=4)
    # invalid forward arguments keep the forward's diagnostics
    with pytest.raises(groupconv.ShapeError) as e:
        groupconv.conv2d_backward_filter(np.zeros((2, 9, 9, 9), np.float32), dy, w.shape, 2,
                                         "SAME", groups=4)
    assert e.value.code != "GC018"
    with pytest.raises(groupconv.DTypeError):
        groupconv.conv2d_backward_data(dy.astype(np.float64), w, x.shape, 2, "SAME", groups=4)
    # and through autograd: a gradient of the wrong shape reaching the Function
    import groupconv.torch as gct
    xt = torch.zeros(1, 4, 8, 8, requires_grad=True)
    y = gct.conv2d(xt, torch.zeros(4, 1, 3, 3), groups=4)
    with pytest.raises(groupconv.ShapeError, match="GC018"):
        gct._Conv2dFunction.backward(type("Ctx", (), {
            "saved_tensors": (xt, torch.zeros(4, 1, 3, 3)), "needs_input_grad": (True, 0, 0),
            "desc": groupconv._args.torch_desc(1, 0, 1, 4, None), "has_bias": False,
            "channels_last": False})(),
            torch.zeros(1, 4, 8, 8))
    del y


def test_backward_plans_and_batch_dims(torch):
    """The plan bindings give the one-shot results; TF-style leading batch dims; empty batch."""
    from groupconv import _args, _core
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 9, 9, 8)).astype(np.float32)
    w = rng.standard_normal((3, 3, 2, 12)).astype(np.float32)
    y = groupconv.conv2d(x, w, 2, "SAME", groups=4)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = groupconv.conv2d_backward_data(dy, w, x.shape, 2, "SAME", groups=4)
    dw, db = groupconv.conv2d_backward_filter(x, dy, w.shape, 2, "SAME", groups=4)
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == (12,)
    xf, dyf = x.reshape(6, 9, 9, 8), dy.reshape(6, 5, 5, 12)
    np.testing.assert_array_equal(dx.reshape(xf.shape),
                                  groupconv.conv2d_backward_data(dyf, w, xf.shape, 2, "SAME",
                                                                 groups=4))
    desc, _ = _args.tf_desc(2, "SAME", "NHWC", None, 4, "HWIO", None)
    pd = _core.BackwardDataPlan(w, list(xf.shape), list(dyf.shape), desc)
    pf = _core.BackwardFilterPlan(list(xf.shape), list(w.shape), list(dyf.shape), desc)
    assert pd.input_shape == xf.shape and pf.filter_shape == w.shape and pd.kernel_name
    for _ in range(2):
        np.testing.assert_array_equal(pd(dyf), dx.reshape(xf.shape))
        dwp, dbp = pf(xf, dyf, True)
        np.testing.assert_array_equal(dwp, dw)
        np.testing.assert_array_equal(dbp, db)
        assert pf(xf, dyf, False)[1] is None
    with pytest.raises(groupconv.ShapeError, match="GC018"):
        pd(dyf[:, :4])
    with pytest.raises(groupconv.ShapeError, match="GC018"):
        _core.BackwardDataPlan(w, list(xf.shape), [6, 5, 5, 3], desc)
    # empty batch: zero gradients of the right shapes
    dw0, db0 = groupconv.conv2d_backward_filter(np.zeros((0, 9, 9, 8), np.float32),
                                                np.zeros((0, 5, 5, 12), np.float32), w.shape,
                                                2, "SAME", groups=4)
    assert dw0.shape == w.shape and not dw0.any() and not db0.any()
    dx0 = groupconv.conv2d_backward_data(np.zeros((0, 5, 5, 12), np.float32), w,
                                         (0, 9, 9, 8), 2, "SAME", groups=4)
    assert dx0.shape == (0, 9, 9, 8)
    # thread counts: bit-identical
    a = groupconv.conv2d_backward_filter(xf, dyf, w.shape, 2, "SAME", groups=4, threads=1)
    b = groupconv.conv2d_backward_filter(xf, dyf, w.shape, 2, "SAME", groups=4, threads=2)
    np.testing.assert_array_equal(a[0], b[0])


def test_import_groupconv_imports_no_framework():
    code = ("import sys, groupconv; assert 'torch' not in sys.modules, 'torch'; "
            "assert 'tensorflow' not in sys.modules, 'tensorflow'")
    subprocess.run([sys.executable, "-c", code], check=True)
    missing = ("import sys; sys.modules['torch'] = None\n"
               "try:\n    import groupconv.torch\nexcept ImportError as e:\n"
               "    assert 'groupconv.torch needs PyTorch' in str(e), e\n"
               "else:\n    raise SystemExit('imported without torch')\n")
    subprocess.run([sys.executable, "-c", missing], check=True)
