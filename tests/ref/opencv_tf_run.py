#!/usr/bin/env python3
"""Runs a TF frozen GraphDef with OpenCV's DNN module (an independent TF-graph importer).

usage: opencv_tf_run.py MODEL.pb INPUT.f32 N H W C OUTPUT.f32

INPUT.f32 holds N*H*W*C float32 values, NHWC. The script feeds them to
cv2.dnn.readNetFromTensorflow as the NCHW blob OpenCV expects and writes the network's
output (the graph's final node) as raw float32 to OUTPUT.f32. Exit status 3 = cv2 missing.
"""
import sys

try:
    import numpy as np
    import cv2
except ImportError as e:  # the caller skips the test and reports why
    print("cannot import cv2/numpy: %s" % e)
    sys.exit(3)


def main():
    model, inp, n, h, w, c, out = sys.argv[1:8]
    n, h, w, c = int(n), int(h), int(w), int(c)
    x = np.fromfile(inp, dtype=np.float32).reshape(n, h, w, c)
    net = cv2.dnn.readNetFromTensorflow(model)
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    net.setInput(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    y = net.forward()
    print("opencv %s output shape %s" % (cv2.__version__, y.shape))
    np.ascontiguousarray(y, dtype=np.float32).tofile(out)


if __name__ == "__main__":
    main()
