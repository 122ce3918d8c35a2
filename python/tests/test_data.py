"""Columns from pandas and numpy are coded as R codes the same data frame: a Categorical keeps its
level order (checked against lme4, tests/data/reference/python), booleans are FALSE/TRUE factors,
strings factors in byte order, NaN/None missing, an ordered Categorical an ordered factor; a dict of arrays and a CSV path work too."""
import json

import numpy as np
import pandas as pd
import pytest

import lmm
from conftest import DATA, REFERENCE, read_csv


@pytest.mark.parametrize("case", ["cake_recipe_CAB_hot", "cake_recipe_CAB_ordered"])
def test_categorical_level_order_and_logical_as_lme4(case):
    ref = json.loads((REFERENCE / "python" / f"{case}.json").read_text())
    cake = read_csv("cake.csv")
    cake["recipe"] = pd.Categorical(cake["recipe"], categories=ref["levels"]["recipe"], ordered=ref["ordered"])
    cake["hot"] = cake["temp"] >= 205
    m = lmm.fit(ref["formula"], cake)
    fixed = m.fixed
    # (Intercept), recipeA, recipeB, hotTRUE; ordered: recipe.L, recipe.Q, temp, recipe.L:temp, ...
    assert list(fixed.index) == [f["term"] for f in ref["fixed"]]
    for f in ref["fixed"]:
        row = fixed.loc[f["term"]]
        assert row["estimate"] == pytest.approx(f["estimate"], rel=1e-4, abs=1e-6 * ref["sigma"])
        assert row["std_error"] == pytest.approx(f["std_error"], rel=2e-3)
        assert row["df"] == pytest.approx(f["df"], rel=1e-2)
        assert row["p"] == pytest.approx(f["p"], rel=1e-2, abs=1e-6)
    assert m.loglik == pytest.approx(ref["loglik"], abs=1e-3)


def test_reference_level_by_keyword_equals_categorical_order():
    cake = read_csv("cake.csv")
    by_ref = lmm.fit("angle ~ recipe + (1 | replicate)", cake, ref={"recipe": "C"}).fixed
    cake["recipe"] = pd.Categorical(cake["recipe"], categories=["C", "A", "B"])
    by_order = lmm.fit("angle ~ recipe + (1 | replicate)", cake).fixed
    pd.testing.assert_frame_equal(by_ref, by_order)
    assert list(by_order.index) == ["(Intercept)", "recipeA", "recipeB"]


def test_strings_are_factors_in_byte_order(sleepstudy):
    sleepstudy["arm"] = np.where(sleepstudy["Subject"] % 3 == 0, "b", np.where(sleepstudy["Subject"] % 3 == 1, "B", "a"))
    m = lmm.fit("Reaction ~ Days + arm + (1 | Subject)", sleepstudy)
    assert list(m.fixed.index) == ["(Intercept)", "Days", "arma", "armb"]  # "B" < "a" < "b" in bytes


def test_unused_categories_and_missing_values(sleepstudy):
    sleepstudy["Subject"] = pd.Categorical(sleepstudy["Subject"].astype(str),
                                           categories=["999"] + sorted(sleepstudy["Subject"].astype(str).unique()))
    sleepstudy.loc[[0, 5], "Reaction"] = np.nan
    sleepstudy.loc[7, "Days"] = None
    m = lmm.fit("Reaction ~ Days + (Days | Subject)", sleepstudy)
    assert m.ngroups == {"Subject": 18}  # the unused category is not a level of the model
    assert m.nobs == 177
    assert list(m.residuals.index[:6]) == [1, 2, 3, 4, 6, 8]  # the DataFrame's own row labels


def test_dict_of_arrays_and_csv_path_equal_dataframe(sleepstudy):
    formula = "Reaction ~ Days + (Days | Subject)"
    expected = lmm.fit(formula, sleepstudy).to_json()
    arrays = {k: sleepstudy[k].to_numpy() for k in sleepstudy.columns}
    assert lmm.fit(formula, arrays).to_json() == expected
    assert lmm.fit(formula, str(DATA / "sleepstudy.csv")).to_json() == expected


def test_na_values_mark_codes_missing(sleepstudy):
    coded = sleepstudy.copy()
    coded.loc[[3, 10], "Reaction"] = -99
    m = lmm.fit("Reaction ~ Days + (1 | Subject)", coded, na_values=["-99"])
    dropped = sleepstudy.drop(index=[3, 10])
    pd.testing.assert_frame_equal(m.fixed, lmm.fit("Reaction ~ Days + (1 | Subject)", dropped).fixed)
    assert m.nobs == 178 and "2 observations deleted due to missingness" in m.messages


def test_nullable_and_object_numbers_are_numeric(sleepstudy):
    formula = "Reaction ~ Days + (1 | Subject)"
    expected = lmm.fit(formula, sleepstudy).fixed
    nullable = sleepstudy.assign(Days=sleepstudy["Days"].astype("Int64"))
    pd.testing.assert_frame_equal(lmm.fit(formula, nullable).fixed, expected)
    objects = sleepstudy.assign(Days=sleepstudy["Days"].astype(object))
    pd.testing.assert_frame_equal(lmm.fit(formula, objects).fixed, expected)
