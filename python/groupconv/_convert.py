"""Input conversion: anything array-like -> a float32, C-contiguous, aligned numpy array.

Rules (documented in groupconv's docstrings and README):

- numpy arrays are used as they are (zero-copy) when float32, C-contiguous and aligned.
- Objects with ``__dlpack__`` (torch, TensorFlow, JAX, CuPy-on-host, numpy >= 1.22) are
  imported with ``numpy.from_dlpack``: zero-copy, whatever their strides.
- Otherwise objects with ``__array__`` go through ``numpy.asarray`` (zero-copy when the
  producer allows it).
- Nested Python lists/tuples of numbers are converted to float32 (as ``tf.constant`` would
  give float32 for Python floats).
- Then exactly one copy is made when the data is not C-contiguous (a transposed or sliced
  tensor), not aligned, or float32 in the non-native byte order.
- Any other element type (float64, float16, bfloat16, ints, bool, complex, object) is refused
  with :class:`groupconv.DTypeError` (code GC008): groupconv never changes the precision of
  your data behind your back. Tensors on a GPU are refused with a DTypeError that says so.
- torch tensors that require grad are detached (the result is a numpy array, outside
  autograd; for gradients through groupconv use groupconv.torch / groupconv.tf).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._errors import error

_F32 = np.dtype(np.float32)
# DLPack device types that are plain host memory: kDLCPU, kDLCUDAHost, kDLROCMHost.
_HOST_DEVICES = (1, 3, 11)
_DLPACK_DEVICE_NAMES = {2: "CUDA", 4: "OpenCL", 7: "Vulkan", 8: "Metal", 9: "VPI", 10: "ROCm",
                        13: "CUDA managed", 14: "oneAPI"}


def _dtype_name(dtype: Any) -> str:
    name = getattr(dtype, "name", None)
    if not isinstance(name, str):
        name = str(dtype)
    return name.replace("torch.", "").replace("tf.", "")


def _dtype_error(what: str, found: str, type_name: str) -> Exception:
    return error(
        "GC008",
        f"{what} must be float32, got {found}",
        [f"{what}  {type_name} of {found}"],
        rule=f"dtype({what}) == float32",
        expected="float32",
        found=found,
        help=f"convert it first: {what}.astype(numpy.float32) (numpy), {what}.float() (torch), "
        f"tf.cast({what}, tf.float32); groupconv computes in float32 and never converts "
        "silently",
    )


def _not_an_array(what: str, x: Any, why: str = "") -> Exception:
    type_name = type(x).__module__ + "." + type(x).__qualname__
    if type(x).__module__ == "builtins":
        type_name = type(x).__qualname__
    return error(
        "GC008",
        f"{what} is not an array: {type_name}" + (f" ({why})" if why else ""),
        [f"{what}  {type_name}"],
        expected="a float32 array: numpy.ndarray, or any object with __dlpack__ or __array__ "
        "(torch.Tensor, tf.Tensor, jax.Array), or nested lists of numbers",
        found=type_name,
        help="pass the tensor itself (e.g. a numpy array or a torch tensor), not "
        + ("None" if x is None else "this object"),
    )


def _check_host_device(x: Any, what: str) -> None:
    """Raises a DTypeError naming the device when x lives outside host memory. Called only
    after a failed import: __dlpack_device__ is slow in some producers (~10 us in torch 1.13)."""
    dev_fn = getattr(x, "__dlpack_device__", None)
    if not callable(dev_fn):
        return
    try:
        device = dev_fn()
    except Exception:  # noqa: BLE001 - a broken producer: let __array__ have a go
        return
    if not isinstance(device, tuple) or not device or device[0] in _HOST_DEVICES:
        return
    dev = _DLPACK_DEVICE_NAMES.get(device[0], f"DLPack device type {device[0]}")
    raise error(
        "GC008",
        f"{what} lives on a {dev} device; groupconv computes on the CPU",
        [f"{what}  {type(x).__name__} on {dev}:{device[1] if len(device) > 1 else 0}"],
        expected="a tensor in host memory",
        found=f"a tensor on {dev}",
        help=f"copy it to the host first: {what}.cpu() (torch), "
        "jax.device_get(x) (JAX), or compute under tf.device('/CPU:0') (TensorFlow)",
    )


def _from_foreign(x: Any, what: str) -> np.ndarray:
    """Imports a non-numpy object, checking dtype and device before touching the data."""
    dtype = getattr(x, "dtype", None)
    if dtype is not None and not isinstance(dtype, (str, bytes)):
        name = _dtype_name(dtype)
        if name != "float32":
            raise _dtype_error(what, name, type(x).__name__)
    if getattr(x, "requires_grad", False) is True and callable(getattr(x, "detach", None)):
        x = x.detach()
    dlpack_failure = ""
    if hasattr(x, "__dlpack__"):
        try:
            return np.from_dlpack(x)
        except Exception as e:  # noqa: BLE001 - device, dtype or producer: explain or fall back
            dlpack_failure = f"{type(e).__name__}: {e}"
            _check_host_device(x, what)
    if hasattr(x, "__array__"):
        try:
            return np.asarray(x)
        except Exception as e:  # noqa: BLE001
            raise _not_an_array(what, x, f"numpy.asarray failed: {type(e).__name__}: {e}") \
                from e
    if dlpack_failure:
        raise _not_an_array(what, x, f"DLPack import failed: {dlpack_failure}")
    if isinstance(x, (list, tuple, int, float)) and not isinstance(x, bool):
        try:
            return np.asarray(x, dtype=np.float32)
        except (ValueError, TypeError) as e:
            raise _not_an_array(what, x, f"not a rectangular nest of numbers: {e}") from e
    raise _not_an_array(what, x)


def as_float32(x: Any, what: str) -> np.ndarray:
    """x as a float32, C-contiguous, aligned ndarray; zero-copy whenever x already is one."""
    if type(x) is np.ndarray:
        a = x
    elif isinstance(x, np.ndarray):
        a = np.asarray(x)  # subclasses (np.matrix, masked arrays): their data
    else:
        a = _from_foreign(x, what)
    if a.dtype != _F32:
        dt = a.dtype
        if dt.kind == "f" and dt.itemsize == 4:  # float32 in the other byte order
            return np.array(a, dtype=_F32, order="C")
        raise _dtype_error(what, dt.name if dt.kind != "V" else str(dt), type(x).__name__)
    flags = a.flags
    if not (flags.c_contiguous and flags.aligned):
        return np.array(a, dtype=_F32, order="C")  # the one documented copy
    return a
