"""What a fitted model can do beyond its summary: the ANOVA table, intervals, predictions,
simulation, saving and loading, comparisons and the report; each checked against the CLI (the
same engine through its own front end) or against what must hold."""
import json
import os

import numpy as np
import pandas as pd
import pytest

import lmm
from conftest import DATA, read_csv, run_cli

FORMULA = "Reaction ~ Days + (Days | Subject)"


def cli_csv(text):
    from io import StringIO
    return pd.read_csv(StringIO(text))


def test_anova_equals_the_type3_table():
    m = lmm.fit("y ~ time * group + (time | id)", read_csv("growth200.csv"))
    a = m.anova()
    assert list(a.index) == ["time", "group", "time:group"]
    assert list(a.columns) == ["num_df", "den_df", "F", "p"]
    # One numerator df: F is the square of the coefficient's t (Satterthwaite's df on both).
    t = m.fixed.loc["time:grouptreatment"]
    assert a.loc["time:group", "F"] == pytest.approx(t["t"] ** 2, rel=1e-8)
    assert a.loc["time:group", "den_df"] == pytest.approx(t["df"], rel=1e-6)


def test_wald_interval_is_estimate_plus_minus_1_96_se(sleepstudy):
    m = lmm.fit(FORMULA, sleepstudy)
    ci, fixed = m.confint(), m.fixed
    z = 1.959963984540054
    assert ci.loc["Days", "lower"] == pytest.approx(fixed.loc["Days", "estimate"] - z * fixed.loc["Days", "std_error"])
    assert ci.loc["Days", "upper"] == pytest.approx(fixed.loc["Days", "estimate"] + z * fixed.loc["Days", "std_error"])


def test_predict_equals_cli_predict(sleepstudy, tmp_path):
    model = tmp_path / "m.json"
    run_cli("fit", DATA / "sleepstudy.csv", FORMULA, "--save", model, "--quiet")
    for flags, kwargs in (([], {}), (["--re-form", "none", "--interval", "prediction"],
                                    {"re_form": "none", "interval": "prediction"}),
                          (["--interval", "confidence"], {"interval": "confidence"})):
        _, out, _ = run_cli("predict", DATA / "sleepstudy.csv", "--model", model, *flags)
        expected = cli_csv(out)
        ours = lmm.fit(FORMULA, sleepstudy).predict(sleepstudy, **kwargs)
        ours = ours.to_frame() if isinstance(ours, pd.Series) else ours
        for col in ours.columns:
            np.testing.assert_allclose(ours[col].to_numpy(), expected[col].to_numpy(), rtol=1e-14)


def test_predict_new_level_gets_population_value_with_a_warning(sleepstudy):
    m = lmm.fit(FORMULA, sleepstudy)
    new = pd.DataFrame({"Subject": [999], "Days": [3.0]})
    with pytest.warns(UserWarning, match="999"):
        p = m.predict(new)
    fixed = m.fixed["estimate"]
    assert p.iloc[0] == pytest.approx(fixed["(Intercept)"] + 3 * fixed["Days"])


def test_save_equals_cli_save_and_load_predicts_the_same(sleepstudy, tmp_path):
    ours, theirs = tmp_path / "py.json", tmp_path / "cli.json"
    path = str(DATA / "sleepstudy.csv")
    run_cli("fit", path, FORMULA, "--save", theirs, "--quiet")
    m = lmm.fit(FORMULA, path)
    m.save(ours)
    assert ours.read_text() == theirs.read_text()
    loaded = lmm.load(ours)
    assert loaded.formula == FORMULA
    pd.testing.assert_series_equal(loaded.predict(sleepstudy), m.predict(sleepstudy))


def test_simulate_is_seeded_and_centred_on_the_model(sleepstudy):
    m = lmm.fit(FORMULA, sleepstudy)
    a, b, c = m.simulate(nsim=400, seed=3), m.simulate(nsim=400, seed=3), m.simulate(nsim=2, seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns[:2]) == ["sim_1", "sim_2"] and a.shape == (180, 400)
    assert not np.allclose(a.iloc[:, :2].to_numpy(), c.to_numpy())
    # Each simulated response vector's mean is Xβ's mean plus noise of a few units.
    population = m.predict(sleepstudy, re_form="none")
    assert a.to_numpy().mean() == pytest.approx(population.mean(), abs=3.0)
    # The residual SD refitted from a simulated vector is near sigma.
    refit = lmm.fit(FORMULA, sleepstudy.assign(Reaction=a["sim_1"]))
    assert refit.sigma == pytest.approx(m.sigma, rel=0.25)


def test_loaded_model_simulates_at_new_rows(sleepstudy, tmp_path):
    m = lmm.fit(FORMULA, sleepstudy)
    m.save(tmp_path / "m.json")
    sims = lmm.load(tmp_path / "m.json").simulate(sleepstudy.head(20), nsim=3, seed=1)
    assert list(sims.columns) == ["Subject", "Days", "Reaction", "sim_1", "sim_2", "sim_3"]
    assert sims["sim_3"].notna().all()


def test_compare_refits_by_ml_and_tests(sleepstudy):
    m0 = lmm.fit("Reaction ~ Days + (1 | Subject)", sleepstudy)
    m1 = lmm.fit(FORMULA, sleepstudy)
    table = lmm.compare(m1, m0)  # listed by number of parameters whatever the order given
    assert table["npar"].tolist() == [4, 6]
    ml0 = lmm.fit("Reaction ~ Days + (1 | Subject)", sleepstudy, reml=False)
    ml1 = lmm.fit(FORMULA, sleepstudy, reml=False)
    assert table["loglik"].tolist() == pytest.approx([ml0.loglik, ml1.loglik], abs=1e-6)
    assert table.loc[1, "chisq"] == pytest.approx(2 * (ml1.loglik - ml0.loglik), abs=1e-6)
    assert np.isnan(table.loc[0, "p"]) and table.loc[1, "df"] == 2
    with pytest.raises(lmm.Error, match="same data"):
        lmm.compare(m0, lmm.fit(FORMULA, sleepstudy.head(100)))


def test_report_writes_the_fit_into_the_page(sleepstudy, tmp_path):
    m = lmm.fit(FORMULA, sleepstudy)
    out = tmp_path / "r.html"
    m.report(out)
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>") or html.lower().startswith("<!doctype html>")
    assert f'"loglik":{json.dumps(m.loglik)}' in html


def test_properties(sleepstudy):
    m = lmm.fit(FORMULA, sleepstudy)
    d = m.to_dict()
    assert m.aic == d["aic"] and m.bic == d["bic"] and m.sigma == d["sigma"] and not m.singular
    assert m.theta.tolist() == d["theta"]
    assert m.icc["adjusted"] == d["icc_adjusted"] and m.r2["conditional"] == d["r2_conditional"]
    assert m.convergence["code"] == 0
    assert list(m.random.columns) == ["group", "term1", "term2", "variance", "sd", "cor"]
    assert m.ranef.loc[("Subject", "308"), "condsd_Days"] > 0
    coef = m.coef.loc[("Subject", "308")]
    assert coef["Days"] == pytest.approx(m.fixed.loc["Days", "estimate"] + m.ranef.loc[("Subject", "308"), "Days"])
    np.testing.assert_allclose((m.fitted + m.residuals).to_numpy(), sleepstudy["Reaction"].to_numpy())
    assert "reml : bool" in lmm.fit.__doc__ and "lmm.Error" in lmm.fit.__doc__
