"""Builds the `lmm` package: the extension lmm._lmm through the project's CMake build.

    pip install --no-build-isolation ./python                      # configures and builds (Release)
    LMM_BUILD_DIR=build pip install --no-build-isolation ./python  # reuses a built tree (`make build`)

LMM_SOURCE_DIR names the repository when python/ was copied elsewhere; LMM_CMAKE_ARGS adds options to
that configure step, e.g. LMM_CMAKE_ARGS=-DLMM_NATIVE=OFF for a portable build.
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
ROOT = Path(os.environ.get("LMM_SOURCE_DIR", HERE.parent)).resolve()


def version() -> str:
    m = re.search(r"project\(lmm VERSION ([0-9.]+)", (ROOT / "CMakeLists.txt").read_text())
    return m.group(1) if m else "0"


class CMakeBuild(build_ext):
    """Copies lmm._lmm from an lmm build tree, building one with CMake when none is given."""

    def build_extension(self, ext):
        build = os.environ.get("LMM_BUILD_DIR")
        if build:
            build = Path(build).resolve()
        else:
            build = Path(self.build_temp).resolve() / "cmake"
            subprocess.check_call(["cmake", "-S", str(ROOT), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
                                   "-DLMM_BUILD_TESTS=OFF", f"-DPython3_EXECUTABLE={sys.executable}"]
                                  + os.environ.get("LMM_CMAKE_ARGS", "").split())
            subprocess.check_call(["cmake", "--build", str(build), "--target", "lmm_python",
                                   "-j", str(os.cpu_count() or 2)])
        built = sorted((build / "python" / "lmm").glob("_lmm*.so"))
        if not built:
            sys.exit(f"setup.py: no lmm/_lmm*.so in {build}/python: build it first (make build), "
                     "or unset LMM_BUILD_DIR to build here")
        target = Path(self.get_ext_fullpath(ext.name))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built[0], target)


setup(
    name="lmm",
    version=version(),
    description="Linear mixed models in lme4's formula language, on a C++ engine; pandas in and out",
    packages=["lmm"],
    package_dir={"lmm": str((HERE / "lmm").relative_to(HERE))},
    package_data={"lmm": ["py.typed"]},
    ext_modules=[Extension("lmm._lmm", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    python_requires=">=3.9",
    install_requires=["numpy", "pandas"],
    zip_safe=False,
)
