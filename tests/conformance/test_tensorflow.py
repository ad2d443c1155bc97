"""groupconv (the CLI) against TensorFlow on the shared seeded cases; run by build/venv-tf.

Oracles per case, each tried as directly as TensorFlow allows, then through the usual
workaround when TensorFlow refuses (the refusal is recorded word for word):
  tf.nn.conv2d            groups implied by the filter shape; NCHW as given, then transposed
                          to NHWC (the CPU kernel is NHWC only); SAME_LOWER and explicit pads as
                          TF's explicit padding list, then tf.pad + VALID
  tf.nn.convolution       the same, VALID/SAME strings only (explicit pads via tf.pad)
  tf.nn.depthwise_conv2d  depthwise cases (Cig = 1), filter [KH, KW, C_in, multiplier]
Every case is also checked against the float64 NumPy reference, so a configuration that
TensorFlow refuses altogether is still checked, never dropped.

Backward passes (gc.backward_cases(), a seeded subset): `groupconv run --pass bwd_data` and
`--pass bwd_filter` against tf.GradientTape in float64 over
  tf.nn.conv2d            as above (explicit pads as TF's padding list); NCHW as given, then
                          transposed to NHWC; grouped, then as TF users work around the
                          refused grouped gradients: tf.split into the groups, one
                          tf.nn.conv2d per group, tf.concat
  tf.raw_ops.Conv2DBackpropInput / Conv2DBackpropFilter (+ BiasAddGrad)
                          the ops that tf.nn.conv2d's gradient runs, called directly, one per
                          pass: their own refusals (GradientTape reports only the first)
  tf.nn.depthwise_conv2d  depthwise cases (Cig = 1); NCHW as given, then transposed
and against the float64 NumPy gradients. Each pass asks the tape for its own gradient
(dx; dw and db), so a refusal is recorded per pass, with the op TensorFlow names.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# TensorFlow's oneDNN kernels are not a usable oracle for grouped convolution on AVX-512 CPUs:
# with TF 2.21 on a Zen 4 an empty batch came back in the input's shape and an invalid grouped
# call aborted the interpreter. Its own (Eigen) kernels agree with the float64 reference.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import gc_cases as gc  # noqa: E402

try:
    import tensorflow as tf
    IMPORT_ERROR = None
except Exception as e:  # noqa: BLE001 - any import failure means "no oracle"
    tf = None
    IMPORT_ERROR = e

CASES = gc.generate_cases()


@pytest.fixture(scope="session")
def oracle():
    if tf is None:
        msg = f"tensorflow is not importable ({IMPORT_ERROR!r})"
        if gc.oracles_required():
            pytest.fail(msg + " and GROUPCONV_REQUIRE_ORACLES=1")
        pytest.skip(msg)
    return tf


@pytest.fixture(scope="session")
def binary():
    p = gc.groupconv_bin()
    if not p.exists():
        pytest.fail(f"groupconv binary not found at {p} (build it, or set GROUPCONV_BIN)")
    return p


@pytest.fixture(scope="session")
def records():
    r = gc.Refusals("tensorflow")
    if tf is not None:
        r.meta["tensorflow"] = tf.__version__
        r.meta["tf_enable_onednn_opts"] = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "")
    yield r
    r.save()


def _pads_list(c, data_format):
    t, b, l, r = c.resolved_pads()
    if data_format == "NHWC":
        return [[0, 0], [t, b], [l, r], [0, 0]]
    return [[0, 0], [0, 0], [t, b], [l, r]]


def _tf_pad_nhwc(c, x):
    t, b, l, r = c.resolved_pads()
    return tf.pad(x, [[0, 0], [t, b], [l, r], [0, 0]])


def tf_families(c, x, w, b, dtype=np.float32):
    """{family: [(api, fn), ...]}: the direct call first, then the workarounds."""
    x = np.asarray(x, dtype)
    w_hwio = gc.to_hwio(np.asarray(w, dtype), c.filter_format)
    bb = None if b is None else np.asarray(b, dtype)
    s, d = [c.sh, c.sw], [c.dh, c.dw]
    x_nhwc = gc.to_nhwc(x, c.data_format)

    def finish(y, data_format):
        if bb is not None:
            y = tf.nn.bias_add(y, bb, data_format=data_format)
        return gc.from_nhwc(y.numpy(), c.data_format) if data_format == "NHWC" and \
            c.data_format == "NCHW" else y.numpy()

    def conv2d_direct():
        pad = c.padding if c.padding in ("VALID", "SAME") else _pads_list(c, c.data_format)
        return finish(tf.nn.conv2d(x, w_hwio, s, pad, data_format=c.data_format, dilations=d),
                      c.data_format)

    def conv2d_nhwc():
        pad = c.padding if c.padding in ("VALID", "SAME") else _pads_list(c, "NHWC")
        return finish(tf.nn.conv2d(x_nhwc, w_hwio, s, pad, data_format="NHWC", dilations=d), "NHWC")

    def conv2d_tfpad():
        return finish(tf.nn.conv2d(_tf_pad_nhwc(c, x_nhwc), w_hwio, s, "VALID", data_format="NHWC",
                                   dilations=d), "NHWC")

    def convolution(data_format):
        def f():
            xx = x if data_format == c.data_format else x_nhwc
            if c.padding in ("VALID", "SAME"):
                pad = c.padding
            elif data_format == "NHWC":
                xx, pad = _tf_pad_nhwc(c, xx), "VALID"
            else:
                raise gc.NotExpressible("tf.nn.convolution takes only VALID/SAME; tf.pad on NHWC")
            return finish(tf.nn.convolution(xx, w_hwio, strides=s, padding=pad, dilations=d,
                                            data_format=data_format), data_format)
        return f

    fam = {"tf.nn.conv2d": [("tf.nn.conv2d", conv2d_direct)],
           "tf.nn.convolution": [("tf.nn.convolution", convolution(c.data_format))]}
    if c.data_format == "NCHW":
        fam["tf.nn.conv2d"].append(("tf.nn.conv2d on NHWC (transposed)", conv2d_nhwc))
        fam["tf.nn.convolution"].append(("tf.nn.convolution on NHWC (transposed)",
                                         convolution("NHWC")))
    if c.padding not in ("VALID", "SAME"):
        fam["tf.nn.conv2d"].append(("tf.pad + tf.nn.conv2d VALID", conv2d_tfpad))
    if c.cig == 1:
        w_dw = w_hwio.reshape(c.kh, c.kw, c.groups, c.cog)  # out channel g*m + k

        def depthwise(data_format):
            def f():
                xx = x if data_format == c.data_format else x_nhwc
                if c.padding in ("VALID", "SAME"):
                    pad = c.padding
                elif data_format == "NHWC":
                    xx, pad = _tf_pad_nhwc(c, xx), "VALID"
                else:
                    raise gc.NotExpressible("explicit pads: tf.pad on NHWC")
                return finish(tf.nn.depthwise_conv2d(xx, w_dw, [1, c.sh, c.sw, 1] if
                                                     data_format == "NHWC" else [1, 1, c.sh, c.sw],
                                                     pad, data_format=data_format, dilations=d),
                              data_format)
            return f
        fam["tf.nn.depthwise_conv2d"] = [("tf.nn.depthwise_conv2d", depthwise(c.data_format))]
        if c.data_format == "NCHW":
            fam["tf.nn.depthwise_conv2d"].append(
                ("tf.nn.depthwise_conv2d on NHWC (transposed)", depthwise("NHWC")))
    return fam


def test_generator_is_reproducible_and_covers_the_matrix():
    again = gc.generate_cases()
    assert [c.to_json() for c in again] == [c.to_json() for c in CASES]
    cov = gc.coverage(CASES)
    assert cov["cases"] >= 200
    for key, n in cov.items():
        assert n >= 5, f"too few cases with {key}: {n}"


@pytest.mark.parametrize("c", [c for c in CASES if c.ho * c.wo * max(c.n, 1) * c.c_out <= 400
                               and c.kind != "wide"][:30], ids=lambda c: c.label())
def test_reference_matches_plain_loops(c):
    x, w, b = gc.case_arrays(c)
    e = gc.rel_l2(gc.reference_conv(c, x, w, b), gc.reference_conv_loops(c, x, w, b))
    assert e < 1e-12


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.label())
def test_case(c, oracle, binary, records, tmp_path):
    x, w, b = gc.case_arrays(c)
    fam = tf_families(c, x, w, b)
    fam64 = {k: v[:1] for k, v in tf_families(c, x, w, b, np.float64).items()}
    gc.check_case(c, fam, fam64, records, tmp_path)


def tf_grad_families(c, x, w, b, dy):
    """{family: [(api, fn(pass_))]}: float64 tf.GradientTape, the direct call first."""
    x64 = np.asarray(x, np.float64)
    w_hwio = gc.to_hwio(np.asarray(w, np.float64), c.filter_format)
    b64 = None if b is None else np.asarray(b, np.float64)
    dy64 = np.asarray(dy, np.float64)
    s, d = [c.sh, c.sw], [c.dh, c.dw]

    def padding(data_format):
        return c.padding if c.padding in ("VALID", "SAME") else _pads_list(c, data_format)

    def taped(forward, data_format):
        """fn(pass_): gradients of forward(x, w_hwio) (+ bias) in data_format, returned in
        the case's layouts."""
        xin = x64 if data_format == c.data_format else gc.to_nhwc(x64, c.data_format)
        dyin = dy64 if data_format == c.data_format else gc.to_nhwc(dy64, c.data_format)

        def fn(pass_):
            xt, wt = tf.constant(xin), tf.constant(w_hwio)
            bt = None if b64 is None else tf.constant(b64)
            with tf.GradientTape() as tape:
                tape.watch(xt)
                tape.watch(wt)
                if bt is not None:
                    tape.watch(bt)
                y = forward(xt, wt)
                if bt is not None:
                    y = tf.nn.bias_add(y, bt, data_format=data_format)
            if tuple(y.shape) != dyin.shape:
                raise gc.ForwardMismatch(y.shape, dyin.shape)
            if pass_ == "bwd_data":
                dx = tape.gradient(y, xt, output_gradients=tf.constant(dyin)).numpy()
                if data_format != c.data_format:
                    dx = gc.from_nhwc(dx, c.data_format)
                return {"dx": dx}
            srcs = [wt] if bt is None else [wt, bt]
            g = tape.gradient(y, srcs, output_gradients=tf.constant(dyin))
            return {"dw": gc.from_hwio(g[0].numpy(), c.filter_format),
                    "db": None if bt is None else g[1].numpy()}
        return fn

    def conv2d(data_format):
        return lambda xt, wt: tf.nn.conv2d(xt, wt, s, padding(data_format),
                                           data_format=data_format, dilations=d)

    def split_conv2d(xt, wt):
        xs, ws = tf.split(xt, c.groups, axis=3), tf.split(wt, c.groups, axis=3)
        return tf.concat([tf.nn.conv2d(a, k, s, padding("NHWC"), data_format="NHWC",
                                       dilations=d) for a, k in zip(xs, ws)], axis=3)

    def raw_ops(data_format):
        """The ops tf.nn.conv2d's gradient runs, called directly (no tape, no forward)."""
        xin = x64 if data_format == c.data_format else gc.to_nhwc(x64, c.data_format)
        dyin = dy64 if data_format == c.data_format else gc.to_nhwc(dy64, c.data_format)
        nhwc = data_format == "NHWC"
        st = [1, c.sh, c.sw, 1] if nhwc else [1, 1, c.sh, c.sw]
        dl = [1, c.dh, c.dw, 1] if nhwc else [1, 1, c.dh, c.dw]
        pad, explicit = c.padding, []
        if c.padding not in ("VALID", "SAME"):
            pad, explicit = "EXPLICIT", [v for p in _pads_list(c, data_format) for v in p]
        kw = dict(strides=st, padding=pad, explicit_paddings=explicit, data_format=data_format,
                  dilations=dl)

        def fn(pass_):
            if pass_ == "bwd_data":
                dx = tf.raw_ops.Conv2DBackpropInput(input_sizes=list(xin.shape), filter=w_hwio,
                                                    out_backprop=dyin, **kw).numpy()
                return {"dx": dx if data_format == c.data_format else
                        gc.from_nhwc(dx, c.data_format)}
            dw = tf.raw_ops.Conv2DBackpropFilter(input=xin, filter_sizes=list(w_hwio.shape),
                                                 out_backprop=dyin, **kw).numpy()
            db = None if b64 is None else tf.raw_ops.BiasAddGrad(
                out_backprop=dyin, data_format=data_format).numpy()
            return {"dw": gc.from_hwio(dw, c.filter_format), "db": db}
        return fn

    ops = "tf.raw_ops.Conv2DBackpropInput / Conv2DBackpropFilter"
    fam = {"tf.nn.conv2d": [("tf.nn.conv2d", taped(conv2d(c.data_format), c.data_format))],
           ops: [(ops, raw_ops(c.data_format))]}
    if c.data_format == "NCHW":
        fam[ops].append((ops + " on NHWC (transposed)", raw_ops("NHWC")))
        fam["tf.nn.conv2d"].append(("tf.nn.conv2d on NHWC (transposed)",
                                    taped(conv2d("NHWC"), "NHWC")))
    if c.groups > 1:
        fam["tf.nn.conv2d"].append(("tf.split + tf.nn.conv2d per group + tf.concat (NHWC)",
                                    taped(split_conv2d, "NHWC")))
    if c.cig == 1:
        def depthwise(data_format):
            st = [1, c.sh, c.sw, 1] if data_format == "NHWC" else [1, 1, c.sh, c.sw]

            def f(xt, wt):
                k = tf.reshape(wt, [c.kh, c.kw, c.groups, c.cog])  # out channel g*m + k
                return tf.nn.depthwise_conv2d(xt, k, st, padding(data_format),
                                              data_format=data_format, dilations=d)
            return f
        fam["tf.nn.depthwise_conv2d"] = [("tf.nn.depthwise_conv2d",
                                          taped(depthwise(c.data_format), c.data_format))]
        if c.data_format == "NCHW":
            fam["tf.nn.depthwise_conv2d"].append(
                ("tf.nn.depthwise_conv2d on NHWC (transposed)", taped(depthwise("NHWC"), "NHWC")))
    return fam


@pytest.mark.parametrize("c", gc.backward_cases(), ids=lambda c: "bwd-" + c.label())
def test_backward_case(c, oracle, binary, records, tmp_path):
    x, w, b = gc.case_arrays(c)
    gc.check_backward_case(c, tf_grad_families(c, x, w, b, gc.grad_output(c)), records, tmp_path)


def tf_invalid_call(inv):
    x = np.ones(inv.input_shape, dtype=inv.dtype)
    w = np.ones(inv.filter_shape, dtype=np.float32)
    if inv.name == "zero_groups":
        raise gc.NotExpressible("no groups argument: groups = C_in / filter in-channels")
    pads = gc.invalid_pads(inv)
    pad = inv.padding if pads is None else [[0, 0], [pads[0], pads[1]], [pads[2], pads[3]], [0, 0]]
    y = tf.nn.conv2d(x, w, inv.ints(inv.strides), pad, dilations=inv.ints(inv.dilations))
    if inv.bias_len is not None:
        y = tf.nn.bias_add(y, np.ones((inv.bias_len,), np.float32))
    return y.numpy()


@pytest.mark.parametrize("inv", gc.INVALID, ids=lambda i: i.name)
def test_invalid(inv, oracle, binary, records, tmp_path):
    gc.check_invalid(inv, lambda: tf_invalid_call(inv), records, tmp_path)
