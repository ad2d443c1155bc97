# Type stub of the C++ extension groupconv._core (python/src/module.cpp). Internal: use the
# groupconv package. Arrays handed to it must be float32, C-contiguous and aligned.
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import numpy.typing as npt

class Desc:
    def __init__(
        self,
        data_format: str,  # "NHWC" | "NCHW"
        filter_format: str,  # "HWIO" | "OIHW"
        strides: Sequence[int],  # 1, 2 or 4 entries
        dilations: Sequence[int],
        padding: str,  # "VALID" | "SAME" | "SAME_LOWER" | "EXPLICIT"
        pads: Sequence[int],  # top, bottom, left, right (EXPLICIT only)
        groups: Optional[int],
        expect_output_channels: Optional[int],
        threads: int,  # 0 = library default
    ) -> None: ...

def resolve(
    input_shape: Sequence[int],
    filter_shape: Sequence[int],
    bias_shape: Optional[Sequence[int]],
    desc: Desc,
) -> Dict[str, Any]: ...
def conv2d(
    x: npt.NDArray[np.float32],
    w: npt.NDArray[np.float32],
    bias: Optional[npt.NDArray[np.float32]],
    desc: Desc,
) -> npt.NDArray[np.float32]: ...
def time_oneshot(
    x: npt.NDArray[np.float32],
    w: npt.NDArray[np.float32],
    bias: Optional[npt.NDArray[np.float32]],
    desc: Desc,
    iters: int,
    cpu_clock: bool = False,
) -> float: ...

class Plan:
    def __init__(
        self,
        w: npt.NDArray[np.float32],
        bias: Optional[npt.NDArray[np.float32]],
        input_shape: List[int],
        desc: Desc,
    ) -> None: ...
    def __call__(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]: ...
    def time_execute(
        self, x: npt.NDArray[np.float32], iters: int, cpu_clock: bool = False
    ) -> float: ...
    @property
    def input_shape(self) -> Tuple[int, int, int, int]: ...
    @property
    def output_shape(self) -> Tuple[int, int, int, int]: ...
    @property
    def kernel_name(self) -> str: ...
    @property
    def selection_log(self) -> str: ...
    @property
    def isa(self) -> str: ...
    @property
    def threads(self) -> int: ...
    @property
    def geometry(self) -> Dict[str, Any]: ...

# Backward passes: shapes are the FORWARD ones; dy must have the forward output's shape
# (else ShapeError GC018 naming both). Outputs are new 64-byte aligned arrays.
def conv2d_backward_data(
    dy: npt.NDArray[np.float32],
    w: npt.NDArray[np.float32],
    input_shape: Sequence[int],
    desc: Desc,
) -> npt.NDArray[np.float32]: ...  # dx, input_shape
def conv2d_backward_filter(
    x: npt.NDArray[np.float32],
    dy: npt.NDArray[np.float32],
    filter_shape: Sequence[int],
    bias_grad: bool,
    desc: Desc,
) -> Tuple[npt.NDArray[np.float32], Optional[npt.NDArray[np.float32]]]: ...  # dw, db [C_out]

class BackwardDataPlan:
    def __init__(
        self,
        w: npt.NDArray[np.float32],
        input_shape: List[int],
        grad_output_shape: List[int],
        desc: Desc,
    ) -> None: ...
    def __call__(self, dy: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]: ...
    @property
    def input_shape(self) -> Tuple[int, int, int, int]: ...
    @property
    def grad_output_shape(self) -> Tuple[int, int, int, int]: ...
    @property
    def kernel_name(self) -> str: ...

class BackwardFilterPlan:
    def __init__(
        self,
        input_shape: List[int],
        filter_shape: List[int],
        grad_output_shape: List[int],
        desc: Desc,
    ) -> None: ...
    def __call__(
        self, x: npt.NDArray[np.float32], dy: npt.NDArray[np.float32], bias_grad: bool
    ) -> Tuple[npt.NDArray[np.float32], Optional[npt.NDArray[np.float32]]]: ...
    @property
    def filter_shape(self) -> Tuple[int, int, int, int]: ...
    @property
    def grad_output_shape(self) -> Tuple[int, int, int, int]: ...
    @property
    def kernel_name(self) -> str: ...

def default_threads() -> int: ...
def detected_isa() -> str: ...
