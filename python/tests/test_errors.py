"""Bad input from Python raises lmm.Error (a ValueError) with the CLI's one-line message, and the
interpreter carries on."""
import os
import tempfile

import numpy as np
import pandas as pd
import pytest

import lmm
from conftest import DATA, cli_error

FORMULA = "Reaction ~ Days + (Days | Subject)"


def same_as_cli(df, formula, *flags, **kwargs):
    """lmm.fit's message on `df` equals the CLI's on the same table written as CSV (whose name the
    CLI's message has where Python's says 'the data')."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "t.csv")
        df.to_csv(path, index=False)
        expected = cli_error("fit", path, formula, *flags).replace(path, "the data")
    with pytest.raises(lmm.Error) as e:
        lmm.fit(formula, df, **kwargs)
    assert str(e.value) == expected
    return expected


def test_error_is_a_value_error():
    assert issubclass(lmm.Error, ValueError)


def test_missing_column(sleepstudy):
    msg = same_as_cli(sleepstudy, "Reaction ~ Dayz + (Days | Subject)")
    assert "'Dayz'" in msg


def test_formula_error(sleepstudy):
    msg = same_as_cli(sleepstudy, "Reaction ~ Days + (Days | Subject")
    assert "never closed" in msg


def test_all_nan_response(sleepstudy):
    sleepstudy["Reaction"] = np.nan
    msg = same_as_cli(sleepstudy, FORMULA)
    assert "no observations left" in msg


def test_categorical_response(sleepstudy):
    sleepstudy["Reaction"] = sleepstudy["Reaction"].map(lambda v: "high" if v > 300 else "low")
    same_as_cli(sleepstudy, FORMULA)


def test_unknown_reference_level_uses_the_keyword(sleepstudy):
    sleepstudy["arm"] = np.where(sleepstudy["Subject"] % 2 == 0, "a", "b")
    with pytest.raises(lmm.Error, match=r"^ref: 'c' is not a level of 'arm'"):
        lmm.fit("Reaction ~ Days + arm + (1 | Subject)", sleepstudy, ref={"arm": "c"})


def test_infinite_value_names_the_row(sleepstudy):
    sleepstudy.loc[4, "Days"] = np.inf
    same_as_cli(sleepstudy, FORMULA)


@pytest.mark.parametrize("call, words", [
    (lambda df: lmm.fit(3, df), "formula must be a string"),
    (lambda df: lmm.fit(FORMULA, 42), "data must be a pandas DataFrame"),
    (lambda df: lmm.fit(FORMULA, [1, 2, 3]), "data must be a pandas DataFrame"),
    (lambda df: lmm.fit(FORMULA, df, reml="yes"), "reml must be True or False"),
    (lambda df: lmm.fit(FORMULA, df, ddf="kr"), "ddf must be one of"),
    (lambda df: lmm.fit(FORMULA, df, weights=3), "weights must be the name of a column"),
    (lambda df: lmm.fit(FORMULA, df, ref=["Subject"]), "ref must be a dict"),
    (lambda df: lmm.fit(FORMULA, df, contrasts="poly"), "contrasts must be"),
    (lambda df: lmm.fit(FORMULA, df, reml=False, ddf="kenward-roger"), "needs a REML fit"),
    (lambda df: lmm.fit(FORMULA, {"Reaction": [1.0, 2.0], "Days": [1.0]}), "the dict's arrays"),
    (lambda df: lmm.fit(FORMULA, df.assign(Days=pd.to_datetime("2020-01-01"))), "dates or times"),
    (lambda df: lmm.fit(FORMULA, str(DATA / "no_such_file.csv")), "no_such_file.csv"),
    (lambda df: lmm.fit(FORMULA, df).confint("bayes"), "method must be"),
    (lambda df: lmm.fit(FORMULA, df).predict(df.drop(columns="Days")), "Days"),
    (lambda df: lmm.fit(FORMULA, df).predict(df, interval="wide"), "interval must be"),
    (lambda df: lmm.fit(FORMULA, df).simulate(nsim=0), "nsim must be between 1 and 100000"),
    (lambda df: lmm.load(str(DATA / "sleepstudy.csv")), "sleepstudy.csv"),
])
def test_wrong_arguments_raise_lmm_error(sleepstudy, call, words):
    with pytest.raises(lmm.Error, match=None) as e:
        call(sleepstudy)
    assert words in str(e.value)
    assert "\n" not in str(e.value)


def test_duplicate_column_names():
    df = pd.DataFrame([[1.0, 2.0, "a"]], columns=["y", "y", "g"])
    with pytest.raises(lmm.Error, match="'y' appears twice"):
        lmm.fit("y ~ 1 + (1 | g)", df)


def test_interpreter_survives_and_fits_again(sleepstudy):
    for _ in range(20):
        with pytest.raises(lmm.Error):
            lmm.fit("Reaction ~ (", sleepstudy)
    assert lmm.fit(FORMULA, sleepstudy).nobs == 180
