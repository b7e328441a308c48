#!/usr/bin/python3
"""Times OpenCV DNN (cv2.dnn, OpenCV backend, CPU target) on one model, the way
`mnv2 bench --json --samples` times mnv2, and optionally writes its first outputs.

Usage: opencv_bench.py MODEL INPUT.bin N H W C THREADS WARMUP ITERATIONS [PROBS_OUT.bin]
  MODEL: a TensorFlow GraphDef (.pb, `mnv2 convert -o m.pb`; read with readNetFromTensorflow)
  or an ONNX file (.onnx; OpenCV 4.6 rejects mnv2's opset-13 Clip with min/max inputs, so
  the peer harness uses the .pb).
  INPUT.bin: N*H*W*C little-endian float32 in NHWC (what `mnv2 bench --dump` writes); it is
  transposed to the NCHW blob OpenCV expects for both importers.
Prints one JSON object: load and first-inference times and every timed latency.
Run with the system Python (/usr/bin/python3, Debian python3-opencv + python3-numpy).
"""
import json
import sys
import time

import cv2
import numpy as np


def main():
    if len(sys.argv) < 10:
        sys.exit(__doc__)
    model, inp = sys.argv[1], sys.argv[2]
    n, h, w, c, threads, warmup, iterations = (int(v) for v in sys.argv[3:10])
    probs_out = sys.argv[10] if len(sys.argv) > 10 else None
    x = np.fromfile(inp, dtype='<f4')
    if x.size != n * h * w * c:
        sys.exit(f"{inp}: {x.size} floats, expected {n * h * w * c}")
    blob = np.ascontiguousarray(x.reshape(n, h, w, c).transpose(0, 3, 1, 2))
    cv2.setNumThreads(threads)
    t0 = time.perf_counter()
    if model.endswith(".pb"):
        net = cv2.dnn.readNetFromTensorflow(model)
    else:
        net = cv2.dnn.readNetFromONNX(model)
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    load_ms = (time.perf_counter() - t0) * 1e3

    def run():
        net.setInput(blob)
        return net.forward()

    t0 = time.perf_counter()
    y = run()
    first_ms = (time.perf_counter() - t0) * 1e3
    if probs_out:
        np.ascontiguousarray(y, dtype='<f4').reshape(-1).tofile(probs_out)
    for _ in range(warmup):
        run()
    samples = []
    for _ in range(iterations):
        ti = time.perf_counter()
        run()
        samples.append((time.perf_counter() - ti) * 1e3)
    print(json.dumps({"engine": "opencv-dnn", "version": cv2.__version__, "threads": threads,
                      "batch": n, "load_ms": load_ms, "first_inference_ms": first_ms,
                      "samples_ms": samples}))


if __name__ == "__main__":
    main()
