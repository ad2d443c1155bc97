"""The TensorFlow-style API: groupconv.conv2d, groupconv.check, groupconv.Plan, the backward
passes and their plans."""

from __future__ import annotations

import collections
import dataclasses
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import numpy.typing as npt

from . import _args, _core
from ._convert import as_float32
from ._errors import error

Array = Any  # numpy.ndarray, or anything with __dlpack__ / __array__ (torch, TF, JAX)
Float32Array = npt.NDArray[np.float32]


def _flatten_batch(x: np.ndarray) -> Tuple[np.ndarray, Optional[Tuple[int, ...]]]:
    """TF's extra leading batch dims: [*batch, d1, d2, d3] -> [prod(batch), d1, d2, d3]."""
    if x.ndim <= 4:
        return x, None
    lead = tuple(x.shape[:-3])
    n = 1
    for d in lead:
        n *= d
    return x.reshape((n,) + tuple(x.shape[-3:])), lead


def _flatten_like(x: np.ndarray, lead: Optional[Tuple[int, ...]]) -> np.ndarray:
    """``x`` with its batch dims flattened when they are exactly ``lead`` (a shape planned or
    derived with leading batch dims); otherwise unchanged, so the core names both shapes."""
    if lead is not None and tuple(x.shape[:-3]) == lead:
        return _flatten_batch(x)[0]
    return x


def conv2d(input: Array, filters: Array, strides: Any, padding: Any,  # noqa: A002
           data_format: str = "NHWC", dilations: Any = None, groups: Optional[int] = None, *,
           bias: Optional[Array] = None, filter_format: str = "HWIO",
           threads: Optional[int] = None, name: Optional[str] = None) -> Float32Array:
    """Grouped 2-D convolution with the signature and semantics of ``tf.nn.conv2d``.

    Args:
      input: float32 ``[*batch, H, W, C_in]`` (``data_format="NHWC"``, TensorFlow's default)
        or ``[*batch, C_in, H, W]`` (``"NCHW"``). ``batch`` is one or more dims (TF's extra
        leading batch dims are flattened and restored). numpy array, or anything with
        ``__dlpack__`` or ``__array__`` (torch, TensorFlow, JAX): zero-copy when it is
        C-contiguous float32, one copy otherwise; other dtypes raise :class:`DTypeError`.
      filters: float32 HWIO ``[KH, KW, C_in / groups, C_out]``; the last dim counts *all*
        output channels. ``filter_format="OIHW"`` takes PyTorch's ``[C_out, C_in / groups,
        KH, KW]`` instead.
      strides: an int, ``[sh, sw]``, or TF's 4-list in data_format order with 1 at N and C.
      padding: ``"SAME"`` (extra pad at the bottom/right, as TF), ``"VALID"``,
        ``"SAME_LOWER"`` (extra pad at the top/left), or explicit pairs in data_format order:
        ``[[0, 0], [top, bottom], [left, right], [0, 0]]`` (NHWC),
        ``[[0, 0], [0, 0], [top, bottom], [left, right]]`` (NCHW).
      data_format: ``"NHWC"`` or ``"NCHW"``; the output has the same layout.
      dilations: like ``strides``; ``None`` = 1. Stride and dilation > 1 may be combined.
      groups: number of groups G. ``None``: inferred as ``C_in / filters.shape[2]``, exactly
        as ``tf.nn.conv2d`` does; given: checked against the shapes (with a diagnostic that
        explains any mismatch).
      bias: optional float32 ``[C_out]`` added to every output pixel (not in tf.nn.conv2d).
      filter_format: ``"HWIO"`` (default) or ``"OIHW"``.
      threads: worker threads for this call; ``None`` = :func:`set_num_threads`'s setting
        (default all cores). The result is bit-identical for any count.
      name: accepted for compatibility with ``tf.nn.conv2d``; ignored.

    Returns:
      A new float32 numpy array ``[*batch, Ho, Wo, C_out]`` (NHWC) or
      ``[*batch, C_out, Ho, Wo]`` (NCHW), 64-byte aligned.

    Raises:
      ShapeError: any invalid shape or argument (``.code`` is the stable GC0xx code).
      DTypeError: an input that is not float32 or not an array (GC008; also a TypeError).

    The GIL is released while planning and computing.
    """
    desc, _ = _args.tf_desc(strides, padding, data_format, dilations, groups, filter_format,
                            threads)
    x, lead = _flatten_batch(as_float32(input, "input"))
    w = as_float32(filters, "filters")
    b = None if bias is None else as_float32(bias, "bias")
    y = _core.conv2d(x, w, b, desc)
    if lead is not None:
        y = y.reshape(lead + y.shape[1:])
    return y


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """What a convolution will do, computed without touching any data.

    Shapes are in the layouts of the call (``data_format`` / ``filter_format``); ``pads`` is
    ``(top, bottom, left, right)``; ``flops`` counts ``2 * N * Ho * Wo * C_out * Cig * KH *
    KW``; ``bytes`` is input + filter + bias + output in float32. ``str()`` gives ``text``,
    the same report as ``groupconv check`` on the command line.
    """

    input_shape: Tuple[int, ...]
    filter_shape: Tuple[int, ...]
    output_shape: Tuple[int, ...]
    data_format: str
    filter_format: str
    groups: int
    groups_inferred: bool
    c_in: int
    c_out: int
    cig: int  # input channels per group, C_in / G
    cog: int  # output channels per group, C_out / G
    kernel: Tuple[int, int]
    strides: Tuple[int, int]
    dilations: Tuple[int, int]
    pads: Tuple[int, int, int, int]
    depthwise: bool
    flops: int
    bytes: int
    text: str

    def __str__(self) -> str:
        return self.text

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


def _check_result(g: Dict[str, Any], lead: Optional[Tuple[int, ...]],
                  input_shape: Tuple[int, ...]) -> CheckResult:
    out = tuple(g["output_shape"])
    if lead is not None:
        out = lead + out[1:]
    return CheckResult(
        input_shape=input_shape, filter_shape=tuple(g["filter_shape"]), output_shape=out,
        data_format=g["data_format"], filter_format=g["filter_format"], groups=g["groups"],
        groups_inferred=g["groups_inferred"], c_in=g["c_in"], c_out=g["c_out"], cig=g["cig"],
        cog=g["cog"], kernel=(g["kh"], g["kw"]), strides=tuple(g["strides"]),
        dilations=tuple(g["dilations"]), pads=tuple(g["pads"]),
        depthwise=g["cig"] == 1 and g["groups"] > 1,
        flops=g["flops"], bytes=g["bytes"], text=g["text"])


def _flatten_shape(shape: List[int]) -> Tuple[List[int], Optional[Tuple[int, ...]]]:
    if len(shape) <= 4:
        return shape, None
    lead = tuple(shape[:-3])
    n = 1
    for d in lead:
        if d < 0:
            raise error("GC009", f"input batch dim is {d} (negative)", [f"input {shape}"],
                        expected="batch dims >= 0", found=str(d),
                        help="the batch may be empty but never negative")
        n *= d
    return [n] + shape[-3:], lead


def check(input_shape: Any, filter_shape: Any, strides: Any = 1, padding: Any = "VALID",
          data_format: str = "NHWC", dilations: Any = None, groups: Optional[int] = None, *,
          bias_shape: Any = None, filter_format: str = "HWIO",
          expect_output_channels: Optional[int] = None) -> CheckResult:
    """Output shape and per-group breakdown of ``conv2d(...)`` without computing anything.

    Takes the arguments of :func:`conv2d` with shapes (tuples of ints, or arrays whose
    ``.shape`` is used) in place of tensors. ``expect_output_channels`` turns a filter whose
    output dim looks per-group (C_out / G instead of C_out) into a ShapeError (GC006).

    Returns a :class:`CheckResult` (output shape, groups, channels per group, pads, FLOPs,
    bytes, and the printable report). Raises :class:`ShapeError` exactly where
    :func:`conv2d` would.
    """
    desc, _ = _args.tf_desc(strides, padding, data_format, dilations, groups, filter_format,
                            None, expect_output_channels)
    ishape = _args.shape_of(input_shape, "input_shape")
    fshape = _args.shape_of(filter_shape, "filter_shape")
    bshape = None if bias_shape is None else _args.shape_of(bias_shape, "bias_shape")
    flat, lead = _flatten_shape(ishape)
    g = _core.resolve(flat, fshape, bshape, desc)
    return _check_result(g, lead, tuple(ishape))


class Plan:
    """A convolution with its filter packed once, for repeated calls (inference).

    ``Plan(filters, input_shape, strides, padding, ...)`` takes :func:`conv2d`'s arguments
    (TensorFlow conventions: HWIO filter, NHWC unless ``data_format="NCHW"``); calling the
    plan with an input computes ``conv2d(input, filters, ...)``::

        plan = groupconv.Plan(w, input_shape=(1, 28, 28, 32), strides=1, padding="SAME",
                              groups=4)
        y = plan(x)                   # no validation, packing or allocation beyond the output

    The filter (and bias) are copied at construction: later changes to the caller's arrays
    do not affect the plan. A plan is packed for one input shape (``input_shape``, or the
    first input's shape when omitted); an input of another shape gets its own packed plan,
    built on first use and cached (the 8 most recent shapes). The thread count is fixed when
    a shape is planned. One plan may be called from several Python threads; calls on the
    same shape are serialised.
    """

    _MAX_SHAPES = 8

    def __init__(self, filters: Array, input_shape: Any = None, strides: Any = 1,
                 padding: Any = "VALID", data_format: str = "NHWC", dilations: Any = None,
                 groups: Optional[int] = None, *, bias: Optional[Array] = None,
                 filter_format: str = "HWIO", threads: Optional[int] = None) -> None:
        desc, _ = _args.tf_desc(strides, padding, data_format, dilations, groups,
                                filter_format, threads)
        self._init(desc, filters, bias, input_shape, unbatched_rank=None)

    def _init(self, desc: Any, filters: Array, bias: Optional[Array], input_shape: Any,
              unbatched_rank: Optional[int]) -> None:
        self._desc = desc
        self._w = np.array(as_float32(filters, "filters"), copy=True)
        self._b = None if bias is None else np.array(as_float32(bias, "bias"), copy=True)
        self._unbatched_rank = unbatched_rank  # torch style: 3-D inputs get a batch of 1
        self._plans: "collections.OrderedDict[Tuple[int, ...], Any]" = \
            collections.OrderedDict()
        self._first: Optional[Any] = None
        if input_shape is not None:
            shape = _args.shape_of(input_shape, "input_shape")
            self._first = self._plan_for(self._normalise_shape(shape)[0])

    @classmethod
    def _from_desc(cls, desc: Any, filters: Array, bias: Optional[Array], input_shape: Any,
                   unbatched_rank: Optional[int]) -> "Plan":
        self = cls.__new__(cls)
        self._init(desc, filters, bias, input_shape, unbatched_rank)
        return self

    def _normalise_shape(self, shape: List[int]) -> Tuple[Tuple[int, ...], Any]:
        if self._unbatched_rank is not None and len(shape) == self._unbatched_rank:
            return tuple([1] + list(shape)), "unbatched"
        flat, lead = _flatten_shape(list(shape))
        return tuple(flat), lead

    def _plan_for(self, shape: Tuple[int, ...]) -> Any:
        p = self._plans.get(shape)
        if p is None:
            p = _core.Plan(self._w, self._b, list(shape), self._desc)
            self._plans[shape] = p
            if len(self._plans) > self._MAX_SHAPES:
                self._plans.popitem(last=False)
        else:
            self._plans.move_to_end(shape)
        return p

    def __call__(self, input: Array) -> Float32Array:  # noqa: A002
        """Computes the convolution of ``input`` (layout as planned); returns a numpy array."""
        x = as_float32(input, "input")
        if self._unbatched_rank is not None and x.ndim == self._unbatched_rank:
            p = self._plan_for((1,) + x.shape)
            if self._first is None:
                self._first = p
            y1: Float32Array = p(x[None])[0]
            return y1
        x, lead = _flatten_batch(x)
        p = self._plan_for(x.shape)
        if self._first is None:
            self._first = p
        y: Float32Array = p(x)
        if lead is not None:
            y = y.reshape(lead + y.shape[1:])
        return y

    def _planned(self) -> Any:
        if self._first is None:
            raise error("GC019", "the plan has no input shape yet",
                        help="pass input_shape= when creating the plan, or call it once")
        return self._first

    @property
    def input_shape(self) -> Tuple[int, ...]:
        """The (first) planned input shape."""
        return tuple(self._planned().input_shape)

    @property
    def output_shape(self) -> Tuple[int, ...]:
        """The output shape for the (first) planned input shape."""
        return tuple(self._planned().output_shape)

    @property
    def kernel_name(self) -> str:
        """The kernel chosen for the (first) planned shape, e.g. 'generic_direct_portable'."""
        return str(self._planned().kernel_name)

    @property
    def selection_log(self) -> str:
        """One line per candidate kernel: chosen, or why it declined."""
        return str(self._planned().selection_log)

    @property
    def threads(self) -> int:
        """Worker threads of the (first) planned shape."""
        return int(self._planned().threads)

    def check(self) -> CheckResult:
        """The :class:`CheckResult` of the (first) planned shape."""
        p = self._planned()
        return _check_result(p.geometry, None, tuple(p.input_shape))

    def __repr__(self) -> str:
        if self._first is None:
            return f"<groupconv.Plan filter {tuple(self._w.shape)}, not planned yet>"
        p = self._first
        return (f"<groupconv.Plan input {tuple(p.input_shape)} -> output "
                f"{tuple(p.output_shape)}, kernel {p.kernel_name}, {p.threads} threads>")


# ---- Backward passes (training) ------------------------------------------------------------
# The gradients of conv2d: shapes and arguments are always those of the FORWARD call. With
# y = conv2d(x, w, ...) + bias and dy = dL/dy (y's shape and layout):
#   dL/dx = conv2d_backward_data(dy, w, x.shape, ...)
#   dL/dw, dL/dbias = conv2d_backward_filter(x, dy, w.shape, ...)


def _shape_list(shape: Any, what: str) -> List[int]:
    return _args.shape_of(shape, what)


def conv2d_backward_data(grad_output: Array, filters: Array, input_shape: Any, strides: Any,
                         padding: Any, data_format: str = "NHWC", dilations: Any = None,
                         groups: Optional[int] = None, *, filter_format: str = "HWIO",
                         threads: Optional[int] = None) -> Float32Array:
    """The input gradient of :func:`conv2d`: ``dx = dL/dinput`` from ``dy = dL/doutput``.

    The transpose of the forward convolution (``tf.nn.conv2d_backprop_input`` with groups).
    Every argument after ``input_shape`` is the forward call's, unchanged.

    Args:
      grad_output: float32 ``dy``, exactly the forward output's shape and layout
        (``[*batch, Ho, Wo, C_out]`` NHWC, ``[*batch, C_out, Ho, Wo]`` NCHW). Any other shape
        raises :class:`ShapeError` GC018 naming both shapes.
      filters: the forward filter, HWIO ``[KH, KW, C_in / groups, C_out]`` (or OIHW with
        ``filter_format="OIHW"``).
      input_shape: the forward input's shape (a tuple, or an array whose ``.shape`` is used),
        ``[*batch, H, W, C_in]`` (NHWC) or ``[*batch, C_in, H, W]`` (NCHW).
      strides, padding, data_format, dilations, groups, filter_format, threads: as in
        :func:`conv2d`.

    Returns:
      A new float32 numpy array ``dx`` of shape ``input_shape`` (64-byte aligned). Input
      positions no output reads (e.g. the tail rows a stride skips) get 0.

    Raises:
      ShapeError: invalid forward arguments (the same diagnostics as :func:`conv2d`), or a
        ``grad_output`` whose shape is not the forward output's (GC018).
      DTypeError: a non-float32 ``grad_output`` or ``filters``.

    The GIL is released while computing; the result is bit-identical for any thread count.
    """
    desc, _ = _args.tf_desc(strides, padding, data_format, dilations, groups, filter_format,
                            threads)
    ishape = _shape_list(input_shape, "input_shape")
    flat, lead = _flatten_shape(ishape)
    dy = as_float32(grad_output, "grad_output")
    dy = _flatten_like(dy, lead)
    w = as_float32(filters, "filters")
    dx = _core.conv2d_backward_data(dy, w, flat, desc)
    if lead is not None:
        dx = dx.reshape(tuple(ishape))
    return dx


def conv2d_backward_filter(input: Array, grad_output: Array, filter_shape: Any,  # noqa: A002
                           strides: Any, padding: Any, data_format: str = "NHWC",
                           dilations: Any = None, groups: Optional[int] = None, *,
                           filter_format: str = "HWIO", threads: Optional[int] = None,
                           ) -> Tuple[Float32Array, Float32Array]:
    """The filter and bias gradients of :func:`conv2d`: ``(dL/dfilters, dL/dbias)``.

    ``tf.nn.conv2d_backprop_filter`` with groups, plus the bias gradient (``dy`` summed over
    batch and pixels). Every argument after ``filter_shape`` is the forward call's.

    Args:
      input: the forward input ``x`` (float32, ``[*batch, H, W, C_in]`` NHWC or
        ``[*batch, C_in, H, W]`` NCHW).
      grad_output: float32 ``dy``, exactly the forward output's shape (else GC018).
      filter_shape: the forward filter's shape, HWIO ``[KH, KW, C_in / groups, C_out]`` (or
        OIHW ``[C_out, C_in / groups, KH, KW]`` with ``filter_format="OIHW"``).
      strides, padding, data_format, dilations, groups, filter_format, threads: as in
        :func:`conv2d`.

    Returns:
      ``(dw, db)``: new float32 numpy arrays, ``dw`` of shape ``filter_shape`` (same format),
      ``db`` of shape ``[C_out]`` (the gradient of a bias, whether the forward had one or
      not). The reduction over batch and pixels runs in a fixed order: bit-identical for any
      thread count.

    Raises:
      ShapeError / DTypeError: as :func:`conv2d_backward_data`.
    """
    desc, _ = _args.tf_desc(strides, padding, data_format, dilations, groups, filter_format,
                            threads)
    x, lead = _flatten_batch(as_float32(input, "input"))
    dy = as_float32(grad_output, "grad_output")
    dy = _flatten_like(dy, lead)
    fshape = _shape_list(filter_shape, "filter_shape")
    dw, db = _core.conv2d_backward_filter(x, dy, fshape, True, desc)
    return dw, db


def _restore_batch(shape: Tuple[int, ...], lead: Optional[Tuple[int, ...]]) -> Tuple[int, ...]:
    return shape if lead is None else lead + tuple(shape[1:])


class BackwardDataPlan:
    """The input gradient of :func:`conv2d` with its filter packed once, for repeated calls.

    ``BackwardDataPlan(filters, input_shape, strides, padding, ...)`` takes
    :func:`conv2d_backward_data`'s arguments without ``grad_output`` (the forward call's,
    TensorFlow conventions); calling the plan with ``dy`` computes
    ``conv2d_backward_data(dy, filters, input_shape, ...)``, bit for bit::

        plan = groupconv.BackwardDataPlan(w, x.shape, strides=2, padding="SAME", groups=4)
        dx = plan(dy)                 # no validation, packing or allocation beyond dx

    Args:
      filters: the forward filter, HWIO ``[KH, KW, C_in / groups, C_out]`` (or OIHW with
        ``filter_format="OIHW"``), float32. Validated and packed once, here: later changes to
        the caller's array do not affect the plan.
      input_shape: the forward input's shape (a tuple, or an array whose ``.shape`` is used),
        ``[*batch, H, W, C_in]`` (NHWC) or ``[*batch, C_in, H, W]`` (NCHW). A plan serves
        this one shape.
      strides, padding, data_format, dilations, groups, filter_format: as in :func:`conv2d`.
      threads: worker threads of every call; ``None`` = :func:`set_num_threads`'s setting
        now. The result is bit-identical for any count.

    Raises:
      ShapeError: invalid forward arguments (the same diagnostics as :func:`conv2d`).
      DTypeError: a non-float32 ``filters``.

    One plan may be called from several Python threads; its calls are serialised. The GIL is
    released while computing.
    """

    def __init__(self, filters: Array, input_shape: Any, strides: Any, padding: Any,
                 data_format: str = "NHWC", dilations: Any = None,
                 groups: Optional[int] = None, *, filter_format: str = "HWIO",
                 threads: Optional[int] = None) -> None:
        desc, _ = _args.tf_desc(strides, padding, data_format, dilations, groups,
                                filter_format, threads)
        ishape = _shape_list(input_shape, "input_shape")
        flat, self._lead = _flatten_shape(ishape)
        w = as_float32(filters, "filters")
        # The forward output's shape, with the forward's diagnostics for invalid arguments.
        dy_shape = list(_core.resolve(flat, list(w.shape), None, desc)["output_shape"])
        self._plan = _core.BackwardDataPlan(w, flat, dy_shape, desc)
        self._input_shape = tuple(ishape)
        self._grad_output_shape = _restore_batch(tuple(dy_shape), self._lead)

    def __call__(self, grad_output: Array) -> Float32Array:
        """``dx`` for ``grad_output`` (``dy``, exactly :attr:`grad_output_shape`).

        Returns:
          A new float32 numpy array of shape :attr:`input_shape` (64-byte aligned).

        Raises:
          ShapeError: a ``grad_output`` of another shape (GC018, naming both shapes).
          DTypeError: a non-float32 ``grad_output``.
        """
        dy = as_float32(grad_output, "grad_output")
        dy = _flatten_like(dy, self._lead)
        dx: Float32Array = self._plan(dy)
        if self._lead is not None:
            dx = dx.reshape(self._input_shape)
        return dx

    @property
    def input_shape(self) -> Tuple[int, ...]:
        """The forward input's shape: the shape of every ``dx``."""
        return self._input_shape

    @property
    def grad_output_shape(self) -> Tuple[int, ...]:
        """The forward output's shape: the shape ``grad_output`` must have."""
        return self._grad_output_shape

    @property
    def kernel_name(self) -> str:
        """The kernel chosen for this geometry."""
        return str(self._plan.kernel_name)

    def __repr__(self) -> str:
        return (f"<groupconv.BackwardDataPlan grad_output {self._grad_output_shape} -> input "
                f"{self._input_shape}, kernel {self.kernel_name}>")


class BackwardFilterPlan:
    """The filter and bias gradients of :func:`conv2d`, planned once for repeated calls.

    Validation and kernel selection happen here, once, for one input shape (e.g. every
    training step of a layer); there is no filter to pack (the filter is the output).

    ``BackwardFilterPlan(input_shape, filter_shape, strides, padding, ...)`` takes the
    forward call's shapes and arguments (TensorFlow conventions); calling the plan with
    ``(input, grad_output)`` computes ``conv2d_backward_filter(input, grad_output,
    filter_shape, ...)``, bit for bit::

        plan = groupconv.BackwardFilterPlan(x.shape, w.shape, strides=2, padding="SAME",
                                            groups=4)
        dw, db = plan(x, dy)

    Args:
      input_shape: the forward input's shape (a tuple, or an array whose ``.shape`` is used),
        ``[*batch, H, W, C_in]`` (NHWC) or ``[*batch, C_in, H, W]`` (NCHW). A plan serves
        this one shape.
      filter_shape: the forward filter's shape, HWIO ``[KH, KW, C_in / groups, C_out]`` (or
        OIHW ``[C_out, C_in / groups, KH, KW]`` with ``filter_format="OIHW"``).
      strides, padding, data_format, dilations, groups, filter_format: as in :func:`conv2d`.
      threads: worker threads of every call; ``None`` = :func:`set_num_threads`'s setting
        now. The reduction over batch and pixels runs in a fixed order: bit-identical for
        any count.

    Raises:
      ShapeError: invalid forward arguments (the same diagnostics as :func:`conv2d`).

    One plan may be called from several Python threads; its calls are serialised. The GIL is
    released while computing.
    """

    def __init__(self, input_shape: Any, filter_shape: Any, strides: Any, padding: Any,
                 data_format: str = "NHWC", dilations: Any = None,
                 groups: Optional[int] = None, *, filter_format: str = "HWIO",
                 threads: Optional[int] = None) -> None:
        desc, _ = _args.tf_desc(strides, padding, data_format, dilations, groups,
                                filter_format, threads)
        ishape = _shape_list(input_shape, "input_shape")
        fshape = _shape_list(filter_shape, "filter_shape")
        flat, self._lead = _flatten_shape(ishape)
        # The forward output's shape, with the forward's diagnostics for invalid arguments.
        dy_shape = list(_core.resolve(flat, fshape, None, desc)["output_shape"])
        self._plan = _core.BackwardFilterPlan(flat, fshape, dy_shape, desc)
        self._input_shape = tuple(ishape)
        self._filter_shape = tuple(fshape)
        self._grad_output_shape = _restore_batch(tuple(dy_shape), self._lead)

    def __call__(self, input: Array, grad_output: Array,  # noqa: A002
                 bias_grad: bool = True) -> Tuple[Float32Array, Optional[Float32Array]]:
        """``(dL/dfilters, dL/dbias)`` for the forward ``input`` and ``grad_output`` (``dy``).

        Args:
          input: float32, exactly :attr:`input_shape`.
          grad_output: float32, exactly :attr:`grad_output_shape`.
          bias_grad: ``True`` (default, as :func:`conv2d_backward_filter`): also the bias
            gradient; ``False``: ``db`` is ``None`` (not computed).

        Returns:
          ``(dw, db)``: new float32 numpy arrays, ``dw`` of shape :attr:`filter_shape` (the
          plan's filter format), ``db`` of shape ``[C_out]`` or ``None``.

        Raises:
          ShapeError: an ``input`` of another shape than planned, or a ``grad_output`` of
            another shape than the forward output (GC018, naming both shapes).
          DTypeError: a non-float32 ``input`` or ``grad_output``.
        """
        x = as_float32(input, "input")
        x = _flatten_like(x, self._lead)
        dy = as_float32(grad_output, "grad_output")
        dy = _flatten_like(dy, self._lead)
        dw, db = self._plan(x, dy, bool(bias_grad))
        return dw, db

    @property
    def input_shape(self) -> Tuple[int, ...]:
        """The forward input's shape: the shape ``input`` must have."""
        return self._input_shape

    @property
    def filter_shape(self) -> Tuple[int, ...]:
        """The forward filter's shape (the plan's filter format): the shape of every ``dw``."""
        return self._filter_shape

    @property
    def grad_output_shape(self) -> Tuple[int, ...]:
        """The forward output's shape: the shape ``grad_output`` must have."""
        return self._grad_output_shape

    @property
    def kernel_name(self) -> str:
        """The kernel chosen for this geometry."""
        return str(self._plan.kernel_name)

    def __repr__(self) -> str:
        return (f"<groupconv.BackwardFilterPlan input {self._input_shape}, grad_output "
                f"{self._grad_output_shape} -> filter {self._filter_shape}, kernel "
                f"{self.kernel_name}>")
