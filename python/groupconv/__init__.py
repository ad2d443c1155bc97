"""groupconv: grouped 2-D convolution on the CPU (depthwise, grouped, pointwise).

Two call styles, one engine:

- :func:`groupconv.conv2d` -- ``tf.nn.conv2d``'s signature and semantics (NHWC input, HWIO
  filter ``[KH, KW, C_in / G, C_out]``, ``'SAME'``/``'VALID'``/explicit padding, groups
  inferred as TensorFlow does or given and checked).
- :func:`groupconv.nn.conv2d` -- ``torch.nn.functional.conv2d``'s (NCHW input, OIHW weight
  ``[C_out, C_in / G, KH, KW]``, int/tuple/``'same'``/``'valid'`` padding).

Gradients (training): :func:`groupconv.conv2d_backward_data` (dL/dinput) and
:func:`groupconv.conv2d_backward_filter` (dL/dfilters, dL/dbias) take the forward call's
arguments (``groupconv.nn.conv2d_input`` / ``conv2d_weight`` mirror ``torch.nn.grad``);
:class:`groupconv.BackwardDataPlan` (filter packed once) and :class:`groupconv.BackwardFilterPlan`
are their plans for repeated calls on one shape. Autograd:
:mod:`groupconv.torch` (``torch.autograd.Function`` and an ``nn.Conv2d`` replacement) and
:mod:`groupconv.tf` (``tf.custom_gradient``); ``import groupconv`` imports neither framework --
they load on ``import groupconv.torch`` / ``import groupconv.tf`` (or first attribute access).

Plus :func:`groupconv.check` (output shape and per-group breakdown without computing),
:class:`groupconv.Plan` (filter packed once for repeated calls) and
:func:`groupconv.set_num_threads`. Inputs: numpy arrays or anything with ``__dlpack__`` or
``__array__`` (torch, TensorFlow, JAX), float32; outputs: numpy float32 arrays. Every refusal
raises :class:`groupconv.ShapeError` (a ``ValueError``) carrying the diagnostic's code and
text; wrong dtypes and non-arrays raise :class:`groupconv.DTypeError` (also a ``TypeError``).
"""

from . import nn
from ._api import (BackwardDataPlan, BackwardFilterPlan, CheckResult, Plan, check, conv2d,
                   conv2d_backward_data, conv2d_backward_filter)
from ._args import get_num_threads, set_num_threads
from ._core import detected_isa as _detected_isa
from ._errors import DTypeError, ShapeError

__version__ = "0.1.0"

__all__ = [
    "conv2d",
    "conv2d_backward_data",
    "conv2d_backward_filter",
    "BackwardDataPlan",
    "BackwardFilterPlan",
    "check",
    "CheckResult",
    "Plan",
    "ShapeError",
    "DTypeError",
    "set_num_threads",
    "get_num_threads",
    "detected_isa",
    "nn",
    "__version__",
]


def detected_isa() -> str:
    """The instruction set the kernels use on this CPU: 'avx512', 'avx2' or 'portable'
    (capped by the GROUPCONV_MAX_ISA environment variable)."""
    return str(_detected_isa())


def __getattr__(name: str):  # PEP 562: groupconv.torch / groupconv.tf load on first use
    if name in ("torch", "tf"):
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
