"""The Python package and the CLI are one engine with one writer: a fit from a pandas DataFrame
prints the same JSON as `lmm fit --json` on the CSV, byte for byte, and the same summary."""
import json
import os
import tempfile

import pytest

import lmm
from conftest import DATA, REFERENCE, read_csv, run_cli

CASES = [json.loads(p.read_text()) for p in sorted(REFERENCE.glob("*.json")) if not p.name.startswith("compare_")]


@pytest.mark.parametrize("ref", CASES, ids=lambda r: r["case"])
def test_json_equals_cli_to_the_last_digit(ref):
    ml = ["--ml"] if ref["method"] == "ML" else []
    _, cli, _ = run_cli("fit", DATA / ref["data"], ref["formula"], "--json", "--quiet", *ml)
    m = lmm.fit(ref["formula"], read_csv(ref["data"]), reml=not ml)
    assert m.to_json() == cli
    assert m.to_dict() == json.loads(cli)


def test_summary_equals_cli(sleepstudy):
    path = DATA / "sleepstudy.csv"
    formula = "Reaction ~ Days + (Days | Subject)"
    _, cli, _ = run_cli("fit", path, formula, "--quiet")
    assert lmm.fit(formula, str(path)).summary() == cli  # from the file: the same "Data:" line
    assert lmm.fit(formula, sleepstudy, data_name=str(path)).summary() == cli
    assert "Data:" not in lmm.fit(formula, sleepstudy).summary()


def test_options_equal_cli_flags():
    path = DATA / "growth200.csv"
    formula = "y ~ time * group + (time | id)"
    _, cli, _ = run_cli("fit", path, formula, "--json", "--ml", "--ddf", "none", "--ref", "group=treatment",
                        "--contrasts", "sum", "--quiet")
    m = lmm.fit(formula, read_csv("growth200.csv"), reml=False, ddf="none", ref={"group": "treatment"},
                contrasts="sum")
    assert m.to_json() == cli


def test_kenward_roger_equals_cli():
    path = DATA / "kr_unbalanced.csv"
    formula = "y ~ time * group + (time | id)"
    _, cli, _ = run_cli("fit", path, formula, "--json", "--ddf", "kenward-roger", "--quiet")
    assert lmm.fit(formula, read_csv("kr_unbalanced.csv"), ddf="kenward-roger").to_json() == cli


def test_profile_and_bootstrap_equal_cli(sleepstudy):
    path = DATA / "sleepstudy.csv"
    formula = "Reaction ~ Days + (1 | Subject)"
    _, cli, _ = run_cli("fit", path, formula, "--json", "--profile", "--boot", "40", "--seed", "7", "--threads", "1",
                        "--quiet")
    m = lmm.fit(formula, sleepstudy)
    profile = m.confint("profile")
    boot = m.confint("boot", nboot=40, seed=7, threads=1)
    assert m.to_json() == cli
    assert list(profile.index) == [c["parameter"] for c in json.loads(cli)["confint_profile"]]
    assert boot.loc["Days", "lower"] < m.fixed.loc["Days", "estimate"] < boot.loc["Days", "upper"]


def test_weights_and_offset_equal_cli():
    # sleepstudy with a weight and an offset column, written once and read by both.
    df = read_csv("sleepstudy.csv")
    df["w"] = 1 + (df["Days"] % 3)
    df["off"] = 0.5 * df["Days"]
    with tempfile.TemporaryDirectory() as tmp:
        csv = os.path.join(tmp, "sleep_w.csv")
        df.to_csv(csv, index=False)
        _, cli, _ = run_cli("fit", csv, "Reaction ~ Days + (Days | Subject)", "--json", "--weights", "w",
                            "--offset", "off", "--quiet")
    m = lmm.fit("Reaction ~ Days + (Days | Subject)", df, weights="w", offset="off")
    assert m.to_json() == cli
