"""Shared paths and helpers of the Python package's tests (run by ctest: python.*)."""
import importlib.util
import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest

SOURCE = Path(os.environ.get("LMM_SOURCE_DIR", Path(__file__).resolve().parents[2]))
DATA = Path(os.environ.get("LMM_TEST_DATA", SOURCE / "tests" / "data"))
REFERENCE = DATA / "reference"
CLI = os.environ.get("LMM_CLI", str(SOURCE / "build" / "lmm"))


def load_comparer():
    """scripts/compare_reference.py, the project's comparison with the lme4 references."""
    spec = importlib.util.spec_from_file_location("compare_reference", SOURCE / "scripts" / "compare_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_cli(*args, check=True):
    """`lmm ARGS...`: (exit code, stdout, stderr)."""
    p = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"lmm {' '.join(map(str, args))} failed: {p.stderr}")
    return p.returncode, p.stdout, p.stderr


def cli_error(*args):
    """The CLI's one-line message for a failing command, without its 'lmm: ' prefix."""
    code, _, err = run_cli(*args, check=False)
    assert code == 2, (code, err)
    assert err.startswith("lmm: "), err
    return err[len("lmm: "):].rstrip("\n")


def read_csv(name):
    """A test CSV as a pandas user reads it."""
    return pd.read_csv(DATA / name)


@pytest.fixture
def sleepstudy():
    return read_csv("sleepstudy.csv")
