"""Classify many image files on a Dask cluster.

>>> from dask.distributed import Client
>>> import mnv2.dask
>>> client = Client("tcp://scheduler:8786")          # or LocalCluster(), KubeCluster(...)
>>> df = mnv2.dask.classify_files(paths, model="/models/mobilenet_v2_1.4_224.tflite")
>>> df[["path", "label", "probability"]].head()

The paths are split into partitions; each partition is classified by one task on a worker.
Each worker process loads the model once (on its first task) and keeps it for the following
tasks and calls (see :func:`worker_model`). Every worker must be able to read the model file
and the images under the same paths (a shared file system or object-store mount), or use
model=None with the official model fetched into each worker's cache.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Optional, Sequence, Union

import dask.dataframe as dd
import numpy as np
import pandas as pd

from ._mnv2 import Model

__all__ = ["classify_files", "worker_model", "loaded_models"]

_lock = threading.Lock()
_models: dict = {}
_loads = 0  # models constructed in this process (tests check one per worker)


def _hashable(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(v)
    return v


def _spec(model: Union[str, "os.PathLike[str]", Model, None], threads: Optional[int],
          labels: Any, synthetic: Optional[tuple]) -> tuple:
    """The construction arguments of the model, as Model pickles them."""
    if isinstance(model, Model):
        return tuple(_hashable(v) for v in model._spec())
    path = None if model is None else os.fspath(model)
    if labels is not None and not isinstance(labels, (list, tuple)):
        labels = os.fspath(labels)
    syn = None if synthetic is None else (float(synthetic[0]), int(synthetic[1]))
    return (path, 0 if threads is None else int(threads), "auto", syn, 1001, 1, _hashable(labels), True)


def worker_model(spec: tuple) -> Model:
    """The model for `spec` in this process, constructed on first use and then cached."""
    global _loads
    with _lock:
        m = _models.get(spec)
        if m is None:
            path, threads, precision, synthetic, classes, seed, labels, download = spec
            if isinstance(labels, tuple):
                labels = list(labels)
            m = Model(path, threads=threads, precision=precision, synthetic=synthetic, labels=labels,
                      classes=classes, seed=seed, download=download)
            _models[spec] = m
            _loads += 1
        return m


def loaded_models() -> int:
    """How many models this process has constructed through worker_model()."""
    return _loads


def _columns(embedding: bool) -> dict:
    cols = {
        "path": pd.Series(dtype=object),
        "label": pd.Series(dtype=object),
        "probability": pd.Series(dtype="float64"),
        "labels": pd.Series(dtype=object),
        "indices": pd.Series(dtype=object),
        "probabilities": pd.Series(dtype=object),
    }
    if embedding:
        cols["embedding"] = pd.Series(dtype=object)
    cols["error"] = pd.Series(dtype=object)
    return cols


def _classify_partition(part: pd.DataFrame, spec: tuple, top: int, embedding: bool, preprocess: str,
                        batch: int) -> pd.DataFrame:
    m = worker_model(spec)
    paths = [str(p) for p in part["path"]]
    probs, feats, errors = m._infer(paths, embedding, preprocess=preprocess, batch=batch)
    tops = m._top_k(probs, top) if len(paths) else []
    names = m.labels
    out = _columns(embedding)
    rows: dict = {k: [] for k in out}
    for i, p in enumerate(paths):
        rows["path"].append(p)
        if errors[i] is not None:
            rows["label"].append(None)
            rows["probability"].append(np.nan)
            rows["labels"].append([])
            rows["indices"].append([])
            rows["probabilities"].append([])
        else:
            idx = tops[i]
            lab = [names[c] if names is not None and c < len(names) else None for c in idx]
            pr = [float(probs[i, c]) for c in idx]
            rows["label"].append(lab[0])
            rows["probability"].append(pr[0])
            rows["labels"].append(lab)
            rows["indices"].append(list(idx))
            rows["probabilities"].append(pr)
        if embedding:
            rows["embedding"].append(None if errors[i] is not None else feats[i].copy())
        rows["error"].append(errors[i])
    df = pd.DataFrame(rows, index=part.index)
    df["probability"] = df["probability"].astype("float64")
    return df


def classify_files(
    paths: Sequence[Union[str, "os.PathLike[str]"]],
    model: Union[str, "os.PathLike[str]", Model, None] = None,
    partitions: Optional[int] = None,
    *,
    top: int = 5,
    embedding: bool = False,
    preprocess: str = "omz",
    batch: int = 8,
    threads: Optional[int] = 1,
    labels: Any = None,
    synthetic: Optional[tuple] = None,
    compute: bool = True,
) -> Union[pd.DataFrame, dd.DataFrame]:
    """Top-k classes (and optionally embeddings) of many image files, computed with Dask.

    paths       image files (every worker must be able to read them).
    model       a model file path, an mnv2.Model (shipped by its construction arguments),
                or None for the official model from each worker's cache.
    partitions  number of tasks (default: 4 per worker of the active Dask client, else 4 per
                core), at most one per path.
    top         classes per image; embedding=True adds the pooled features (float32 arrays).
    preprocess  "omz" | "tf" | "none" (as Model.classify); batch: images per inference.
    threads     inference threads per worker model (default 1: one per Dask worker thread;
                ignored when model is an mnv2.Model, whose own setting is used).
    labels      label file path or list of names (default: the cached ImageNet labels).
    synthetic   (width, resolution): a synthetic model instead (tests, benchmarks).
    compute     False returns the lazy dask DataFrame instead of computing it.

    Returns a pandas DataFrame in the order of `paths` with columns path, label and
    probability (top-1), labels, indices and probabilities (top-k lists), embedding (when
    asked) and error (None, or the message of an image that could not be read: its other
    columns are then empty). Runs on the active dask.distributed Client if there is one,
    else on Dask's default scheduler.
    """
    paths = [os.fspath(p) for p in paths]
    if top < 1:
        raise ValueError(f"top must be >= 1, got {top}")
    if model is not None and synthetic is not None:
        raise ValueError("pass either model or synthetic, not both")
    spec = _spec(model, threads, labels, synthetic)
    if partitions is None:
        workers = 0
        try:
            from distributed import get_client

            workers = len(get_client().scheduler_info().get("workers", {}))
        except (ImportError, ValueError):
            workers = 0
        partitions = 4 * (workers or os.cpu_count() or 1)
    if partitions < 1:
        raise ValueError(f"partitions must be >= 1, got {partitions}")
    partitions = max(1, min(partitions, len(paths)))
    frame = pd.DataFrame({"path": pd.Series(paths, dtype=object)})
    ddf = dd.from_pandas(frame, npartitions=partitions, sort=True)
    meta = pd.DataFrame(_columns(embedding))
    result = ddf.map_partitions(_classify_partition, spec, top, embedding, preprocess, batch, meta=meta)
    return result.compute() if compute else result
