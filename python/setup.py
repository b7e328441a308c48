"""Builds the mnv2._mnv2 extension with the project's CMake build (no downloads).

`pip install --no-build-isolation ./python` (or `cd python && pip install .`) configures
the repository root with CMake in ../build-python (override: MNV2_CMAKE_BUILD_DIR), builds
the `_mnv2` target (parallel jobs: CMAKE_BUILD_PARALLEL_LEVEL, default 2) and places the
module in the package.
"""

import os
import pathlib
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = pathlib.Path(__file__).resolve().parent.parent


class CMakeExtension(Extension):
    def __init__(self, name: str) -> None:
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext: Extension) -> None:
        target = pathlib.Path(self.get_ext_fullpath(ext.name)).resolve()
        build_dir = pathlib.Path(os.environ.get("MNV2_CMAKE_BUILD_DIR", ROOT / "build-python"))
        subprocess.check_call([
            "cmake", "-S", str(ROOT), "-B", str(build_dir),
            "-DCMAKE_BUILD_TYPE=Release", "-DMNV2_BUILD_PYTHON=ON",
            "-DMNV2_BUILD_TESTS=OFF", "-DMNV2_BUILD_BENCH=OFF",
            f"-DPython_EXECUTABLE={sys.executable}",
        ])
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", "2")
        subprocess.check_call(["cmake", "--build", str(build_dir), "--target", "_mnv2", "-j", jobs])
        built = build_dir / "python" / "mnv2" / target.name
        if not built.exists():
            raise RuntimeError(f"CMake did not produce {built} (is pybind11-dev installed?)")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built, target)


setup(ext_modules=[CMakeExtension("mnv2._mnv2")], cmdclass={"build_ext": CMakeBuild})
