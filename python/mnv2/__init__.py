"""mnv2: MobileNetV2 image classification and embeddings on the CPU.

A thin Python layer over libmnv2 (the engine behind the ``mnv2`` command line):

>>> import mnv2
>>> model = mnv2.Model()                      # the official model (mnv2.fetch() first)
>>> model.classify("cat.jpg", top=3)          # [{'index': .., 'label': .., 'probability': ..}, ...]
>>> model.embed(["a.jpg", "b.png"]).shape     # (2, 1792)
>>> model.run(batch_nhwc_float32)             # raw tensors -> probabilities

Errors: ``OSError`` (its subclasses such as ``FileNotFoundError``) when a file cannot be
read, ``ValueError`` with the engine's message when data is invalid (corrupt image or
model, wrong shape or dtype, unknown option), ``TypeError`` for arguments of the wrong
Python type. Inference and image decoding release the GIL.

``mnv2.dask.classify_files`` classifies many files on a Dask cluster (import
``mnv2.dask`` explicitly; it needs the ``dask``, ``distributed`` and ``pandas`` packages).
"""

from ._mnv2 import Model, __version__, bench, cache_dir, detect_isa, fetch

__all__ = ["Model", "bench", "cache_dir", "detect_isa", "fetch", "__version__"]
