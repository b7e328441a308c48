"""Bad input raises the documented exceptions with the engine's message."""

import numpy as np
import pytest

import mnv2


def test_missing_and_unreadable_files(small_model, tmp_path):
    missing = tmp_path / "nope.jpg"
    with pytest.raises(FileNotFoundError) as e:
        small_model.classify(missing)
    assert str(missing) in str(e.value) and e.value.filename == str(missing)
    with pytest.raises(IsADirectoryError):
        small_model.classify(tmp_path)
    with pytest.raises(FileNotFoundError):
        mnv2.Model(tmp_path / "missing.tflite")
    with pytest.raises(FileNotFoundError):
        mnv2.Model(synthetic=(0.35, 96), labels=tmp_path / "missing.txt")


def test_corrupt_content_is_valueerror(small_model, ppm_images, tmp_path):
    _, bad = ppm_images
    with pytest.raises(ValueError, match="corrupt.ppm"):
        small_model.classify(bad)
    with pytest.raises(ValueError):
        small_model.classify(b"definitely not an image")
    with pytest.raises(ValueError):
        small_model.classify(b"\xff\xd8\xff\xe0" + b"\x00" * 40)  # truncated JPEG
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="junk.tflite"):
        mnv2.Model(junk)


def test_bad_arrays_and_arguments(small_model):
    with pytest.raises(ValueError, match="uint8"):
        small_model.classify(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ValueError, match="shape"):
        small_model.classify(np.zeros((10, 10, 4), np.uint8))
    with pytest.raises(ValueError, match="empty"):
        small_model.classify(np.zeros((0, 10, 3), np.uint8))
    with pytest.raises(ValueError, match="pixel limit"):
        small_model.classify(np.zeros((100, 100, 3), np.uint8), max_pixels=5000)
    with pytest.raises(TypeError):
        small_model.classify(42)
    with pytest.raises(ValueError, match="shape"):
        small_model.run(np.zeros((1, 96, 96), np.float32))
    with pytest.raises(ValueError, match="shape"):
        small_model.run(np.zeros((1, 95, 96, 3), np.float32))
    with pytest.raises(ValueError, match="dtype"):
        small_model.run(np.array([["a"]]))
    with pytest.raises(ValueError, match="output"):
        small_model.run(np.zeros((1, 96, 96, 3), np.float32), output="nope")
    with pytest.raises(ValueError, match="preprocess"):
        small_model.classify(np.zeros((9, 9, 3), np.uint8), preprocess="bogus")
    with pytest.raises(ValueError, match="top"):
        small_model.classify(np.zeros((9, 9, 3), np.uint8), top=0)
    with pytest.raises(ValueError, match="int8"):  # a float model has no integer form
        mnv2.Model(synthetic=(0.35, 96), precision="int8")
    with pytest.raises(ValueError, match="precision"):
        mnv2.Model(synthetic=(0.35, 96), precision="fp64")
    with pytest.raises(ValueError, match="threads"):
        mnv2.Model(synthetic=(0.35, 96), threads=-1)
    with pytest.raises(ValueError, match="resolution"):
        mnv2.Model(synthetic=(0.35, 8))
    with pytest.raises(ValueError, match="either"):
        mnv2.Model("x.tflite", synthetic=(0.35, 96))


def test_errors_return_keeps_the_good_results(small_model, ppm_images, tmp_path):
    paths, bad = ppm_images
    res = small_model.classify([paths[0], bad, str(tmp_path / "gone.png"), paths[1]], top=2, errors="return")
    assert isinstance(res[1], ValueError) and "corrupt.ppm" in str(res[1])
    assert isinstance(res[2], FileNotFoundError)
    assert res[0] == small_model.classify(paths[0], top=2)
    assert res[3] == small_model.classify(paths[1], top=2)
    feats, errs = small_model.embed([paths[0], bad], errors="return")
    assert errs[0] is None and isinstance(errs[1], ValueError)
    assert np.isnan(feats[1]).all() and np.isfinite(feats[0]).all()
