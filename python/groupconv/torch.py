"""PyTorch autograd through groupconv: ``groupconv.torch.conv2d`` and ``groupconv.torch.Conv2d``.

Drop-in replacements for ``torch.nn.functional.conv2d`` and ``torch.nn.Conv2d`` (CPU) whose
forward *and* backward passes run on groupconv's kernels::

    import groupconv.torch as gct

    y = gct.conv2d(x, w, b, stride=1, padding=1, groups=4)   # a torch.Tensor with grad_fn
    y.sum().backward()                                        # x.grad, w.grad, b.grad

    layer = gct.Conv2d(32, 64, 3, padding=1, groups=8)        # an nn.Conv2d subclass
    layer = gct.Conv2d.from_torch(existing_nn_conv2d)         # same weights, groupconv compute
    model = gct.convert(model)                                # every nn.Conv2d in a model

Tensors move without copies: a contiguous float32 CPU tensor is read in place (DLPack), and
results are numpy arrays wrapped by ``torch.from_numpy`` (no copy). ``channels_last`` inputs
are computed as NHWC on their own memory (no copy, no transposes: the fastest path, since the
kernels work in NHWC and an NCHW call transposes input and output inside groupconv), and
give ``channels_last`` outputs and input gradients. Other non-contiguous tensors (transposed
views, slices) cost one copy.

Precision: the kernels compute in float32. float64 tensors are accepted and *computed in
float32* (inputs rounded to float32, results returned as float64): enough for training and
for ``torch.autograd.gradcheck`` with loosened tolerances (the tests use ``eps=1e-3,
atol=rtol=1e-2``), not for float64-accurate results. Other dtypes (float16, bfloat16, ints)
raise :class:`groupconv.DTypeError`; CUDA tensors raise it too (groupconv computes on the CPU).

Double backward (gradients of gradients) is not supported (``once_differentiable``).

Importing this module needs PyTorch; ``import groupconv`` alone never imports it.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

try:
    import torch as _torch
    from torch.autograd.function import once_differentiable as _once_differentiable
except ImportError as _e:  # pragma: no cover - exercised where torch is missing
    raise ImportError(
        "groupconv.torch needs PyTorch, which is not importable here "
        f"({type(_e).__name__}: {_e}). Install torch (e.g. `pip install torch`), or use "
        "groupconv.nn.conv2d / groupconv.nn.conv2d_input / conv2d_weight, which take and "
        "return numpy arrays without autograd.") from _e

import numpy as np

from . import _args, _core
from . import nn as _gnn
from ._convert import _dtype_error, as_float32
from ._errors import error

__all__ = ["conv2d", "Conv2d", "convert"]

_SUPPORTED = (_torch.float32, _torch.float64)


def _check_tensor(t: Any, what: str) -> None:
    if not isinstance(t, _torch.Tensor):
        raise error("GC008", f"{what} must be a torch.Tensor, got {type(t).__name__}",
                    [f"{what}  {type(t).__name__}"], expected="a torch.Tensor",
                    found=type(t).__name__,
                    help="groupconv.torch works on tensors; for numpy arrays use "
                    "groupconv.nn.conv2d")
    if t.dtype not in _SUPPORTED:
        raise _dtype_error(what, str(t.dtype).replace("torch.", ""), "Tensor")
    if t.device.type != "cpu":
        raise error("GC008", f"{what} lives on {t.device}; groupconv computes on the CPU",
                    [f"{what}  Tensor on {t.device}"], expected="a CPU tensor",
                    found=f"a tensor on {t.device}",
                    help=f"move it first: {what}.cpu(), or use torch.nn.functional.conv2d on "
                    "that device")


def _np32(t: "_torch.Tensor", what: str) -> np.ndarray:
    """A float32, C-contiguous numpy view of t (zero-copy when t already is one)."""
    t = t.detach()
    if t.dtype != _torch.float32:
        t = t.to(_torch.float32)
    if not t.is_contiguous():
        t = t.contiguous()  # the one copy (channels_last, transposed or sliced tensors)
    return as_float32(t, what)


def _to_torch(a: np.ndarray, dtype: "_torch.dtype") -> "_torch.Tensor":
    t = _torch.from_numpy(a)  # shares the 64-byte aligned buffer: no copy
    return t if dtype == _torch.float32 else t.to(dtype)


def _channels_last(x: "_torch.Tensor") -> bool:
    """True for a 4-D tensor stored NHWC (torch.channels_last) and not also plain-contiguous."""
    return (x.dim() == 4 and not x.is_contiguous()
            and x.is_contiguous(memory_format=_torch.channels_last))


def _nhwc(t: "_torch.Tensor") -> "_torch.Tensor":
    """The NHWC view of an NCHW-shaped tensor (contiguous when t is channels_last)."""
    return t.permute(0, 2, 3, 1)


def _nchw(t: "_torch.Tensor") -> "_torch.Tensor":
    """The NCHW-shaped (channels_last) view of an NHWC tensor."""
    return t.permute(0, 3, 1, 2)


class _Conv2dFunction(_torch.autograd.Function):
    """conv2d(x, w, b) with both passes on groupconv (x 4-D NCHW-shaped, w OIHW).

    A channels_last input is computed as NHWC on its own memory (no transposes) and gives
    a channels_last output and input gradient; other inputs are computed as NCHW."""

    @staticmethod
    def forward(ctx: Any, x: "_torch.Tensor", w: "_torch.Tensor",  # type: ignore[override]
                b: Optional["_torch.Tensor"], desc: Any, desc_nhwc: Any) -> "_torch.Tensor":
        cl = _channels_last(x)
        ctx.desc = desc_nhwc if cl else desc
        ctx.channels_last = cl
        ctx.has_bias = b is not None
        xn = _np32(_nhwc(x) if cl else x, "input")
        wn = _np32(w, "weight")
        bn = None if b is None else _np32(b, "bias")
        y = _to_torch(_core.conv2d(xn, wn, bn, ctx.desc), x.dtype)
        ctx.save_for_backward(x, w)
        return _nchw(y) if cl else y

    @staticmethod
    @_once_differentiable
    def backward(ctx: Any, dy: "_torch.Tensor") -> Tuple[Any, ...]:  # type: ignore[override]
        x, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        cl = ctx.channels_last
        dyn = _np32(_nhwc(dy) if cl else dy, "grad_output")
        dx = dw = db = None
        if need_x:
            wn = _np32(w, "weight")
            xshape = list(_nhwc(x).shape if cl else x.shape)
            dx = _to_torch(_core.conv2d_backward_data(dyn, wn, xshape, ctx.desc), x.dtype)
            if cl:
                dx = _nchw(dx)
        if need_w:
            xn = _np32(_nhwc(x) if cl else x, "input")
            dwn, dbn = _core.conv2d_backward_filter(xn, dyn, list(w.shape),
                                                    bool(need_b and ctx.has_bias), ctx.desc)
            dw = _to_torch(dwn, w.dtype)
            if dbn is not None:
                db = _to_torch(dbn, w.dtype)
        if need_b and ctx.has_bias and db is None:
            db = _to_torch(dyn.sum(axis=(0, 1, 2) if cl else (0, 2, 3), dtype=np.float64)
                           .astype(np.float32), dy.dtype)
        return dx, dw, db, None, None


def conv2d(input: "_torch.Tensor", weight: "_torch.Tensor",  # noqa: A002
           bias: Optional["_torch.Tensor"] = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> "_torch.Tensor":
    """``torch.nn.functional.conv2d`` computed by groupconv, differentiable.

    Args:
      input: CPU tensor ``[N, C_in, H, W]`` or unbatched ``[C_in, H, W]`` (NCHW).
      weight: ``[C_out, C_in / groups, KH, KW]`` (OIHW).
      bias: optional ``[C_out]``.
      stride, padding, dilation, groups: as in ``torch.nn.functional.conv2d`` (padding an int,
        a pair, ``'valid'`` or ``'same'``; ``'same'`` refused with stride > 1, as in torch).

    Returns:
      ``[N, C_out, Ho, Wo]`` (``[C_out, Ho, Wo]`` unbatched), the input's dtype. When any of
      input/weight/bias requires grad, the result has a ``grad_fn`` whose backward computes,
      with groupconv's kernels, only the gradients autograd asks for
      (``ctx.needs_input_grad``): dL/dinput (backward-data), dL/dweight and dL/dbias
      (backward-filter; one pass for both).

    dtypes: all tensors float32, or all float64 (computed in float32, see the module
    docstring). Mixed dtypes raise :class:`groupconv.DTypeError`, as torch refuses them.

    Raises:
      groupconv.ShapeError: invalid shapes/arguments, with the diagnostic of
        :func:`groupconv.nn.conv2d`.
    """
    _check_tensor(input, "input")
    _check_tensor(weight, "weight")
    if bias is not None:
        _check_tensor(bias, "bias")
    dtypes = {input.dtype, weight.dtype} | ({bias.dtype} if bias is not None else set())
    if len(dtypes) > 1:
        names = ", ".join(sorted(str(d).replace("torch.", "") for d in dtypes))
        raise error("GC008", f"input, weight and bias must have one dtype, got {names}",
                    [f"input {input.dtype}, weight {weight.dtype}"
                     + ("" if bias is None else f", bias {bias.dtype}")],
                    expected="all float32 (or all float64)", found=names,
                    help="convert with .float() (or .double()) as torch.nn.functional.conv2d "
                    "would require")
    desc = _args.torch_desc(stride, padding, dilation, groups, None)
    desc_nhwc = _args.torch_desc(stride, padding, dilation, groups, None, data_format="NHWC")
    if input.dim() == 3:
        return _Conv2dFunction.apply(input.unsqueeze(0), weight, bias, desc,
                                     desc_nhwc).squeeze(0)
    if input.dim() != 4:
        raise _gnn._rank_error(tuple(input.shape))
    return _Conv2dFunction.apply(input, weight, bias, desc, desc_nhwc)


class Conv2d(_torch.nn.Conv2d):
    """``torch.nn.Conv2d`` whose forward and backward run on groupconv (CPU).

    Same constructor, parameters (``weight`` OIHW, ``bias``: ``torch.nn.Parameter``), state
    dict, initialisation and ``repr`` as ``torch.nn.Conv2d`` -- it *is* one (a subclass), so
    optimizers, ``load_state_dict`` and ``isinstance(m, nn.Conv2d)`` work unchanged. Only
    ``padding_mode='zeros'`` is supported (others raise :class:`groupconv.ShapeError`), and
    parameters must live on the CPU. ``float64`` modules compute in float32 (see the module
    docstring).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        _check_padding_mode(padding_mode)
        super().__init__(in_channels, out_channels, kernel_size, stride=stride,
                         padding=padding, dilation=dilation, groups=groups, bias=bias,
                         padding_mode=padding_mode, device=device, dtype=dtype)

    def forward(self, input: "_torch.Tensor") -> "_torch.Tensor":  # noqa: A002
        _check_padding_mode(self.padding_mode)
        return conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation,
                      self.groups)

    @classmethod
    def from_torch(cls, module: "_torch.nn.Conv2d") -> "Conv2d":
        """A groupconv Conv2d with the settings of ``module`` and a *copy* of its weights
        (and bias), same dtype and ``requires_grad``. Refuses ``padding_mode != 'zeros'``."""
        _check_padding_mode(module.padding_mode)
        m = cls(module.in_channels, module.out_channels, module.kernel_size,
                stride=module.stride, padding=module.padding, dilation=module.dilation,
                groups=module.groups, bias=module.bias is not None,
                device=module.weight.device, dtype=module.weight.dtype)
        with _torch.no_grad():
            m.weight.copy_(module.weight)
            if module.bias is not None:
                m.bias.copy_(module.bias)
        m.weight.requires_grad_(module.weight.requires_grad)
        if module.bias is not None:
            m.bias.requires_grad_(module.bias.requires_grad)
        m.train(module.training)
        return m


def convert(module: "_torch.nn.Module") -> "_torch.nn.Module":
    """Replaces, in place, every ``torch.nn.Conv2d`` (padding_mode 'zeros') inside ``module``
    with :meth:`Conv2d.from_torch` of it; returns ``module`` (or the replacement when
    ``module`` itself is an ``nn.Conv2d``). Convert before creating the optimizer: the new
    layers have new Parameter objects."""
    if type(module) is _torch.nn.Conv2d and module.padding_mode == "zeros":
        return Conv2d.from_torch(module)
    for name, child in module.named_children():
        new = convert(child)
        if new is not child:
            setattr(module, name, new)
    return module


def _check_padding_mode(mode: str) -> None:
    if mode != "zeros":
        raise error("GC019", f"padding_mode={mode!r} is not supported",
                    [f"padding_mode = {mode!r}"], expected="padding_mode='zeros'",
                    found=repr(mode),
                    help="groupconv pads with zeros only; keep torch.nn.Conv2d for this layer")
