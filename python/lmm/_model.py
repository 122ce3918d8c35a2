"""lmm.fit(), the fitted Model and what it can do."""
from __future__ import annotations

import json
import os
import warnings
from typing import Any, Dict, Iterable, List, Mapping, Optional, Union

import numpy as np
import pandas as pd

from . import _lmm
from ._data import DataLike, from_columns, to_table
from ._lmm import Error

_DDF = ("satterthwaite", "kenward-roger", "none")
_CONTRASTS = ("treatment", "sum", "helmert", "contr.treatment", "contr.sum", "contr.helmert")


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise Error(message)


def _options(reml: Any, ddf: Any, weights: Any, offset: Any, ref: Any, contrasts: Any,
             residual: Any = None, residual_sd_by: Any = None) -> Dict[str, Any]:
    """The keyword arguments as the engine's options (python/src/module.cpp, option_setters)."""
    _check(isinstance(reml, (bool, np.bool_)), f"reml must be True or False, not {reml!r}")
    _check(isinstance(ddf, str) and ddf in _DDF, f"ddf must be one of {', '.join(map(repr, _DDF))}, not {ddf!r}")
    opts: Dict[str, Any] = {"reml": bool(reml), "ddf": ddf}
    if residual is not None:
        _check(isinstance(residual, str), f"residual must be a structure such as 'ar1(day | id)', not {residual!r}")
        opts["residual"] = residual
    for key, value in (("weights", weights), ("offset", offset), ("residual_sd_by", residual_sd_by)):
        if value is not None:
            _check(isinstance(value, str) and value != "", f"{key} must be the name of a column, not {value!r}")
            opts[key] = value
    if ref is not None:
        _check(isinstance(ref, Mapping) and all(isinstance(k, str) for k in ref),
               f"ref must be a dict of factor name -> reference level, e.g. {{'group': 'control'}}, not {ref!r}")
        opts["ref"] = {k: str(v) for k, v in ref.items()}
    if contrasts is not None:
        _check(contrasts in _CONTRASTS, f"contrasts must be 'treatment', 'sum' or 'helmert', not {contrasts!r}")
        opts["contrasts"] = contrasts
    return opts


def fit(formula: str, data: DataLike, reml: bool = True, ddf: str = "satterthwaite", *,
        weights: Optional[str] = None, offset: Optional[str] = None, ref: Optional[Mapping[str, str]] = None,
        contrasts: Optional[str] = None, na_values: Optional[Iterable[str]] = None,
        residual: Optional[str] = None, residual_sd_by: Optional[str] = None,
        family: Optional[str] = None, link: Optional[str] = None, nagq: int = 1,
        threads: int = 0, data_name: Optional[str] = None) -> Union[Model, GlmmModel]:
    """Fit a linear mixed model written in lme4's formula language.

    Parameters
    ----------
    formula : str
        lme4's formula: ``"Reaction ~ Days + (Days | Subject)"``; ``(1 | g)`` a random intercept,
        ``(x || g)`` uncorrelated terms, ``(1 | a/b)`` nesting, ``(1 | a) + (1 | b)`` crossing,
        ``factor(x)``, ``relevel(x, "b")``, ``I(x^2)``, ``log(x)``, ``poly(x, 2)``, ``scale(x)``.
    data : pandas.DataFrame, dict of arrays, or str
        The table (or the path of a CSV/TSV file). Numbers are numeric; strings, booleans and
        Categoricals are factors (a Categorical keeps its category order: the first category is
        the reference level); NaN/None are missing, and rows missing a variable are dropped.
    reml : bool
        REML (default; unbiased variance components) or ML (``False``; for comparing fixed effects).
    ddf : {"satterthwaite", "kenward-roger", "none"}
        Denominator df for the t and F tests (lmerTest's Satterthwaite, pbkrtest's Kenward-Roger,
        or none as lme4).
    weights, offset : str, optional
        Columns of prior weights and of an offset (lme4's ``weights =`` and ``offset =``).
    ref : dict, optional
        Reference level per factor, ``{"group": "control"}`` (R's relevel).
    contrasts : {"treatment", "sum", "helmert"}, optional
        Contrasts of unordered factors (default treatment, as R).
    na_values : list of str, optional
        More missing-value codes, e.g. ``["-99", "N/A"]``.
    residual : str, optional
        Correlated residuals within groups (nlme's ``correlation =``): ``"ar1(day | id)"``,
        ``"car1(t | id)"``, ``"cs(1 | id)"``, ``"us(visit | id)"``.
    residual_sd_by : str, optional
        A residual SD per level of this column (nlme's ``varIdent``).
    family : {"binomial", "poisson"}, optional
        Fit a generalized linear mixed model (as glmer) and return a :class:`GlmmModel`.
    link : str, optional
        GLMM link: "logit" (binomial default), "probit", "cloglog"; "log" (Poisson).
    nagq : int
        GLMM: adaptive Gauss-Hermite nodes (1: the Laplace approximation).
    threads : int
        Threads for the fit (0: all cores).
    data_name : str, optional
        Name printed on the summary's ``Data:`` line (default: the CSV path, else none).

    Returns
    -------
    Model, or GlmmModel with ``family``

    Raises
    ------
    lmm.Error
        For invalid input (a formula error, a missing column, no rows left, ...), with the engine's
        one-line message.
    """
    _check(isinstance(formula, str), f"formula must be a string such as 'y ~ x + (1 | g)', not {type(formula).__name__}")
    _check(isinstance(threads, int) and threads >= 0, f"threads must be a non-negative integer, not {threads!r}")
    opts = _options(reml, ddf, weights, offset, ref, contrasts, residual, residual_sd_by)
    if family is not None:
        return _fit_glmm(formula, data, opts, family, link, nagq, na_values, threads, data_name)
    table, index, name = to_table(data, na_values)
    _lmm.set_num_threads(threads)
    core = _lmm.fit(table, formula, opts)
    return Model(core, index, name if data_name is None else data_name, "residual" in opts or "residual_sd_by" in opts)


def _fit_glmm(formula: str, data: DataLike, opts: Dict[str, Any], family: Any, link: Any, nagq: Any,
              na_values: Any, threads: int, data_name: Optional[str]) -> GlmmModel:
    _check(family in ("binomial", "poisson"), f"family must be 'binomial' or 'poisson', not {family!r}")
    _check(link is None or link in ("logit", "probit", "cloglog", "log"),
           f"link must be 'logit', 'probit', 'cloglog' or 'log', not {link!r}")
    _check(isinstance(nagq, int) and nagq >= 1, f"nagq must be a positive integer, not {nagq!r}")
    _check(opts["reml"], "reml=False is not available with family= (a GLMM is fitted by maximum likelihood anyway)")
    table, _, name = to_table(data, na_values)
    _lmm.set_num_threads(threads)
    core = _lmm.fit_glmm(table, formula, opts, family, link or "", nagq)
    return GlmmModel(core, name if data_name is None else data_name)


def _frame(records: List[Dict[str, Any]], index: str, columns: List[str]) -> pd.DataFrame:
    df = pd.DataFrame.from_records(records, columns=[index] + columns) if records else pd.DataFrame(columns=[index] + columns)
    return df.set_index(index)


def _level_frame(table: tuple) -> pd.DataFrame:
    groups, levels, names, arrays = table
    index = pd.MultiIndex.from_arrays([groups, levels], names=["group", "level"])
    return pd.DataFrame({n: arrays[n] for n in names}, index=index)


class _Fitted:
    """What every fitted model has: its JSON, summary, variance components and fit statistics."""

    _core: Any
    _data_name: str
    _dict: Optional[Dict[str, Any]] = None

    def to_json(self, indent: int = 2) -> str:
        """The fit as `lmm fit --json` prints it (indent=2: byte for byte, with its final newline)."""
        return self._core.json(indent)

    def to_dict(self) -> Dict[str, Any]:
        """The fit as a dict with the keys of `lmm fit --json` (a new dict each call)."""
        return json.loads(self._core.json(-1))

    def _load(self) -> Dict[str, Any]:
        return self.to_dict()

    @property
    def _d(self) -> Dict[str, Any]:
        if self._dict is None:
            self._dict = self._load()
        return self._dict

    def summary(self) -> str:
        """lme4's summary() layout (lmerTest's df and p for a linear model): the text `lmm fit` prints."""
        return self._core.summary(self._data_name)

    @property
    def random(self) -> pd.DataFrame:
        """Variance components as lme4's VarCorr: group, term1, term2, variance, sd, cor."""
        df = pd.DataFrame.from_records(self._d["random"], columns=["group", "term1", "term2", "variance", "sd", "cor"])
        return df.fillna(value=np.nan)  # None (no term) as NaN, as lme4's as.data.frame(VarCorr(m)) has NA

    loglik = property(lambda self: self._d["loglik"], doc="log-likelihood (REML fits: REML's)")
    aic = property(lambda self: self._d["aic"], doc="AIC")
    bic = property(lambda self: self._d["bic"], doc="BIC")
    nobs = property(lambda self: self._d["nobs"], doc="observations used")
    singular = property(lambda self: self._d["singular"], doc="a variance at 0 or a correlation at +-1")
    formula = property(lambda self: self._d["formula"], doc="the formula")
    messages = property(lambda self: list(self._d["messages"]), doc="notes: dropped rows, aliased columns, ...")
    ngroups = property(lambda self: dict(self._d["ngroups"]), doc="levels per grouping factor")

    @property
    def theta(self) -> np.ndarray:
        """lme4's theta: the relative covariance factors, column-wise lower triangle per term."""
        return np.array(self._d["theta"], dtype=float)

    @property
    def icc(self) -> Dict[str, float]:
        """ICC as performance::icc (a GLMM's on the latent scale): {"adjusted": ..., "unadjusted": ...}."""
        return {"adjusted": self._d["icc_adjusted"], "unadjusted": self._d["icc_unadjusted"]}

    @property
    def r2(self) -> Dict[str, float]:
        """Nakagawa's R² as performance::r2_nakagawa: {"marginal": ..., "conditional": ...}."""
        return {"marginal": self._d["r2_marginal"], "conditional": self._d["r2_conditional"]}


class Model(_Fitted):
    """A fitted linear mixed model. Made by :func:`lmm.fit`."""

    def __init__(self, core: _lmm.Model, index: pd.Index, data_name: str, residual: bool = False) -> None:
        self._core = core
        self._index = index
        self._data_name = data_name
        self._residual = residual
        self._dict: Optional[Dict[str, Any]] = None

    def _load(self) -> Dict[str, Any]:
        return json.loads(self._core.light_json())  # without ranef and coef: cheap with many levels

    def __repr__(self) -> str:
        d = self._d
        return f"<lmm.Model {d['formula']!r} {d['method']} nobs={d['nobs']} loglik={d['loglik']:.4f}>"

    # ---- tables ----
    @property
    def fixed(self) -> pd.DataFrame:
        """Fixed effects: estimate, std_error, df, t, p; index R's term names."""
        return _frame(self._d["fixed"], "term", ["estimate", "std_error", "df", "t", "p"])

    @property
    def ranef(self) -> pd.DataFrame:
        """Conditional modes (BLUPs) and condsd_<term> per level; index (group, level)."""
        return _level_frame(self._core.ranef_table())

    @property
    def coef(self) -> pd.DataFrame:
        """Per-level coefficients, fixed + random (lme4's coef()); index (group, level)."""
        return _level_frame(self._core.coef_table())

    def anova(self) -> pd.DataFrame:
        """Type III ANOVA (lmerTest's anova(m, type = 3)): num_df, den_df, F, p per term."""
        return _frame(self._d["anova_type3"], "term", ["num_df", "den_df", "F", "p"])

    sigma = property(lambda self: self._d["sigma"], doc="residual standard deviation")
    convergence = property(lambda self: dict(self._d["convergence"]), doc="lme4's convergence check")

    @property
    def fitted(self) -> pd.Series:
        """Fitted values Xβ + Zb per row used (index: the data's)."""
        return pd.Series(self._core.fitted(), index=self._index[self._core.rows()], name="fitted")

    @property
    def residuals(self) -> pd.Series:
        """Response minus fitted values per row used."""
        return pd.Series(self._core.residuals(), index=self._index[self._core.rows()], name="residuals")

    # ---- inference ----
    def confint(self, method: str = "wald", nboot: int = 1000, seed: int = 1, threads: int = 0) -> pd.DataFrame:
        """95% intervals: "wald" (fixed effects), "profile" (every parameter, lme4's confint()),
        or "boot" (parametric bootstrap with `nboot` replicates and `seed`; percentile intervals)."""
        _check(method in ("wald", "profile", "boot"), f"method must be 'wald', 'profile' or 'boot', not {method!r}")
        _check(isinstance(nboot, int) and nboot >= 1, f"nboot must be a positive integer, not {nboot!r}")
        _check(isinstance(seed, int) and seed >= 0, f"seed must be a non-negative integer, not {seed!r}")
        self._core.confint(method, nboot, seed, threads)
        self._dict = None
        key = {"wald": "confint_wald", "profile": "confint_profile", "boot": "confint_boot"}[method]
        return _frame(self._d[key], "parameter", ["estimate", "lower", "upper", "note"])

    # ---- new data ----
    def predict(self, newdata: Optional[DataLike] = None, re_form: Optional[str] = None,
                interval: Optional[str] = None, level: float = 0.95) -> Union[pd.Series, pd.DataFrame]:
        """Predictions for `newdata` (default: the data fitted). re_form=None conditions on the
        random effects (Xβ + Zb; new levels get the population value), "none" gives Xβ.
        interval="confidence" or "prediction" adds se, lwr, upr."""
        return _predict(self._core, newdata, re_form, interval, level, self._core.table, self._index)

    def simulate(self, nsim: int = 1, seed: int = 1) -> pd.DataFrame:
        """`nsim` new response vectors at the rows fitted (lme4's simulate(m)): columns sim_1, ...
        With a residual structure, the residuals of a group are drawn with covariance σ²DRD."""
        _check(isinstance(nsim, int), f"nsim must be an integer, not {nsim!r}")
        _check(isinstance(seed, int) and seed >= 0, f"seed must be a non-negative integer, not {seed!r}")
        values, rows = self._core.simulate(nsim, seed)
        return pd.DataFrame(values, index=self._index[rows], columns=[f"sim_{k + 1}" for k in range(nsim)])

    def save(self, path: Union[str, os.PathLike]) -> None:
        """Save for prediction and simulation without the data (`lmm fit --save`'s format)."""
        self._core.save(os.fspath(path))

    def report(self, path: Union[str, os.PathLike], max_persons: int = 2000) -> None:
        """Write the self-contained HTML report (`lmm report`)."""
        self._core.report(os.fspath(path), max_persons)


class GlmmModel(_Fitted):
    """A fitted generalized linear mixed model (lmm.fit(..., family=)), as lme4's glmer. Its JSON
    and summary are those of `lmm fit --family ...`."""

    def __init__(self, core: _lmm.GlmmModel, data_name: str) -> None:
        self._core = core
        self._data_name = data_name
        self._dict: Optional[Dict[str, Any]] = None

    def __repr__(self) -> str:
        d = self._d
        return f"<lmm.GlmmModel {d['formula']!r} {d['family']}({d['link']}) nobs={d['nobs']} loglik={d['loglik']:.4f}>"

    @property
    def fixed(self) -> pd.DataFrame:
        """Fixed effects: estimate, std_error, z, p; index R's term names."""
        return _frame(self._d["fixed"], "term", ["estimate", "std_error", "z", "p"])

    @property
    def ranef(self) -> pd.DataFrame:
        """Conditional modes and condsd_<term> per level; index (group, level)."""
        return pd.DataFrame.from_records(self._d["ranef"]).set_index(["group", "level"])

    deviance = property(lambda self: self._d["deviance"], doc="deviance")
    converged = property(lambda self: self._d["converged"], doc="the optimizer converged")
    family = property(lambda self: self._d["family"], doc="binomial or poisson")
    link = property(lambda self: self._d["link"], doc="the link function")


def _predict(core: Any, newdata: Optional[DataLike], re_form: Optional[str], interval: Optional[str],
             level: float, table: Any, index: pd.Index) -> Union[pd.Series, pd.DataFrame]:
    _check(re_form in (None, "none", "NA"), f"re_form must be None or 'none', not {re_form!r}")
    _check(interval in (None, "none", "confidence", "prediction"),
           f"interval must be None, 'confidence' or 'prediction', not {interval!r}")
    if newdata is not None:
        table, index, _ = to_table(newdata)
    out = core.predict(table, "conditional" if re_form is None else "none", interval or "none", float(level))
    for note in out.pop("notes"):
        warnings.warn(note, stacklevel=3)
    if interval in (None, "none"):
        return pd.Series(out["fit"], index=index, name="fit")
    return pd.DataFrame({k: out[k] for k in ("fit", "se", "lwr", "upr")}, index=index)


class SavedModel:
    """A model read by :func:`lmm.load`: predicts and simulates without the data."""

    def __init__(self, core: _lmm.SavedModel) -> None:
        self._core = core

    formula = property(lambda self: self._core.formula, doc="the formula")

    def predict(self, newdata: DataLike, re_form: Optional[str] = None, interval: Optional[str] = None,
                level: float = 0.95) -> Union[pd.Series, pd.DataFrame]:
        """As Model.predict (new data are required)."""
        return _predict(self._core, newdata, re_form, interval, level, None, None)

    def simulate(self, newdata: DataLike, nsim: int = 1, seed: int = 1) -> pd.DataFrame:
        """New responses at the rows of `newdata`: its columns with sim_1 ... appended."""
        _check(isinstance(nsim, int) and 1 <= nsim <= 100000, f"nsim must be between 1 and 100000, not {nsim!r}")
        table, index, _ = to_table(newdata)
        return from_columns(self._core.simulate(table, nsim, seed), index)

    def __repr__(self) -> str:
        return f"<lmm.SavedModel {self.formula!r}>"


def load(path: Union[str, os.PathLike]) -> SavedModel:
    """Read a model saved by Model.save() or `lmm fit --save`."""
    return SavedModel(_lmm.load(os.fspath(path)))


def compare(*models: Model, reml: bool = False, complete_cases: bool = False) -> pd.DataFrame:
    """Likelihood-ratio tests between nested models fitted to the same data (lme4's anova(m0, m1)).

    Models are refitted by ML (unless reml=True, allowed for equal fixed effects) and listed by
    number of parameters; each row is tested against the one above. Notes are in ``.attrs["messages"]``.
    """
    _check(len(models) >= 2 and all(isinstance(m, Model) for m in models), "compare() takes two or more lmm.Model")
    c = json.loads(_lmm.compare([m._core for m in models], bool(reml), bool(complete_cases)))
    df = pd.DataFrame({"formula": c["formulas"], "npar": c["npar"], "aic": c["aic"], "bic": c["bic"],
                       "loglik": c["loglik"], "deviance": c["deviance"]})
    for col in ("chisq", "df", "p"):
        df[col] = np.nan
    for t in c["tests"]:
        row = t["models"][1] - 1
        df.loc[row, ["chisq", "df", "p"]] = [t["chisq"], t["df"], t["p"]]
    df.attrs["messages"] = c["messages"]
    df.attrs["method"] = c["method"]
    return df
