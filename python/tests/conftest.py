"""Shared fixtures: the built package, the CLI binary, the shared test data, small models."""

import os
import pathlib
import shutil

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]

# Under ctest (MNV2_PYTEST_STRICT=1, python/CMakeLists.txt) a skip is only allowed for the
# shared test data, which is not part of the repository; a skip for anything that
# scripts/install-deps.sh installs (pandas, dask, distributed) or the build provides (the
# CLI) is a failure. When tests did skip and nothing failed, the run exits 77, which ctest
# reports as "Skipped", with the reasons in the log (-rs).
DATA_SKIP = "shared data folder not found"


def strict():
    return os.environ.get("MNV2_PYTEST_STRICT") == "1"


def _fail_unexpected_skip(report):
    if strict() and report.skipped and DATA_SKIP not in str(report.longrepr):
        report.outcome = "failed"
        report.longrepr = f"skipped under MNV2_PYTEST_STRICT=1 (a dependency is missing): {report.longrepr}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_unexpected_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_unexpected_skip(outcome.get_result())


def pytest_sessionfinish(session, exitstatus):
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if strict() and exitstatus == 0 and skipped:
        session.exitstatus = 77


def data_dir():
    """$MNV2_TEST_DATA, else ../shared/data next to the repository; None when absent."""
    for cand in (os.environ.get("MNV2_TEST_DATA"), os.environ.get("MNV2_DEFAULT_TEST_DATA"),
                 str(REPO.parent / "shared" / "data")):
        if cand and os.path.isdir(cand):
            return pathlib.Path(cand)
    return None


@pytest.fixture(scope="session")
def coral():
    d = data_dir()
    if d is None or not (d / "coral" / "mobilenet_v2_1.0_224_quant.tflite").exists():
        pytest.skip(DATA_SKIP + " (set MNV2_TEST_DATA)")
    return d / "coral"


@pytest.fixture(scope="session")
def cli():
    """The mnv2 command-line binary built next to the extension."""
    cand = os.environ.get("MNV2_CLI") or shutil.which("mnv2") or str(REPO / "build" / "mnv2")
    if not cand or not os.access(cand, os.X_OK):
        pytest.skip("mnv2 CLI binary not found (set MNV2_CLI)")
    return cand


@pytest.fixture(scope="session")
def small_model():
    """A small synthetic model: width 0.35, 96x96, 1001 classes, one thread."""
    import mnv2

    return mnv2.Model(synthetic=(0.35, 96), threads=1, labels=[f"class {i}" for i in range(1001)])


def write_ppm(path, img):
    """Writes a uint8 HxWx3 array as a binary PPM (P6)."""
    img = np.ascontiguousarray(img, dtype=np.uint8)
    with open(path, "wb") as f:
        f.write(b"P6\n%d %d\n255\n" % (img.shape[1], img.shape[0]))
        f.write(img.tobytes())


@pytest.fixture(scope="session")
def ppm_images(tmp_path_factory):
    """Six random-ish PPM images of different sizes plus one corrupt file."""
    d = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(7)
    paths = []
    for i in range(6):
        h, w = 60 + 17 * i, 80 + 11 * i
        yy, xx = np.mgrid[0:h, 0:w]
        img = np.stack([(xx * (i + 3)) % 256, (yy * (7 - i)) % 256, rng.integers(0, 256, (h, w))], axis=-1)
        p = d / f"img{i}.ppm"
        write_ppm(p, img.astype(np.uint8))
        paths.append(str(p))
    bad = d / "corrupt.ppm"
    bad.write_bytes(b"P6\n100 100\n255\n" + b"\x01" * 50)  # truncated pixel data
    return paths, str(bad)
