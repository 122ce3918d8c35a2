"""lmm: linear mixed models in lme4's formula language, on lmm's C++ engine.

    import lmm
    m = lmm.fit("Reaction ~ Days + (Days | Subject)", df)   # REML; reml=False for ML
    print(m.summary())      # the text `lmm fit` prints
    m.fixed                 # estimate, std_error, df, t, p per term (Satterthwaite df)
    m.random, m.ranef, m.coef, m.icc, m.r2, m.anova(), m.confint("profile")
    m.predict(newdf), m.simulate(nsim=10, seed=1), m.save("m.json"), lmm.compare(m0, m1)
    lmm.power(persons=[50, 100, 200], group_effect=0.5)   # power curve by simulation (DataFrame)

Data: a pandas DataFrame, a dict of numpy arrays, or the path of a CSV file. Numbers are numeric;
strings, booleans and pandas Categoricals are factors (a Categorical keeps its category order, so
its first category is the reference level, as R's factor(x, levels = ...)); NaN and None are
missing. Errors in the input raise lmm.Error (a ValueError) with the engine's one-line message.
"""
from __future__ import annotations

from ._lmm import Error, __version__
from ._model import GlmmModel, Model, SavedModel, compare, fit, load
from ._power import power

__all__ = ["Error", "GlmmModel", "Model", "SavedModel", "compare", "fit", "load", "power", "__version__"]
