"""Every lme4 reference case (tests/data/reference), fitted from a pandas DataFrame, matches lme4
in every field the CLI's tests compare, with scripts/compare_reference.py's tolerances."""
import json

import pytest

import lmm
from conftest import REFERENCE, load_comparer, read_csv

COMPARER = load_comparer()
FITS = sorted(p for p in REFERENCE.glob("*.json") if not p.name.startswith("compare_"))
COMPARISONS = sorted(REFERENCE.glob("compare_*.json"))


@pytest.mark.parametrize("path", FITS, ids=lambda p: p.stem)
def test_fit_matches_lme4(path):
    ref = json.loads(path.read_text())
    df = read_csv(ref["data"])
    reml = ref["method"] == "REML"
    m = lmm.fit(ref["formula"], df, reml=reml)
    fields = {"core", "df", "icc", "r2", "ranef", "anova"}
    if ref.get("confint_profile"):
        m.confint("profile")
        fields.add("profile")
    bad = COMPARER.mismatches(ref, m.to_dict(), fields)
    assert not bad, "\n".join(bad)
    if reml and "df_kr" in ref["fixed"][0]:
        kr = lmm.fit(ref["formula"], df, ddf="kenward-roger")
        bad = COMPARER.mismatches(ref, kr.to_dict(), {"kr"})
        assert not bad, "\n".join(bad)


def _reference_fit(case):
    ref = json.loads((REFERENCE / f"{case}.json").read_text())
    return ref, lmm.fit(ref["formula"], read_csv(ref["data"]), reml=ref["method"] == "REML")


@pytest.mark.parametrize("path", COMPARISONS, ids=lambda p: p.stem)
def test_comparison_matches_lme4(path):
    ref = json.loads(path.read_text())
    (_, small), (_, large) = _reference_fit(ref["smaller"]), _reference_fit(ref["larger"])
    table = lmm.compare(small, large)
    ours = {k: table[k].tolist() for k in ("npar", "aic", "bic", "loglik", "deviance")}
    ours.update(chisq=table["chisq"].iloc[1], df=int(table["df"].iloc[1]), p=table["p"].iloc[1])
    bad = COMPARER.mismatches(ref, ours)
    assert not bad, "\n".join(bad)
    assert table.attrs["method"] == "ML"
