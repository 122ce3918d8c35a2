#!/usr/bin/env bash
# `pip install ./python` into a fresh virtual environment that sees the system's numpy and pandas,
# offline, reusing the build tree (LMM_BUILD_DIR: no second compile), then `import lmm` and a fit.
# Usage: pip_install.sh PYTHON SOURCE_DIR BUILD_DIR VENV_DIR
set -euo pipefail
python="$1" src="$2" build="$3" venv="$4"
rm -rf "$venv"
"$python" -m venv --system-site-packages "$venv"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# pip builds in the source tree; a copy of python/ keeps the checkout clean (setup.py finds the
# sources through LMM_SOURCE_DIR).
cp -r "$src/python" "$work/python"
LMM_SOURCE_DIR="$src" LMM_BUILD_DIR="$build" "$venv/bin/pip" install --no-index --no-build-isolation -q \
  --disable-pip-version-check "$work/python"
cd "$work"
"$venv/bin/python" - "$src/tests/data/sleepstudy.csv" <<'PY'
import sys
import pandas as pd
import lmm
assert lmm.__file__.startswith(sys.prefix), lmm.__file__  # the installed package, not the build tree
m = lmm.fit("Reaction ~ Days + (Days | Subject)", pd.read_csv(sys.argv[1]))
assert abs(m.fixed.loc["Days", "estimate"] - 10.467285959595) < 1e-6, m.fixed
print("pip install: ok,", lmm.__file__)
PY
