"""Residual structures (residual=, residual_sd_by=) and GLMMs (family=) from Python: the same JSON
as the CLI with the same options, byte for byte, and the references' log-likelihoods (nlme, lme4)."""
import io
import json

import pandas as pd
import pytest

import lmm
from conftest import DATA, run_cli

RESID = DATA / "residual"
GLMM = DATA / "glmm"
RESID_CASES = ["sleepstudy_ar1_ml", "orthodont_varident", "ovary_ar1", "cs_gls"]
GLMM_CASES = ["cbpp_binomial_laplace", "cbpp_binomial_agq9", "exposure_poisson_offset", "grouseticks_poisson_crossed"]


def kwargs_of(args):
    """The CLI's flags of a reference case as lmm.fit's keyword arguments."""
    kw, i = {}, 0
    while i < len(args):
        flag = args[i]
        if flag == "--ml":
            kw["reml"] = False
            i += 1
            continue
        kw[flag.lstrip("-").replace("-", "_")] = args[i + 1]
        i += 2
    return kw


@pytest.mark.parametrize("case", RESID_CASES)
def test_residual_structure_equals_cli_and_nlme(case):
    ref = json.loads((RESID / f"{case}.json").read_text())
    formula, flags = ref["lmm_args"][0], ref["lmm_args"][1:]
    path = RESID / "data" / ref["data"]
    _, cli, _ = run_cli("fit", path, formula, *flags, "--json", "--quiet")
    m = lmm.fit(formula, pd.read_csv(path), **kwargs_of(flags))
    assert m.to_json() == cli
    assert m.loglik == pytest.approx(ref["loglik"], abs=2e-3)


def test_residual_intervals_and_kenward_roger(sleepstudy):
    m = lmm.fit("Reaction ~ Days + (1 | Subject)", sleepstudy, residual="ar1(Days | Subject)")
    assert m.confint().shape[0] == 2  # Wald intervals of the fixed effects
    boot = m.confint("boot", nboot=8, seed=3)
    assert "phi" in boot.index and boot.loc["phi", "lower"] < boot.loc["phi", "upper"]
    kr = lmm.fit("Reaction ~ Days + (1 | Subject)", sleepstudy, residual="ar1(Days | Subject)", ddf="kenward-roger")
    _, cli, _ = run_cli("fit", DATA / "sleepstudy.csv", "Reaction ~ Days + (1 | Subject)", "--residual",
                        "ar1(Days | Subject)", "--ddf", "kenward-roger", "--json", "--quiet")
    assert kr.to_json() == cli  # Kenward-Roger with a structure, as the CLI computes it
    with pytest.raises(lmm.Error, match="^residual: "):
        lmm.fit("Reaction ~ Days + (1 | Subject)", sleepstudy, residual="ar7(Days)")


def test_residual_simulate_draws_correlated_residuals(sleepstudy):
    # Two consecutive days of a subject, less the fixed part, covary by τ² + σ²φ across simulations
    # (τ² the random intercept's variance); 300 simulations of 162 pairs pin it to a few percent.
    m = lmm.fit("Reaction ~ Days + (1 | Subject)", sleepstudy, residual="ar1(Days | Subject)")
    sims = m.simulate(nsim=300, seed=11)
    d = m.to_dict()
    b0, b1 = (f["estimate"] for f in d["fixed"])
    dev = sims.sub(b0 + b1 * sleepstudy["Days"], axis=0)
    first = sleepstudy["Days"] < 9
    nxt = dev.shift(-1)[first].to_numpy()
    cur = dev[first].to_numpy()
    tau2 = next(r["variance"] for r in d["random"] if r["group"] == "Subject")
    s2, phi = d["sigma"] ** 2, d["correlation"]["phi"]
    assert (cur * nxt).mean() == pytest.approx(tau2 + s2 * phi, rel=0.08)
    assert (cur * cur).mean() == pytest.approx(tau2 + s2, rel=0.08)


def test_residual_save_and_predict(sleepstudy, tmp_path):
    # The saved file records the structure; predictions equal `lmm predict` from that file.
    m = lmm.fit("Reaction ~ Days + (1 | Subject)", sleepstudy, residual="ar1(Days | Subject)")
    path = tmp_path / "m.json"
    m.save(path)
    saved = json.loads(path.read_text())
    assert saved["residual"]["structure"] == "ar1" and saved["residual"]["group"] == "Subject"
    _, out, _ = run_cli("predict", DATA / "sleepstudy.csv", "--model", path)
    cli = pd.read_csv(io.StringIO(out))["fit"].to_numpy()
    assert m.predict(sleepstudy).to_numpy() == pytest.approx(cli, rel=1e-12)


@pytest.mark.parametrize("case", GLMM_CASES)
def test_glmm_equals_cli_and_lme4(case):
    ref = json.loads((GLMM / f"{case}.json").read_text())
    path = GLMM / "data" / ref["data"]
    flags = ["--family", ref["family"], "--link", ref["link"], "--nagq", str(ref["nAGQ"])]
    _, cli, _ = run_cli("fit", path, ref["formula"], *flags, "--json")
    # round_trip: pandas' default parser can be one ulp off a correctly rounded number (as lmm reads it)
    m = lmm.fit(ref["formula"], pd.read_csv(path, float_precision="round_trip"), family=ref["family"], link=ref["link"],
                nagq=ref["nAGQ"])
    assert isinstance(m, lmm.GlmmModel)
    assert m.to_json() == cli
    assert m.loglik == pytest.approx(ref["loglik"], abs=1e-3)
    for f in ref["fixed"]:
        assert m.fixed.loc[f["term"], "estimate"] == pytest.approx(f["estimate"], rel=1e-3, abs=1e-5)
    _, text, _ = run_cli("fit", path, ref["formula"], *flags)
    from_file = lmm.fit(ref["formula"], str(path), family=ref["family"], link=ref["link"], nagq=ref["nAGQ"])
    assert from_file.summary() == text  # the file's name on the Data: line, as the CLI prints it
    assert from_file.to_json() == cli


def test_glmm_refusals():
    cbpp = pd.read_csv(GLMM / "data" / "cbpp.csv")
    formula = "cbind(incidence, failures) ~ period + (1 | herd)"
    for kwargs, words in (({"family": "gamma"}, "family must be"), ({"family": "binomial", "reml": False}, "reml=False"),
                          ({"family": "binomial", "link": "identity"}, "link must be"),
                          ({"family": "binomial", "nagq": 0}, "nagq must be"),
                          ({"family": "binomial", "residual": "cs(1 | herd)"}, "a GLMM (family=) has no residual")):
        with pytest.raises(lmm.Error, match=words.replace("(", r"\(").replace(")", r"\)")):
            lmm.fit(formula, cbpp, **kwargs)
