"""lmm.power(): power curves by simulation (lmm/power.h), as `lmm power` computes them."""
from __future__ import annotations

import math
import os
import tempfile
from typing import Any, Iterable, Optional, Union

import pandas as pd

from . import _lmm
from ._data import DataLike, to_table
from ._model import Model, SavedModel, load

_COLUMNS = ["persons", "power", "mc_se", "lower", "upper", "singular_share", "nonconverged_share", "seconds",
            "nsim", "rejections", "failed", "mean_estimate", "mean_df"]


def _saved(model: Union[Model, SavedModel]) -> Any:
    """The engine's saved model of `model` (a fitted Model goes through its saved form)."""
    if isinstance(model, SavedModel):
        return model._core
    if not isinstance(model, Model):
        raise _lmm.Error(f"model must be a fitted lmm.Model or an lmm.load()ed model, not {type(model).__name__}")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "model.json")
        model.save(path)
        return load(path)._core


def power(persons: Iterable[int] = (50, 100, 200, 400), nsim: int = 1000, *, test: Optional[str] = None,
          seed: int = 1, alpha: float = 0.05, ddf: str = "satterthwaite", threads: int = 0,
          waves: Iterable[float] = (0, 1, 2, 3, 4), intercept: float = 50, slope: float = 2,
          sd_intercept: float = 8, sd_slope: float = 1.5, cor: float = -0.3, sigma: float = 4,
          group_effect: float = 0, dropout: float = 0,
          model: Union[Model, SavedModel, None] = None, data: Optional[DataLike] = None,
          effect: Optional[float] = None, lrt_mixture: bool = True) -> pd.DataFrame:
    """Power by simulation, as `lmm power`: one row per sample size (persons, power, mc_se, the
    Wilson interval lower/upper, singular_share, nonconverged_share, seconds, ...).

    Without `model`: the growth design of `lmm simulate` (waves, intercept, slope, sd_intercept,
    sd_slope, cor, sigma, group_effect, dropout), fitted as y ~ time * group + (time | id); the
    default test is the group x time interaction. With `model` (a fitted Model or lmm.load()):
    studies of N persons repeat the persons of `data` (default: the file the model was fitted to),
    with `effect` the true value of the tested coefficient. `test`: a term ("time:group", a factor
    gets the type III F test), a coefficient, or "(time | id)" for the LRT of a random slope
    (p from the 50:50 mixture of chi-square(q-1) and chi-square(q); lrt_mixture=False: chi-square(q)).
    The result's attrs hold what was tested (test, test_method, formula, alpha, effect, notes).
    """
    options = {"persons": [int(p) for p in persons], "nsim": int(nsim), "seed": int(seed), "alpha": float(alpha),
               "ddf": str(ddf), "test": test or "", "effect": math.nan if effect is None else float(effect),
               "threads": int(threads), "lrt_mixture": bool(lrt_mixture)}
    if model is None:
        if data is not None or effect is not None:
            raise _lmm.Error("data and effect need model (the growth design's effect is group_effect)")
        design = {"waves": [float(w) for w in waves], "intercept": intercept, "slope": slope,
                  "sd_intercept": sd_intercept, "sd_slope": sd_slope, "cor": cor, "sigma": sigma,
                  "group_effect": group_effect, "dropout": dropout}
        columns, meta = _lmm.power_growth(design, options)
    else:
        core = _saved(model)
        if data is None:
            columns, meta = _lmm.power_model(core, None, 0, options)
        else:
            table, _, _ = to_table(data)
            columns, meta = _lmm.power_model(core, table.columns(), table.nrows, options)
    df = pd.DataFrame({c: columns[c] for c in _COLUMNS})
    df.attrs.update(meta)
    return df
