"""TensorFlow autograd through groupconv: ``groupconv.tf.conv2d``.

``tf.nn.conv2d``'s signature (plus ``groups`` and ``bias``), wrapped in
``tf.custom_gradient`` so that ``tf.GradientTape`` (and Keras) differentiate it with
groupconv's backward kernels::

    import groupconv.tf as gctf

    with tf.GradientTape() as tape:
        y = gctf.conv2d(x, w, strides=1, padding="SAME", groups=4, bias=b)
        loss = tf.reduce_sum(y * y)
    dx, dw, db = tape.gradient(loss, [x, w, b])

Execution:

- **Eager mode** (TF 2's default): tensors go to groupconv by DLPack without copies (contiguous
  CPU float32 tensors are read in place) and results come back by DLPack (the 64-byte aligned
  numpy buffer becomes the tf.Tensor's, no copy).
- **Graph mode** (inside ``tf.function``): the three passes run through
  ``tf.numpy_function``. That works for ``tf.function`` training steps, with the limits of
  ``tf.numpy_function``: the graph keeps a reference to Python (it cannot be serialised into a
  SavedModel or run without the Python process, nor compiled by XLA / ``jit_compile=True``),
  runs on the CPU only, and copies tensors in and out. Output shapes are set from the static
  input shapes when they are fully known.
- Only first-order gradients: the gradient function is not itself differentiable by TF
  (no gradients of gradients).

dtypes: float32; float64 is accepted and computed in float32 (cast in, cast back), enough for
training but not float64-accurate. Others raise :class:`groupconv.DTypeError`.

Importing this module needs TensorFlow; ``import groupconv`` alone never imports it.
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Sequence

try:
    import tensorflow as _tf
except ImportError as _e:  # pragma: no cover - exercised where TensorFlow is missing
    raise ImportError(
        "groupconv.tf needs TensorFlow, which is not importable here "
        f"({type(_e).__name__}: {_e}). Install it (e.g. `pip install tensorflow-cpu`), or use "
        "groupconv.conv2d / conv2d_backward_data / conv2d_backward_filter, which take and "
        "return numpy arrays without autograd.") from _e

import numpy as np

from . import _api, _args
from ._convert import _dtype_error

__all__ = ["conv2d"]


def _to_tf(a: np.ndarray) -> Any:
    """numpy -> eager tf.Tensor, sharing the buffer by DLPack when TF takes it."""
    try:
        return _tf.experimental.dlpack.from_dlpack(a.__dlpack__())
    except Exception:  # noqa: BLE001 - e.g. empty arrays: one copy instead
        return _tf.convert_to_tensor(a)


def _run(fn: Callable[..., Any], inputs: Sequence[Any], n_out: int,
         shapes: Sequence[Optional[List[int]]]) -> List[Any]:
    """fn(*inputs) -> n_out float32 numpy arrays, as tf tensors: directly in eager mode, by
    tf.numpy_function in a graph."""
    if _tf.executing_eagerly():
        out = fn(*inputs)
        outs = list(out) if n_out > 1 else [out]
        return [_to_tf(o) for o in outs]

    def np_fn(*arrays: np.ndarray) -> Any:
        r = fn(*arrays)
        return tuple(r) if n_out > 1 else r

    res = _tf.numpy_function(np_fn, list(inputs), [_tf.float32] * n_out, stateful=False)
    res = list(res) if isinstance(res, (list, tuple)) else [res]
    for t, s in zip(res, shapes):
        if s is not None:
            t.set_shape(s)
    return res


def _static(t: Any) -> Optional[List[int]]:
    s = t.shape
    if s.rank is None or not s.is_fully_defined():
        return None
    return [int(d) for d in s]


def conv2d(input: Any, filters: Any, strides: Any, padding: Any,  # noqa: A002
           data_format: str = "NHWC", dilations: Any = None, groups: Optional[int] = None,
           bias: Any = None, name: Optional[str] = None) -> Any:
    """``tf.nn.conv2d`` (plus ``groups`` and ``bias``) computed by groupconv, differentiable.

    Args:
      input: ``[*batch, H, W, C_in]`` (NHWC) or ``[*batch, C_in, H, W]`` (NCHW) tensor,
        variable or array; float32 (float64: computed in float32).
      filters: HWIO ``[KH, KW, C_in / groups, C_out]``.
      strides, padding, data_format, dilations: as ``tf.nn.conv2d`` (padding ``'SAME'``,
        ``'VALID'`` or explicit pairs in data_format order).
      groups: ``None`` infers ``C_in / filters.shape[2]`` as TF does; given, it is checked.
      bias: optional ``[C_out]``, added to every output pixel.
      name: a name scope for the ops.

    Returns:
      A ``tf.Tensor`` ``[*batch, Ho, Wo, C_out]`` (NHWC) / ``[*batch, C_out, Ho, Wo]``
      (NCHW), input's dtype. Its gradient (``tf.GradientTape``, Keras) is computed by
      groupconv: dL/dinput by the backward-data pass, dL/dfilters and dL/dbias together by
      the backward-filter pass (TF asks for all of them; all are computed).

    Raises:
      groupconv.ShapeError: invalid shapes or arguments -- at the call in eager mode, and at
        tracing time in a ``tf.function`` when the static shapes are fully known (autograph
        re-raises it as a ``StagingError`` with the same text; ``tf.function(...,
        autograph=False)`` keeps the ShapeError); with unknown static shapes, when the graph
        runs, as an ``InvalidArgumentError`` carrying the same text.
      groupconv.DTypeError: a dtype other than float32/float64.
    """
    with _tf.name_scope(name or "groupconv_conv2d"):
        x = _tf.convert_to_tensor(input)
        w = _tf.convert_to_tensor(filters)
        b = None if bias is None else _tf.convert_to_tensor(bias)
        for t, what in ((x, "input"), (w, "filters"), (b, "bias")):
            if t is not None and t.dtype not in (_tf.float32, _tf.float64):
                raise _dtype_error(what, t.dtype.name, "Tensor")
        dtype = x.dtype
        if w.dtype != dtype or (b is not None and b.dtype != dtype):
            raise _dtype_error("filters" if w.dtype != dtype else "bias",
                               (w if w.dtype != dtype else b).dtype.name + f" (input is "
                               f"{dtype.name}; all must match)", "Tensor")
        # Normalise (and validate) the arguments once, outside the traced functions.
        _args.tf_desc(strides, padding, data_format, dilations, groups, "HWIO", None)
        kw = dict(strides=strides, padding=padding, data_format=data_format,
                  dilations=dilations, groups=groups)
        xs, ws = _static(x), _static(w)
        ys = None
        if xs is not None and ws is not None:  # shape errors at tracing time
            ys = list(_api.check(xs, ws, bias_shape=None if b is None else _static(b),
                                 **kw).output_shape)

        def fwd(xa: Any, wa: Any, *ba: Any) -> np.ndarray:
            return _api.conv2d(xa, wa, bias=ba[0] if ba else None, **kw)

        def bwd_data(dya: Any, wa: Any, xshape: Any) -> np.ndarray:
            return _api.conv2d_backward_data(dya, wa, [int(d) for d in xshape], **kw)

        def bwd_filter(xa: Any, dya: Any, wshape: Any) -> Any:
            return _api.conv2d_backward_filter(xa, dya, [int(d) for d in wshape], **kw)

        def cast32(t: Any) -> Any:
            return t if t.dtype == _tf.float32 else _tf.cast(t, _tf.float32)

        def back(t: Any) -> Any:
            return t if dtype == _tf.float32 else _tf.cast(t, dtype)

        @_tf.custom_gradient
        def _conv(xt: Any, wt: Any, *bt: Any) -> Any:
            x32, w32 = cast32(xt), cast32(wt)
            (y,) = _run(fwd, [x32, w32] + [cast32(t) for t in bt], 1, [ys])

            def grad(dy: Any) -> Any:
                dy32 = cast32(dy)
                (dx,) = _run(bwd_data, [dy32, w32, _tf.shape(xt)], 1, [xs])
                dw, db = _run(bwd_filter, [x32, dy32, _tf.shape(wt)], 2,
                              [ws, None if ys is None else [ys[-1] if data_format.upper()
                                                            == "NHWC" else ys[-3]]])
                grads = [back(dx), back(dw)]
                if bt:
                    grads.append(back(db))
                return grads

            return back(y), grad

        return _conv(x, w, b) if b is not None else _conv(x, w)
