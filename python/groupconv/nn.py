"""PyTorch-style API: ``groupconv.nn.conv2d`` mirrors ``torch.nn.functional.conv2d``.

Layouts are PyTorch's: input NCHW ``[N, C_in, H, W]`` (or unbatched ``[C_in, H, W]``),
weight OIHW ``[C_out, C_in / groups, KH, KW]``, bias ``[C_out]``, output NCHW. Results are
numpy float32 arrays (``torch.from_numpy(y)`` wraps one without a copy).

The gradients mirror ``torch.nn.grad``: :func:`conv2d_input` (dL/dinput) and
:func:`conv2d_weight` (dL/dweight), plus :func:`conv2d_bias`. For autograd (``loss.backward()``
through groupconv) use :mod:`groupconv.torch`.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from . import _args, _core
from ._api import Array, CheckResult, Float32Array, Plan, _check_result
from ._convert import as_float32
from ._errors import error

__all__ = ["conv2d", "check", "Conv2d", "conv2d_input", "conv2d_weight", "conv2d_bias"]


def _rank_error(shape: Tuple[int, ...]) -> Exception:
    return error(
        "GC007",
        f"expected a 3-D (unbatched) or 4-D (batched) input, got rank {len(shape)}",
        [f"input  {list(shape)}  rank {len(shape)}"],
        rule="rank(input) in {3, 4}",
        expected="[N, C_in, H, W] or [C_in, H, W] (NCHW)", found=f"rank {len(shape)}",
        help="reshape the input to [N, C_in, H, W]; for TensorFlow's extra leading batch dims "
        "use groupconv.conv2d(..., data_format='NCHW', filter_format='OIHW')")


def conv2d(input: Array, weight: Array, bias: Optional[Array] = None,  # noqa: A002
           stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: int = 1, *,
           threads: Optional[int] = None) -> Float32Array:
    """Grouped 2-D convolution with the signature and semantics of
    ``torch.nn.functional.conv2d``.

    Args:
      input: float32 ``[N, C_in, H, W]`` or unbatched ``[C_in, H, W]`` (NCHW). A torch
        tensor (any strides, CPU, requires_grad is fine: it is detached), numpy array, or
        anything with ``__dlpack__``/``__array__``; zero-copy when C-contiguous float32, one
        copy otherwise. Other dtypes raise :class:`groupconv.DTypeError`.
      weight: float32 OIHW ``[C_out, C_in / groups, KH, KW]``.
      bias: optional float32 ``[C_out]``.
      stride: an int or ``(sh, sw)``.
      padding: an int or ``(ph, pw)`` (symmetric), ``'valid'`` (none) or ``'same'`` (output
        size = input size; an odd total pad puts the extra row/column at the bottom/right,
        as PyTorch does; like PyTorch, refused with stride > 1).
      dilation: an int or ``(dh, dw)``.
      groups: number of groups; ``C_in`` and ``C_out`` must be divisible by it.
      threads: worker threads for this call (``None`` = :func:`groupconv.set_num_threads`).

    Returns:
      A new float32 numpy array ``[N, C_out, Ho, Wo]`` (``[C_out, Ho, Wo]`` for an unbatched
      input).

    Raises:
      groupconv.ShapeError: invalid shapes or arguments (``.code`` names the rule).
      groupconv.DTypeError: non-float32 or non-array input (GC008; also a TypeError).
    """
    desc = _args.torch_desc(stride, padding, dilation, groups, threads)
    x = as_float32(input, "input")
    w = as_float32(weight, "weight")
    b = None if bias is None else as_float32(bias, "bias")
    y: Float32Array
    if x.ndim == 4:
        y = _core.conv2d(x, w, b, desc)
    elif x.ndim == 3:
        y = _core.conv2d(x[None], w, b, desc)[0]
    else:
        raise _rank_error(x.shape)
    return y


def check(input_shape: Any, weight_shape: Any, bias_shape: Any = None, stride: Any = 1,
          padding: Any = 0, dilation: Any = 1, groups: int = 1) -> CheckResult:
    """Output shape and per-group breakdown of :func:`conv2d` without computing.

    Shapes are tuples of ints or arrays (their ``.shape`` is used); the rest as in
    :func:`conv2d`. Returns a :class:`groupconv.CheckResult`; raises
    :class:`groupconv.ShapeError` exactly where :func:`conv2d` would.
    """
    desc = _args.torch_desc(stride, padding, dilation, groups, None)
    ishape = _args.shape_of(input_shape, "input_shape")
    wshape = _args.shape_of(weight_shape, "weight_shape")
    bshape = None if bias_shape is None else _args.shape_of(bias_shape, "bias_shape")
    if len(ishape) not in (3, 4):
        raise _rank_error(tuple(ishape))
    unbatched = len(ishape) == 3
    g = _core.resolve([1] + ishape if unbatched else ishape, wshape, bshape, desc)
    r = _check_result(g, None, tuple(ishape))
    if unbatched:
        r = CheckResult(**{**r.to_dict(), "output_shape": r.output_shape[1:]})
    return r


class Conv2d:
    """A fixed-weight convolution layer with ``torch.nn.Conv2d``'s hyper-parameters.

    ``Conv2d(weight, bias=None, stride=1, padding=0, dilation=1, groups=1)``: weight OIHW
    ``[C_out, C_in / groups, KH, KW]``; calling it with an NCHW (or unbatched CHW) input
    returns ``conv2d(input, weight, bias, ...)`` as a numpy array. The weight is packed once
    per input shape (see :class:`groupconv.Plan`). ``Conv2d.from_torch(module)`` copies the
    weights and settings of a ``torch.nn.Conv2d`` (padding_mode 'zeros' only).
    """

    def __init__(self, weight: Array, bias: Optional[Array] = None, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, *,
                 input_shape: Any = None, threads: Optional[int] = None) -> None:
        desc = _args.torch_desc(stride, padding, dilation, groups, threads)
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        self.plan = Plan._from_desc(desc, weight, bias, input_shape, unbatched_rank=3)

    @classmethod
    def from_torch(cls, module: Any, *, input_shape: Any = None,
                   threads: Optional[int] = None) -> "Conv2d":
        """A Conv2d with the weights (copied) and settings of a ``torch.nn.Conv2d``."""
        mode = getattr(module, "padding_mode", "zeros")
        if mode != "zeros":
            raise error("GC019", f"padding_mode={mode!r} is not supported",
                        expected="padding_mode='zeros'", found=repr(mode),
                        help="groupconv pads with zeros only")
        bias = None if module.bias is None else module.bias.detach()
        return cls(module.weight.detach(), bias, tuple(module.stride),
                   module.padding if isinstance(module.padding, str) else tuple(module.padding),
                   tuple(module.dilation), int(module.groups), input_shape=input_shape,
                   threads=threads)

    def __call__(self, input: Array) -> Float32Array:  # noqa: A002
        x = as_float32(input, "input")
        if x.ndim not in (3, 4):
            raise _rank_error(x.shape)
        return self.plan(x)

    def __repr__(self) -> str:
        w = self.plan._w.shape
        return (f"groupconv.nn.Conv2d({w[1] * self.groups}, {w[0]}, kernel_size={tuple(w[2:])}, "
                f"stride={self.stride}, padding={self.padding!r}, dilation={self.dilation}, "
                f"groups={self.groups}, bias={self.plan._b is not None})")


def _batched(shape: Tuple[int, ...], what: str) -> Tuple[list, bool]:
    if len(shape) == 4:
        return list(shape), False
    if len(shape) == 3:
        return [1] + list(shape), True
    raise _rank_error(tuple(shape))


def conv2d_input(input_size: Any, weight: Array, grad_output: Array, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, *,
                 threads: Optional[int] = None) -> Float32Array:
    """The input gradient of :func:`conv2d`, with ``torch.nn.grad.conv2d_input``'s signature.

    Args:
      input_size: the forward input's shape ``[N, C_in, H, W]`` (or unbatched
        ``[C_in, H, W]``), a tuple / ``torch.Size``.
      weight: the forward weight, OIHW ``[C_out, C_in / groups, KH, KW]``, float32.
      grad_output: float32 ``dL/doutput``, exactly the forward output's shape
        ``[N, C_out, Ho, Wo]`` (``[C_out, Ho, Wo]`` unbatched); any other shape raises
        :class:`groupconv.ShapeError` GC018 naming both shapes.
      stride, padding, dilation, groups: the forward call's (as in :func:`conv2d`).

    Returns:
      ``dL/dinput``: a new float32 numpy array of shape ``input_size`` (NCHW).
    """
    desc = _args.torch_desc(stride, padding, dilation, groups, threads)
    ishape, unbatched = _batched(tuple(_args.shape_of(input_size, "input_size")), "input_size")
    w = as_float32(weight, "weight")
    dy = as_float32(grad_output, "grad_output")
    if unbatched and dy.ndim == 3:
        dy = dy[None]
    dx: Float32Array = _core.conv2d_backward_data(dy, w, ishape, desc)
    return dx[0] if unbatched else dx


def conv2d_weight(input: Array, weight_size: Any, grad_output: Array,  # noqa: A002
                  stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: int = 1, *,
                  threads: Optional[int] = None) -> Float32Array:
    """The weight gradient of :func:`conv2d`, with ``torch.nn.grad.conv2d_weight``'s signature.

    Args:
      input: the forward input, float32 NCHW ``[N, C_in, H, W]`` (or unbatched).
      weight_size: the forward weight's shape, OIHW ``[C_out, C_in / groups, KH, KW]``.
      grad_output: float32 ``dL/doutput`` of the forward output's shape (else GC018).
      stride, padding, dilation, groups: the forward call's.

    Returns:
      ``dL/dweight``: a new float32 numpy array of shape ``weight_size`` (OIHW), reduced over
      batch and pixels in a fixed order (bit-identical for any thread count).
    """
    return _weight_and_bias(input, weight_size, grad_output, stride, padding, dilation, groups,
                            threads, bias=False)[0]


def conv2d_bias(grad_output: Array) -> Float32Array:
    """The bias gradient of :func:`conv2d`: ``grad_output`` ``[N, C_out, Ho, Wo]`` (or
    ``[C_out, Ho, Wo]``) summed over batch and pixels, float32 ``[C_out]`` (accumulated in
    float64)."""
    dy = as_float32(grad_output, "grad_output")
    if dy.ndim not in (3, 4):
        raise _rank_error(dy.shape)
    axes = (0, 2, 3) if dy.ndim == 4 else (1, 2)
    db: Float32Array = dy.sum(axis=axes, dtype=np.float64).astype(np.float32)
    return db


def _weight_and_bias(input: Array, weight_size: Any, grad_output: Array,  # noqa: A002
                     stride: Any, padding: Any, dilation: Any, groups: int,
                     threads: Optional[int], bias: bool) -> Tuple[Float32Array, Any]:
    """(dL/dweight, dL/dbias or None) in one pass over the data."""
    desc = _args.torch_desc(stride, padding, dilation, groups, threads)
    x = as_float32(input, "input")
    dy = as_float32(grad_output, "grad_output")
    if x.ndim == 3:
        x = x[None]
        if dy.ndim == 3:
            dy = dy[None]
    elif x.ndim != 4:
        raise _rank_error(x.shape)
    wshape = _args.shape_of(weight_size, "weight_size")
    dw, db = _core.conv2d_backward_filter(x, dy, wshape, bias, desc)
    return dw, db
