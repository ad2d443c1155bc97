"""Training through groupconv from TensorFlow: groupconv.tf.conv2d (tf.custom_gradient) against
tf.GradientTape on TensorFlow's own convolutions.

TensorFlow's CPU kernels refuse the gradients of grouped convolutions ("Gradients for grouped
convolutions are not supported on CPU") and of dilated ones, so the oracle is, per geometry,
the first of these that TF differentiates: tf.nn.conv2d (groups=1), tf.nn.depthwise_conv2d
(depthwise, with multiplier), the groups as separate tf.nn.conv2d calls on tf.split slices,
concatenated (what a TF user does), or -- dilated -- tf.nn.with_space_to_batch around those
(TF's atrous convolution) on the padded input, strided by slicing. Geometries TF refuses in
all of these are checked by the adjoint identities instead and listed.

Runs in build/venv-tf (tensorflow-cpu). Without TensorFlow: skipped, or failed when
GROUPCONV_REQUIRE_ORACLES=1.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import groupconv
from conftest import random_configs, rel_l2

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

TOL = 1e-5
N_CONFIGS = 150
MIN_TF_CHECKED = 100
TRAIN_TOL = 1e-4


@pytest.fixture(scope="module")
def tf():
    from conftest import require
    return require("tensorflow")


@pytest.fixture(scope="module")
def gctf(tf):
    import groupconv.tf as gctf
    return gctf


def _tf_padding(c):
    if c.padding == "EXPLICIT":
        t, b, l_, r = c.pads
        return [[0, 0], [t, b], [l_, r], [0, 0]]
    return c.padding


def _oracles(tf, c):
    """TensorFlow convolutions (NHWC, HWIO) computing config c, most direct first."""
    s, d, pad = [1, c.sh, c.sw, 1], [c.dh, c.dw], _tf_padding(c)
    out = []
    if c.groups == 1:
        out.append(("conv2d", lambda x, w: tf.nn.conv2d(x, w, s, pad, dilations=d)))
    # tf.nn.depthwise_conv2d documents stride and dilation > 1 together as unsupported (it
    # warns and computes something else): the split form covers those.
    if c.cig == 1 and c.groups > 1 and not (max(c.sh, c.sw) > 1 and max(c.dh, c.dw) > 1):
        def dw(x, w):
            k = tf.reshape(w, [c.kh, c.kw, c.groups, c.cog])  # HWIO [.., 1, G*m] -> [.., G, m]
            return tf.nn.depthwise_conv2d(x, k, s, pad, dilations=d)
        out.append(("depthwise_conv2d", dw))
    if c.groups > 1:
        def split(x, w):
            xs = tf.split(x, c.groups, axis=3)
            ws = tf.split(w, c.groups, axis=3)
            return tf.concat([tf.nn.conv2d(a, k, s, pad, dilations=d) for a, k in zip(xs, ws)],
                             axis=3)
        out.append(("split conv2d", split))
    if max(c.dh, c.dw) > 1:
        # TF's CPU Conv2DBackpropInput/Filter refuse dilations > 1: atrous convolution as TF
        # builds it without the dilated kernels (tf.nn.with_space_to_batch), per group, on
        # the explicitly padded input, strided by slicing.
        def atrous(x, w):
            t, b, l_, r = c.resolved_pads()
            xp = tf.pad(x, [[0, 0], [t, b], [l_, r], [0, 0]])
            ys = [tf.nn.with_space_to_batch(
                a, [c.dh, c.dw], "VALID",
                lambda inp, num_spatial_dims, padding, k=k: tf.nn.conv2d(inp, k, 1, padding))
                for a, k in zip(tf.split(xp, c.groups, 3), tf.split(w, c.groups, 3))]
            return tf.concat(ys, 3)[:, ::c.sh, ::c.sw, :]
        out.append(("with_space_to_batch conv2d", atrous))
    return out


def _grads(tf, conv, x, w, b, dy):
    xv, wv = tf.constant(x), tf.Variable(w)
    bv = None if b is None else tf.Variable(b)
    with tf.GradientTape() as tape:
        tape.watch(xv)
        y = conv(xv, wv, bv)
        loss = tf.reduce_sum(y * dy)
    grads = tape.gradient(loss, [xv, wv] + ([bv] if bv is not None else []))
    return y.numpy(), [g.numpy() for g in grads]


def test_random_configs_gradients_match_tensorflow(tf, gctf):
    checked, refused, used = 0, [], {}
    worst = [0.0, 0.0, 0.0]
    for i, c in enumerate(random_configs(N_CONFIGS, seed=9090)):
        x, w, b = c.tensors()
        # our output shape first (to draw dy); every 3rd call without `groups` (inferred)
        kw = dict(strides=[c.sh, c.sw] if i % 2 else [1, c.sh, c.sw, 1],
                  padding=_tf_padding(c), dilations=[c.dh, c.dw],
                  groups=c.groups if i % 3 else None)
        y0 = groupconv.conv2d(x, w, bias=b, **kw)
        dy = np.random.default_rng(i).standard_normal(y0.shape).astype(np.float32)
        mine_y, mine = _grads(tf, lambda xv, wv, bv: gctf.conv2d(xv, wv, bias=bv, **kw),
                              x, w, b, dy)
        np.testing.assert_array_equal(mine_y, y0)
        want, why = None, []
        for name, conv in _oracles(tf, c):
            try:
                want = _grads(tf, lambda xv, wv, bv, conv=conv:
                              conv(xv, wv) + (0.0 if bv is None else bv), x, w, b, dy)
                if want[0].shape != mine_y.shape:
                    raise ValueError(f"TF computed shape {want[0].shape}, not {mine_y.shape}")
                used[name] = used.get(name, 0) + 1
                break
            except Exception as e:  # noqa: BLE001 - TF's CPU kernels refuse some geometries
                why.append(f"{name}: {type(e).__name__}: {str(e).splitlines()[0][:90]}")
        if want is None:
            refused.append((str(c), "; ".join(why)))
            # adjoint identities instead: <y, dy> = <x, dx> = <w, dw> (+ <b, db> with a bias)
            f = np.vdot(mine_y.astype(np.float64), dy)
            fb = 0.0 if b is None else np.vdot(b.astype(np.float64), mine[2])
            scale = (np.linalg.norm(mine_y) * np.linalg.norm(dy) + np.linalg.norm(x) *
                     np.linalg.norm(mine[0]) + np.linalg.norm(w) * np.linalg.norm(mine[1]) + 1e-30)
            assert abs(np.vdot(x.astype(np.float64), mine[0]) + fb - f) / scale < 1e-5, str(c)
            assert abs(np.vdot(w.astype(np.float64), mine[1]) + fb - f) / scale < 1e-5, str(c)
            continue
        want_y, want_g = want
        assert rel_l2(mine_y, want_y) < TOL, str(c)
        for k, (g, r) in enumerate(zip(mine, want_g)):
            err = rel_l2(g, r)
            worst[k] = max(worst[k], err)
            assert err < TOL, (["dx", "dw", "db"][k], str(c), err)
        checked += 1
    print(f"\n{checked} configs: gradients match tf.GradientTape ({used}); worst rel L2 "
          f"dx {worst[0]:.2e}, dw {worst[1]:.2e}, db {worst[2]:.2e}; {len(refused)} refused by "
          "TF on CPU (adjoint identities checked instead):")
    for cfg, why in refused:
        print(f"  {cfg}: {why}")
    assert checked >= MIN_TF_CHECKED, refused


def test_grouped_gradients_refused_by_tensorflow_cpu_work_here(tf, gctf):
    """The motivating case: TF's own grouped conv2d has no CPU gradient; ours does."""
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((2, 9, 9, 8)).astype(np.float32))
    w = tf.Variable(rng.standard_normal((3, 3, 2, 12)).astype(np.float32))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.nn.conv2d(x, w, 1, "SAME") ** 2)
    try:
        tape.gradient(loss, w)
        tf_refuses = False
    except Exception:  # noqa: BLE001
        tf_refuses = True
    print(f"\nTensorFlow {tf.__version__} refuses grouped conv2d gradients on CPU: {tf_refuses}")
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(gctf.conv2d(x, w, 1, "SAME", groups=4) ** 2)
    dw = tape.gradient(loss, w)
    assert dw.shape == w.shape and np.isfinite(dw.numpy()).all() and np.abs(dw.numpy()).max() > 0


def test_graph_mode_float64_nchw_and_batch_dims(tf, gctf):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 10, 10, 6)).astype(np.float32)
    w = rng.standard_normal((3, 3, 1, 12)).astype(np.float32)  # depthwise, multiplier 2
    b = rng.standard_normal(12).astype(np.float32)
    kw = dict(strides=2, padding="SAME", groups=6)

    def conv(xv, wv, bv):
        return gctf.conv2d(xv, wv, bias=bv, **kw)

    y, eager = _grads(tf, conv, x, w, b, np.ones((2, 5, 5, 12), np.float32))
    _, want = _grads(tf, lambda xv, wv, bv: tf.nn.depthwise_conv2d(
        xv, tf.reshape(wv, [3, 3, 6, 2]), [1, 2, 2, 1], "SAME") + bv, x, w, b,
        np.ones((2, 5, 5, 12), np.float32))
    for g, r in zip(eager, want):
        assert rel_l2(g, r) < TOL
    # tf.function (graph mode: tf.numpy_function), static shapes kept
    xv, wv, bv = tf.constant(x), tf.Variable(w), tf.Variable(b)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            tape.watch(xv)
            yy = conv(xv, wv, bv)
            loss = tf.reduce_sum(yy)
        return yy, tape.gradient(loss, [xv, wv, bv])

    yg, graph = step()
    assert tuple(step.get_concrete_function().structured_outputs[0].shape) == (2, 5, 5, 12)
    np.testing.assert_array_equal(yg.numpy(), y)
    for g, e in zip(graph, eager):
        np.testing.assert_array_equal(g.numpy(), e)
    # float64: computed in float32, returned as float64
    y64, g64 = _grads(tf, conv, x.astype(np.float64), w.astype(np.float64),
                      b.astype(np.float64), np.ones((2, 5, 5, 12)))
    assert y64.dtype == np.float64 and all(g.dtype == np.float64 for g in g64)
    for g, r in zip(g64, want):
        assert rel_l2(g, r) < 1e-5
    # NCHW (TF's CPU conv has no NCHW: compare with the NHWC gradients transposed)
    xn = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    _, gn = _grads(tf, lambda xv, wv, bv: gctf.conv2d(xv, wv, [1, 1, 2, 2], "SAME",
                                                      data_format="NCHW", groups=6, bias=bv),
                   xn, w, b, np.ones((2, 12, 5, 5), np.float32))
    assert rel_l2(gn[0], want[0].transpose(0, 3, 1, 2)) < TOL
    assert rel_l2(gn[1], want[1]) < TOL and rel_l2(gn[2], want[2]) < TOL
    # TF's extra leading batch dims
    x5 = rng.standard_normal((2, 3, 7, 7, 4)).astype(np.float32)
    w5 = rng.standard_normal((3, 3, 4, 5)).astype(np.float32)
    _, g5 = _grads(tf, lambda xv, wv, bv: gctf.conv2d(xv, wv, 1, "VALID"), x5, w5, None,
                   np.ones((2, 3, 5, 5, 5), np.float32))
    _, r5 = _grads(tf, lambda xv, wv, bv: tf.nn.conv2d(xv, wv, 1, "VALID"), x5, w5, None,
                   np.ones((2, 3, 5, 5, 5), np.float32))
    assert rel_l2(g5[0], r5[0]) < TOL and rel_l2(g5[1], r5[1]) < TOL


def test_eager_tensors_move_without_copies(tf, gctf, monkeypatch):
    from groupconv import _api
    from groupconv._convert import as_float32
    seen = {}
    real = _api.conv2d

    def spy(*a, **k):
        seen["y"] = real(*a, **k)
        return seen["y"]

    monkeypatch.setattr(_api, "conv2d", spy)
    x = tf.random.normal((1, 8, 8, 4))
    y = gctf.conv2d(x, tf.random.normal((3, 3, 1, 4)), 1, "SAME", groups=4)
    assert np.from_dlpack(y).ctypes.data == seen["y"].ctypes.data  # groupconv's buffer
    assert as_float32(x, "x").ctypes.data == np.from_dlpack(x).ctypes.data  # read in place


def test_errors(tf, gctf):
    x = tf.zeros((1, 8, 8, 33))
    w = tf.zeros((3, 3, 8, 16))
    with pytest.raises(groupconv.ShapeError) as e:
        gctf.conv2d(x, w, 1, "SAME", groups=4)
    assert "33" in str(e.value)

    # static shapes: refused at tracing time. Autograph re-raises exceptions of unknown
    # types as a StagingError with the same text; without autograph it is the ShapeError.
    def traced(xx):
        return gctf.conv2d(xx, w, 1, "SAME", groups=4)

    with pytest.raises(groupconv.ShapeError, match="GC001"):
        tf.function(traced, autograph=False)(x)
    with pytest.raises(Exception, match="GC001"):
        tf.function(traced)(x)
    with pytest.raises(groupconv.DTypeError, match="float16"):
        gctf.conv2d(tf.zeros((1, 8, 8, 32), tf.float16), tf.zeros((3, 3, 8, 16), tf.float16),
                    1, "SAME")
    with pytest.raises(groupconv.DTypeError):
        gctf.conv2d(tf.zeros((1, 8, 8, 32)), tf.zeros((3, 3, 8, 16), tf.float64), 1, "SAME")


def _blocks(tf, gctf, kind, use_groupconv):
    """A tiny block as a function of its variables: ResNeXt-style (1x1 -> grouped 3x3 g=4 ->
    1x1 + residual) or MobileNet-style (1x1 expand -> depthwise 3x3 s2 -> 1x1), then a head."""
    rng = np.random.default_rng(7)

    def var(*shape):
        return tf.Variable((rng.standard_normal(shape) / np.sqrt(np.prod(shape[:-1])))
                           .astype(np.float32))

    def conv(x, w, stride, groups, bias=None):
        if use_groupconv:
            return gctf.conv2d(x, w, stride, "SAME", groups=groups, bias=bias)
        if groups == 1:
            y = tf.nn.conv2d(x, w, stride, "SAME")
        elif w.shape[2] == 1:
            y = tf.nn.depthwise_conv2d(x, tf.reshape(w, [w.shape[0], w.shape[1], groups, -1]),
                                       [1, stride, stride, 1], "SAME")
        else:  # TF has no CPU gradient for grouped conv2d: the groups one by one
            y = tf.concat([tf.nn.conv2d(a, k, stride, "SAME") for a, k in
                           zip(tf.split(x, groups, 3), tf.split(w, groups, 3))], 3)
        return y if bias is None else y + bias

    if kind == "resnext":
        v = [var(1, 1, 16, 16), var(3, 3, 4, 16), var(1, 1, 16, 16), var(16), var(16, 5)]

        def model(x):
            h = tf.nn.relu(conv(x, v[0], 1, 1))
            h = tf.nn.relu(conv(h, v[1], 1, 4))
            h = tf.nn.relu(conv(h, v[2], 1, 1, v[3]) + x)
            return tf.reduce_mean(h, [1, 2]) @ v[4]
        cin = 16
    else:
        v = [var(1, 1, 8, 32), var(32), var(3, 3, 1, 32), var(1, 1, 32, 12), var(12, 5)]

        def model(x):
            h = tf.nn.relu(conv(x, v[0], 1, 1, v[1]))
            h = tf.nn.relu(conv(h, v[2], 2, 32))
            return tf.reduce_mean(conv(h, v[3], 1, 1), [1, 2]) @ v[4]
        cin = 8
    return model, v, cin


@pytest.mark.parametrize("kind", ["resnext", "mobilenet"])
@pytest.mark.parametrize("graph", [False, True], ids=["eager", "tf_function"])
def test_training_matches_tensorflow(tf, gctf, kind, graph):
    """20 SGD steps from identical weights and data, eager or in a tf.function: losses equal
    to 1e-4 relative at every step."""
    losses = {}
    for use in (False, True):
        model, v, cin = _blocks(tf, gctf, kind, use)
        rng = np.random.default_rng(3)
        data = []
        for _ in range(2):
            label = rng.integers(0, 5, 8)
            x = rng.standard_normal((8, 12, 12, cin)).astype(np.float32)
            x[np.arange(8), :, :, label] += 1.0
            data.append((tf.constant(x), tf.constant(label)))
        opt = tf.keras.optimizers.SGD(learning_rate=0.05, momentum=0.9)

        def step(x, label):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
                    label, model(x)))
            opt.apply_gradients(zip(tape.gradient(loss, v), v))
            return loss

        if graph:
            step = tf.function(step)
        losses[use] = np.array([float(step(*data[s % 2])) for s in range(20)])
    rel = np.abs(losses[True] - losses[False]) / np.abs(losses[False])
    print(f"\n{kind} ({'tf.function' if graph else 'eager'}): losses {losses[False][0]:.4f} -> "
          f"{losses[False][-1]:.4f}, worst per-step relative difference {rel.max():.2e}")
    assert losses[False][-4:].mean() < 0.85 * losses[False][:4].mean()  # it learns
    assert rel.max() < TRAIN_TOL, rel


def test_import_groupconv_imports_no_framework():
    code = ("import sys, groupconv; assert 'tensorflow' not in sys.modules, 'tensorflow'; "
            "assert 'torch' not in sys.modules, 'torch'")
    subprocess.run([sys.executable, "-c", code], check=True)
    missing = ("import sys; sys.modules['tensorflow'] = None\n"
               "try:\n    import groupconv.tf\nexcept ImportError as e:\n"
               "    assert 'groupconv.tf needs TensorFlow' in str(e), e\n"
               "else:\n    raise SystemExit('imported without tensorflow')\n")
    subprocess.run([sys.executable, "-c", missing], check=True)
