"""Shared helpers of the Python tests: oracles, the float64 numpy reference, random configs.

Oracles (TensorFlow, PyTorch) live in two interpreters (they cannot share one here), so every
test module asks for its oracle with ``require(...)``: a missing oracle is a skip, or a
failure when GROUPCONV_REQUIRE_ORACLES=1 (CI sets it).
"""

from __future__ import annotations

import importlib
import os
import random
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np
import pytest

# TensorFlow's oneDNN kernels (on by default on x86) are not a usable oracle for grouped
# convolution on AVX-512 CPUs: with TF 2.21 on a Zen 4, Conv2DBackpropFilter crashed the
# interpreter (segmentation fault) on grouped filters, an invalid grouped call aborted it, and
# an empty batch came back in the input's shape. TF's own (Eigen) kernels agree with the float64
# reference; they are what the oracle tests use. Set before any test imports TensorFlow.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


def require(module: str):
    """Imports an oracle module, or skips (fails under GROUPCONV_REQUIRE_ORACLES=1)."""
    try:
        return importlib.import_module(module)
    except Exception as e:  # noqa: BLE001 - ImportError, or a broken install
        msg = f"oracle {module!r} is not importable here: {type(e).__name__}: {e}"
        if os.environ.get("GROUPCONV_REQUIRE_ORACLES") == "1":
            pytest.fail(msg + " (GROUPCONV_REQUIRE_ORACLES=1)", pytrace=False)
        pytest.skip(msg)


def rel_l2(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    denom = np.linalg.norm(b)
    num = np.linalg.norm(a - b)
    if denom == 0.0:
        return float(num)
    return float(num / denom)


def reference_nhwc(x: np.ndarray, w: np.ndarray, strides=(1, 1), dilations=(1, 1),
                   pads=(0, 0, 0, 0), bias: Optional[np.ndarray] = None) -> np.ndarray:
    """Float64 grouped convolution straight from SPEC §1: x NHWC, w HWIO, pads t,b,l,r."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    n, h, wd, cin = x.shape
    kh, kw, cig, cout = w.shape
    groups = cin // cig
    cog = cout // groups
    sh, sw = strides
    dh, dw = dilations
    t, b, l_, r = pads
    xp = np.zeros((n, h + t + b, wd + l_ + r, cin))
    xp[:, t:t + h, l_:l_ + wd, :] = x
    ho = (h + t + b - ((kh - 1) * dh + 1)) // sh + 1
    wo = (wd + l_ + r - ((kw - 1) * dw + 1)) // sw + 1
    y = np.zeros((n, ho, wo, cout))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, i * dh:i * dh + (ho - 1) * sh + 1:sh,
                       j * dw:j * dw + (wo - 1) * sw + 1:sw, :]  # [n, ho, wo, cin]
            for g in range(groups):
                y[..., g * cog:(g + 1) * cog] += (
                    patch[..., g * cig:(g + 1) * cig] @ w[i, j, :, g * cog:(g + 1) * cog])
    if bias is not None:
        y += np.asarray(bias, dtype=np.float64)
    return y


def same_pads(h: int, k: int, s: int, d: int) -> Tuple[int, int]:
    """SAME (TF / ONNX SAME_UPPER): (before, after)."""
    out = -(-h // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - h, 0)
    return total // 2, total - total // 2


@dataclass
class Config:
    n: int
    h: int
    w: int
    groups: int
    cig: int
    cog: int
    kh: int
    kw: int
    sh: int
    sw: int
    dh: int
    dw: int
    padding: str  # "SAME" | "VALID" | "EXPLICIT"
    pads: Tuple[int, int, int, int] = (0, 0, 0, 0)
    bias: bool = False
    seed: int = 0
    notes: List[str] = field(default_factory=list)

    @property
    def cin(self) -> int:
        return self.groups * self.cig

    @property
    def cout(self) -> int:
        return self.groups * self.cog

    def resolved_pads(self) -> Tuple[int, int, int, int]:
        if self.padding == "VALID":
            return (0, 0, 0, 0)
        if self.padding == "SAME":
            return same_pads(self.h, self.kh, self.sh, self.dh) + same_pads(
                self.w, self.kw, self.sw, self.dw)
        return self.pads

    def tensors(self):
        rng = np.random.default_rng(self.seed)
        x = rng.standard_normal((self.n, self.h, self.w, self.cin)).astype(np.float32)
        wt = rng.standard_normal((self.kh, self.kw, self.cig, self.cout)).astype(np.float32)
        b = rng.standard_normal(self.cout).astype(np.float32) if self.bias else None
        return x, wt, b

    def __str__(self) -> str:
        return (f"n{self.n} {self.h}x{self.w} G{self.groups} cig{self.cig} cog{self.cog} "
                f"k{self.kh}x{self.kw} s{self.sh},{self.sw} d{self.dh},{self.dw} "
                f"{self.padding}{self.pads if self.padding == 'EXPLICIT' else ''}"
                f"{' bias' if self.bias else ''}")


def random_configs(count: int, seed: int) -> List[Config]:
    """Small random grouped convolutions covering depthwise, grouped, pointwise, strides,
    dilations (also with strides), SAME/VALID/explicit padding, batch 0..3, even kernels."""
    rnd = random.Random(seed)
    out: List[Config] = []
    while len(out) < count:
        kind = rnd.choice(["depthwise", "grouped", "pointwise", "dense", "any"])
        if kind == "depthwise":
            groups, cig, cog = rnd.randint(1, 24), 1, rnd.choice([1, 1, 2, 3])
        elif kind == "grouped":
            groups, cig, cog = rnd.randint(2, 8), rnd.randint(2, 8), rnd.randint(1, 8)
        elif kind == "pointwise":
            groups, cig, cog = rnd.choice([1, 2, 3, 4]), rnd.randint(1, 16), rnd.randint(1, 16)
        elif kind == "dense":
            groups, cig, cog = 1, rnd.randint(1, 12), rnd.randint(1, 12)
        else:
            groups, cig, cog = rnd.randint(1, 6), rnd.randint(1, 6), rnd.randint(1, 6)
        kh = 1 if kind == "pointwise" else rnd.choice([1, 2, 3, 3, 3, 4, 5, 7])
        kw = 1 if kind == "pointwise" else rnd.choice([kh, kh, kh, 1, 2, 3, 5])
        sh = rnd.choice([1, 1, 1, 2, 3])
        sw = rnd.choice([sh, sh, 1, 2])
        dh = rnd.choice([1, 1, 1, 1, 2, 3])
        dw = rnd.choice([dh, dh, 1, 2])
        h = rnd.randint(1, 20)
        w = rnd.randint(1, 20)
        n = rnd.choice([1, 1, 2, 3])
        padding = rnd.choice(["SAME", "SAME", "VALID", "EXPLICIT"])
        pads = (0, 0, 0, 0)
        if padding == "EXPLICIT":
            pads = tuple(rnd.randint(0, 3) for _ in range(4))
        c = Config(n, h, w, groups, cig, cog, kh, kw, sh, sw, dh, dw, padding, pads,
                   bias=rnd.random() < 0.3, seed=rnd.randrange(1 << 30))
        t, b, l_, r = c.resolved_pads()
        if h + t + b < (kh - 1) * dh + 1 or w + l_ + r < (kw - 1) * dw + 1:
            continue  # empty output: an error case, tested elsewhere
        out.append(c)
    return out


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tests run single-threaded (tiny problems; the CI machine is shared): thread counts are
    exercised explicitly with threads= where a test is about them."""
    import groupconv
    groupconv.set_num_threads(1)
    yield
    groupconv.set_num_threads(None)
