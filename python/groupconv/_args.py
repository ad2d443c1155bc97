"""Argument normalisation shared by the TensorFlow-style and PyTorch-style entry points.

Everything here turns user arguments into the normalised descriptor of the C++ core
(``_core.Desc``), raising :class:`groupconv.ShapeError` with the library's codes for what the
C++ side cannot see (an argument of the wrong Python type, an unknown padding string, ...).
Descriptors are cached: the per-call cost of a repeated call is a dictionary lookup.
"""

from __future__ import annotations

import operator
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import _core
from ._errors import error

_I64_MAX = (1 << 63) - 1

# Global thread count (0 = library default: all cores, or GROUPCONV_NUM_THREADS).
_threads = 0


def set_num_threads(n: Optional[int]) -> None:
    """Sets the worker threads used by every later call that passes no ``threads=``.

    ``n >= 1`` fixes the count; ``None`` or ``0`` restores the default (all cores, or the
    ``GROUPCONV_NUM_THREADS`` environment variable). Plans keep the count they were made with.
    Results are bit-identical whatever the count.
    """
    global _threads
    _threads = 0 if n is None else _int(n, "threads", "GC019", minimum=0)
    _desc_cache.clear()


def get_num_threads() -> int:
    """The thread count calls use now (the default resolved to a number)."""
    return _threads if _threads > 0 else int(_core.default_threads())


def threads_arg(threads: Optional[int]) -> int:
    if threads is None:
        return _threads
    return _int(threads, "threads", "GC019", minimum=0)


def _int(v: Any, what: str, code: str, minimum: Optional[int] = None) -> int:
    """A Python int from an int-like (int, numpy integer, 0-d integer array); no bool, float."""
    if isinstance(v, (bool, np.bool_)):
        raise error(code, f"{what} must be an integer, got a bool ({v!r})",
                    [f"{what} = {v!r}"], expected="an int", found=repr(v),
                    help=f"pass {what} as an int")
    try:
        i = operator.index(v)
    except TypeError:
        raise error(code, f"{what} must be an integer, got {type(v).__name__} ({v!r})",
                    [f"{what} = {v!r}"], expected="an int", found=f"{type(v).__name__} {v!r}",
                    help=f"pass {what} as an int (e.g. {what}=1)") from None
    if not -_I64_MAX <= i <= _I64_MAX:
        raise error("GC017", f"{what} = {i} does not fit in 64 bits", [f"{what} = {i}"],
                    expected="|value| < 2^63", found=str(i),
                    help="check the value for a corrupted or mistyped number")
    if minimum is not None and i < minimum:
        raise error(code, f"{what} must be >= {minimum}, got {i}", [f"{what} = {i}"],
                    expected=f"{what} >= {minimum}", found=f"{what} = {i}",
                    help=f"pass {what} >= {minimum}" +
                    (" (0 = all cores)" if what == "threads" else ""))
    return i


def int_list(v: Any, what: str, code: str) -> List[int]:
    """An int or a sequence of ints -> list of ints (lengths are checked by the C++ core)."""
    if isinstance(v, (list, tuple)):
        return [_int(e, f"{what}[{i}]", code) for i, e in enumerate(v)]
    if isinstance(v, np.ndarray) and v.ndim == 1:
        return [_int(e, f"{what}[{i}]", code) for i, e in enumerate(v.tolist())]
    return [_int(v, what, code)]


def shape_of(v: Any, what: str) -> List[int]:
    """A shape given as a sequence of ints, or taken from an object with ``.shape``."""
    shape = getattr(v, "shape", None)
    if shape is not None and not isinstance(v, (list, tuple)):
        v = tuple(shape)
    if not isinstance(v, (list, tuple)):
        raise error("GC019", f"{what} must be a shape (a sequence of ints) or an array",
                    [f"{what} = {v!r}"], expected="e.g. (1, 28, 28, 32)",
                    found=type(v).__name__, help=f"pass {what} as a tuple of ints")
    return [_int(e, f"{what}[{i}]", "GC009") for i, e in enumerate(v)]


def data_format_arg(v: Any) -> str:
    if isinstance(v, str) and v.upper() in ("NHWC", "NCHW"):
        return v.upper()
    raise error("GC019", f"data_format must be 'NHWC' or 'NCHW', got {v!r}",
                [f"data_format = {v!r}"], expected="'NHWC' (TensorFlow) or 'NCHW' (PyTorch)",
                found=repr(v), help="pass data_format='NHWC' or data_format='NCHW'")


def filter_format_arg(v: Any) -> str:
    if isinstance(v, str) and v.upper() in ("HWIO", "OIHW"):
        return v.upper()
    raise error("GC019", f"filter_format must be 'HWIO' or 'OIHW', got {v!r}",
                [f"filter_format = {v!r}"],
                expected="'HWIO' (TensorFlow, Keras) or 'OIHW' (PyTorch, ONNX)",
                found=repr(v), help="pass filter_format='HWIO' or filter_format='OIHW'")


_ZERO_PADS = (0, 0, 0, 0)


def tf_padding(padding: Any, data_format: str) -> Tuple[str, Tuple[int, int, int, int]]:
    """tf.nn.conv2d's padding: 'SAME' | 'VALID' (any case; 'SAME_LOWER' too) or explicit
    pairs for all four dims in data_format order, 0 for N and C."""
    if isinstance(padding, str):
        mode = padding.upper()
        if mode in ("SAME", "VALID", "SAME_LOWER"):
            return mode, _ZERO_PADS
        raise error("GC019", f"unknown padding {padding!r}", [f"padding = {padding!r}"],
                    expected="'SAME', 'VALID', 'SAME_LOWER' or explicit pairs",
                    found=repr(padding),
                    help="pass 'SAME' or 'VALID', or [[0, 0], [top, bottom], [left, right], "
                    "[0, 0]] (NHWC)")
    want = ("[[0, 0], [top, bottom], [left, right], [0, 0]]" if data_format == "NHWC"
            else "[[0, 0], [0, 0], [top, bottom], [left, right]]")
    if isinstance(padding, np.ndarray):
        padding = padding.tolist()
    pairs: Optional[List[List[int]]] = None
    if isinstance(padding, (list, tuple)) and len(padding) == 4 and all(
            isinstance(p, (list, tuple)) and len(p) == 2 for p in padding):
        pairs = [[_int(e, "padding", "GC019") for e in p] for p in padding]
    if pairs is None:
        raise error("GC019", "explicit padding must be 4 pairs, one per dimension",
                    [f"padding = {padding!r}"], expected=f"padding = {want} ({data_format})",
                    found=repr(padding),
                    help=f"pass 'SAME', 'VALID' or {want}")
    if data_format == "NHWC":
        nc, (t, b), (l_, r) = (pairs[0], pairs[3]), pairs[1], pairs[2]
    else:
        nc, (t, b), (l_, r) = (pairs[0], pairs[1]), pairs[2], pairs[3]
    if any(e != 0 for p in nc for e in p):
        raise error("GC019", "explicit padding of the batch and channel dimensions must be 0",
                    [f"padding = {pairs}  ({data_format} order)"],
                    expected=f"padding = {want}", found=f"padding = {pairs}",
                    help="convolution pads only H and W; put the pads of H and W in their "
                    f"{data_format} positions")
    return "EXPLICIT", (t, b, l_, r)


_desc_cache: Dict[Tuple[Any, ...], Any] = {}


def make_desc(data_format: str, filter_format: str, strides: Sequence[int],
              dilations: Sequence[int], mode: str, pads: Tuple[int, int, int, int],
              groups: Optional[int], expect_output_channels: Optional[int],
              threads: int) -> Any:
    key = (data_format, filter_format, tuple(strides), tuple(dilations), mode, pads, groups,
           expect_output_channels, threads)
    d = _desc_cache.get(key)
    if d is None:
        if len(_desc_cache) > 512:
            _desc_cache.clear()
        d = _core.Desc(data_format, filter_format, list(strides), list(dilations), mode,
                       list(pads), groups, expect_output_channels, threads)
        _desc_cache[key] = d
    return d


def tf_desc(strides: Any, padding: Any, data_format: Any, dilations: Any, groups: Any,
            filter_format: Any, threads: Any,
            expect_output_channels: Any = None) -> Tuple[Any, str]:
    """The descriptor for tf.nn.conv2d-style arguments; also returns the data format."""
    df = data_format_arg(data_format)
    ff = filter_format_arg(filter_format)
    s = int_list(strides, "strides", "GC010")
    d = [1] if dilations is None else int_list(dilations, "dilations", "GC011")
    mode, pads = tf_padding(padding, df)
    g = None if groups is None else _int(groups, "groups", "GC012")
    e = None if expect_output_channels is None else _int(expect_output_channels,
                                                         "expect_output_channels", "GC019")
    return make_desc(df, ff, s, d, mode, pads, g, e, threads_arg(threads)), df


def torch_pair(v: Any, what: str, code: str) -> List[int]:
    """torch's int-or-pair: an int, or a sequence of 1 or 2 ints."""
    vals = int_list(v, what, code)
    if len(vals) not in (1, 2):
        raise error(code, f"{what} must be an int or a pair of ints, got {len(vals)} values",
                    [f"{what} = {v!r}"], expected=f"{what}=1 or {what}=(h, w)",
                    found=f"{what} = {tuple(vals)}",
                    help=f"torch.nn.functional.conv2d takes one {what} per spatial dim (h, w)")
    return vals


def torch_desc(stride: Any, padding: Any, dilation: Any, groups: Any, threads: Any,
               data_format: str = "NCHW") -> Any:
    """The descriptor for torch.nn.functional.conv2d-style arguments (NCHW / OIHW; with
    data_format="NHWC" the same convolution on channels_last memory)."""
    s = torch_pair(stride, "stride", "GC010")
    d = torch_pair(dilation, "dilation", "GC011")
    g = _int(groups, "groups", "GC012")
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return make_desc(data_format, "OIHW", s, d, "VALID", _ZERO_PADS, g, None,
                             threads_arg(threads))
        if mode == "same":
            if any(v != 1 for v in s):
                raise error(
                    "GC019", "padding='same' is not supported for strided convolutions",
                    [f"stride = {tuple(s)}, padding = 'same'"],
                    rule="padding='same' needs stride 1 (as in torch.nn.functional.conv2d)",
                    expected="stride=1 with padding='same'", found=f"stride={tuple(s)}",
                    help="pass explicit padding (e.g. padding=k // 2), or use "
                    "groupconv.conv2d(..., padding='SAME', data_format='NCHW', "
                    "filter_format='OIHW') for TensorFlow's strided SAME")
            # PyTorch 'same': total = dilation * (k - 1), the odd pad at the bottom/right;
            # with stride 1 that is exactly SAME (ONNX SAME_UPPER).
            return make_desc(data_format, "OIHW", s, d, "SAME", _ZERO_PADS, g, None,
                             threads_arg(threads))
        raise error("GC019", f"invalid padding string {padding!r}", [f"padding = {padding!r}"],
                    expected="'valid', 'same', an int or (pad_h, pad_w)", found=repr(padding),
                    help="pass padding='valid', padding='same' or padding=(ph, pw)")
    p = int_list(padding, "padding", "GC014")
    if len(p) not in (1, 2):
        raise error("GC019", f"padding must be an int or a pair of ints, got {len(p)} values",
                    [f"padding = {padding!r}"], expected="padding=p or padding=(ph, pw)",
                    found=f"padding = {tuple(p)}",
                    help="PyTorch pads symmetrically; for (top, bottom, left, right) use "
                    "groupconv.conv2d(..., padding=[[0, 0], [0, 0], [t, b], [l, r]], "
                    "data_format='NCHW', filter_format='OIHW')")
    ph, pw = (p[0], p[0]) if len(p) == 1 else (p[0], p[1])
    return make_desc(data_format, "OIHW", s, d, "EXPLICIT", (ph, ph, pw, pw), g, None,
                     threads_arg(threads))
