"""PyTorch-style API: ``groupconv.nn.conv2d`` mirrors ``torch.nn.functional.conv2d``.

Layouts are PyTorch's: input NCHW ``[N, C_in, H, W]`` (or unbatched ``[C_in, H, W]``),
weight OIHW ``[C_out, C_in / groups, KH, KW]``, bias ``[C_out]``, output NCHW. Results are
numpy float32 arrays (``torch.from_numpy(y)`` wraps one without a copy).
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

from . import _args, _core
from ._api import Array, CheckResult, Float32Array, Plan, _check_result
from ._convert import as_float32
from ._errors import error

__all__ = ["conv2d", "check", "Conv2d"]


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
