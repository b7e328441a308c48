"""Reference counts and memory stay flat over many calls."""

import gc
import sys
import tracemalloc

import numpy as np

import mnv2


def _rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4


def test_refcounts_stable(small_model, ppm_images):
    paths, bad = ppm_images
    x = np.zeros((1, 96, 96, 3), np.float32)
    img = np.zeros((40, 40, 3), np.uint8)
    raw = open(paths[0], "rb").read()

    def round_():
        small_model.run(x)
        small_model.classify(img, top=3)
        small_model.classify(raw, top=3)
        small_model.embed(paths[0])
        try:
            small_model.classify(bad)
        except ValueError:
            pass

    round_()
    gc.collect()  # drops references older tests' frames and tracebacks still held
    before = [sys.getrefcount(o) for o in (x, img, raw, small_model, paths[0])]
    for _ in range(50):
        round_()
    gc.collect()
    after = [sys.getrefcount(o) for o in (x, img, raw, small_model, paths[0])]
    assert before == after


def test_memory_flat_over_many_calls():
    m = mnv2.Model(synthetic=(0.35, 64), threads=1)
    img = np.random.default_rng(0).integers(0, 256, (80, 100, 3), dtype=np.uint8)
    x = np.zeros((2, 64, 64, 3), np.float32)

    def round_():
        m.classify([img, img], top=5)
        m.run(x)
        m.embed(img)
        try:
            m.classify(b"garbage")
        except ValueError:
            pass

    for _ in range(20):
        round_()
    gc.collect()
    tracemalloc.start()
    rss0 = _rss_kib()
    snap0 = tracemalloc.take_snapshot()
    for _ in range(300):
        round_()
    gc.collect()
    snap1 = tracemalloc.take_snapshot()
    rss1 = _rss_kib()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in snap1.compare_to(snap0, "filename"))
    assert grown < 64 * 1024, f"Python heap grew by {grown} bytes over 300 rounds"
    assert rss1 - rss0 < 16 * 1024, f"RSS grew by {rss1 - rss0} KiB over 300 rounds"
