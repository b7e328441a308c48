"""mnv2.Model: info, the three image input kinds, run/embed consistency, labels, pickling."""

import os
import pickle
import subprocess

import numpy as np
import pytest

import mnv2


def test_info_describes_the_synthetic_model(small_model):
    info = small_model.info
    assert info["layout"] == "NHWC"
    assert info["input_shape"] == (-1, 96, 96, 3)
    assert (info["height"], info["width"], info["channels"]) == (96, 96, 3)
    assert info["classes"] == 1001 and info["has_background"]
    assert info["channel_order"] == "RGB"
    assert info["normalization"] == {"in_graph": False, "mean": 127.5, "scale": 127.5}
    assert info["feature_dim"] == 1280  # width < 1 keeps the last conv at 1280
    assert info["params"] > 1_000_000 and info["macs"] > 10_000_000
    assert info["threads"] == 1
    assert "Conv" in small_model.summary()
    assert repr(small_model).startswith("<mnv2.Model")


def test_path_bytes_and_array_inputs_agree(small_model, ppm_images):
    paths, _ = ppm_images
    p = paths[2]
    raw = open(p, "rb").read()
    # The PPM body is the pixel array itself: an independent decode of the same image.
    header_end = raw.index(b"255\n") + 4
    h, w = 60 + 17 * 2, 80 + 11 * 2
    arr = np.frombuffer(raw[header_end:], dtype=np.uint8).reshape(h, w, 3)
    a = small_model.classify(p, top=5)
    b = small_model.classify(raw, top=5)
    c = small_model.classify(arr, top=5)
    d = small_model.classify(bytearray(raw), top=5)
    assert a == b == c == d
    assert len(a) == 5
    probs = [e["probability"] for e in a]
    assert probs == sorted(probs, reverse=True)
    assert all(e["label"] == f"class {e['index']}" for e in a)


def test_lists_and_batches(small_model, ppm_images):
    paths, _ = ppm_images
    one_by_one = [small_model.classify(p, top=3) for p in paths]
    batched = small_model.classify(paths, top=3, batch=4)
    assert len(batched) == len(paths)
    for x, y in zip(one_by_one, batched):
        assert [e["index"] for e in x] == [e["index"] for e in y]
        np.testing.assert_allclose([e["probability"] for e in x], [e["probability"] for e in y], rtol=1e-5, atol=1e-7)
    # A 4-D uint8 array is a batch of images.
    stack = np.stack([np.full((50, 70, 3), v, np.uint8) for v in (10, 200)])
    res = small_model.classify(stack, top=1)
    assert len(res) == 2 and res[0] != res[1]
    assert res[0] == small_model.classify(stack[0], top=1)


def test_run_matches_classify_without_resampling(small_model):
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)
    # preprocess="none" at the model's own size is an identity resize; the model then sees
    # (pixel - 127.5) / 127.5 (its info()["normalization"]).
    x = ((img.astype(np.float32) - 127.5) / 127.5)[None]
    probs = small_model.run(x)
    assert probs.shape == (1, 1001) and probs.dtype == np.float32
    assert abs(float(probs.sum()) - 1.0) < 1e-4
    top = small_model.classify(img, top=5, preprocess="none")
    order = [int(i) for i in np.argsort(-probs[0], kind="stable")]
    expected = order[:1] + [i for i in order[1:] if i != 0][:4]  # background only as top-1
    assert [e["index"] for e in top] == expected
    np.testing.assert_allclose([e["probability"] for e in top], probs[0, [e["index"] for e in top]], rtol=1e-5)


def test_run_layouts_dtypes_and_outputs(small_model):
    rng = np.random.default_rng(4)
    x = rng.uniform(-1, 1, (3, 96, 96, 3)).astype(np.float32)
    p = small_model.run(x)
    # Other dtypes and non-contiguous views are converted, giving the same result.
    np.testing.assert_allclose(small_model.run(x.astype(np.float64)), p, rtol=1e-6, atol=1e-7)
    xt = np.ascontiguousarray(x.transpose(0, 3, 1, 2)).transpose(0, 2, 3, 1)
    assert not xt.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(small_model.run(xt), p, rtol=1e-6, atol=1e-7)
    # Batch rows are independent.
    np.testing.assert_allclose(small_model.run(x[1:2]), p[1:2], rtol=1e-5, atol=1e-7)
    logits = small_model.run(x, output="logits")
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(e / e.sum(axis=1, keepdims=True), p, rtol=1e-4, atol=1e-6)
    feats = small_model.run(x, output="features")
    assert feats.shape == (3, 1280)


def test_embed_equals_run_features(small_model):
    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)
    f = small_model.embed(img, preprocess="none")
    assert f.shape == (1280,) and f.dtype == np.float32
    x = ((img.astype(np.float32) - 127.5) / 127.5)[None]
    np.testing.assert_allclose(f, small_model.run(x, output="features")[0], rtol=1e-5, atol=1e-6)
    fn = small_model.embed([img, img], preprocess="none", normalize=True)
    assert fn.shape == (2, 1280)
    np.testing.assert_allclose(np.linalg.norm(fn, axis=1), 1.0, rtol=1e-5)


def test_nchw_model_takes_nchw_input(small_model, cli, tmp_path):
    # `mnv2 convert` to OpenVINO IR gives an NCHW, BGR, raw 0..255 input contract.
    out = tmp_path / "m.xml"
    subprocess.run([cli, "convert", "--synthetic", "0.35", "96", "-o", str(out)], check=True,
                   capture_output=True)
    m = mnv2.Model(out, threads=1)
    assert m.info["layout"] == "NCHW" and m.info["channel_order"] == "BGR"
    assert m.info["input_shape"] == (-1, 3, 96, 96)
    assert m.info["normalization"]["in_graph"]
    rng = np.random.default_rng(6)
    pix = rng.uniform(0, 255, (2, 96, 96, 3)).astype(np.float32)  # RGB
    nchw_bgr = np.ascontiguousarray(pix[..., ::-1].transpose(0, 3, 1, 2))
    np.testing.assert_allclose(m.run(nchw_bgr), small_model.run((pix - 127.5) / 127.5), rtol=1e-3, atol=1e-6)
    with pytest.raises(ValueError, match="NCHW"):
        m.run(pix)
    # Image inputs are preprocessed for the model's own contract: same classes.
    img = pix[0].astype(np.uint8)
    assert [e["index"] for e in m.classify(img)] == [e["index"] for e in small_model.classify(img)]


def test_labels_are_aligned_and_optional(ppm_images, tmp_path):
    paths, _ = ppm_images
    m = mnv2.Model(synthetic=(0.35, 96), threads=1, labels=[f"n{i}" for i in range(1000)])
    assert m.labels[0] == "background" and m.labels[1] == "n0"
    lf = tmp_path / "labels.txt"
    lf.write_text("\n".join(f"name {i}" for i in range(1001)) + "\n")
    m2 = mnv2.Model(synthetic=(0.35, 96), threads=1, labels=lf)
    assert m2.labels[5] == "name 5"
    r = m2.classify(paths[0], top=2)
    assert r[0]["label"] == f"name {r[0]['index']}"


def test_builtin_imagenet_names_without_cache(tmp_path, monkeypatch):
    # No label file given or cached: the ImageNet names compiled into libmnv2.
    monkeypatch.setenv("MNV2_HOME", str(tmp_path / "empty-cache"))
    m = mnv2.Model(synthetic=(0.35, 96), threads=1)
    assert len(m.labels) == 1001 and m.labels[0] == "background" and m.labels[286] == "Egyptian cat"
    m1000 = mnv2.Model(synthetic=(0.35, 96), threads=1, classes=1000)
    assert len(m1000.labels) == 1000 and m1000.labels[285] == "Egyptian cat"
    # Other class counts have no built-in names.
    assert mnv2.Model(synthetic=(0.35, 96), threads=1, classes=10).labels is None


def test_pickle_roundtrip(small_model, ppm_images):
    paths, _ = ppm_images
    m2 = pickle.loads(pickle.dumps(small_model))
    assert m2.info == small_model.info
    assert m2.classify(paths[1]) == small_model.classify(paths[1])


def test_bench_mirrors_cli_json(cli):
    import json

    r = mnv2.bench(synthetic=(0.35, 96), threads=1, warmup=0, iterations=3)
    out = subprocess.run([cli, "bench", "--synthetic", "0.35", "96", "--threads", "1", "--warmup", "0",
                          "--iterations", "3", "--json"], check=True, capture_output=True, text=True).stdout
    ref = json.loads(out)
    assert set(r) == set(ref)
    assert set(r["latency_ms"]) == set(ref["latency_ms"])
    for k in ("model", "format", "isa", "threads", "batch", "iterations", "macs"):
        assert r[k] == ref[k], k
    assert set(r["cpu"]) == set(ref["cpu"])
    for k in ("vendor", "model_name", "family", "model", "flags", "fp32", "int8"):
        assert r["cpu"][k] == ref["cpu"][k], k
    lat = r["latency_ms"]
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    assert r["throughput_ips"] > 0 and r["peak_rss_mib"] > 0
    assert set(r["memory"]) == set(ref["memory"])
    assert r["memory"]["weights_bytes"] == ref["memory"]["weights_bytes"] > 0


def test_fetch_reports_network_failure_as_oserror(tmp_path, monkeypatch):
    # A refused local port: no network is touched.
    monkeypatch.setenv("MNV2_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("MNV2_FETCH_URL", "http://127.0.0.1:9/none.tgz")
    monkeypatch.setenv("MNV2_LABELS_URL", "http://127.0.0.1:9/labels.txt")
    assert mnv2.cache_dir() == str(tmp_path / "cache")
    with pytest.raises(OSError, match="127.0.0.1"):
        mnv2.fetch(quiet=True)
    # Without a cached model and with downloads forbidden, Model() says what to do.
    with pytest.raises(OSError, match="fetch"):
        mnv2.Model(download=False)


def test_run_reads_contiguous_float32_in_place(small_model):
    import tracemalloc

    x = np.random.default_rng(8).uniform(-1, 1, (32, 96, 96, 3)).astype(np.float32)  # 3.5 MB
    small_model.run(x[:1])
    tracemalloc.start()
    small_model.run(x)
    _, peak_f32 = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    x64 = x.astype(np.float64)
    base, _ = tracemalloc.get_traced_memory()
    small_model.run(x64)
    _, peak_f64 = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # float32 C-contiguous: only the (32, 1001) output is allocated; float64 needs a
    # float32 copy of the whole input (numpy allocations are traced).
    assert peak_f32 < 1 << 20, peak_f32
    assert peak_f64 - base > x.nbytes * 0.9, (peak_f64, base)


def test_int8_precision_on_the_quantized_coral_model(coral):
    path = coral / "mobilenet_v2_1.0_224_quant.tflite"
    auto = mnv2.Model(path)
    assert auto.info["precision"] == "int8"
    fp32 = mnv2.Model(path, precision="fp32")
    assert fp32.info["precision"] == "fp32"
    x = np.fromfile(coral / "golden" / sorted(p.name for p in (coral / "golden").glob("*.input.u8"))[0],
                    np.uint8).reshape(1, 224, 224, 3)
    xf = x.astype(np.float32) / 127.5 - 1.0
    # Same top-1 on the integer and the float path; probabilities close (uint8 steps of 1/256).
    pa, pf = auto.run(xf)[0], fp32.run(xf)[0]
    assert int(np.argmax(pa)) == int(np.argmax(pf))
    assert float(np.max(np.abs(pa - pf))) < 0.05
    r = mnv2.bench(path, threads=1, warmup=0, iterations=2, precision="int8")
    assert r["precision"] == "int8" and r["int8_rounding"] == "xnnpack"


def test_bf16_precision():
    # Never chosen by "auto"; where the CPU has AVX512_BF16 it runs and stays close to fp32,
    # elsewhere it is a ValueError that names the missing feature.
    assert mnv2.Model(synthetic=(0.35, 96)).info["precision"] == "fp32"
    try:
        bf = mnv2.Model(synthetic=(0.35, 96), precision="bf16")
    except ValueError as e:
        assert "AVX512_BF16" in str(e), e
        return
    assert bf.info["precision"] == "bf16"
    fp = mnv2.Model(synthetic=(0.35, 96), precision="fp32")
    x = np.random.default_rng(3).uniform(-1, 1, (2, 96, 96, 3)).astype(np.float32)
    pb, pf = bf.run(x), fp.run(x)
    assert float(np.max(np.abs(pb - pf))) < 2e-2
    assert not np.array_equal(pb, pf)  # bf16 really runs
    r = mnv2.bench(synthetic=(0.35, 96), threads=1, warmup=0, iterations=2, precision="bf16")
    assert r["precision"] == "bf16"
