"""Type stubs of the native extension mnv2._mnv2 (re-exported by mnv2)."""

import os
from typing import Any, Literal, Sequence, TypedDict, Union, overload

import numpy as np
import numpy.typing as npt

__version__: str

PathLike = Union[str, "os.PathLike[str]"]
ImageInput = Union[PathLike, bytes, bytearray, memoryview, npt.NDArray[np.uint8]]
Preprocess = Literal["omz", "tf", "none"]

class Prediction(TypedDict):
    index: int
    label: str | None
    probability: float

class Normalization(TypedDict):
    in_graph: bool
    mean: float
    scale: float

class ModelInfo(TypedDict):
    name: str
    format: str
    input_name: str
    output_name: str
    layout: Literal["NHWC", "NCHW"]
    input_shape: tuple[int, int, int, int]
    height: int
    width: int
    channels: int
    channel_order: Literal["RGB", "BGR"]
    normalization: Normalization
    classes: int
    has_background: bool
    output_is_softmax: bool
    feature_dim: int
    quantized: bool
    width_multiplier: float
    params: int
    macs: int
    threads: int
    isa: str
    precision: str
    labels: bool

class Model:
    def __init__(
        self,
        path: PathLike | None = None,
        *,
        threads: int | None = None,
        precision: str = "auto",
        synthetic: tuple[float, int] | None = None,
        labels: PathLike | Sequence[str] | None = None,
        classes: int = 1001,
        seed: int = 1,
        download: bool = True,
    ) -> None: ...
    @property
    def info(self) -> ModelInfo: ...
    @property
    def labels(self) -> list[str] | None: ...
    @property
    def labels_note(self) -> str: ...
    @overload
    def classify(
        self,
        x: Sequence[ImageInput],
        top: int = 5,
        *,
        preprocess: Preprocess = "omz",
        batch: int = 1,
        errors: Literal["raise", "return"] = "raise",
        max_pixels: int = 100000000,
    ) -> list[list[Prediction] | Exception]: ...
    @overload
    def classify(
        self,
        x: ImageInput,
        top: int = 5,
        *,
        preprocess: Preprocess = "omz",
        batch: int = 1,
        errors: Literal["raise", "return"] = "raise",
        max_pixels: int = 100000000,
    ) -> list[Prediction]: ...
    def embed(
        self,
        x: ImageInput | Sequence[ImageInput],
        *,
        preprocess: Preprocess = "omz",
        batch: int = 1,
        normalize: bool = False,
        errors: Literal["raise", "return"] = "raise",
        max_pixels: int = 100000000,
    ) -> npt.NDArray[np.float32] | tuple[npt.NDArray[np.float32], list[Exception | None]]: ...
    def run(
        self, x: npt.ArrayLike, *, output: Literal["probs", "probabilities", "logits", "features"] = "probs"
    ) -> npt.NDArray[np.float32]: ...
    def summary(self) -> str: ...
    def _infer(
        self,
        x: Sequence[ImageInput],
        features: bool = False,
        *,
        preprocess: Preprocess = "omz",
        batch: int = 1,
        max_pixels: int = 100000000,
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32] | None, list[str | None]]: ...
    def _top_k(self, probs: npt.ArrayLike, k: int) -> list[list[int]]: ...
    def _spec(self) -> tuple[Any, ...]: ...

class FetchResult(TypedDict, total=False):
    model: str
    model_dir: str
    model_path: str
    files: list[str]
    labels_path: str
    model_downloaded: bool
    labels_downloaded: bool
    url: str
    bytes_downloaded: int
    resumed_from: int
    sample: str

def fetch(
    model: str = "mobilenet-v2-1.4-224",
    *,
    force: bool = False,
    quiet: bool = True,
    labels: bool = True,
    sample: bool = False,
) -> FetchResult: ...

class Latency(TypedDict):
    p50: float
    p90: float
    p99: float
    mean: float
    min: float
    max: float

class BenchResult(TypedDict):
    model: str
    format: str
    isa: str
    precision: str
    int8_rounding: str | None
    threads: int
    batch: int
    iterations: int
    load_ms: float
    first_inference_ms: float
    latency_ms: Latency
    throughput_ips: float
    gmacs_per_s: float
    peak_rss_mib: float
    macs: int

def bench(
    model: PathLike | None = None,
    *,
    synthetic: tuple[float, int] | None = None,
    threads: int | None = None,
    batch: int = 1,
    warmup: int = 5,
    iterations: int = 50,
    classes: int = 1001,
    seed: int = 1,
    precision: str = "auto",
) -> BenchResult: ...
def cache_dir() -> str: ...
def detect_isa() -> str: ...
