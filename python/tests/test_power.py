"""lmm.power(): the CLI's `lmm power` numbers, as a DataFrame."""
import json

import pytest

import lmm
from conftest import DATA, run_cli

GROWTH = ["--waves", "0,1,2,3", "--sd-intercept", "1", "--sd-slope", "1", "--cor", "0", "--sigma", "1"]


def test_growth_curve_equals_the_cli():
    df = lmm.power(persons=[20, 40], nsim=40, seed=3, waves=[0, 1, 2, 3], sd_intercept=1, sd_slope=1, cor=0,
                   sigma=1, group_effect=1, threads=1)
    _, out, _ = run_cli("power", "--persons", "20,40", "--nsim", "40", "--seed", "3", "--group-effect", "1",
                        "--json", *GROWTH)
    cli = json.loads(out)
    assert list(df["persons"]) == [20, 40]
    for k in ("power", "mc_se", "lower", "upper", "singular_share", "mean_estimate", "mean_df"):
        assert list(df[k]) == [p[k] for p in cli["curve"]], k
    assert df.attrs["test"] == "time:grouptreatment"
    assert df.attrs["test_method"] == "Wald t (Satterthwaite df)"


def test_from_a_fitted_model_sets_the_effect():
    data = DATA / "growth200.csv"
    m = lmm.fit("y ~ time * group + (time | id)", str(data))
    df = lmm.power(persons=[30], nsim=20, model=m, data=str(data), test="time:group", effect=0.25)
    assert df.attrs["effect"] == 0.25
    assert 0 <= df["power"][0] <= 1


def test_errors_name_the_keywords():
    with pytest.raises(lmm.Error, match="^nsim must be between 1 and 10000000"):
        lmm.power(nsim=0)
    with pytest.raises(lmm.Error, match="^sd_slope must be >= 0"):
        lmm.power(sd_slope=-1, nsim=2)
