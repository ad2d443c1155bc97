"""groupconv against TensorFlow's tf.nn.conv2d (the oracle of the TF-style API).

Runs in build/venv-tf (tensorflow-cpu). Without TensorFlow: skipped, or failed when
GROUPCONV_REQUIRE_ORACLES=1.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import groupconv
from conftest import random_configs, reference_nhwc, rel_l2

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

TOL = 1e-5
N_CONFIGS = 240
MIN_TF_CHECKED = 200


@pytest.fixture(scope="module")
def tf():
    from conftest import require
    tf = require("tensorflow")
    return tf


def test_tutorial_example_equals_tensorflow(tf):
    """The familiar example, with tf.nn.conv2d replaced by groupconv.conv2d."""
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((1, 28, 28, 32)).astype(np.float32))
    w = tf.constant(rng.standard_normal((3, 3, 8, 16)).astype(np.float32))
    want = tf.nn.conv2d(x, w, strides=1, padding="SAME").numpy()
    y = groupconv.conv2d(x, w, strides=1, padding="SAME", groups=4)  # TF tensors in (DLPack)
    assert y.shape == (1, 28, 28, 16) == want.shape
    assert rel_l2(y, want) < TOL
    y2 = groupconv.conv2d(x, w, strides=1, padding="SAME")  # groups inferred, as TF does
    np.testing.assert_array_equal(y, y2)

    x33 = tf.zeros((1, 28, 28, 33))
    with pytest.raises(groupconv.ShapeError) as e:
        groupconv.conv2d(x33, w, strides=1, padding="SAME", groups=4)
    assert "33" in str(e.value) and "4" in str(e.value)

    w_full = tf.zeros((3, 3, 32, 64))
    with pytest.raises(groupconv.ShapeError) as e:
        groupconv.conv2d(x, w_full, strides=1, padding="SAME", groups=4)
    assert e.value.code == "GC003" and "[3, 3, 8, 64]" in str(e.value)


def _tf_padding(c):
    if c.padding == "EXPLICIT":
        t, b, l_, r = c.pads
        return [[0, 0], [t, b], [l_, r], [0, 0]]
    return c.padding


def _nn_style(c, x, w, b):
    """The same convolution through groupconv.nn.conv2d (NCHW / OIHW): torch-style padding,
    with asymmetric pads applied to the input first (what a PyTorch user does with F.pad)."""
    t, bo, l_, r = c.resolved_pads()
    xn = x.transpose(0, 3, 1, 2)  # a non-contiguous view: exercises the copy path
    wn = np.ascontiguousarray(w.transpose(3, 2, 0, 1))
    if t == bo and l_ == r:
        pad = (t, l_)
    else:
        xn = np.pad(xn, ((0, 0), (0, 0), (t, bo), (l_, r)))
        pad = 0
    y = groupconv.nn.conv2d(xn, wn, b, stride=(c.sh, c.sw), padding=pad,
                            dilation=(c.dh, c.dw), groups=c.groups)
    return y.transpose(0, 2, 3, 1)


def test_random_configs_against_tensorflow(tf):
    checked, refused = 0, []
    for i, c in enumerate(random_configs(N_CONFIGS, seed=2024)):
        x, w, b = c.tensors()
        strides = [c.sh, c.sw] if i % 3 else [1, c.sh, c.sw, 1]
        dil = [c.dh, c.dw]
        try:
            want = tf.nn.conv2d(x, w, strides=strides, padding=_tf_padding(c),
                                dilations=dil).numpy()
            if b is not None:
                want = want + b
        except Exception as e:  # noqa: BLE001 - TF's CPU kernels refuse some valid configs
            refused.append((str(c), f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"))
            want = None
        # alternate numpy and TF tensors as inputs (TF tensors go through DLPack)
        xin, win = (x, w) if i % 2 else (tf.constant(x), tf.constant(w))
        y = groupconv.conv2d(xin, win, strides, _tf_padding(c), dilations=dil,
                             groups=c.groups if i % 4 else None, bias=b)
        y_nn = _nn_style(c, x, w, b)
        if want is None:
            ref = reference_nhwc(x, w, (c.sh, c.sw), (c.dh, c.dw), c.resolved_pads(), b)
            assert rel_l2(y, ref) < TOL, str(c)
            assert rel_l2(y_nn, ref) < TOL, str(c)
            continue
        assert y.shape == want.shape, (str(c), y.shape, want.shape)
        assert rel_l2(y, want) < TOL, (str(c), rel_l2(y, want))
        assert rel_l2(y_nn, want) < TOL, (str(c), rel_l2(y_nn, want))
        checked += 1
    print(f"\n{checked} configs matched TensorFlow; {len(refused)} refused by TF's CPU conv "
          "(checked against the float64 reference instead):")
    for cfg, why in refused:
        print(f"  {cfg}: {why}")
    assert checked >= MIN_TF_CHECKED, refused


def test_tf_leading_batch_dims_and_nchw(tf):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 9, 9, 8)).astype(np.float32)
    w = rng.standard_normal((3, 3, 2, 12)).astype(np.float32)
    want = tf.nn.conv2d(x, w, strides=2, padding="SAME").numpy()
    y = groupconv.conv2d(x, w, strides=2, padding="SAME")
    assert y.shape == want.shape == (2, 3, 5, 5, 12)
    assert rel_l2(y, want) < TOL
    # NCHW (TF's CPU conv refuses NCHW: compare with its NHWC result transposed)
    xn = np.ascontiguousarray(x.transpose(0, 1, 4, 2, 3))
    yn = groupconv.conv2d(xn, w, strides=[1, 1, 2, 2], padding="SAME", data_format="NCHW")
    assert rel_l2(yn, want.transpose(0, 1, 4, 2, 3)) < TOL


def test_tf_dtype_and_variables(tf):
    x = tf.zeros((1, 8, 8, 4), dtype=tf.float64)
    w = tf.zeros((3, 3, 4, 4))
    with pytest.raises(groupconv.DTypeError, match="float64"):
        groupconv.conv2d(x, w, 1, "SAME")
    with pytest.raises(TypeError):
        groupconv.conv2d(tf.zeros((1, 8, 8, 4), dtype=tf.int32), w, 1, "SAME")
    with pytest.raises(groupconv.DTypeError, match="bfloat16"):
        groupconv.conv2d(tf.zeros((1, 8, 8, 4), dtype=tf.bfloat16), w, 1, "SAME")
    v = tf.Variable(np.ones((3, 3, 4, 4), np.float32))
    y = groupconv.conv2d(np.ones((1, 8, 8, 4), np.float32), v, 1, "VALID")
    np.testing.assert_allclose(y, np.full((1, 6, 6, 4), 36.0, np.float32))
    # a transposed (non-contiguous in memory order) TF tensor
    xt = tf.transpose(tf.reshape(tf.range(4 * 8 * 8, dtype=tf.float32), (1, 4, 8, 8)),
                      (0, 2, 3, 1))
    want = tf.nn.conv2d(xt, v, 1, "VALID").numpy()
    assert rel_l2(groupconv.conv2d(xt, v, 1, "VALID"), want) < TOL
