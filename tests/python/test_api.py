"""groupconv's Python API without any framework oracle: numpy float64 reference, every error
path, conversions, plans, threads. Runs in both test environments."""

from __future__ import annotations

import pickle
import threading

import numpy as np
import pytest

import groupconv
from conftest import rel_l2, reference_nhwc, same_pads

TOL = 1e-5


def _tutorial():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 28, 28, 32)).astype(np.float32)
    w = rng.standard_normal((3, 3, 8, 16)).astype(np.float32)
    return x, w


# ---- the tutorial example ------------------------------------------------------------------

def test_tutorial_shape_and_values():
    x, w = _tutorial()
    y = groupconv.conv2d(x, w, strides=1, padding="SAME", groups=4)
    assert y.shape == (1, 28, 28, 16)
    assert y.dtype == np.float32
    assert rel_l2(y, reference_nhwc(x, w, pads=(1, 1, 1, 1))) < TOL
    # groups inferred as TF does (32 / 8 = 4): the same result
    np.testing.assert_array_equal(groupconv.conv2d(x, w, 1, "SAME"), y)


def test_tutorial_33_channels():
    x = np.zeros((1, 28, 28, 33), np.float32)
    w = np.zeros((3, 3, 8, 16), np.float32)
    with pytest.raises(groupconv.ShapeError) as e:
        groupconv.conv2d(x, w, strides=1, padding="SAME", groups=4)
    assert e.value.code == "GC001"
    assert "33" in str(e.value) and "4" in str(e.value)
    assert isinstance(e.value, ValueError)
    # without groups (TF's inference): 33 / 8 is not an integer
    with pytest.raises(groupconv.ShapeError) as e2:
        groupconv.conv2d(x, w, strides=1, padding="SAME")
    assert e2.value.code == "GC001" and "33" in str(e2.value)


def test_tutorial_ungrouped_filter():
    x = np.zeros((1, 28, 28, 32), np.float32)
    w = np.zeros((3, 3, 32, 64), np.float32)
    with pytest.raises(groupconv.ShapeError) as e:
        groupconv.conv2d(x, w, strides=1, padding="SAME", groups=4)
    err = e.value
    assert err.code == "GC003"
    assert "[3, 3, 8, 64]" in str(err)
    assert "groups=1" in err.help
    assert str(err).startswith("error[GC003]: filter does not fit groups=4")
    assert err.summary == "filter does not fit groups=4"
    assert err.expected == "filter [3, 3, 8, 64]"
    assert any("[N=1, H=28, W=28, C=32]" in line for line in err.context)
    assert err.repro.startswith("groupconv check")
    # picklable, with its fields
    err2 = pickle.loads(pickle.dumps(err))
    assert type(err2) is groupconv.ShapeError and err2.code == "GC003" and str(err2) == str(err)


# ---- TF-style arguments -----------------------------------------------------------------------

@pytest.mark.parametrize("strides", [2, [2], [2, 2], (2, 2), [1, 2, 2, 1], np.array([2, 2])])
def test_strides_forms(strides, rng):
    x = rng.standard_normal((2, 9, 9, 6)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3, 4)).astype(np.float32)
    y = groupconv.conv2d(x, w, strides, "VALID")
    assert rel_l2(y, reference_nhwc(x, w, strides=(2, 2))) < TOL


def test_strides_nchw_four_list(rng):
    x = rng.standard_normal((2, 6, 9, 11)).astype(np.float32)  # NCHW
    w = rng.standard_normal((3, 2, 3, 4)).astype(np.float32)  # HWIO, groups 2
    y = groupconv.conv2d(x, w, [1, 1, 2, 3], "SAME", data_format="NCHW")
    ref = reference_nhwc(x.transpose(0, 2, 3, 1), w, strides=(2, 3),
                         pads=same_pads(9, 3, 2, 1) + same_pads(11, 2, 3, 1))
    assert rel_l2(y, ref.transpose(0, 3, 1, 2)) < TOL


def test_dilations_and_strides_together(rng):
    x = rng.standard_normal((1, 13, 12, 8)).astype(np.float32)
    w = rng.standard_normal((3, 3, 2, 8)).astype(np.float32)
    y = groupconv.conv2d(x, w, [2, 3], "SAME", dilations=[2, 1], groups=4)
    ref = reference_nhwc(x, w, strides=(2, 3), dilations=(2, 1),
                         pads=same_pads(13, 3, 2, 2) + same_pads(12, 3, 3, 1))
    assert rel_l2(y, ref) < TOL


def test_explicit_padding_tf_pairs(rng):
    x = rng.standard_normal((2, 7, 8, 4)).astype(np.float32)
    w = rng.standard_normal((3, 2, 4, 5)).astype(np.float32)
    y = groupconv.conv2d(x, w, 1, [[0, 0], [1, 2], [0, 3], [0, 0]])
    assert rel_l2(y, reference_nhwc(x, w, pads=(1, 2, 0, 3))) < TOL
    xn = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    yn = groupconv.conv2d(xn, w, 1, ((0, 0), (0, 0), (1, 2), (0, 3)), data_format="NCHW")
    np.testing.assert_allclose(yn, y.transpose(0, 3, 1, 2), rtol=1e-5, atol=1e-5)


def test_same_lower_and_case_insensitive(rng):
    x = rng.standard_normal((1, 6, 6, 2)).astype(np.float32)
    w = rng.standard_normal((2, 2, 2, 2)).astype(np.float32)
    y = groupconv.conv2d(x, w, 1, "same_lower")
    assert rel_l2(y, reference_nhwc(x, w, pads=(1, 0, 1, 0))) < TOL
    y2 = groupconv.conv2d(x, w, 1, "same")
    assert rel_l2(y2, reference_nhwc(x, w, pads=(0, 1, 0, 1))) < TOL


def test_leading_batch_dims(rng):
    x = rng.standard_normal((2, 3, 5, 6, 4)).astype(np.float32)
    w = rng.standard_normal((3, 3, 2, 6)).astype(np.float32)
    y = groupconv.conv2d(x, w, 1, "SAME")
    assert y.shape == (2, 3, 5, 6, 6)
    ref = reference_nhwc(x.reshape(6, 5, 6, 4), w, pads=(1, 1, 1, 1)).reshape(2, 3, 5, 6, 6)
    assert rel_l2(y, ref) < TOL
    # NCHW with leading dims
    xn = np.ascontiguousarray(x.transpose(0, 1, 4, 2, 3))
    yn = groupconv.conv2d(xn, w, 1, "SAME", data_format="NCHW")
    assert yn.shape == (2, 3, 6, 5, 6)
    np.testing.assert_allclose(yn, y.transpose(0, 1, 4, 2, 3), rtol=1e-5, atol=1e-5)
    # an empty leading dim
    y0 = groupconv.conv2d(np.zeros((0, 3, 5, 6, 4), np.float32), w, 1, "SAME")
    assert y0.shape == (0, 3, 5, 6, 6)


def test_empty_batch(rng):
    w = rng.standard_normal((3, 3, 2, 6)).astype(np.float32)
    y = groupconv.conv2d(np.zeros((0, 5, 5, 4), np.float32), w, 1, "VALID")
    assert y.shape == (0, 3, 3, 6)
    p = groupconv.Plan(w, input_shape=(0, 5, 5, 4))
    assert p(np.zeros((0, 5, 5, 4), np.float32)).shape == (0, 3, 3, 6)


def test_bias_and_oihw_filter(rng):
    x = rng.standard_normal((2, 8, 8, 6)).astype(np.float32)
    w = rng.standard_normal((3, 3, 2, 9)).astype(np.float32)
    b = rng.standard_normal(9).astype(np.float32)
    y = groupconv.conv2d(x, w, 1, "SAME", bias=b)
    assert rel_l2(y, reference_nhwc(x, w, pads=(1, 1, 1, 1), bias=b)) < TOL
    w_oihw = np.ascontiguousarray(w.transpose(3, 2, 0, 1))
    y2 = groupconv.conv2d(x, w_oihw, 1, "SAME", bias=b, filter_format="OIHW")
    np.testing.assert_array_equal(y, y2)


def test_name_is_accepted_and_ignored(rng):
    x, w = _tutorial()
    y = groupconv.conv2d(x, w, 1, "SAME", name="conv1")
    assert y.shape == (1, 28, 28, 16)


# ---- torch-style arguments (reference only; torch itself in test_torch_oracle.py) -------------

def test_nn_conv2d_reference(rng):
    x = rng.standard_normal((2, 6, 9, 7)).astype(np.float32)
    w = rng.standard_normal((8, 3, 3, 2)).astype(np.float32)  # OIHW, groups 2
    b = rng.standard_normal(8).astype(np.float32)
    y = groupconv.nn.conv2d(x, w, b, stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2)
    ref = reference_nhwc(x.transpose(0, 2, 3, 1), w.transpose(2, 3, 1, 0), strides=(2, 1),
                         dilations=(1, 2), pads=(1, 1, 2, 2), bias=b).transpose(0, 3, 1, 2)
    assert rel_l2(y, ref) < TOL


def test_nn_same_even_kernel_pads_bottom_right(rng):
    x = rng.standard_normal((1, 2, 7, 6)).astype(np.float32)
    w = rng.standard_normal((2, 2, 4, 2)).astype(np.float32)
    y = groupconv.nn.conv2d(x, w, padding="same")
    assert y.shape == (1, 2, 7, 6)
    # total pad 3 (rows), 1 (cols): top 1, bottom 2, left 0, right 1
    ref = reference_nhwc(x.transpose(0, 2, 3, 1), w.transpose(2, 3, 1, 0), pads=(1, 2, 0, 1))
    assert rel_l2(y, ref.transpose(0, 3, 1, 2)) < TOL


def test_nn_unbatched(rng):
    x = rng.standard_normal((4, 6, 6)).astype(np.float32)
    w = rng.standard_normal((4, 1, 3, 3)).astype(np.float32)
    y = groupconv.nn.conv2d(x, w, padding=1, groups=4)
    assert y.shape == (4, 6, 6)
    np.testing.assert_array_equal(y, groupconv.nn.conv2d(x[None], w, padding=1, groups=4)[0])


def test_nn_errors():
    x = np.zeros((1, 4, 8, 8), np.float32)
    w = np.zeros((4, 1, 3, 3), np.float32)
    with pytest.raises(groupconv.ShapeError, match="strided") as e:
        groupconv.nn.conv2d(x, w, stride=2, padding="same", groups=4)
    assert e.value.code == "GC019"
    with pytest.raises(groupconv.ShapeError) as e:
        groupconv.nn.conv2d(x, w, padding="full", groups=4)
    assert e.value.code == "GC019"
    with pytest.raises(groupconv.ShapeError) as e:
        groupconv.nn.conv2d(x, w, padding=(1, 1, 1, 1), groups=4)
    assert "groupconv.conv2d" in e.value.help
    with pytest.raises(groupconv.ShapeError) as e:
        groupconv.nn.conv2d(x, w, padding=-1, groups=4)
    assert e.value.code == "GC014"
    with pytest.raises(groupconv.ShapeError) as e:
        groupconv.nn.conv2d(x, w, stride=(1, 1, 1), groups=4)
    assert e.value.code == "GC010"
    with pytest.raises(groupconv.ShapeError) as e:
        groupconv.nn.conv2d(x, w, dilation=0, groups=4)
    assert e.value.code == "GC011"
    with pytest.raises(groupconv.ShapeError) as e:
        groupconv.nn.conv2d(x, w, groups=0)
    assert e.value.code == "GC012"
    with pytest.raises(groupconv.ShapeError) as e:
        groupconv.nn.conv2d(x, w)  # groups=1 but the weight is depthwise
    assert e.value.code in ("GC003", "GC004")
    with pytest.raises(groupconv.ShapeError) as e:
        groupconv.nn.conv2d(np.zeros((8, 8), np.float32), w, groups=4)
    assert e.value.code == "GC007" and "3-D" in str(e.value)
    with pytest.raises(groupconv.ShapeError) as e:
        groupconv.nn.conv2d(np.zeros((1, 1, 4, 8, 8), np.float32), w, groups=4)
    assert e.value.code == "GC007"
    with pytest.raises(groupconv.ShapeError) as e:
        groupconv.nn.conv2d(x, w, np.zeros(3, np.float32), groups=4)
    assert e.value.code == "GC016"


# ---- every diagnostic code reachable from Python ---------------------------------------------

X = np.zeros((1, 8, 8, 8), np.float32)


@pytest.mark.parametrize("call, code, words", [
    (lambda: groupconv.conv2d(X, np.zeros((3, 3, 2, 6), np.float32), 1, "SAME", groups=3),
     "GC001", ["8", "3"]),
    (lambda: groupconv.conv2d(X, np.zeros((3, 3, 2, 6), np.float32), 1, "SAME"),
     "GC002", ["6", "4"]),
    (lambda: groupconv.conv2d(X, np.zeros((3, 3, 3, 8), np.float32), 1, "SAME", groups=4),
     "GC003", ["[3, 3, 2, 8]"]),
    (lambda: groupconv.conv2d(X, np.zeros((3, 3, 4, 8), np.float32), 1, "SAME", groups=4),
     "GC004", ["groups=2"]),
    (lambda: groupconv.conv2d(X, np.zeros((16, 2, 3, 3), np.float32), 1, "SAME", groups=4),
     "GC005", ["OIHW", "transpose"]),
    (lambda: groupconv.check((1, 8, 8, 8), (3, 3, 2, 4), groups=4, expect_output_channels=16),
     "GC006", ["16"]),
    (lambda: groupconv.conv2d(np.zeros((8, 8, 8), np.float32),
                              np.zeros((3, 3, 8, 8), np.float32), 1, "SAME"),
     "GC007", ["4-D"]),
    (lambda: groupconv.conv2d(X, np.zeros((3, 3, 8), np.float32), 1, "SAME"), "GC007", []),
    (lambda: groupconv.conv2d(X.astype(np.float64), np.zeros((3, 3, 8, 8), np.float32), 1,
                              "SAME"), "GC008", ["float64"]),
    (lambda: groupconv.conv2d(np.zeros((1, 0, 8, 8), np.float32),
                              np.zeros((3, 3, 8, 8), np.float32), 1, "SAME"), "GC009", []),
    (lambda: groupconv.check((1, 8, 8, 8), (0, 3, 8, 8)), "GC009", []),
    (lambda: groupconv.conv2d(X, np.zeros((3, 3, 8, 8), np.float32), 0, "SAME"), "GC010", []),
    (lambda: groupconv.conv2d(X, np.zeros((3, 3, 8, 8), np.float32), [1, 1, 1], "SAME"),
     "GC010", []),
    (lambda: groupconv.conv2d(X, np.zeros((3, 3, 8, 8), np.float32), 1.5, "SAME"),
     "GC010", ["integer"]),
    (lambda: groupconv.conv2d(X, np.zeros((3, 3, 8, 8), np.float32), 1, "SAME", dilations=-1),
     "GC011", []),
    (lambda: groupconv.conv2d(X, np.zeros((3, 3, 8, 8), np.float32), 1, "SAME", groups=0),
     "GC012", []),
    (lambda: groupconv.conv2d(X, np.zeros((3, 3, 8, 8), np.float32), [2, 1, 1, 1], "SAME"),
     "GC013", []),
    (lambda: groupconv.conv2d(X, np.zeros((3, 3, 8, 8), np.float32), 1,
                              [[0, 0], [-1, 0], [0, 0], [0, 0]]), "GC014", []),
    (lambda: groupconv.conv2d(X, np.zeros((9, 9, 8, 8), np.float32), 1, "VALID"),
     "GC015", []),
    (lambda: groupconv.conv2d(X, np.zeros((3, 3, 8, 8), np.float32), 1, "SAME",
                              bias=np.zeros(4, np.float32)), "GC016", []),
    (lambda: groupconv.check((1 << 40, 1 << 20, 1 << 20, 8), (3, 3, 8, 8)), "GC017", []),
    (lambda: groupconv.check((1, 8, 8, 8), (3, 3, 8, 1 << 64)), "GC017", []),
    (lambda: groupconv.conv2d(X, np.zeros((3, 3, 8, 8), np.float32), 1, "FULL"), "GC019", []),
    (lambda: groupconv.conv2d(X, np.zeros((3, 3, 8, 8), np.float32), 1,
                              [[1, 0], [0, 0], [0, 0], [0, 0]]), "GC019", ["batch"]),
    (lambda: groupconv.conv2d(X, np.zeros((3, 3, 8, 8), np.float32), 1, [1, 1]), "GC019", []),
    (lambda: groupconv.conv2d(X, np.zeros((3, 3, 8, 8), np.float32), 1, "SAME",
                              data_format="NWHC"), "GC019", []),
    (lambda: groupconv.conv2d(X, np.zeros((3, 3, 8, 8), np.float32), 1, "SAME",
                              filter_format="IOHW"), "GC019", []),
    (lambda: groupconv.conv2d(X, np.zeros((3, 3, 8, 8), np.float32), 1, "SAME", threads=-1),
     "GC019", []),
    (lambda: groupconv.conv2d(X, np.zeros((3, 3, 8, 8), np.float32), 1, "SAME",
                              groups=True), "GC012", ["bool"]),
])
def test_error_paths(call, code, words):
    with pytest.raises(groupconv.ShapeError) as e:
        call()
    assert e.value.code == code, str(e.value)
    text = str(e.value)
    assert text.startswith(f"error[{code}]")
    for word in words:
        assert word in text, (word, text)
    assert e.value.help, text


# ---- conversions: dtype, non-arrays, non-contiguous, zero-copy ------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float16, np.int32, np.int64, np.uint8,
                                   np.bool_, np.complex64])
def test_wrong_dtype(dtype):
    w = np.zeros((3, 3, 8, 8), np.float32)
    with pytest.raises(groupconv.DTypeError) as e:
        groupconv.conv2d(X.astype(dtype), w, 1, "SAME")
    assert isinstance(e.value, TypeError) and isinstance(e.value, ValueError)
    assert e.value.code == "GC008"
    assert np.dtype(dtype).name in str(e.value) and "float32" in str(e.value)
    with pytest.raises(TypeError):
        groupconv.conv2d(X, w.astype(dtype), 1, "SAME")
    with pytest.raises(groupconv.DTypeError):
        groupconv.nn.conv2d(X.transpose(0, 3, 1, 2), w.transpose(3, 2, 0, 1),
                            bias=np.zeros(8, dtype))


@pytest.mark.parametrize("bad", [None, "x", {"a": 1}, object(), b"bytes", 3 + 4j, [[1, 2], [3]],
                                 [["a"]], True])
def test_not_an_array(bad):
    w = np.zeros((3, 3, 8, 8), np.float32)
    with pytest.raises(groupconv.ShapeError) as e:
        groupconv.conv2d(bad, w, 1, "SAME")
    assert e.value.code in ("GC007", "GC008"), str(e.value)
    with pytest.raises(groupconv.ShapeError):
        groupconv.conv2d(X, bad, 1, "SAME")
    with pytest.raises(groupconv.ShapeError):
        groupconv.nn.conv2d(bad, w)


def test_nested_lists_are_float32():
    x = np.arange(2 * 4 * 4 * 2, dtype=np.float32).reshape(2, 4, 4, 2)
    w = np.ones((2, 2, 1, 2), np.float32)
    y = groupconv.conv2d(x.tolist(), w.tolist(), 1, "VALID")
    np.testing.assert_array_equal(y, groupconv.conv2d(x, w, 1, "VALID"))


def test_non_contiguous_inputs(rng):
    base = rng.standard_normal((2, 10, 12, 16)).astype(np.float32)
    x = base[:, ::2, 1::2, :8]  # strided view
    assert not x.flags.c_contiguous
    wbase = rng.standard_normal((8, 2, 3, 3)).astype(np.float32)
    w = wbase.transpose(2, 3, 1, 0)  # HWIO view of an OIHW array
    y = groupconv.conv2d(x, w, 1, "SAME")
    y_ref = groupconv.conv2d(np.ascontiguousarray(x), np.ascontiguousarray(w), 1, "SAME")
    np.testing.assert_array_equal(y, y_ref)
    assert rel_l2(y, reference_nhwc(x, w, pads=(1, 1, 1, 1))) < TOL
    # Fortran order, negative strides, byte-swapped and unaligned float32
    xf = np.asfortranarray(np.ascontiguousarray(x))
    np.testing.assert_array_equal(groupconv.conv2d(xf, w, 1, "SAME"), y)
    xr = np.ascontiguousarray(x[:, ::-1])[:, ::-1]
    np.testing.assert_array_equal(groupconv.conv2d(xr, w, 1, "SAME"), y)
    xs = np.ascontiguousarray(x).astype(">f4")
    np.testing.assert_array_equal(groupconv.conv2d(xs, w, 1, "SAME"), y)
    buf = np.zeros(x.size * 4 + 1, np.uint8)
    xu = buf[1:].view(np.float32).reshape(x.shape)
    xu[...] = x
    assert not xu.flags.aligned
    np.testing.assert_array_equal(groupconv.conv2d(xu, w, 1, "SAME"), y)


def test_zero_copy_paths():
    from groupconv._convert import as_float32
    a = np.ones((2, 3, 4, 5), np.float32)
    assert as_float32(a, "x") is a
    d = np.from_dlpack(a)
    assert np.shares_memory(as_float32(d, "x"), a)
    t = a.transpose(0, 2, 3, 1)
    c = as_float32(t, "x")
    assert c.flags.c_contiguous and not np.shares_memory(c, a)  # the one documented copy
    ro = a.copy()
    ro.flags.writeable = False
    assert as_float32(ro, "x") is ro  # read-only input is fine: never written


class _DLPackOnly:
    """An object exposing only the DLPack protocol (like a JAX array without __array__)."""

    def __init__(self, a):
        self._a = a

    def __dlpack__(self, *args, **kwargs):
        return self._a.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self._a.__dlpack_device__()


class _ArrayOnly:
    def __init__(self, a):
        self._a = a

    def __array__(self, dtype=None, copy=None):
        return self._a


class _GpuTensor:
    dtype = np.dtype(np.float32)

    def __dlpack__(self, *args, **kwargs):
        raise RuntimeError("not on host")

    def __dlpack_device__(self):
        return (2, 0)


def test_protocol_objects(rng):
    x = rng.standard_normal((1, 5, 5, 4)).astype(np.float32)
    w = rng.standard_normal((3, 3, 1, 4)).astype(np.float32)
    y = groupconv.conv2d(x, w, 1, "SAME")
    np.testing.assert_array_equal(groupconv.conv2d(_DLPackOnly(x), _DLPackOnly(w), 1, "SAME"), y)
    np.testing.assert_array_equal(groupconv.conv2d(_ArrayOnly(x), _ArrayOnly(w), 1, "SAME"), y)
    with pytest.raises(groupconv.DTypeError, match="CUDA"):
        groupconv.conv2d(_GpuTensor(), w, 1, "SAME")
    with pytest.raises(groupconv.DTypeError, match="float64"):
        groupconv.conv2d(_ArrayOnly(x.astype(np.float64)), w, 1, "SAME")


def test_output_is_fresh_aligned_and_writable(rng):
    x = rng.standard_normal((1, 5, 5, 4)).astype(np.float32)
    w = rng.standard_normal((3, 3, 1, 4)).astype(np.float32)
    y = groupconv.conv2d(x, w, 1, "SAME")
    assert y.flags.c_contiguous and y.flags.writeable and y.flags.owndata is False
    assert y.ctypes.data % 64 == 0
    y[...] = 0  # ours to modify
    y2 = groupconv.conv2d(x, w, 1, "SAME")
    assert not np.shares_memory(y, y2) and np.any(y2 != 0)
    del y, y2  # the capsule frees the buffers (ASan/valgrind would see a leak or double free)


# ---- check() ------------------------------------------------------------------------------------

def test_check_breakdown():
    r = groupconv.check((1, 28, 28, 32), (3, 3, 8, 64), 1, "SAME", groups=4)
    assert r.output_shape == (1, 28, 28, 64)
    assert (r.groups, r.cig, r.cog, r.c_in, r.c_out) == (4, 8, 16, 32, 64)
    assert r.pads == (1, 1, 1, 1) and not r.groups_inferred and not r.depthwise
    assert r.flops == 2 * 28 * 28 * 64 * 8 * 9
    assert r.bytes == 4 * (28 * 28 * 32 + 9 * 8 * 64 + 28 * 28 * 64)
    assert "per group: 8 input -> 16 output channels" in str(r)
    assert r.to_dict()["groups"] == 4
    r2 = groupconv.check(np.zeros((2, 3, 10, 10, 6), np.float32), (3, 3, 1, 12), 2, "VALID")
    assert r2.output_shape == (2, 3, 4, 4, 12) and r2.groups_inferred and r2.depthwise
    r3 = groupconv.nn.check((6, 10, 10), (12, 1, 3, 3), (12,), stride=2, padding=1, groups=6)
    assert r3.output_shape == (12, 5, 5) and r3.data_format == "NCHW"
    with pytest.raises(groupconv.ShapeError):
        groupconv.check("1,2,3,4", (3, 3, 1, 1))


# ---- plans, threads, GIL ----------------------------------------------------------------------

def test_plan_matches_conv2d(rng):
    x = rng.standard_normal((2, 9, 9, 12)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3, 8)).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    plan = groupconv.Plan(w, input_shape=x.shape, strides=2, padding="SAME", bias=b)
    assert plan.output_shape == (2, 5, 5, 8)
    assert plan.kernel_name and "chosen" in plan.selection_log
    assert plan.check().groups == 4 and "Plan" in repr(plan)
    y = plan(x)
    np.testing.assert_array_equal(y, groupconv.conv2d(x, w, 2, "SAME", bias=b))
    w[...] = 0  # the plan copied the filter
    b[...] = 0
    np.testing.assert_array_equal(plan(x), y)
    # another batch size: planned on first use, cached
    y3 = plan(x[:1])
    np.testing.assert_array_equal(y3, y[:1])
    # leading batch dims
    np.testing.assert_array_equal(plan(np.stack([x, x])), np.stack([y, y]))


def test_plan_lazy_and_errors(rng):
    w = rng.standard_normal((3, 3, 2, 4)).astype(np.float32)
    plan = groupconv.Plan(w, padding="SAME")
    with pytest.raises(groupconv.ShapeError):
        plan.output_shape  # noqa: B018 - not planned yet
    with pytest.raises(groupconv.ShapeError) as e:
        plan(np.zeros((1, 5, 5, 5), np.float32))
    assert e.value.code == "GC001"
    y = plan(np.ones((1, 5, 5, 4), np.float32))
    assert y.shape == (1, 5, 5, 4) and plan.input_shape == (1, 5, 5, 4)
    with pytest.raises(groupconv.ShapeError):
        groupconv.Plan(w, input_shape=(1, 5, 5, 6), groups=3)


def test_nn_conv2d_module(rng):
    w = rng.standard_normal((6, 2, 3, 3)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    m = groupconv.nn.Conv2d(w, b, stride=1, padding="same", groups=3)
    x = rng.standard_normal((2, 6, 7, 7)).astype(np.float32)
    np.testing.assert_array_equal(m(x), groupconv.nn.conv2d(x, w, b, padding="same", groups=3))
    np.testing.assert_array_equal(m(x[0]), m(x)[0])
    assert "groups=3" in repr(m)
    with pytest.raises(groupconv.ShapeError):
        m(np.zeros((6, 7), np.float32))


def test_threads_bit_identical(rng):
    x = rng.standard_normal((2, 17, 19, 24)).astype(np.float32)
    w = rng.standard_normal((3, 3, 6, 24)).astype(np.float32)
    ys = [groupconv.conv2d(x, w, 1, "SAME", threads=t) for t in (1, 2, 3, 7)]
    for y in ys[1:]:
        np.testing.assert_array_equal(y, ys[0])
    groupconv.set_num_threads(3)
    assert groupconv.get_num_threads() == 3
    np.testing.assert_array_equal(groupconv.conv2d(x, w, 1, "SAME"), ys[0])
    assert groupconv.Plan(w, x.shape, 1, "SAME").threads == 3
    groupconv.set_num_threads(None)
    assert groupconv.get_num_threads() == groupconv._core.default_threads()
    with pytest.raises(groupconv.ShapeError):
        groupconv.set_num_threads(-2)
    with pytest.raises(groupconv.ShapeError):
        groupconv.conv2d(x, w, 1, "SAME", threads="4")


def test_concurrent_python_threads(rng):
    """GIL released: several Python threads compute at once, sharing one plan."""
    x = rng.standard_normal((1, 32, 32, 16)).astype(np.float32)
    w = rng.standard_normal((3, 3, 4, 16)).astype(np.float32)
    want = groupconv.conv2d(x, w, 1, "SAME", threads=1)
    plan = groupconv.Plan(w, x.shape, 1, "SAME", threads=1)
    errors = []

    def work():
        try:
            for _ in range(10):
                np.testing.assert_array_equal(plan(x), want)
                np.testing.assert_array_equal(groupconv.conv2d(x, w, 1, "SAME", threads=1), want)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors


def test_random_garbage_never_crashes():
    """Arbitrary argument combinations raise a Python exception or succeed: never a crash."""
    rnd = np.random.default_rng(7)
    choices = [None, 0, -1, 1, 2, 3, 1 << 62, 1 << 70, 1.5, "SAME", "VALID", "bad", [], [1],
               [1, 2], [1, 1, 1, 1], [[0, 0]] * 4, [[-1, 0]] * 4, np.zeros(3, np.float32),
               np.zeros((1, 4, 4, 2), np.float32), np.zeros((2, 2, 1, 2), np.float32),
               np.zeros((2, 2, 2, 2), np.float64), object()]
    for _ in range(400):
        args = [choices[rnd.integers(len(choices))] for _ in range(7)]
        try:
            groupconv.conv2d(*args)
        except (ValueError, TypeError):
            pass
        try:
            groupconv.nn.conv2d(*args)
        except (ValueError, TypeError):
            pass
        try:
            groupconv.check(*args)
        except (ValueError, TypeError):
            pass


def test_misc_exports():
    assert groupconv.detected_isa() in ("avx512", "avx2", "portable")
    assert groupconv.__version__
    assert issubclass(groupconv.ShapeError, ValueError)
    assert issubclass(groupconv.DTypeError, groupconv.ShapeError)
    assert issubclass(groupconv.DTypeError, TypeError)


# ---- backward plans ---------------------------------------------------------------------------

# (input shape, filter shape, forward kwargs): grouped, depthwise (multiplier 1 and 2), NCHW,
# OIHW, dilations with and without strides, explicit / SAME_LOWER padding, even kernel,
# grouped pointwise, TF's leading batch dims, an empty batch.
BACKWARD_GEOMETRIES = [
    ((2, 9, 9, 8), (3, 3, 2, 12), dict(strides=2, padding="SAME", groups=4)),
    ((1, 10, 11, 6), (3, 3, 1, 6), dict(strides=1, padding="SAME")),
    ((2, 11, 9, 6), (5, 5, 1, 12), dict(strides=2, padding="VALID", groups=6)),
    ((2, 6, 9, 9), (12, 2, 3, 3),
     dict(strides=[1, 1, 2, 2], padding=[[0, 0], [0, 0], [1, 0], [2, 1]], data_format="NCHW",
          groups=3, filter_format="OIHW")),
    ((1, 11, 11, 4), (3, 3, 4, 8), dict(strides=1, padding="SAME", dilations=2)),
    ((2, 12, 10, 8), (8, 4, 3, 3),
     dict(strides=2, padding="SAME_LOWER", dilations=[2, 1], groups=2, filter_format="OIHW")),
    ((2, 8, 8, 16), (1, 1, 4, 8), dict(strides=2, padding="VALID", groups=4)),
    ((2, 3, 7, 7, 4), (2, 2, 2, 6), dict(strides=1, padding="SAME", groups=2)),
    ((0, 9, 9, 8), (3, 3, 2, 12), dict(strides=2, padding="SAME", groups=4)),
]


@pytest.mark.parametrize("ishape,fshape,kw", BACKWARD_GEOMETRIES)
def test_backward_plans_match_one_shot(ishape, fshape, kw, rng):
    x = rng.standard_normal(ishape).astype(np.float32)
    w = rng.standard_normal(fshape).astype(np.float32)
    oshape = groupconv.check(ishape, fshape, **kw).output_shape
    dy = rng.standard_normal(oshape).astype(np.float32)
    want_dx = groupconv.conv2d_backward_data(dy, w, ishape, **kw)
    want_dw, want_db = groupconv.conv2d_backward_filter(x, dy, fshape, **kw)
    assert want_dx.shape == ishape and want_dw.shape == fshape and want_db.shape == (dy.shape[
        1 if kw.get("data_format") == "NCHW" else -1],)

    pd = groupconv.BackwardDataPlan(w, ishape, **kw)
    assert pd.input_shape == ishape and pd.grad_output_shape == oshape
    assert isinstance(pd.kernel_name, str) and pd.kernel_name
    assert "BackwardDataPlan" in repr(pd)
    pf = groupconv.BackwardFilterPlan(x, w, **kw)  # shapes may be given as arrays
    assert pf.input_shape == ishape and pf.filter_shape == fshape
    assert pf.grad_output_shape == oshape
    assert isinstance(pf.kernel_name, str) and pf.kernel_name
    assert "BackwardFilterPlan" in repr(pf)
    for _ in range(3):  # repeated calls: the same bits, fresh arrays
        dx = pd(dy)
        assert dx.dtype == np.float32 and dx.shape == ishape
        np.testing.assert_array_equal(dx, want_dx)
        dw, db = pf(x, dy)
        assert dw.dtype == np.float32 and db.dtype == np.float32
        np.testing.assert_array_equal(dw, want_dw)
        np.testing.assert_array_equal(db, want_db)
        dw2, db2 = pf(input=x, grad_output=dy, bias_grad=False)
        assert db2 is None
        np.testing.assert_array_equal(dw2, want_dw)
    assert pd(dy) is not pd(dy)
    # threads: another count, the same bits
    np.testing.assert_array_equal(groupconv.BackwardDataPlan(w, ishape, **kw, threads=2)(dy),
                                  want_dx)
    dw3, db3 = groupconv.BackwardFilterPlan(ishape, fshape, **kw, threads=2)(x, dy)
    np.testing.assert_array_equal(dw3, want_dw)
    np.testing.assert_array_equal(db3, want_db)


def _reference_backward_nhwc(x, w, dy, strides, dilations, pads):
    """Float64 (dx, dw, db) of reference_nhwc by linearity: dx[k] = <conv(e_k, w), dy>,
    dw[k] = <conv(x, e_k), dy> (e_k: the k-th unit tensor), db = dy summed over N, H, W."""
    dy = np.asarray(dy, np.float64)
    n, h, wd, c = x.shape
    basis = np.eye(h * wd * c).reshape(h * wd * c, h, wd, c)
    y = reference_nhwc(basis, w, strides, dilations, pads)  # [h * wd * c, ho, wo, cout]
    dx = np.einsum("kabo,nabo->nk", y, dy).reshape(x.shape)
    dw = np.empty(w.shape)
    for k in np.ndindex(*w.shape):
        e = np.zeros(w.shape)
        e[k] = 1.0
        dw[k] = np.sum(reference_nhwc(x, e, strides, dilations, pads) * dy)
    return dx, dw, dy.sum(axis=(0, 1, 2))


def test_backward_plans_float64_reference(rng):
    # NHWC / HWIO, grouped, strides (2, 1), dilations (1, 2), asymmetric explicit pads
    x = rng.standard_normal((2, 9, 8, 8)).astype(np.float32)
    w = rng.standard_normal((3, 3, 2, 12)).astype(np.float32)
    kw = dict(strides=[2, 1], padding=[[0, 0], [1, 2], [0, 1], [0, 0]], dilations=[1, 2],
              groups=4)
    pd = groupconv.BackwardDataPlan(w, x.shape, **kw)
    dy = rng.standard_normal(pd.grad_output_shape).astype(np.float32)
    dx = pd(dy)
    dw, db = groupconv.BackwardFilterPlan(x.shape, w.shape, **kw)(x, dy)
    rdx, rdw, rdb = _reference_backward_nhwc(x, w, dy, (2, 1), (1, 2), (1, 2, 0, 1))
    assert rel_l2(dx, rdx) < TOL and rel_l2(dw, rdw) < TOL and rel_l2(db, rdb) < TOL
    # NCHW / OIHW depthwise (multiplier 2), stride 2, SAME: the reference in NHWC / HWIO
    xc = rng.standard_normal((1, 6, 7, 7)).astype(np.float32)
    wc = rng.standard_normal((12, 1, 3, 3)).astype(np.float32)
    kw = dict(strides=2, padding="SAME", data_format="NCHW", groups=6, filter_format="OIHW")
    pd = groupconv.BackwardDataPlan(wc, xc.shape, **kw)
    assert pd.grad_output_shape == (1, 12, 4, 4)
    dyc = rng.standard_normal(pd.grad_output_shape).astype(np.float32)
    dx = pd(dyc)
    dw, db = groupconv.BackwardFilterPlan(xc.shape, wc.shape, **kw)(xc, dyc)
    rdx, rdw, rdb = _reference_backward_nhwc(
        xc.transpose(0, 2, 3, 1), wc.transpose(2, 3, 1, 0), dyc.transpose(0, 2, 3, 1), (2, 2),
        (1, 1), same_pads(7, 3, 2, 1) + same_pads(7, 3, 2, 1))
    assert rel_l2(dx, rdx.transpose(0, 3, 1, 2)) < TOL
    assert rel_l2(dw, rdw.transpose(3, 2, 0, 1)) < TOL
    assert rel_l2(db, rdb) < TOL


def test_backward_plans_wrong_grad_output_shape(rng):
    x = rng.standard_normal((2, 9, 9, 8)).astype(np.float32)
    w = rng.standard_normal((3, 3, 2, 12)).astype(np.float32)
    pd = groupconv.BackwardDataPlan(w, x.shape, 2, "SAME", groups=4)
    pf = groupconv.BackwardFilterPlan(x.shape, w.shape, 2, "SAME", groups=4)
    assert pd.grad_output_shape == pf.grad_output_shape == (2, 5, 5, 12)
    dy = np.zeros((2, 9, 9, 12), np.float32)  # the forward output is [2, 5, 5, 12] (stride 2)
    for call in (lambda: pd(dy), lambda: pf(x, dy), lambda: pf(x, dy, bias_grad=False)):
        with pytest.raises(groupconv.ShapeError) as e:
            call()
        assert e.value.code == "GC018"
        assert "[2, 5, 5, 12]" in str(e.value) and "[2, 9, 9, 12]" in str(e.value)
        assert e.value.expected == "dy [2, 5, 5, 12]" and e.value.found == "dy [2, 9, 9, 12]"
    # an NCHW dy for an NHWC plan gets the forward's hint
    with pytest.raises(groupconv.ShapeError, match="looks NCHW"):
        pd(np.zeros((2, 12, 5, 5), np.float32))
    # the filter plan's input must have the planned shape
    with pytest.raises(groupconv.ShapeError) as e:
        pf(x[:1], np.zeros((1, 5, 5, 12), np.float32))
    assert "[1, 9, 9, 8]" in str(e.value) and "[2, 9, 9, 8]" in str(e.value)
    # leading batch dims: a dy whose batch dims differ is named in full
    pb = groupconv.BackwardDataPlan(w, (2, 3, 9, 9, 8), 2, "SAME", groups=4)
    with pytest.raises(groupconv.ShapeError) as e:
        pb(np.zeros((3, 2, 5, 5, 12), np.float32))
    assert e.value.code == "GC018" and "[3, 2, 5, 5, 12]" in str(e.value)


def test_backward_plans_wrong_dtype(rng):
    x = rng.standard_normal((2, 9, 9, 8)).astype(np.float32)
    w = rng.standard_normal((3, 3, 2, 12)).astype(np.float32)
    dy = rng.standard_normal((2, 5, 5, 12)).astype(np.float32)
    pd = groupconv.BackwardDataPlan(w, x.shape, 2, "SAME", groups=4)
    pf = groupconv.BackwardFilterPlan(x.shape, w.shape, 2, "SAME", groups=4)
    for call in (lambda: pd(dy.astype(np.float64)),
                 lambda: pf(x.astype(np.float64), dy),
                 lambda: pf(x, dy.astype(np.int32)),
                 lambda: groupconv.BackwardDataPlan(w.astype(np.float16), x.shape, 2, "SAME",
                                                    groups=4)):
        with pytest.raises(groupconv.DTypeError) as e:
            call()
        assert e.value.code == "GC008" and isinstance(e.value, TypeError)
    with pytest.raises(groupconv.ShapeError):
        pd("dy")


@pytest.mark.parametrize("ishape,fshape,kw", [
    ((1, 28, 28, 33), (3, 3, 8, 16), dict(groups=4)),        # C_in not divisible
    ((1, 28, 28, 32), (3, 3, 32, 64), dict(groups=4)),       # an ungrouped filter
    ((1, 2, 2, 4), (3, 3, 4, 4), dict()),                    # VALID: empty output
    ((1, 8, 8, 4), (3, 3, 4, 4), dict(strides=0)),
    ((1, 8, 8, 4), (3, 3, 4, 4), dict(padding="bad")),
    ((1, 8, 8, 4), (3, 3, 4, 4), dict(threads=-1)),
])
def test_backward_plans_forward_diagnostics(ishape, fshape, kw):
    """Invalid forward arguments: the plans raise what conv2d / check raise."""
    args = dict(strides=1, padding="VALID")
    args.update(kw)
    with pytest.raises(groupconv.ShapeError) as want:
        groupconv.conv2d(np.zeros(ishape, np.float32), np.zeros(fshape, np.float32), **args)
    for make in (lambda: groupconv.BackwardDataPlan(np.zeros(fshape, np.float32), ishape,
                                                    **args),
                 lambda: groupconv.BackwardFilterPlan(ishape, fshape, **args)):
        with pytest.raises(groupconv.ShapeError) as e:
            make()
        assert e.value.code == want.value.code and str(e.value) == str(want.value)


def test_backward_data_plan_copies_the_filter(rng):
    w = rng.standard_normal((3, 3, 1, 8)).astype(np.float32)
    dy = rng.standard_normal((1, 6, 6, 8)).astype(np.float32)
    pd = groupconv.BackwardDataPlan(w, (1, 6, 6, 8), 1, "SAME")
    dx = pd(dy)
    w[...] = 0  # packed at construction: the plan does not see this
    np.testing.assert_array_equal(pd(dy), dx)
    assert np.any(dx)


def test_backward_plans_exported():
    for name in ("BackwardDataPlan", "BackwardFilterPlan"):
        assert name in groupconv.__all__ and isinstance(getattr(groupconv, name), type)
        assert getattr(groupconv, name).__doc__
