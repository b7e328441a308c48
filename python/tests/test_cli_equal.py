"""Python results equal `mnv2 classify` / `mnv2 embed` on the real coral MobileNetV2 and photos."""

import json
import subprocess

import numpy as np
import pytest

import mnv2

IMAGES = ["cat.bmp", "grace_hopper.bmp", "hot_dog.jpg", "sunflower.rgb"]


@pytest.fixture(scope="module")
def coral_model(coral):
    return mnv2.Model(coral / "mobilenet_v2_1.0_224_quant.tflite", labels=coral / "imagenet_labels.txt")


def test_classify_equals_cli(coral, cli, coral_model):
    files = [str(coral / f) for f in IMAGES]
    out = subprocess.run([cli, "classify", "--model", str(coral / "mobilenet_v2_1.0_224_quant.tflite"),
                          "--labels", str(coral / "imagenet_labels.txt"), "--top", "5", "--json", *files],
                         check=True, capture_output=True, text=True).stdout
    ref = json.loads(out)["results"]
    got = coral_model.classify(files, top=5)
    assert len(ref) == len(got) == len(files)
    for r, g in zip(ref, got):
        assert [e["index"] for e in g] == [e["index"] for e in r["top"]], r["file"]
        assert [e["label"] for e in g] == [e["label"] for e in r["top"]], r["file"]
        # The CLI prints 6 significant digits.
        np.testing.assert_allclose([e["probability"] for e in g], [e["probability"] for e in r["top"]],
                                   rtol=1e-5, atol=1e-7)
    # Known answers (coral/EXPECTED.md): cat.bmp -> 286 Egyptian cat, grace_hopper -> 653.
    assert got[0][0]["index"] == 286 and got[0][0]["probability"] >= 0.7
    assert got[1][0]["index"] == 653


def test_bytes_input_equals_path_input(coral, coral_model):
    p = coral / "hot_dog.jpg"
    assert coral_model.classify(p.read_bytes()) == coral_model.classify(p)


def test_embed_equals_cli(coral, cli, coral_model, tmp_path):
    files = [str(coral / f) for f in IMAGES[:2]]
    npy = tmp_path / "e.npy"
    subprocess.run([cli, "embed", "--model", str(coral / "mobilenet_v2_1.0_224_quant.tflite"), "--normalize",
                    "-o", str(npy), *files], check=True, capture_output=True)
    ref = np.load(npy)
    got = coral_model.embed(files, normalize=True)
    assert got.shape == ref.shape == (2, 1280)
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-7)
